"""``python -m benchmarks.api_load`` — the `api` suite of `make bench`: HTTP latency and errors of the
service under concurrent clients, with a real worker running.

    python -m benchmarks.api_load [--clients 10 50 200] [--pairs 1000] [--max-seconds 90] [--out DIR]

Starts a private copy of the stack (benchmarks/api_stack.py: embedded PostgreSQL and Redis, one Celery
worker with the shipped default model, uvicorn as `make run` serves it). For each concurrency level,
that many clients, each on its own keep-alive connection, repeat "POST a 1-sample job, then GET it"
until ``--pairs`` pairs are done in total (or ``--max-seconds`` passed). Loopback only.

Reports POST and GET p50/p95/p99 latency, errors (5xx, resets, timeouts), 429s, other 4xx and
throughput per level; writes ``DIR/api_load.{json,md,png}`` with date, commit, command and core-hours
(CPU time of the whole stack and of this load generator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import shlex
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.provenance import REPO, git_commit, utc_now

RESULTS = REPO / "benchmarks" / "results"
GOALS = {"errors_at_200": 0, "post_p99_ms_at_50": 100.0, "get_p99_ms_at_50": 50.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.api_load", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[10, 50, 200])
    p.add_argument("--pairs", type=int, default=1000, help="POST+GET pairs per level, all clients together")
    p.add_argument("--max-seconds", type=float, default=90.0, help="time cap per level")
    p.add_argument("--timeout", type=float, default=60.0, help="client timeout per request (s)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--report-only", type=Path, default=None, metavar="JSON",
                   help="re-render the markdown and PNG next to an earlier api_load.json; runs nothing")
    args = p.parse_args(argv)
    if min(args.clients) < 1 or args.pairs < 1:
        p.error("--clients and --pairs must be >= 1")
    return args


async def _client(url: str, headers: dict, rounds: int, deadline: float, timeout: float, seed0: int, out: dict):
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as c:
        for i in range(rounds):
            if time.monotonic() > deadline:
                return
            job_id = await _request(c, "POST", "/v1/jobs", out, json={"num_samples": 1, "seed": seed0 + i})
            if job_id is not None:
                await _request(c, "GET", f"/v1/jobs/{job_id}", out)


async def _request(c: httpx.AsyncClient, method: str, path: str, out: dict, **kw) -> str | None:
    started = time.perf_counter()
    try:
        r = await c.request(method, path, **kw)
    except httpx.HTTPError as exc:
        out["errors"].append(f"{method}: {type(exc).__name__}")
        return None
    out[method].append(time.perf_counter() - started)
    if r.status_code >= 500:
        out["errors"].append(f"{method}: {r.status_code}")
    elif r.status_code == 429:
        out["throttled"] += 1
    elif r.status_code >= 400:
        out["other_4xx"].append(f"{method}: {r.status_code}")
    elif method == "POST":
        return r.json()["data"]["id"]
    return None


def _stats(seconds: list[float]) -> dict:
    if not seconds:
        return {"n": 0}
    ms = np.array(seconds) * 1000.0
    return {"n": int(ms.size), **{f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)},
            "max_ms": round(float(ms.max()), 1)}


def run_level(url: str, key: str, clients: int, pairs: int, max_seconds: float, timeout: float) -> dict:
    out: dict = {"POST": [], "GET": [], "errors": [], "throttled": 0, "other_4xx": []}
    rounds = max(1, math.ceil(pairs / clients))
    headers = {"Authorization": f"Bearer {key}"}

    async def main() -> float:
        deadline = time.monotonic() + max_seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(_client(url, headers, rounds, deadline, timeout, 1_000_000 * (k + 1), out) for k in range(clients))
        )
        return time.perf_counter() - started

    wall = asyncio.run(main())
    requests = len(out["POST"]) + len(out["GET"]) + len(out["errors"])
    return {
        "clients": clients,
        "rounds_per_client": rounds,
        "wall_seconds": round(wall, 2),
        "requests": requests,
        "throughput_rps": round(requests / wall, 1) if wall else None,
        "post": _stats(out["POST"]),
        "get": _stats(out["GET"]),
        "errors": len(out["errors"]),
        "error_kinds": sorted(set(out["errors"])),
        "throttled_429": out["throttled"],
        "other_4xx": len(out["other_4xx"]),
    }


def _goal_check(levels: list[dict]) -> dict:
    by = {lv["clients"]: lv for lv in levels}
    out = {}
    if 200 in by:
        out["errors_at_200"] = {"goal": 0, "measured": by[200]["errors"], "met": by[200]["errors"] == 0}
    if 50 in by:
        for method, goal in (("post", GOALS["post_p99_ms_at_50"]), ("get", GOALS["get_p99_ms_at_50"])):
            p99 = by[50][method].get("p99_ms")
            out[f"{method}_p99_ms_at_50"] = {"goal": goal, "measured": p99, "met": p99 is not None and p99 <= goal}
    return out


def markdown(result: dict) -> str:
    prov = result["provenance"]
    lines = [
        "# API load benchmark",
        "",
        f"{prov['date_start']} · commit {(prov['git']['commit'] or '?')[:12]}{' (dirty tree)' if prov['git']['dirty'] else ''}"
        f" · `{prov['command']}` · {prov['core_hours']:.3f} core-hours · {prov['machine']['cpus']} CPUs,"
        f" load average at start {prov['machine']['load_average_at_start']}",
        "",
        "Each client: its own keep-alive connection, repeating POST a 1-sample job then GET it. One uvicorn",
        "process, one Celery worker (shipped default model) sampling the submitted jobs meanwhile, embedded",
        "PostgreSQL and Redis, all on this machine (loopback).",
        "",
        "| clients | requests | throughput (req/s) | POST p50 / p95 / p99 (ms) | GET p50 / p95 / p99 (ms) | errors | 429 | other 4xx |",
        "|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for lv in result["levels"]:
        def trio(s: dict) -> str:
            return " / ".join(str(s.get(f"p{q}_ms", "–")) for q in (50, 95, 99))

        lines.append(
            f"| {lv['clients']} | {lv['requests']} | {lv['throughput_rps']} | {trio(lv['post'])} | {trio(lv['get'])} "
            f"| {lv['errors']} | {lv['throttled_429']} | {lv['other_4xx']} |"
        )
    cpu = prov.get("cpu_seconds") or {}
    if cpu:
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
        lines += ["", f"CPU time of the run ({prov['job_cpu_seconds']:.0f} s in all): {parts}."]
    lines += ["", "Goals (issue 16, this 2-core machine):", ""]
    for name, g in result["goals"].items():
        lines.append(f"- {name}: goal {g['goal']}, measured {g['measured']} — {'met' if g['met'] else 'NOT met'}")
    kinds = sorted({k for lv in result["levels"] for k in lv["error_kinds"]})
    if kinds:
        lines += ["", f"Error kinds seen: {', '.join(kinds)}"]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.plots import save, stamp_text

    levels = result["levels"]
    x = [lv["clients"] for lv in levels]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    for method, color in (("post", "tab:blue"), ("get", "tab:orange")):
        for q, style in ((50, ":"), (95, "--"), (99, "-")):
            ax.plot(x, [lv[method].get(f"p{q}_ms") for lv in levels], style, color=color, marker="o",
                    label=f"{method.upper()} p{q}")
    ax.axhline(GOALS["post_p99_ms_at_50"], color="tab:blue", lw=0.5)
    ax.axhline(GOALS["get_p99_ms_at_50"], color="tab:orange", lw=0.5)
    ax.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="latency (ms)", xticks=x)
    ax.set_xticklabels([str(v) for v in x])
    ax.legend(fontsize=7)
    bx.bar([str(v) for v in x], [lv["throughput_rps"] for lv in levels], color="0.6")
    for i, lv in enumerate(levels):
        bx.text(i, lv["throughput_rps"], f"{lv['errors']} errors", ha="center", va="bottom", fontsize=8)
    bx.set(xlabel="concurrent clients", ylabel="requests / s")
    fig.suptitle("API latency and throughput (POST job + GET job), worker running")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save(fig, path, stamp_text(result["provenance"]))


def main(argv: list[str] | None = None) -> int:
    import os

    from benchmarks.api_stack import start_stack

    args = parse_args(argv)
    if args.report_only is not None:
        result = json.loads(args.report_only.read_text())
        args.report_only.with_suffix(".md").write_text(markdown(result))
        plot(result, args.report_only.with_suffix(".png"))
        return 0
    load = os.getloadavg()
    prov = {
        "date_start": utc_now(),
        "git": git_commit(),
        "command": " ".join(
            ["python -m benchmarks.api_load", shlex.join(argv if argv is not None else sys.argv[1:])]
        ).strip(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in load]},
    }
    print("starting the stack (PostgreSQL, Redis, worker, API)...", file=sys.stderr, flush=True)
    stack = start_stack()
    levels = []
    try:
        run_level(stack.url, stack.key, 4, 20, 30, args.timeout)  # warm-up: imports, pools, caches
        for clients in args.clients:
            level = run_level(stack.url, stack.key, clients, args.pairs, args.max_seconds, args.timeout)
            print(json.dumps(level), file=sys.stderr, flush=True)
            levels.append(level)
        cpu = stack.cpu_seconds()
    finally:
        stack.stop()
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu["load_generator"] = own.ru_utime + own.ru_stime
    prov["cpu_seconds"] = {k: round(v, 1) for k, v in cpu.items()}
    prov["job_cpu_seconds"] = round(sum(cpu.values()), 1)
    prov["core_hours"] = round(prov["job_cpu_seconds"] / 3600, 4)
    prov["date_end"] = utc_now()
    result = {"suite": "api", "provenance": prov, "settings": vars(args) | {"out": str(args.out)},
              "levels": levels, "goals": _goal_check(levels)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "api_load.md").write_text(markdown(result))
    plot(result, args.out / "api_load.png")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
