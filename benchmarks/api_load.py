"""``python -m benchmarks.api_load`` — the `api` suite of `make bench`: HTTP latency and errors of the
service under concurrent clients, with a real worker running.

    python -m benchmarks.api_load [--clients 10 50 200] [--mode both|saturation|paced]
        [--pairs 1000] [--max-seconds 90] [--rate 1.0] [--paced-seconds 30] [--out DIR]

Starts a private copy of the stack (benchmarks/api_stack.py: embedded PostgreSQL and Redis, one Celery
worker with the shipped default model, uvicorn as `make run` serves it). Each client has its own
keep-alive connection and alternates "POST a 1-sample job" and "GET that job". Two load models, for
each concurrency level:

- **saturation** (closed loop, no think time): each client sends its next request as soon as the last
  one answered, until ``--pairs`` pairs are done in total (or ``--max-seconds`` passed). This measures
  the service at full throughput; every client always waits in line, so latency is about
  clients / throughput whatever the per-request cost.
- **paced** (open loop, how lab services poll): each client sends ``--rate`` requests per second on a
  fixed schedule for ``--paced-seconds`` (start times spread over the first period). Latency is measured
  from the *scheduled* send time, so a request delayed behind a slow one counts its wait (no
  coordinated omission). A client never has two requests in flight on its connection: when it falls
  behind it sends the late ones back to back; requests not sent within ``--paced-seconds +
  --max-seconds`` are counted as missed.

Before each level the jobs still queued are cancelled (clients submit far faster than one worker
samples), so every level starts from an empty queue.

Reports POST and GET p50/p95/p99 latency, errors (5xx, resets, timeouts), 429s, other 4xx and
throughput per level and mode; writes ``DIR/api_load.{json,md,png}`` with date, commit, command,
core-hours (CPU time of the whole stack and of this load generator) and the machine's load (load
average, busy processes outside the stack, ``--machine-note``).
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
import urllib.parse
from pathlib import Path

import numpy as np

from benchmarks.provenance import REPO, git_commit, utc_now

RESULTS = REPO / "benchmarks" / "results"
GOALS = {"errors_at_200": 0, "post_p99_ms_at_50": 100.0, "get_p99_ms_at_50": 50.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.api_load", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[10, 50, 200])
    p.add_argument("--mode", choices=["both", "saturation", "paced"], default="both")
    p.add_argument("--pairs", type=int, default=1000, help="saturation: POST+GET pairs per level, all clients")
    p.add_argument("--max-seconds", type=float, default=90.0,
                   help="saturation: time cap per level; paced: how long past the schedule late requests may go")
    p.add_argument("--rate", type=float, default=1.0, help="paced: requests per second per client")
    p.add_argument("--paced-seconds", type=float, default=30.0, help="paced: length of the schedule per level")
    p.add_argument("--api-workers", type=int, default=1, help="uvicorn worker processes (make run: 1)")
    p.add_argument("--machine-note", default=None, help="free text on the machine's load, kept in the results")
    p.add_argument("--timeout", type=float, default=60.0, help="client timeout per request (s)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--report-only", type=Path, default=None, metavar="JSON",
                   help="re-render the markdown and PNG next to an earlier api_load.json; runs nothing")
    args = p.parse_args(argv)
    if min(args.clients) < 1 or args.pairs < 1 or args.api_workers < 1:
        p.error("--clients, --pairs and --api-workers must be >= 1")
    if args.rate <= 0 or args.paced_seconds <= 0:
        p.error("--rate and --paced-seconds must be > 0")
    return args


class HttpConnection:
    """One keep-alive HTTP/1.1 connection with just what this benchmark needs (Content-Length bodies).
    It costs a fraction of httpx's CPU per request, and the load generator shares the cores with the
    service it measures. Any failure closes the connection; the next request opens a new one."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = f"Host: {self.host}:{self.port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._exchange(method, path, body), self.timeout)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, method: str, path: str, body: dict | None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = b"" if body is None else json.dumps(body).encode()
        kind = "Content-Type: application/json\r\n" if body is not None else ""
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\n{self.head}{kind}Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed by the server")
        status = int(status_line.split(None, 2)[1])
        length, close = None, False
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ValueError("chunked responses are not supported by this load generator")
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _client(url: str, headers: dict, rounds: int, deadline: float, timeout: float, seed0: int, out: dict):
    c = HttpConnection(url, headers, timeout)
    try:
        for i in range(rounds):
            if time.monotonic() > deadline:
                return
            job_id = await _request(c, "POST", "/v1/jobs", out, body={"num_samples": 1, "seed": seed0 + i})
            if job_id is not None:
                await _request(c, "GET", f"/v1/jobs/{job_id}", out)
    finally:
        c.close()


