"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from worker.tasks import run_chunk


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"data": {"status": "ok"}, "meta": {}, "errors": []}


def test_readyz_is_503_with_a_dead_broker(client):
    from app.core.task_queue import TaskQueue, get_task_queue, make_celery
    from app.local_services import free_port

    dead = TaskQueue(make_celery(f"redis://127.0.0.1:{free_port()}/0"), "nowhere")
    client.app.dependency_overrides[get_task_queue] = lambda: dead
    try:
        r = client.get("/readyz")
    finally:
        client.app.dependency_overrides.clear()
    assert r.status_code == 503
    body = r.json()
    assert body["data"]["database"] == "ok"
    assert body["data"]["broker"] == "broker unreachable"
    assert [e["code"] for e in body["errors"]] == ["not_ready"]
    assert r.headers["Retry-After"]
    # No internal host, port or driver text in what an unauthenticated probe can read.
    assert "127.0.0.1" not in r.text and "Error 111" not in r.text and "redis" not in r.text.lower()


def test_metrics_count_jobs_structures_and_sampling_time(client, job_factory):
    job = job_factory(num_samples=2, seed=8, steps=5)
    assert run_chunk(str(job.id), 0) == "committed"
    text = client.get("/metrics").text
    assert 'mattergen_jobs{state="succeeded"}' in text and 'mattergen_jobs{state="queued"}' in text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["mattergen_structures_generated_total"] >= 2
    assert values["mattergen_sampling_seconds_count"] >= 1 and values["mattergen_sampling_seconds_sum"] > 0
    assert values['mattergen_jobs{state="succeeded"}'] >= 1
    assert any(k.startswith("mattergen_http_requests_total") for k in values)
