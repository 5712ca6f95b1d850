"""Fair scheduling with a real worker: a 1-sample job submitted behind a big job starts within a chunk
or two of the big job's time, not after all of its chunks."""

from __future__ import annotations

import pytest

from tests.integration.helpers import submit, wait_terminal

pytestmark = [pytest.mark.integration]


def test_a_small_job_is_not_stuck_behind_a_big_one(http, worker):
    big = submit(http, {"num_samples": 400, "seed": 11, "steps": 60})  # 100 chunks of 4
    small = submit(http, {"num_samples": 1, "seed": 12, "steps": 60})
    try:
        done = wait_terminal(http, small["id"], timeout=120)
        assert done["state"] == "succeeded", done
        behind = http.get(f"/v1/jobs/{big['id']}").json()["data"]
        # First in, first out over all 100 chunks would have finished the big job first.
        assert behind["state"] in ("queued", "running") and behind["chunks_done"] <= 3, behind
    finally:
        http.post(f"/v1/jobs/{big['id']}/cancel")