async def _paced_client(url: str, headers: dict, schedule: list[float], hard_deadline: float, timeout: float,
                        seed0: int, out: dict):
    """Send request k at ``schedule[k]`` (perf_counter seconds), or as soon as the previous one answered
    when behind; alternate POST and GET of the job just submitted."""
    c = HttpConnection(url, headers, timeout)
    job_id = None
    try:
        for k, due in enumerate(schedule):
            now = time.perf_counter()
            if now > hard_deadline:
                out["missed"] += len(schedule) - k
                return
            if due > now:
                await asyncio.sleep(due - now)
            out["lag"].append(max(0.0, time.perf_counter() - due))
            if job_id is None:
                job_id = await _request(c, "POST", "/v1/jobs", out, due=due, body={"num_samples": 1, "seed": seed0 + k})
            else:
                await _request(c, "GET", f"/v1/jobs/{job_id}", out, due=due)
                job_id = None
    finally:
        c.close()


async def _request(c: HttpConnection, method: str, path: str, out: dict, due: float | None = None,
                   body: dict | None = None) -> str | None:
    """One request; its latency counts from ``due`` (the scheduled send time) when given, else from the send."""
    started = time.perf_counter()
    try:
        status, answer = await c.request(method, path, body)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:  # resets, timeouts, garbled answers
        out["errors"].append(f"{method}: {type(exc).__name__}")
        return None
    done = time.perf_counter()
    out[method].append(done - (started if due is None else due))
    if due is not None:
        out[f"{method}_service"].append(done - started)
    if status >= 500:
        out["errors"].append(f"{method}: {status}")
    elif status == 429:
        out["throttled"] += 1
    elif status >= 400:
        out["other_4xx"].append(f"{method}: {status}")
    elif method == "POST":
        return json.loads(answer)["data"]["id"]
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


def paced_schedules(clients: int, rate: float, seconds: float, t0: float, seed: int = 0) -> list[list[float]]:
    """Each client's send times: every 1/rate s for ``seconds``, from an offset spread over one period
    (so the clients do not all fire at once)."""
    period = 1.0 / rate
    n = max(1, int(round(seconds * rate)))
    offsets = np.random.default_rng(seed).uniform(0.0, period, size=clients)
    return [[t0 + float(off) + k * period for k in range(n)] for off in offsets]


def run_paced_level(url: str, key: str, clients: int, rate: float, seconds: float, max_late: float,
                    timeout: float) -> dict:
    out: dict = {"POST": [], "GET": [], "POST_service": [], "GET_service": [], "errors": [], "throttled": 0,
                 "other_4xx": [], "missed": 0, "lag": []}
    headers = {"Authorization": f"Bearer {key}"}

    async def main() -> float:
        t0 = time.perf_counter() + 0.5  # time to open the connections before the first send
        schedules = paced_schedules(clients, rate, seconds, t0)
        await asyncio.gather(*(
            _paced_client(url, headers, sched, t0 + seconds + max_late, timeout, 1_000_000 * (k + 1), out)
            for k, sched in enumerate(schedules)
        ))
        return time.perf_counter() - t0

    wall = asyncio.run(main())
    scheduled = clients * max(1, int(round(seconds * rate)))
    answered = len(out["POST"]) + len(out["GET"])
    return {
        "clients": clients,
        "rate_per_client": rate,
        "offered_rps": round(clients * rate, 1),
        "schedule_seconds": seconds,
        "wall_seconds": round(wall, 2),
        "scheduled": scheduled,
        "requests": answered + len(out["errors"]),
        "missed": out["missed"],
        "throughput_rps": round(answered / wall, 1) if wall else None,
        "post": _stats(out["POST"]),
        "get": _stats(out["GET"]),
        "post_service": _stats(out["POST_service"]),
        "get_service": _stats(out["GET_service"]),
        "send_lag": _stats(out["lag"]),
        "errors": len(out["errors"]),
        "error_kinds": sorted(set(out["errors"])),
        "throttled_429": out["throttled"],
        "other_4xx": len(out["other_4xx"]),
    }


