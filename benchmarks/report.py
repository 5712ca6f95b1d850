"""Write a suite's result as ``<suite>.json`` (everything) and ``<suite>.md`` (what a person reads).

Every result carries its provenance — git commit, checkpoint SHA-256s and training state, sample
counts, machine (nproc, torch threads, load), date and wall time — and the variants that were skipped
with the reason, so a table can always be traced back to the weights and settings behind it.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.jsonable import jsonable

SMOKE_BANNER = (
    "> **SMOKE RUN (`--quick`)** — tiny sample counts and a short CHGNet relaxation, meant to check the "
    "driver end to end. These numbers are not benchmark results."
)


def header_lines(payload: dict) -> list[str]:
    prov = payload["provenance"]
    git = prov.get("git", {})
    lines = [f"# Benchmark: {payload['suite']}", ""]
    if payload.get("quick"):
        lines += [SMOKE_BANNER, ""]
    partial = [v for v in payload["variants"] if not v["training_state"].startswith("complete")]
    if partial:
        lines += [
            "> **Partially trained checkpoint(s):** "
            + "; ".join(f"`{v['variant']}` {v['training_state']}" for v in partial)
            + ". Numbers describe these weights, not the finished model.",
            "",
        ]
    m = prov.get("machine", {})
    lines += [
        f"- date: {prov.get('date_start')} → {prov.get('date_end')} (wall {prov.get('wall_seconds', 0):.0f} s "
        f"for this invocation; job CPU-seconds for this suite {prov.get('job_cpu_seconds', 0):.0f} = "
        f"{prov.get('job_cpu_seconds', 0) / 3600:.2f} core-hours)",
        *(
            [f"- {len(prov['jobs_resumed_from_cache'])} job(s) were finished by an earlier invocation of the same "
             "command and resumed from the cache; the job seconds above include them"]
            if prov.get("jobs_resumed_from_cache") else []
        ),
        f"- git commit: `{git.get('commit')}`" + (" (work tree had uncommitted changes)" if git.get("dirty") else ""),
        f"- machine: nproc {m.get('nproc')}, {m.get('worker_processes')} worker process(es) × "
        f"{m.get('torch_threads_per_worker')} torch thread(s), load average at start {m.get('load_average_at_start')}, "
        f"torch {m.get('torch')}",
        f"- command: `{prov.get('command')}`",
        "",
        "| variant | checkpoint SHA-256 | training |",
        "|---|---|---|",
    ]
    for v in payload["variants"]:
        lines.append(f"| {v['variant']} | `{v['checkpoint_sha256']}` | {v['training_state']} |")
    if payload["skipped"]:
        lines += ["", "Skipped variants:", ""] + [f"- `{s['variant']}`: skipped — {s['reason']}" for s in payload["skipped"]]
    lines.append("")
    return lines


def write_suite(out_dir: Path, payload: dict, body_lines: list[str]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    suite = payload["suite"]
    json_path = out_dir / f"{suite}.json"
    md_path = out_dir / f"{suite}.md"
    json_path.write_text(json.dumps(jsonable(payload), indent=1) + "\n")
    extra = []
    if payload.get("plots"):
        extra = ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in payload["plots"]] + [""]
    md_path.write_text("\n".join(header_lines(payload) + body_lines + [""] + extra).rstrip("\n") + "\n")
    return json_path, md_path


def inverse_settings_from(settings: dict):
    """Settings of a stored result; results from before ``uncond_samples`` ran every cell at one size, and
    those from before charge-balance closing ran without it."""
    from benchmarks.settings import InverseSettings

    settings = {"uncond_samples": settings.get("samples_per_cell"), "charge_balance": False, **settings}
    return InverseSettings(**settings)


def sampling_settings_from(settings: dict):
    from benchmarks.settings import SamplingSettings

    return SamplingSettings(**settings)


def rerender(json_path: Path) -> Path:
    """Write ``<suite>.md`` again from ``<suite>.json`` alone, with the current report code.

    Why: the job cache under ``var/bench`` does not survive every machine, and a report fix (wording, a
    duplicated line) must not need the hours of jobs behind the numbers; the JSON holds everything the
    markdown shows. Plots are not redrawn. Returns the markdown path."""
    from benchmarks import inverse as inverse_suite
    from benchmarks import sampling_report

    payload = json.loads(Path(json_path).read_text())
    suite = payload["suite"]
    if suite == "inverse":
        body = inverse_suite.markdown(payload["results"], inverse_settings_from(payload["settings"]))
    elif suite == "sampling":
        body = sampling_report.markdown(payload["results"], sampling_settings_from(payload["settings"]))
    else:
        raise ValueError(f"{json_path}: suite {suite!r} has no markdown renderer here")
    return write_suite(Path(json_path).parent, payload, body)[1]


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python -m benchmarks.report RESULT.json [...]  (re-renders RESULT.md)")
    for arg in sys.argv[1:]:
        print(f"wrote {rerender(Path(arg))}")
