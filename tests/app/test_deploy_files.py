"""No Docker engine runs here, so the deployment files are checked structurally."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_compose_file_is_valid_and_complete():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    for name in ("postgres", "redis", "api", "worker"):
        check = services[name]["healthcheck"]
        assert check["test"] and check["interval"], name
    # Migrations run on start, before the API and the worker.
    assert "app.core.migrate" in " ".join(services["migrate"]["command"])
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        assert services[name]["build"]["target"] == name
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["CELERY_QUEUE"] == "gpu"
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert services["worker"]["environment"]["MODEL_DEVICE"] == "cuda"
    assert "8000:8000" in services["api"]["ports"]
    assert set(compose["volumes"]) == {"pgdata", "redisdata"}


def test_dft_worker_serves_the_dft_queue_alone():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    dft = compose["services"]["dft-worker"]
    assert dft["build"]["target"] == "dft-worker" and dft["environment"]["DFT_QUEUE"] == "dft"
    assert dft["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "deploy" not in dft  # no GPU
    stage = (REPO / "Dockerfile").read_text().split("AS dft-worker", 1)[1]
    assert '".[eval,dft]"' in stage and "libxc-dev" in stage and "PRELOAD_MODEL=false" in stage
    assert "-Q ${DFT_QUEUE} --concurrency 1" in stage


def test_webhook_worker_serves_the_webhook_queue_without_a_model():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    hook = compose["services"]["webhook-worker"]
    command = " ".join(hook["command"])
    assert "worker.webhook_app:celery_app" in command and "-Q webhooks" in command
    assert hook["environment"]["WEBHOOK_QUEUE"] == "webhooks" and hook["environment"]["PRELOAD_MODEL"] == "false"
    assert "deploy" not in hook  # no GPU
    # The API (which refuses other callback hosts) and the webhook worker read the same allow-list.
    assert "WEBHOOK_ALLOWED_HOSTS" in compose["x-service-env"]


def test_dockerfile_has_api_and_cuda_worker_targets():
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.M)
    assert {"base", "api", "worker"} <= set(stages)
    worker_stage = text.split("AS worker", 1)[1]
    assert "download.pytorch.org/whl/${TORCH_CUDA}" in worker_stage and "torch==2.13.0" in worker_stage
    api_stage = text.split("AS api", 1)[1].split("AS worker")[0]
    assert "celery" in worker_stage and "uvicorn" in api_stage
    # The API runs without torch: its stage installs the dependencies minus torch, the package --no-deps.
    assert "pip install torch" not in api_stage and "startswith('torch')" in api_stage
    assert "--no-deps -e ." in api_stage and "COPY worker" not in api_stage
    # Everything the images copy exists in the repo.
    for src in re.findall(r"^COPY\s+(.+?)\s+\S+$", text, flags=re.M):
        for part in src.split():
            assert (REPO / part).exists(), part
