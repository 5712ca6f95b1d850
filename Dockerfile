# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target api    -t mattergen-e-api .      (no torch; serves HTTP, runs migrations)
#   docker build --target worker -t mattergen-e-worker .   (CUDA torch; samples on the `gpu` queue)
# The source tree is installed editable under /srv so alembic.ini and migrations/ sit next to the code.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 app
WORKDIR /srv

FROM base AS api
# The API never imports torch (it lists model variants with models/registry.py), so its image installs
# the package's dependencies without torch and the package itself with --no-deps.
COPY pyproject.toml README.md alembic.ini ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(d for d in deps if not d.startswith('torch')))" > /tmp/api-requirements.txt \
 && pip install -r /tmp/api-requirements.txt
COPY app ./app
COPY models ./models
COPY migrations ./migrations
RUN pip install --no-deps -e .
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fsS http://localhost:8000/healthz || exit 1
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]

FROM base AS worker
# CUDA build of the same torch version; the wheels bundle the CUDA runtime, the host provides the driver.
ARG TORCH_CUDA=cu128
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/${TORCH_CUDA}
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY worker ./worker
COPY models ./models
COPY migrations ./migrations
COPY benchmarks ./benchmarks
RUN pip install -e ".[eval]"
USER app
ENV MODEL_DEVICE=cuda \
    CELERY_QUEUE=gpu
HEALTHCHECK --interval=30s --timeout=15s --retries=3 \
  CMD celery -A worker.celery_app:celery_app inspect ping -d "worker@$HOSTNAME" --timeout 10 || exit 1
CMD ["sh", "-c", "celery -A worker.celery_app:celery_app worker -Q ${CELERY_QUEUE} --concurrency 1 --loglevel INFO -n worker@%h"]

FROM worker AS dft-worker
# DFT verifications (POST /v1/structures/{id}/verify): the worker image plus GPAW compiled against
# Debian's libxc/BLAS/LAPACK/FFTW (as `make dft-extra` does), serving the `dft` queue one run at a time
# without a GPU and without loading the sampling model.
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ libxc-dev libopenblas-dev liblapack-dev libfftw3-dev \
 && rm -rf /var/lib/apt/lists/* \
 && CC=g++ pip install -e ".[eval,dft]"
USER app
ENV MODEL_DEVICE=cpu \
    PRELOAD_MODEL=false \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    DFT_QUEUE=dft
HEALTHCHECK --interval=30s --timeout=15s --retries=3 \
  CMD celery -A worker.celery_app:celery_app inspect ping -d "dft@$HOSTNAME" --timeout 10 || exit 1
CMD ["sh", "-c", "celery -A worker.celery_app:celery_app worker -Q ${DFT_QUEUE} --concurrency 1 --loglevel INFO -n dft@%h"]