def _goal_check(levels: list[dict]) -> dict:
    by = {lv["clients"]: lv for lv in levels}
    out = {}
    if 200 in by:
        failed = by[200]["errors"] + by[200].get("missed", 0)  # a paced request never sent is a failure too
        out["errors_at_200"] = {"goal": 0, "measured": failed, "met": failed == 0}
    if 50 in by:
        for method, goal in (("post", GOALS["post_p99_ms_at_50"]), ("get", GOALS["get_p99_ms_at_50"])):
            p99 = by[50][method].get("p99_ms")
            out[f"{method}_p99_ms_at_50"] = {"goal": goal, "measured": p99, "met": p99 is not None and p99 <= goal}
    return out


SATURATION_TEXT = (
    "Closed loop, no think time: each client sends its next request as soon as the last one answered. "
    "The service runs at full throughput and every client waits in line, so latency is bounded below by "
    "clients / throughput."
)


def paced_text(rate: float) -> str:
    return (
        f"Open loop, as lab services poll: each client sends {rate:g} request(s)/s on a fixed schedule "
        "(offered load = clients × rate). Latency counts from the scheduled send time, so waiting behind a "
        "slow request is included (no coordinated omission); *service* p99 counts from the actual send."
    )


def _normalized(result: dict) -> dict:
    """Results written before the paced mode had the saturation levels and goals at the top level."""
    if "saturation" not in result and "levels" in result:
        result = {**result, "saturation": {"levels": result["levels"], "goals": result.get("goals", {})}}
    return result


def _trio(s: dict) -> str:
    return " / ".join(str(s.get(f"p{q}_ms", "–")) for q in (50, 95, 99))


