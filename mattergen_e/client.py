"""Python client of the mattergen-e HTTP API (needs httpx and tqdm; pymatgen only for ``structures``).

    from mattergen_e.client import Client

    client = Client("http://localhost:8000", api_key="mge_...")
    job = client.submit(band_gap=3.0, num_samples=16)
    client.wait(job, progress=True)             # follows the job's event stream (SSE), else polls
    crystals = client.structures(job)           # pymatgen Structures, site property "charge" (e)
    client.download(job, "results/")            # CIFs, extxyz with charges + DOS, manifest.json

Requests answered 429 or 503 (quota, busy or restarting server) and dropped connections are retried,
waiting what the server's ``Retry-After`` says. Submissions carry an ``Idempotency-Key``, so a retried
POST never creates a second job.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from pymatgen.core import Structure

TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class ApiError(Exception):
    """A 4xx/5xx answer, with the API's error codes and messages."""

    def __init__(self, status: int, errors: list[dict[str, Any]], method: str, url: str):
        self.status = status
        self.errors = errors
        self.codes = [e.get("code") for e in errors]
        text = "; ".join(str(e.get("message") or e.get("detail") or e) for e in errors) or "no details"
        super().__init__(f"{method} {url} → HTTP {status}: {text}")


JobRef = str | uuid.UUID | dict[str, Any]


