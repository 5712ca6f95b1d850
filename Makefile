# mattergen-e — two commands on a fresh machine:
#   make run    set up everything and serve the API on http://localhost:8000
#   make test   set up everything and run the test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DFT_DEBS := libxc-dev libopenblas-dev liblapack-dev libfftw3-dev
BROWSER_DEBS := chromium
PYTEST_ARGS ?=

.PHONY: run test bench bench-api bench-quick venv dft-extra browser lint corpus help

help:
	@echo "make run | make test | make bench | make bench-api | make bench-quick | make lint | make dft-extra | make browser"

# The venv is rebuilt only when pyproject.toml changes. torch is installed first and pinned so pip
# never pulls a multi-GB CUDA build on a CPU machine.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel setuptools
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[local,eval,dev]'
	touch $@

venv: $(VENV)/.installed

# The DFT extra compiles GPAW against Debian's libxc/BLAS/LAPACK/FFTW (installed here if missing and
# we are root; otherwise the message says what to install).
$(VENV)/.dft-installed: $(VENV)/.installed
	@missing=""; for p in $(DFT_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "install Debian packages:$$missing (sudo apt-get install ...)"; exit 1; fi; \
	fi
	CC=g++ $(PIP) install -q -e '.[dft]'
	touch $@

dft-extra: $(VENV)/.dft-installed

# The web page's browser test drives Debian's headless Chromium with Playwright (pointed at the system
# binary: Playwright's own browser download is not used). Checked on every run: it is cheap.
browser:
	@missing=""; for p in $(BROWSER_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "install Debian packages:$$missing (sudo apt-get install ...)"; exit 1; fi; \
	fi

run: venv
	$(PY) scripts/run_local.py

test: venv dft-extra browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.descriptor_consistency
	$(PY) -m benchmarks.api_load

# API latency/errors under 10/50/200 concurrent clients with a worker running (a few minutes).
bench-api: venv
	$(PY) -m benchmarks.api_load

bench-quick: venv
	$(PY) -m benchmarks.run --quick

corpus: venv
	$(PY) -m models.data.build_corpus
