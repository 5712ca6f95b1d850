"""The Python client against the real uvicorn server and a real worker; its retries against a small
real HTTP server that answers 429/503 with Retry-After."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mattergen_e.client import ApiError, Client, retry_after_seconds


def new_key(name: str) -> str:
    from app.core.db import get_sessionmaker
    from app.services.api_keys import create_key

    with get_sessionmaker()() as session:
        return create_key(session, name).secret


@pytest.fixture(scope="module")
def client(api_url, worker):
    with Client(api_url, new_key("client-tests"), retries=2) as c:
        yield c


@pytest.mark.integration
def test_submit_wait_structures_dos_download(client, tmp_path, capsys):
    job = client.submit(band_gap=3.0, num_samples=4, seed=31, guidance_scale=1.5)
    assert job["state"] in ("queued", "running") and job["target"]["band_gap"] == 3.0
    done = client.wait(job, progress=True, poll=0.2, timeout=240)
    assert done["state"] == "succeeded" and done["num_structures"] == 4
    assert "crystal" in capsys.readouterr().err  # the tqdm bar went to stderr

    rows = list(client.structure_rows(job, page_size=3))  # two pages
    crystals = client.structures(job)
    assert len(rows) == len(crystals) == 4
    for row, crystal in zip(rows, crystals, strict=True):
        assert crystal.properties["id"] == row["id"] and len(crystal) == row["n_sites"]
        assert np.allclose(crystal.site_properties["charge"], row["charges"])
        assert crystal.properties["predicted"] == row["predicted"]

    dos = client.dos(rows[0]["id"])
    assert len(dos["energies"]) == 64 and len(dos["sites"]) == rows[0]["n_sites"]

    path = client.download(done, tmp_path / "out")
    assert path.exists() and zipfile.is_zipfile(path)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["structures"]) == 4 and len(list((tmp_path / "out" / "cif").glob("*.cif"))) == 4
    assert [j["id"] for j in client.jobs(state="succeeded", limit=200)].count(done["id"]) == 1


@pytest.mark.integration
def test_cancel_and_api_errors(client, api_url):
    job = client.submit(num_samples=64, seed=32, steps=400, charge_balance=False)
    assert job["charge_balance"] is False
    assert client.cancel(job)["state"] == "cancelled"
    with pytest.raises(ApiError) as again:
        client.cancel(job)
    assert again.value.status == 409
    with pytest.raises(ApiError) as bad:
        client.submit(band_gap=99.0, num_samples=1)
    assert bad.value.status == 422 and "band_gap" in str(bad.value)
    with pytest.raises(ApiError) as missing:
        client.job("00000000-0000-4000-8000-000000000000")
    assert missing.value.status == 404
    with Client(api_url) as anonymous, pytest.raises(ApiError) as unauthorized:
        anonymous.jobs()
    assert unauthorized.value.status == 401


class Flaky(BaseHTTPRequestHandler):
    """Answers the first `failures` requests with (status, Retry-After), then a job envelope."""

    failures: list[tuple[int, str]] = []
    seen: list[tuple[float, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        Flaky.seen.append((time.monotonic(), self.headers.get("Authorization")))
        if Flaky.failures:
            status, retry_after = Flaky.failures.pop(0)
            self.send_response(status)
            self.send_header("Retry-After", retry_after)
            body = json.dumps({"data": None, "meta": {}, "errors": [{"code": "busy", "message": "later"}]})
        else:
            self.send_response(200)
            body = json.dumps({"data": {"id": "j1", "state": "running"}, "meta": {}, "errors": []})
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def flaky_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Flaky.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_retries_wait_for_retry_after(flaky_server):
    Flaky.failures = [(503, "1"), (429, "1")]
    with Client(flaky_server, "secret", retries=3, backoff=0.01) as c:
        assert c.job("j1") == {"id": "j1", "state": "running"}
    (t0, auth), (t1, _), (t2, _) = Flaky.seen
    assert auth == "Bearer secret"
    assert t1 - t0 >= 0.95 and t2 - t1 >= 0.95  # waited as told, not the 0.01 s backoff


def test_gives_up_after_the_last_retry(flaky_server):
    Flaky.failures = [(503, "0")] * 3
    with Client(flaky_server, retries=2, backoff=0.01) as c, pytest.raises(ApiError) as info:
        c.job("j1")
    assert info.value.status == 503 and info.value.codes == ["busy"] and len(Flaky.seen) == 3


def test_retry_after_parsing():
    assert retry_after_seconds("7", 1.0) == 7.0 and retry_after_seconds(None, 1.5) == 1.5
    assert retry_after_seconds("not a date", 2.0) == 2.0
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(past, 2.0) == 0.0
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)  # HTTP-date form
    assert 28.0 < retry_after_seconds(future, 2.0) <= 30.0


def test_client_and_cli_import_without_torch():
    code = (
        "import sys\n"
        "for name in ('torch', 'models', 'app', 'worker'): sys.modules[name] = None\n"
        "from mattergen_e.client import Client\n"
        "import mattergen_e.cli\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