def _job_id(job: JobRef) -> str:
    return str(job["id"]) if isinstance(job, dict) else str(job)


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def verify_signature(
    secret: str,
    body: bytes,
    headers: Any,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when a webhook request is authentic and fresh. For receivers: pass the key's webhook secret
    (``python -m app.keys create`` / ``rotate-secret`` print it), the *raw* request body and its headers
    (any mapping; names are matched case-insensitively).

    The server signs ``b"<X-MatterGen-Timestamp>." + body`` with HMAC-SHA256 and sends
    ``X-MatterGen-Signature: sha256=<hex>``; a timestamp more than ``tolerance`` seconds away from
    ``now`` is refused so that a captured request cannot be replayed. De-duplicate on
    ``X-MatterGen-Delivery``: a retry of a delivery you already processed carries the same id.
    """
    lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    stamp, sent = lowered.get("x-mattergen-timestamp", ""), lowered.get("x-mattergen-signature", "")
    if not stamp.isdigit() or not sent.startswith("sha256="):
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sent.removeprefix("sha256="))


class Client:
    """One API endpoint and key. ``retries``: how many times a 429/502/503/504 or a dropped
    connection is retried; waits follow Retry-After (capped at ``max_wait`` s), else exponential backoff."""

    def __init__(
        self,
        url: str = "http://localhost:8000",
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ):
        headers = {"User-Agent": "mattergen-e-client"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.url = url.rstrip("/")
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                request = self._http.build_request(method, path, **kwargs)
                response = self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                if last:
                    raise
                time.sleep(min(self.backoff * 2**attempt, self.max_wait))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                wait = retry_after_seconds(response.headers.get("Retry-After"), self.backoff * 2**attempt)
                response.close()
                time.sleep(min(wait, self.max_wait))
                continue
            if response.status_code >= 400:
                if stream:
                    response.read()
                raise self._error(response)
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _error(response: httpx.Response) -> ApiError:
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = [{"message": response.text[:500]}]
        return ApiError(response.status_code, errors, response.request.method, str(response.request.url))

    def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()["data"]

    # --- jobs ------------------------------------------------------------------------------------
    def submit(
        self,
        band_gap: float | None = None,
        num_samples: int = 16,
        *,
        formation_energy_per_atom: float | None = None,
        guidance_scale: float | None = None,
        seed: int | None = None,
        steps: int | None = None,
        model: str | None = None,
        num_atoms: tuple[int, int] | None = None,
        allowed_elements: list[str] | None = None,
        required_elements: list[str] | None = None,
        charge_balance: bool | None = None,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """Submit a generation job (band gap in eV, formation energy in eV/atom; omit both for
        unconditional sampling) and return the job document. ``callback_url``: the server POSTs the
        signed job document there when the job ends (check it with :func:`verify_signature`).
        ``charge_balance=False`` keeps the network's own compositions (the server's default closes each
        crystal on a charge-balanced one)."""
        target = {
            k: v
            for k, v in (("band_gap", band_gap), ("formation_energy_per_atom", formation_energy_per_atom))
            if v is not None
        }
        body: dict[str, Any] = {"num_samples": num_samples}
        if target:
            body["target"] = target
        optional = {
            "guidance_scale": guidance_scale,
            "seed": seed,
            "steps": steps,
            "model": model,
            "allowed_elements": allowed_elements,
            "required_elements": required_elements,
            "charge_balance": charge_balance,
            "callback_url": callback_url,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if num_atoms is not None:
            body["num_atoms"] = {"min": num_atoms[0], "max": num_atoms[1]}
        key = idempotency_key or f"client-{uuid.uuid4()}"  # a retried POST returns the same job
        return self._data("POST", "/v1/jobs", json=body, headers={"Idempotency-Key": key})

    def job(self, job: JobRef) -> dict[str, Any]:
        return self._data("GET", f"/v1/jobs/{_job_id(job)}")

    def jobs(self, state: str | None = None, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if state:
            params["state"] = state
        return self._data("GET", "/v1/jobs", params=params)

    def cancel(self, job: JobRef) -> dict[str, Any]:
        return self._data("POST", f"/v1/jobs/{_job_id(job)}/cancel")

    def deliveries(self, job: JobRef) -> list[dict[str, Any]]:
        """The job's webhook deliveries: state, attempts, last status code and error, next attempt,
        delivered_at and every attempt in ``history``."""
        return self._data("GET", f"/v1/jobs/{_job_id(job)}/deliveries")

    def events(
        self, job: JobRef, *, last_event_id: str | None = None, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """The job document each time its state or progress changes, from the Server-Sent Events stream
        ``GET /v1/jobs/{id}/events``; the last one is the terminal state, then the iterator ends.

        When the server closes the stream early (its lifetime bound) or the connection drops, it
        reconnects with ``Last-Event-ID`` (after the server's ``retry:`` hint), so nothing is repeated
        or missed; ``retries`` consecutive failed reconnects raise. A 4xx (e.g. 404: no such job, or
        a server without the route) is an :class:`ApiError`. ``timeout``: TimeoutError after that
        many seconds, checked at every event and keep-alive."""
        path = f"/v1/jobs/{_job_id(job)}/events"
        deadline = None if timeout is None else time.monotonic() + timeout
        retry_s, failures = 2.0, 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            # Keep-alives come every 15 s by default: a minute of silence means a dead connection.
            stream_timeout = httpx.Timeout(self._http.timeout.connect, read=60.0)
            response = self._send("GET", path, stream=True, headers=headers, timeout=stream_timeout)
            try:
                if response.status_code == 204:  # last_event_id was the terminal event already
                    return
                event: dict[str, str] = {}
                for line in response.iter_lines():
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimeoutError(f"job {_job_id(job)} did not end within {timeout} s")
                    if line:
                        field, _, value = line.partition(":")
                        if field:  # an empty field name is a comment (keep-alive)
                            event[field] = value.removeprefix(" ")
                        continue
                    if "retry" in event:
                        retry_s = int(event["retry"]) / 1000
                    if "id" in event:
                        last_event_id = event["id"]
                    if event.get("event") in ("job", "end") and "data" in event:
                        failures = 0
                        yield json.loads(event["data"])
                    if event.get("event") in ("end", "gone"):
                        return
                    event = {}
            except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError):
                failures += 1
                if failures > self.retries:
                    raise
            finally:
                response.close()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {_job_id(job)} did not end within {timeout} s")
            time.sleep(retry_s)

    def wait(
        self,
        job: JobRef,
        progress: bool = False,
        poll: float = 1.0,
        timeout: float | None = None,
        stream: bool = True,
    ) -> dict[str, Any]:
        """Wait until the job ends and return its last document; ``progress`` draws a tqdm bar of
        sampled crystals. Follows the job's event stream (:meth:`events`); polls every ``poll`` s
        instead with ``stream=False``, or when the server has no stream or the stream fails.
        Raises TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None

        def show(doc: dict[str, Any]) -> None:
            nonlocal bar
            if not progress:
                return
            if bar is None:
                from tqdm.auto import tqdm

                bar = tqdm(total=doc["num_samples"], unit="crystal", desc=f"job {str(doc['id'])[:8]}")
            bar.n = round(doc["progress"] * doc["num_samples"], 1)
            bar.set_postfix_str(doc["state"])
            bar.refresh()

        try:
            if stream:
                try:
                    remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                    for doc in self.events(job, timeout=remaining):
                        show(doc)
                        if doc["state"] in TERMINAL_STATES:
                            return doc
                except ApiError as exc:
                    # 404/405/406: a server without the route (polling says whether the job exists).
                    if exc.status not in (404, 405, 406, 501):
                        raise
                except httpx.HTTPError:
                    pass  # the stream kept failing: polling is the fallback
            doc = self.job(job)
            while True:
                show(doc)
                if doc["state"] in TERMINAL_STATES:
                    return doc
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {doc['id']} still {doc['state']} after {timeout} s")
                time.sleep(poll)
                doc = self.job(job)
        finally:
            if bar is not None:
                bar.close()

    # --- results ---------------------------------------------------------------------------------
    def structure_rows(self, job: JobRef, page_size: int = 200, **filters: Any) -> Iterator[dict[str, Any]]:
        """The job's structure list rows (formula, charges, predicted properties...), every page;
        ``filters`` are the list's query parameters, e.g. ``band_gap_min=2``."""
        offset = 0
        while True:
            body = self._send(
                "GET",
                f"/v1/jobs/{_job_id(job)}/structures",
                params={"limit": page_size, "offset": offset, **filters},
            ).json()
            yield from body["data"]
            if body["meta"].get("next_offset") is None:
                return
            offset = body["meta"]["next_offset"]

    def structure(self, structure_id: str | uuid.UUID) -> Structure:
        """One structure as a pymatgen Structure: site property ``charge`` (Bader, e) and
        ``properties`` holding id, job, predicted properties, validity and provenance."""
        from pymatgen.core import Structure

        detail = self._data("GET", f"/v1/structures/{structure_id}")
        crystal = Structure.from_dict(detail["structure"])
        crystal.properties = {
            **(crystal.properties or {}),
            **{k: detail[k] for k in ("id", "job_id", "sample_index", "predicted", "validity", "provenance")},
        }
        return crystal

    def structures(self, job: JobRef, **filters: Any) -> list[Structure]:
        return [self.structure(row["id"]) for row in self.structure_rows(job, fields="id", **filters)]

    def dos(self, structure_id: str | uuid.UUID) -> dict[str, Any]:
        """Energy grid (eV) and per-site atomic DOS (states/eV): ``{"energies", "sites": [{"dos"...}]}``."""
        return self._data("GET", f"/v1/structures/{structure_id}/dos")

    def download(self, job: JobRef, directory: str | Path, extract: bool = True) -> Path:
        """Save the job's zip archive in ``directory`` (and unpack it there: cif/, structures.extxyz,
        manifest.json). Returns the zip's path."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"job-{_job_id(job)}.zip"
        partial = target.with_suffix(".zip.part")
        response = self._send("GET", f"/v1/jobs/{_job_id(job)}/archive", stream=True)
        try:
            with partial.open("wb") as fh:
                for block in response.iter_bytes():
                    fh.write(block)
        finally:
            response.close()
        partial.replace(target)  # never leave a truncated zip under the final name
        if extract:
            with zipfile.ZipFile(target) as zf:
                zf.extractall(out)
        return target

    def verify(self, structure_id: str | uuid.UUID, force: bool = False) -> dict[str, Any]:
        """Ask the server for a DFT verification of one structure (POST /v1/structures/{id}/verify);
        returns the existing one unless ``force``."""
        params = {"force": "true"} if force else None
        return self._data("POST", f"/v1/structures/{structure_id}/verify", params=params)

    def verification(self, structure_id: str | uuid.UUID) -> dict[str, Any]:
        """The latest DFT verification of a structure: DFT gap, charges, DOS and the comparison."""
        return self._data("GET", f"/v1/structures/{structure_id}/verification")