def markdown(result: dict) -> str:
    result = _normalized(result)
    prov = result["provenance"]
    machine = prov["machine"]
    lines = [
        "# API load benchmark",
        "",
        f"{prov['date_start']} · commit {(prov['git']['commit'] or '?')[:12]}{' (dirty tree)' if prov['git']['dirty'] else ''}"
        f" · `{prov['command']}` · {prov['core_hours']:.3f} core-hours · {machine['cpus']} CPUs,"
        f" load average at start {machine['load_average_at_start']}"
        + (f", at end {machine['load_average_at_end']}" if machine.get("load_average_at_end") else ""),
        "",
    ]
    if machine.get("note"):
        lines += [f"Machine load: {machine['note']}", ""]
    busy = machine.get("busy_processes_at_start")
    if busy:
        lines += ["Busy processes outside the benchmark at start (CPU % over 1 s, nice): "
                  + "; ".join(f"`{b['name']}` {b['cpu_percent']:.0f}% (nice {b['nice']})" for b in busy), ""]
    workers = result.get("settings", {}).get("api_workers", 1)
    lines += [
        "Each client: its own keep-alive connection, alternating POST a 1-sample job and GET it. "
        f"{'One uvicorn process' if workers == 1 else f'uvicorn with {workers} worker processes'}, one Celery "
        "worker (shipped default model) sampling the submitted jobs meanwhile, embedded PostgreSQL and Redis, "
        "all on this machine (loopback). Jobs left queued by one level are cancelled before the next, so "
        "each level starts from an empty queue.",
        "",
    ]
    sat = result.get("saturation")
    if sat and sat["levels"]:
        lines += [
            "## Saturation load", "", SATURATION_TEXT, "",
            "| clients | requests | throughput (req/s) | POST p50 / p95 / p99 (ms) | GET p50 / p95 / p99 (ms) | errors | 429 | other 4xx |",
            "|---:|---:|---:|---|---|---:|---:|---:|",
        ]
        for lv in sat["levels"]:
            lines.append(
                f"| {lv['clients']} | {lv['requests']} | {lv['throughput_rps']} | {_trio(lv['post'])} | {_trio(lv['get'])} "
                f"| {lv['errors']} | {lv['throttled_429']} | {lv['other_4xx']} |"
            )
        lines.append("")
    paced = result.get("paced")
    if paced and paced["levels"]:
        lines += [
            "## Paced load", "", paced_text(paced["rate_per_client"]), "",
            "| clients | offered (req/s) | answered (req/s) | sent / scheduled | missed | POST p50 / p95 / p99 (ms) "
            "| GET p50 / p95 / p99 (ms) | service p99 POST / GET (ms) | errors | 429 | other 4xx |",
            "|---:|---:|---:|---|---:|---|---|---|---:|---:|---:|",
        ]
        for lv in paced["levels"]:
            lines.append(
                f"| {lv['clients']} | {lv['offered_rps']} | {lv['throughput_rps']} | {lv['requests']} / {lv['scheduled']} "
                f"| {lv['missed']} | {_trio(lv['post'])} | {_trio(lv['get'])} "
                f"| {lv['post_service'].get('p99_ms', '–')} / {lv['get_service'].get('p99_ms', '–')} "
                f"| {lv['errors']} | {lv['throttled_429']} | {lv['other_4xx']} |"
            )
        lines.append("")
    cpu = prov.get("cpu_seconds") or {}
    if cpu:
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
        lines += [f"CPU time of the run ({prov['job_cpu_seconds']:.0f} s in all, start-up included): {parts}."]
        per = prov.get("cpu_ms_per_request_after_warmup") or {}
        if per:
            lines += ["CPU per measured request after the warm-up (ms): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])) + "."]
        lines.append("")
    lines += ["## Goals (issue 16, this 2-core machine)", ""]
    modes = [m for m in ("saturation", "paced") if result.get(m) and result[m].get("goals")]
    if not modes:
        return "\n".join(lines + ["No goal level (50 or 200 clients) was run."]) + "\n"
    lines += ["| goal | target | " + " | ".join(modes) + " |", "|---|---:|" + "---|" * len(modes)]
    names = list(dict.fromkeys(name for m in modes for name in result[m]["goals"]))
    for name in names:
        target = next(result[m]["goals"][name]["goal"] for m in modes if name in result[m]["goals"])
        cells = []
        for m in modes:
            g = result[m]["goals"].get(name)
            cells.append("–" if g is None else f"{g['measured']} — {'met' if g['met'] else '**NOT met**'}")
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")
    lines += ["", "errors_at_200 counts errors (5xx, resets, timeouts) and, in the paced mode, requests never sent."]
    kinds = sorted({k for m in modes for lv in result[m]["levels"] for k in lv["error_kinds"]})
    if kinds:
        lines += ["", f"Error kinds seen: {', '.join(kinds)}"]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.plots import save, stamp_text

    result = _normalized(result)
    modes = [m for m in ("saturation", "paced") if result.get(m) and result[m]["levels"]]
    fig, axes = plt.subplots(1, len(modes) + 1, figsize=(5 * (len(modes) + 1), 4))
    titles = {"saturation": "saturation (closed loop, no think time)",
              "paced": f"paced ({(result.get('paced') or {}).get('rate_per_client', 1):g} req/s per client, open loop)"}
    for ax, mode in zip(axes, modes, strict=False):
        levels = result[mode]["levels"]
        x = [lv["clients"] for lv in levels]
        for method, color in (("post", "tab:blue"), ("get", "tab:orange")):
            for q, style in ((50, ":"), (95, "--"), (99, "-")):
                ax.plot(x, [lv[method].get(f"p{q}_ms") for lv in levels], style, color=color, marker="o",
                        label=f"{method.upper()} p{q}")
        ax.axhline(GOALS["post_p99_ms_at_50"], color="tab:blue", lw=0.5)
        ax.axhline(GOALS["get_p99_ms_at_50"], color="tab:orange", lw=0.5)
        ax.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="latency (ms)", xticks=x,
               title=titles[mode])
        ax.title.set_fontsize(9)
        ax.set_xticklabels([str(v) for v in x])
        ax.legend(fontsize=7)
    bx = axes[-1]
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        levels = result[mode]["levels"]
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(levels))]
        bx.bar(xs, [lv["throughput_rps"] for lv in levels], width, label=f"{mode}: answered",
               color=("0.55" if mode == "saturation" else "tab:green"))
        for xpos, lv in zip(xs, levels, strict=True):
            bad = lv["errors"] + lv.get("missed", 0)
            bx.text(xpos, lv["throughput_rps"], f"{bad} err", ha="center", va="bottom", fontsize=7)
        if mode == "paced":
            bx.plot(xs, [lv["offered_rps"] for lv in levels], "k_", ms=14, label="paced: offered")
    bx.set_xticks(range(len(result[modes[0]]["levels"])))
    bx.set_xticklabels([str(lv["clients"]) for lv in result[modes[0]]["levels"]])
    bx.set(xlabel="concurrent clients", ylabel="requests / s")
    bx.legend(fontsize=7)
    fig.suptitle("API latency and throughput (POST job + GET job), worker running")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save(fig, path, stamp_text(result["provenance"]))


