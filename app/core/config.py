"""Service settings, read from the environment (and an optional ``.env``) by pydantic-settings.

One Settings class is shared by the API, the Celery worker and the local runner so that a single
environment describes the whole deployment. Defaults describe the local stack started by
``scripts/run_local.py`` (embedded PostgreSQL and Redis on non-default ports, data under ``var/``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- connections -------------------------------------------------------------------------
    database_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:55432/mattergen",
        description="SQLAlchemy URL of the PostgreSQL database (psycopg 3 driver).",
    )
    redis_url: str = Field("redis://127.0.0.1:56379/0", description="Celery broker (Redis) URL.")

    # --- local runner -------------------------------------------------------------------------
    data_dir: Path = Field(
        REPO_ROOT / "var", description="Where the local stack keeps PostgreSQL/Redis data and logs."
    )
    local_pg_port: int = Field(
        55432, description="Port of the embedded PostgreSQL started by the local runner."
    )
    local_redis_port: int = Field(
        56379, description="Port of the embedded Redis started by the local runner."
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # --- jobs ---------------------------------------------------------------------------------
    chunk_size: int = Field(
        16,
        ge=1,
        le=1024,
        description="Samples per Celery task, sampled as one batch; stored on each job at creation so a "
        "job's results never depend on later configuration.",
    )
    max_num_samples: int = Field(10_000, ge=1, description="Upper bound of num_samples per job.")
    max_steps: int = Field(5000, description="Upper bound of the reverse-diffusion steps a job may ask for.")
    max_num_atoms: int = Field(64, description="Upper bound of num_atoms.max.")

    # --- model --------------------------------------------------------------------------------
    model_name: str = Field("default", description="Model variant used when a job names none.")
    model_checkpoint: Path | None = Field(
        None,
        description="Checkpoint file that overrides the variant's own (tests point this at a tiny model).",
    )
    model_device: str = Field("cpu", description="torch device of the worker ('cuda' in the GPU image).")
    torch_threads: int | None = Field(
        1,
        description="torch CPU threads per worker process. 1 by default: on a shared 2-core box two threads per "
        "process oversubscribe and ran 20x slower in our measurements; raise it on dedicated machines.",
    )
    preload_model: bool = Field(True, description="Load the default model when a worker process starts.")
    predict_properties: bool = Field(
        True,
        description="Fill each stored structure's predicted band gap, formation energy, energy above hull and "
        "validity flags (models.evaluate.quick_properties, in the worker). Needs the `eval` extra; without it, or "
        "when false, the values stay null and the API says why.",
    )

    # --- relaxation, descriptors, screening, DFT verification (issue 17) -------------------------
    relax_structures: bool = Field(
        True,
        description="CHGNet-relax every generated crystal in the worker (FIRE, cell and positions) unless the job "
        'says "relax": false; properties, space group and screen then describe the relaxed crystal.',
    )
    relax_fmax: float = Field(0.1, gt=0, description="Relaxation stops below this max force, eV/Å.")
    relax_max_steps: int = Field(
        300, ge=1, description="FIRE step cap per crystal; a relaxation that hits it is stored as not converged."
    )
    predict_descriptors: bool = Field(
        True,
        description="Run the descriptor predictor on the relaxed cell (charges, DOS) and on the generated cell "
        "(self-consistency score). Needs torch and the shipped predictor weights, i.e. the worker.",
    )
    screen_budget_factor: int = Field(
        10, ge=1, description="Default max_generated of a screened job: this many times num_samples."
    )
    dft_queue: str = Field("dft", description="Celery queue of DFT verifications (its own worker, concurrency 1).")
    dft_max_seconds: float = Field(1800.0, gt=0, description="Wall-time cap of one DFT verification, s.")
    dft_memory_gb: float = Field(8.0, gt=0, description="Address-space cap of the GPAW child process, GB.")
    dft_settings: dict[str, float | int | str] = Field(
        default_factory=dict,
        description="Overrides of the GPAW path's DFTSettings for verifications (JSON, e.g. tests use "
        '{"kpt_length": 3, "h": 0.3}); empty: the corpus labelling settings.',
    )

    # --- webhooks (issue 18) ------------------------------------------------------------------
    webhook_allowed_hosts: str = Field(
        "localhost,127.0.0.0/8,::1",
        description="Hosts a job's callback_url may name, comma-separated: host names with shell-style "
        "wildcards (`*.lab.example`, matched case-insensitively on the name as written, never resolved) and "
        "IP networks (`10.20.0.0/16`) matched against IP literals. The default allows loopback only: "
        "production must list its receivers.",
    )
    webhook_queue: str = Field(
        "webhooks", description="Celery queue of webhook deliveries (served by the webhook worker)."
    )
    webhook_max_attempts: int = Field(
        8, ge=1, le=50, description="Attempts per delivery before it is marked failed."
    )
    webhook_backoff_base: float = Field(
        2.0, gt=0, description="Seconds before the 2nd attempt; doubled for every attempt after that."
    )
    webhook_backoff_max: float = Field(600.0, gt=0, description="Longest wait between two attempts, s.")
    webhook_timeout: float = Field(10.0, gt=0, description="Seconds one attempt may take (connect + answer).")
    webhook_sweep_interval: float = Field(
        10.0,
        gt=0,
        description="Seconds between the webhook worker's scans for deliveries whose task was never sent "
        "or got lost (broker down when the job ended, worker killed mid-attempt).",
    )

    # --- worker robustness --------------------------------------------------------------------
    celery_queue: str = Field("sampling", description="Queue the sampling tasks go to ('gpu' in production).")
    visibility_timeout: int = Field(
        7200, description="Redis broker visibility timeout (s): unacked tasks are redelivered after this."
    )
    heartbeat_interval: float = Field(5.0, description="Seconds between a running chunk's heartbeats.")
    stale_after: float = Field(
        30.0, description="A running chunk without heartbeat for this long is re-enqueued."
    )
    reaper_interval: float = Field(10.0, description="Seconds between scans for stale chunks.")
    progress_interval: float = Field(
        0.5, description="Minimum seconds between progress writes to PostgreSQL."
    )
    cancel_poll_interval: float = Field(
        0.5, description="Minimum seconds between cancel checks while sampling."
    )
    readiness_timeout: float = Field(1.0, description="Seconds /readyz waits for a worker to answer a ping.")
    max_chunk_attempts: int = Field(
        3,
        ge=1,
        description="A chunk whose worker died this many times while sampling it is marked failed (with the "
        "reason) and its job ends failed with what was stored, instead of being redelivered forever.",
    )
    max_inflight_chunks_per_job: int = Field(
        1,
        ge=1,
        description="Chunks of one job on the queue or running at a time; the next is enqueued when one "
        "finishes, so jobs submitted later interleave instead of waiting behind every chunk of a big job. "
        "1 lets a small job start within one chunk's time on a single worker; raise it to the number of "
        "worker processes when several serve one queue.",
    )

    # --- API: access, quotas, limits ------------------------------------------------------------
    public_read: bool = Field(
        False,
        description="Allow GET requests without an API key (they see every job, read-only). Off: every "
        "/v1 request needs `Authorization: Bearer <key>`.",
    )
    ops_require_key: bool = Field(
        False, description="/readyz and /metrics need an API key (they are open by default for probes)."
    )
    docs_enabled: bool = Field(True, description="Serve /docs, /redoc and /openapi.json.")
    max_active_jobs_per_key: int = Field(
        20, ge=1, description="Queued or running jobs one API key may have (a key may override it)."
    )
    max_queued_samples_per_key: int = Field(
        20_000,
        ge=1,
        description="Samples not yet sampled across one key's active jobs (a key may override it).",
    )
    quota_retry_after: int = Field(
        30, ge=1, description="Retry-After (s) of a 429 answer to a submission over quota."
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body accepted; larger ones get 413 unread."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (JSON list); empty: CORS off.",
    )
    # --- live progress (Server-Sent Events, GET /v1/jobs/{id}/events) ------------------------
    sse_poll_interval: float = Field(
        0.5, gt=0, le=60, description="Seconds between an event stream's looks at its job (one short session each)."
    )
    sse_heartbeat_interval: float = Field(
        15.0, gt=0, description="Seconds of silence after which a stream sends a comment, so proxies keep it open."
    )
    sse_max_seconds: float = Field(
        3600.0,
        gt=0,
        description="Longest life of one event stream, s; the client then reconnects with Last-Event-ID.",
    )
    sse_retry_ms: int = Field(
        2000, ge=0, le=600_000, description="The `retry:` hint: ms a client waits before reconnecting."
    )
    db_pool_size: int = Field(10, ge=1, description="PostgreSQL connections kept per API/worker process.")
    db_max_overflow: int = Field(10, ge=0, description="Extra connections opened under load.")
    db_pool_timeout: float = Field(
        5.0, gt=0, description="Seconds a request waits for a pooled connection before a 503."
    )
    max_concurrent_requests: int | None = Field(
        None,
        ge=1,
        description="/v1 requests processed at once per API process; more wait their turn without holding "
        "a thread or a connection. Default: db_pool_size + db_max_overflow.",
    )
    request_queue_timeout: float = Field(
        30.0, gt=0, description="Seconds a request may wait for its turn (max_concurrent_requests) before a 503."
    )
    unavailable_retry_after: int = Field(
        5, ge=1, description="Retry-After (s) of a 503 answer while PostgreSQL or Redis is unreachable."
    )

    @property
    def request_concurrency(self) -> int:
        return self.max_concurrent_requests or self.db_pool_size + self.db_max_overflow


@lru_cache
def get_settings() -> Settings:
    return Settings()
