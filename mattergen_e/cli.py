"""``mattergen-e``: one command for the service and the project's own tools.

Service (needs only the client; URL and key from --url/--api-key or MATTERGEN_E_URL/MATTERGEN_E_API_KEY):

    mattergen-e submit --band-gap 3 -n 16 --wait --out results/
    mattergen-e status JOB | list [--state running] | download JOB --out DIR | cancel JOB
    mattergen-e verify STRUCTURE_ID

Project tools (run in this checkout, with its dependencies), arguments passed through unchanged:

    mattergen-e train --config models/configs/charge_dos.yaml     (python -m models.train)
    mattergen-e sample --band-gap 3 --num-samples 8 --out DIR      (python -m models.sample)
    mattergen-e evaluate ... | bench ... | dft ... | descriptors ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from mattergen_e.client import ApiError, Client

# subcommand → module run with ``python -m``, and what it does (for --help).
DELEGATED = {
    "train": ("models.train", "train a model variant (python -m models.train)"),
    "sample": ("models.sample", "sample crystals locally from a checkpoint (python -m models.sample)"),
    "evaluate": ("models.evaluate", "evaluate generated crystals (python -m models.evaluate)"),
    "bench": ("benchmarks.run", "run the benchmark suite (python -m benchmarks.run)"),
    "dft": ("benchmarks.dft", "DFT verification/reference of benchmark crystals (python -m benchmarks.dft)"),
    "descriptors": ("models.data.descriptors", "DFT descriptor labelling (python -m models.data.descriptors)"),
}


def _elements(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


def _num_atoms(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    try:
        return int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX, e.g. 4-20, not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mattergen-e", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("MATTERGEN_E_URL", "http://localhost:8000"))
    parser.add_argument("--api-key", default=os.environ.get("MATTERGEN_E_API_KEY"))
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a summary")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("submit", help="submit a generation job")
    s.add_argument("--band-gap", type=float, help="target band gap, eV")
    s.add_argument("--formation-energy", type=float, help="target formation energy, eV/atom")
    s.add_argument("-n", "--num-samples", type=int, default=16)
    s.add_argument("--guidance-scale", type=float)
    s.add_argument("--seed", type=int)
    s.add_argument("--steps", type=int)
    s.add_argument("--model")
    s.add_argument("--num-atoms", type=_num_atoms, metavar="MIN-MAX")
    s.add_argument("--elements", type=_elements, metavar="Li,Fe,P,O", help="allowed elements")
    s.add_argument("--required", type=_elements, metavar="Li", help="elements every crystal must contain")
    s.add_argument("--no-charge-balance", dest="charge_balance", action="store_false", default=None,
                   help="keep the network's own compositions (default: close each crystal charge-balanced)")
    s.add_argument("--wait", action="store_true", help="wait for the job with a progress bar")
    s.add_argument("--out", type=Path, help="with --wait: download the results into this directory")
    s.add_argument("--callback-url", help="POST the signed job document here when the job ends (webhook)")

    for name, text in (
        ("status", "a job's state and progress"),
        ("cancel", "cancel a queued or running job"),
        ("deliveries", "a job's webhook deliveries"),
    ):
        sub.add_parser(name, help=text).add_argument("job")
    ls = sub.add_parser("list", help="list jobs, newest first")
    ls.add_argument("--state", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    ls.add_argument("--limit", type=int, default=20)
    d = sub.add_parser("download", help="download and unpack a job's archive")
    d.add_argument("job")
    d.add_argument("--out", type=Path, default=Path("."))
    sub.add_parser("verify", help="ask for a DFT verification of one structure").add_argument("structure")
    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _job_line(job: dict[str, Any]) -> str:
    target = ", ".join(f"{k}={v}" for k, v in (job.get("target") or {}).items() if v is not None) or "unconditional"
    return (
        f"{job['id']}  {job['state']:<9}  {job['progress'] * 100:5.1f}%  "
        f"{job['num_structures']}/{job['num_samples']} structures  model={job['model']}  {target}"
        + (f"  error: {job['error']}" if job.get("error") else "")
    )


def _print(args: argparse.Namespace, doc: Any, text: str) -> None:
    print(json.dumps(doc, indent=2) if args.json else text)


def _run_service(args: argparse.Namespace) -> int:
    with Client(args.url, args.api_key) as client:
        if args.command == "submit":
            job = client.submit(
                band_gap=args.band_gap,
                formation_energy_per_atom=args.formation_energy,
                num_samples=args.num_samples,
                guidance_scale=args.guidance_scale,
                seed=args.seed,
                steps=args.steps,
                model=args.model,
                num_atoms=args.num_atoms,
                allowed_elements=args.elements,
                required_elements=args.required,
                charge_balance=args.charge_balance,
                callback_url=args.callback_url,
            )
            if not args.wait:
                _print(args, job, _job_line(job))
                return 0
            try:
                job = client.wait(job, progress=not args.json)
            except KeyboardInterrupt:
                print(f"\nstopped waiting; job {job['id']} goes on (mattergen-e cancel {job['id']})", file=sys.stderr)
                return 130
            _print(args, job, _job_line(job))
            if args.out and job["num_structures"]:
                path = client.download(job, args.out)
                print(f"results in {args.out} ({path.name})", file=sys.stderr)
            return 0 if job["state"] == "succeeded" else 1
        if args.command == "status":
            job = client.job(args.job)
            _print(args, job, _job_line(job))
        elif args.command == "cancel":
            job = client.cancel(args.job)
            _print(args, job, _job_line(job))
        elif args.command == "list":
            jobs = client.jobs(state=args.state, limit=args.limit)
            _print(args, jobs, "\n".join(_job_line(j) for j in jobs) or "no jobs")
        elif args.command == "deliveries":
            rows = client.deliveries(args.job)
            lines = [
                f"{d['id']}  {d['event']:<14}  {d['state']:<9}  attempts {d['attempts']}  "
                f"last {d['last_status_code'] or '-'}  {d['last_error'] or ''}".rstrip()
                for d in rows
            ]
            _print(args, rows, "\n".join(lines) or "no deliveries (no callback_url, or the job has not ended)")
        elif args.command == "download":
            path = client.download(args.job, args.out)
            print(f"{path} unpacked in {args.out}")
        elif args.command == "verify":
            try:
                result = client.verify(args.structure)
            except ApiError as exc:
                if exc.status in (404, 405):
                    print(f"error: {exc}\n(404/405 here means this server does not offer DFT verification yet, "
                          "or the structure does not exist)", file=sys.stderr)
                    return 1
                raise
            _print(args, result, json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Project tools get their arguments untouched (their own --help included).
    for i, token in enumerate(argv):
        if token in DELEGATED:
            return subprocess.call([sys.executable, "-m", DELEGATED[token][0], *argv[i + 1 :]])
        if not token.startswith("-") or token in ("-h", "--help"):
            break
    args = build_parser().parse_args(argv)
    try:
        return _run_service(args)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (httpx.TransportError, TimeoutError) as exc:
        print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
