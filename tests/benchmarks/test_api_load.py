"""The API suite's load models: the paced (open-loop) schedule, latency from the scheduled send time,
and the report of both modes with the goals per mode. A toy asyncio server stands in for the API."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from benchmarks import api_load


def test_paced_schedule_is_one_request_per_period_from_a_spread_offset():
    t0 = 100.0
    schedules = api_load.paced_schedules(clients=50, rate=2.0, seconds=3.0, t0=t0, seed=1)
    assert len(schedules) == 50 and {len(s) for s in schedules} == {6}
    for s in schedules:
        assert t0 <= s[0] < t0 + 0.5
        assert np.allclose(np.diff(s), 0.5)
    firsts = sorted(s[0] for s in schedules)
    assert firsts[-1] - firsts[0] > 0.3  # spread over the period, not a thundering herd
    assert schedules == api_load.paced_schedules(clients=50, rate=2.0, seconds=3.0, t0=t0, seed=1)


async def _toy_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers POST after 0.2 s with a job id and GET at once, on one keep-alive connection."""
    while line := await reader.readline():
        method = line.split()[0]
        length = 0
        while (header := await reader.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":")[1])
        await reader.readexactly(length)
        if method == b"POST":
            await asyncio.sleep(0.2)  # a slow submission delays the poll queued behind it
        body = b'{"data": {"id": "job-1"}}'
        writer.write(b"HTTP/1.1 %d OK\r\nContent-Length: %d\r\n\r\n%s" % (202 if method == b"POST" else 200, len(body), body))
        await writer.drain()
    writer.close()


def _out() -> dict:
    return {"POST": [], "GET": [], "POST_service": [], "GET_service": [], "errors": [], "throttled": 0,
            "other_4xx": [], "missed": 0, "lag": []}


def test_paced_latency_counts_from_the_scheduled_time_when_the_client_falls_behind():
    out, missed = _out(), _out()

    async def main() -> None:
        server = await asyncio.start_server(_toy_server, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        t0 = time.perf_counter() + 0.05
        schedule = [t0, t0 + 0.05, t0 + 0.1, t0 + 0.15]
        await api_load._paced_client(url, {}, schedule, t0 + 10, 5.0, 0, out)
        now = time.perf_counter()
        await api_load._paced_client(url, {}, [now + 1] * 3, now - 1, 5.0, 0, missed)
        server.close()

    asyncio.run(main())
    assert len(out["POST"]) == 2 and len(out["GET"]) == 2 and not out["errors"], out
    # The first GET was due at +0.05 but could only go at +0.2: its latency includes that wait...
    assert out["GET"][0] >= 0.14 and out["GET_service"][0] < 0.1
    # ...and the second POST, due at +0.1, went out at ~+0.2 and took 0.2 s.
    assert out["POST"][1] >= 0.29 and 0.19 <= out["POST_service"][1] < 0.29
    assert max(out["lag"]) >= 0.09
    assert missed["missed"] == 3 and not missed["POST"]  # past the hard deadline: counted, not sent


def test_connection_errors_are_counted_not_raised():
    out = _out()

    async def main() -> None:
        async def hang_up(reader, writer):
            await reader.readline()
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        c = api_load.HttpConnection(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", {}, 5.0)
        assert await api_load._request(c, "GET", "/x", out) is None
        server.close()

    asyncio.run(main())
    assert out["errors"] == ["GET: ConnectionResetError"]


def _level(clients: int, p99: float, **extra) -> dict:
    stats = {"n": 10, "p50_ms": p99 / 2, "p95_ms": p99 * 0.9, "p99_ms": p99, "max_ms": p99}
    return {"clients": clients, "requests": 100, "throughput_rps": 50.0, "post": stats, "get": stats,
            "errors": 0, "error_kinds": [], "throttled_429": 0, "other_4xx": 0, **extra}


def test_report_shows_both_load_models_and_judges_the_goals_per_model():
    paced_extra = {"offered_rps": 50.0, "scheduled": 100, "missed": 0, "post_service": {"p99_ms": 20.0},
                   "get_service": {"p99_ms": 10.0}}
    sat = [_level(50, 900.0), _level(200, 3000.0)]
    paced = [_level(50, 40.0, **paced_extra), _level(200, 5000.0, **dict(paced_extra, missed=3))]
    prov = {"date_start": "2026-12-05T00:00:00Z", "git": {"commit": "abc", "dirty": False}, "command": "x",
            "core_hours": 0.01, "machine": {"cpus": 2, "load_average_at_start": [2.0, 2.0, 2.0],
                                            "note": "two niced training processes running"},
            "cpu_seconds": {"api": 1.0}, "job_cpu_seconds": 1.0}
    result = {"provenance": prov, "saturation": {"levels": sat, "goals": api_load._goal_check(sat)},
              "paced": {"rate_per_client": 1.0, "levels": paced, "goals": api_load._goal_check(paced)}}
    assert result["paced"]["goals"]["errors_at_200"] == {"goal": 0, "measured": 3, "met": False}
    assert result["paced"]["goals"]["get_p99_ms_at_50"]["met"] and not result["saturation"]["goals"]["get_p99_ms_at_50"]["met"]
    md = api_load.markdown(result)
    assert "## Saturation load" in md and "## Paced load" in md and "two niced training processes" in md
    assert "| get_p99_ms_at_50 | 50.0 | 900.0 — **NOT met** | 40.0 — met |" in md
    # A result written before the paced mode still renders.
    old = {"provenance": prov, "levels": sat, "goals": api_load._goal_check(sat)}
    assert "## Saturation load" in api_load.markdown(old) and "Paced" not in api_load.markdown(old)
