# gpu-probes. `make` is the main job; `make help` lists every target.
# PYTHON=python3 make ...  uses an existing interpreter (with the dependencies installed) instead of .venv.
SHELL := /bin/bash
# $(call q,VALUE): VALUE as one shell word, whatever it holds (spaces, quotes): FILE='H200 cp async.csv'
q = '$(subst ','\'',$(1))'
VENV ?= .venv
ifdef PYTHON
  PY := $(call q,$(PYTHON))
  ENV_STAMP :=
else
  PY := $(VENV)/bin/python
  ENV_STAMP := $(VENV)/.installed
endif
PROBE ?=
PARAMS ?=
FILE ?=
PROBES ?=
DRY_RUN ?=
ARCH ?=
# GPU=N picks the card for every target (CUDA numbering; NVML is matched to it by UUID).
ifdef GPU
  export CUDA_VISIBLE_DEVICES := $(GPU)
endif

.DEFAULT_GOAL := all
.PHONY: all help lint format test static static-history probe publish report compare campaign analyze validate selftest clean env bench \
	quick \
	fleet fleet-status fleet-collect

all: $(ENV_STAMP) ## main job: GPU -> campaign + reports; no GPU -> static atlases + reports + list of skipped probes
	$(PY) -m probes all

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'
	@echo "  GPU=N (any target) selects card N: exports CUDA_VISIBLE_DEVICES=N"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

lint: $(ENV_STAMP) ## ruff (lint + format check) and the import floors (import-linter contracts of pyproject.toml)
	$(PY) -m ruff check --quiet .
	$(PY) -m ruff format --check --quiet .
	$(PY) -c 'import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))'

format: $(ENV_STAMP) ## ruff: fix what it can and format the tree (what make lint then checks)
	$(PY) -m ruff check --fix --quiet .
	$(PY) -m ruff format --quiet .

# pytest-xdist workers for `make test` (auto: one per core; TEST_WORKERS=0 runs in one process)
TEST_WORKERS ?= auto
TEST_XDIST = -n $(TEST_WORKERS) --dist loadfile
test: $(ENV_STAMP) lint ## run the test suite (compile/static tests, then simulator tests in their own process) [TEST_WORKERS=auto]
	$(PY) -m pytest -q $(TEST_XDIST) --ignore=tests/simulator
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -q $(TEST_XDIST) tests/simulator

static: $(ENV_STAMP) ## build the static PTX->SASS atlases into reports/static/ (no GPU)
	$(PY) -m probes static

static-history: $(ENV_STAMP) ## rebuild both atlases with every ptxas from CUDA 12.4 on (pip wheels) into reports/static/history/
	$(PY) -m probes.static.history

probe: $(ENV_STAMP) ## run a probe or family: make probe PROBE=latency.ladder.global PARAMS="stride_bytes=128" [GPU=N]
	@test -n "$(PROBE)" || { echo "error: set PROBE=name or family (see: $(PY) -m probes list)" >&2; exit 2; }
	@$(PY) -m probes run $(call q,$(PROBE)) $(foreach p,$(PARAMS),--param $(call q,$(p)))

campaign: $(ENV_STAMP) ## every probe on the GPU, resumable [PROBES=prefix GPU=N]; DRY_RUN=1 [ARCH=sm_90]: no GPU, compile+plan
	@$(PY) -m probes campaign $(if $(PROBES),--probes $(PROBES)) $(if $(DRY_RUN),--dry-run $(foreach a,$(ARCH),--arch $(a)))

DEADLINE_S ?=
QUICK_ARGS ?=
quick: $(ENV_STAMP) ## first GPU in ten minutes: self-test + quick plan + publish + report [DEADLINE_S=540 GPU=N]; exit 2 without a GPU
	@$(PY) -m probes campaign --quick $(if $(DEADLINE_S),--deadline-s $(DEADLINE_S)) $(QUICK_ARGS)

selftest: $(ENV_STAMP) ## one-minute GPU check (clocks, chains vs atlas, every probe once); exit 2 without a GPU
	@$(PY) -m probes selftest

publish: $(ENV_STAMP) ## copy finished GPU results from results/<gpu>/ into reports/<gpu>/data/ (then commit them)
	$(PY) -m probes publish

report: $(ENV_STAMP) ## rebuild per-GPU reports from reports/<gpu>/data/
	$(PY) -m probes report

compare: $(ENV_STAMP) ## rebuild the cross-GPU comparison reports/README.md
	$(PY) -m probes compare

analyze: $(ENV_STAMP) ## analyse a ladder file: make analyze FILE=path [ARGS="--json"]
	@test -n "$(FILE)" || { echo "error: set FILE=path/to/ladder" >&2; exit 2; }
	@$(PY) -m probes analyze ladder $(call q,$(FILE)) $(ARGS)

validate: $(ENV_STAMP) ## score the ladder analysis on published peer ladders (needs ../shared/peer-data)
	$(PY) -m probes validate

env: $(ENV_STAMP) ## print the captured environment, or why there is no GPU
	@$(PY) -m probes env || true

bench: $(ENV_STAMP) ## benchmarks (static atlas build times; comparison report of 10 synthetic GPUs)
	$(PY) tests/bench_static_atlas.py
	$(PY) -m pytest -q -s tests/bench_report.py --benchmark-enable

PARTITIONS ?=
TIME ?=
LOCAL ?=
RESUME ?=
FLEET_OUT ?= $(CURDIR)/fleet

fleet: $(ENV_STAMP) ## many GPUs: make fleet PARTITIONS="a100 h100" [PROBES=...] [TIME=30] [LOCAL=1] [RESUME=1]
	@test -n "$(PARTITIONS)$(LOCAL)$(RESUME)" || { echo 'error: set PARTITIONS="a100 h100" (one Slurm job per partition), or LOCAL=1 for this machine'"'"'s GPUs, or RESUME=1 to continue a fleet' >&2; exit 2; }
	$(PY) -m probes fleet submit --out $(call q,$(FLEET_OUT)) $(if $(RESUME),--resume,$(if $(LOCAL),--local,$(if $(PARTITIONS),--partitions $(PARTITIONS))) $(if $(PROBES),--probes $(PROBES))) $(if $(TIME),--time $(TIME))

fleet-status: $(ENV_STAMP) ## state, node, GPU, elapsed time and per-probe outcome of each fleet job
	@$(PY) -m probes fleet status --out $(call q,$(FLEET_OUT))

fleet-collect: $(ENV_STAMP) ## merge finished fleet results into reports/<gpu>/data/, rebuild the reports
	$(PY) -m probes fleet collect --out $(call q,$(FLEET_OUT))

clean: ## remove caches and local scratch results (never reports/)
	rm -rf results/ .pytest_cache .benchmarks build *.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