def busy_processes(exclude: set[int], min_percent: float = 5.0) -> list[dict]:
    """Processes outside ``exclude`` using at least ``min_percent`` of a CPU over one second."""
    import psutil

    procs = [p for p in psutil.process_iter(["pid", "name", "cmdline", "nice"]) if p.pid not in exclude]
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(1.0)
    out = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= min_percent:
            cmd = " ".join(p.info["cmdline"] or [p.info["name"] or "?"])
            out.append({"pid": p.pid, "name": cmd[:90], "nice": p.info["nice"], "cpu_percent": round(pct, 1)})
    return sorted(out, key=lambda b: -b["cpu_percent"])


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
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in load],
                    "note": args.machine_note, "busy_processes_at_start": busy_processes({os.getpid()})},
    }
    print("starting the stack (PostgreSQL, Redis, worker, API)...", file=sys.stderr, flush=True)
    stack = start_stack(api_workers=args.api_workers)
    saturation, paced = [], []
    try:
        run_level(stack.url, stack.key, 4, 20, 30, args.timeout)  # warm-up: imports, pools, caches
        cpu_warm = stack.cpu_seconds()  # so the per-request CPU leaves start-up and warm-up out
        if args.mode in ("both", "saturation"):
            for clients in args.clients:
                stack.cancel_active_jobs()
                level = run_level(stack.url, stack.key, clients, args.pairs, args.max_seconds, args.timeout)
                print(json.dumps({"mode": "saturation", **level}), file=sys.stderr, flush=True)
                saturation.append(level)
        if args.mode in ("both", "paced"):
            for clients in args.clients:
                stack.cancel_active_jobs()
                level = run_paced_level(stack.url, stack.key, clients, args.rate, args.paced_seconds,
                                        args.max_seconds, args.timeout)
                print(json.dumps({"mode": "paced", **level}), file=sys.stderr, flush=True)
                paced.append(level)
        cpu = stack.cpu_seconds()
    finally:
        stack.stop()
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu["load_generator"] = own.ru_utime + own.ru_stime
    prov["cpu_seconds"] = {k: round(v, 1) for k, v in cpu.items()}
    measured = sum(lv["requests"] for lv in saturation + paced)
    prov["cpu_ms_per_request_after_warmup"] = {
        k: round(1000 * (cpu[k] - cpu_warm.get(k, 0.0)) / measured, 2) for k in cpu_warm if measured
    }
    prov["job_cpu_seconds"] = round(sum(cpu.values()), 1)
    prov["core_hours"] = round(prov["job_cpu_seconds"] / 3600, 4)
    prov["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    prov["date_end"] = utc_now()
    result = {"suite": "api", "provenance": prov, "settings": vars(args) | {"out": str(args.out)}}
    if saturation:
        result["saturation"] = {"load_model": SATURATION_TEXT, "levels": saturation, "goals": _goal_check(saturation)}
    if paced:
        result["paced"] = {"load_model": paced_text(args.rate), "rate_per_client": args.rate, "levels": paced,
                           "goals": _goal_check(paced)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "api_load.md").write_text(markdown(result))
    plot(result, args.out / "api_load.png")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
