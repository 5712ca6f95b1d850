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


@lru_cache
def get_settings() -> Settings:
    return Settings()
