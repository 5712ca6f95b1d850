"""Prometheus metrics.

Job and structure counts, and sampling time, are read from PostgreSQL at scrape time: the numbers are
produced by worker processes on other hosts, and the database is the one place that sees them all.
HTTP request counts are per API process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from sqlalchemy import func, select

from app.core.db import get_engine
from app.tables import ChunkState, Job, JobChunk, JobState, Structure

disable_created_metrics()  # the *_created series only add noise to a scrape
registry = CollectorRegistry()

http_requests = Counter(
    "mattergen_http_requests", "HTTP requests served", ["method", "route", "status"], registry=registry
)
http_latency = Histogram(
    "mattergen_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry
)


class DatabaseCollector:
    def collect(self):
        with get_engine().connect() as conn:
            by_state = dict(conn.execute(select(Job.state, func.count()).group_by(Job.state)).all())
            structures = conn.scalar(select(func.count()).select_from(Structure)) or 0
            n_chunks, seconds = conn.execute(
                select(func.count(), func.coalesce(func.sum(JobChunk.sampling_seconds), 0.0)).where(
                    JobChunk.state == ChunkState.done
                )
            ).one()
        jobs = GaugeMetricFamily("mattergen_jobs", "Jobs by state", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], by_state.get(state, 0))
        yield jobs
        generated = CounterMetricFamily("mattergen_structures_generated", "Structures stored")
        generated.add_metric([], structures)
        yield generated
        sampling = SummaryMetricFamily(
            "mattergen_sampling_seconds",
            "Wall time spent sampling completed chunks",
            count_value=n_chunks,
            sum_value=float(seconds),
        )
        yield sampling


registry.register(DatabaseCollector())
