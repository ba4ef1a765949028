# Variables: override on the command line, e.g. `make run STEPS=3-5 DATA_ROOT=/mnt/films`.
# DATA_ROOT: when given (command line or environment) it is passed to the pipeline; when not, the
# pipeline takes DATA_ROOT from .env, else ./data.
PROJECT_ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV ?= $(PROJECT_ROOT)/.venv
PY := $(VENV)/bin/python
DATA_ROOT ?=
DATA_ROOT_ARG := $(if $(DATA_ROOT),--data-root $(DATA_ROOT))
LOCAL_DATA_ROOT := $(or $(DATA_ROOT),$(PROJECT_ROOT)/data)
N ?= 10
STEPS ?= 1-5
PYTEST_ARGS ?=
SYNC_ARGS ?=
BENCH_ARGS ?=
BENCH_OVERLAY := $(VENV)/bench-overlay
# When this make started (seconds since the epoch), evaluated once before any target runs.
MAKE_STARTED := $(shell date +%s)
# Layers under DATA_ROOT that the pipeline re-creates from raw/ (docs/contracts.md); raw/ is never listed.
DERIVED_LAYERS := staging bronze silver gold metrics reports

.DEFAULT_GOAL := help
.PHONY: help venv run test dryrun log clean clean-data sync bench report

help: ## show this list of targets
	@echo "usage: make TARGET [DATA_ROOT=dir-or-uri] [STEPS=$(STEPS)] [N=$(N)] [PYTEST_ARGS=...]"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: ## create or refresh .venv from requirements_stable.txt (no-op when up to date)
	@VENV_DIR=$(VENV) $(PROJECT_ROOT)/rebuild_venv.sh

run: venv ## run pipeline steps STEPS (default 1-5) on DATA_ROOT, logged to logs/ and sync_log.md
	VENV_DIR=$(VENV) $(PROJECT_ROOT)/run_pipeline_safe.sh $(DATA_ROOT_ARG) --steps $(STEPS)

test: venv ## run the tests with coverage of scripts_spark and scripts (fails under 80%)
	cd $(PROJECT_ROOT) && $(PY) -m pytest --cov=scripts_spark --cov=scripts --cov-report=term --cov-fail-under=80 $(PYTEST_ARGS)

dryrun: venv ## preflight checks and config validation, no Spark job
	VENV_DIR=$(VENV) $(if $(DATA_ROOT),DATA_ROOT=$(DATA_ROOT)) $(PROJECT_ROOT)/check_env.sh
	cd $(PROJECT_ROOT) && $(PY) -m scripts_spark.pipeline --dry-run $(DATA_ROOT_ARG)

log: ## show the last N (default 10) rows of sync_log.md
	@cd $(PROJECT_ROOT) && $(if $(wildcard $(PY)),$(PY),python3) -m scripts.sync_log tail -n $(N)

clean: ## remove caches, coverage, Spark scratch, logs/*.log, build output, stale .venv.* (never data/)
	find $(PROJECT_ROOT) \( -path $(PROJECT_ROOT)/.git -o -path $(PROJECT_ROOT)/.venv -o -path $(PROJECT_ROOT)/data \) -prune \
		-o \( -name __pycache__ -o -name .pytest_cache \) -type d -prune -exec rm -rf {} +
	cd $(PROJECT_ROOT) && rm -rf .coverage .coverage.* coverage.xml htmlcov spark-warehouse metastore_db derby.log \
		build dist *.egg-info .venv.*/
	cd $(PROJECT_ROOT) && rm -f logs/*.log

clean-data: ## remove the derived layers under a local DATA_ROOT (staging..reports); keeps raw/
	@case "$(LOCAL_DATA_ROOT)" in *://*|dbfs:*) echo "clean-data: DATA_ROOT=$(LOCAL_DATA_ROOT) is remote: not touching it"; exit 1;; esac
	@test -d $(LOCAL_DATA_ROOT) || { echo "clean-data: $(LOCAL_DATA_ROOT) does not exist: nothing to do"; exit 0; }
	cd $(LOCAL_DATA_ROOT) && rm -rf $(DERIVED_LAYERS)

sync: venv ## pull, rebuild the venvs here and on the VM, prove them identical, run STEPS on both, compare gold (SYNC_ARGS=--no-run)
	@# make exits 2 on any failure: the script's own exit code is printed so it is not lost.
	@# SYNC_MAKE_STARTED lets the sync report a venv that the `venv` prerequisite just built.
	@cd "$(PROJECT_ROOT)" && VENV_DIR="$(VENV)" SYNC_MAKE_STARTED="$(MAKE_STARTED)" "$(PY)" -m scripts.sync $(SYNC_ARGS) \
		-- $(DATA_ROOT_ARG) --steps $(STEPS) || { rc=$$?; echo "make sync: scripts.sync exited $$rc (1 a stage failed, 2 configuration, 130 interrupted)" >&2; exit $$rc; }

bench: venv ## parse, fetch and match benchmarks: figures and ratios to baselines (BENCH_ARGS=--quick, --only parse)
	@# Bench-only packages go to an overlay folder, not into the venv, so the venv keeps exactly
	@# the pinned set that check_env.sh and make sync compare.
	@test -d $(BENCH_OVERLAY)/rapidfuzz || $(PY) -m pip install --quiet --disable-pip-version-check \
		--target $(BENCH_OVERLAY) -r $(PROJECT_ROOT)/requirements_bench.txt
	cd $(PROJECT_ROOT) && PYTHONPATH=$(BENCH_OVERLAY) $(PY) -m scripts_spark.bench $(BENCH_ARGS)

report: venv ## rebuild the HTML and Markdown report from the latest gold tables and metrics
	cd $(PROJECT_ROOT) && $(PY) -m scripts_spark.report $(DATA_ROOT_ARG)
