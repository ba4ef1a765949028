# Variables: override on the command line, e.g. `make run STEPS=3-5 DATA_ROOT=/mnt/films`.
# DATA_ROOT: when given (command line or environment) it is passed to the pipeline; when not, the
# pipeline takes DATA_ROOT from .env, else ./data.
# Paths may hold spaces: every path reaches the shell through $(call q,...) (single-quoted).
# PROJECT_ROOT is this file's folder, found by the shell because make's word functions
# (lastword, abspath) split a path at its spaces; these lines must come before any `include`.
THIS_MAKEFILE := $(strip $(MAKEFILE_LIST))
PROJECT_ROOT := $(shell cd "$$(dirname '$(subst ','\'',$(THIS_MAKEFILE))')" && pwd)
q = '$(subst ','\'',$(1))'
VENV ?= $(PROJECT_ROOT)/.venv
PY := $(VENV)/bin/python
DATA_ROOT ?=
DATA_ROOT_ARG := $(if $(DATA_ROOT),--data-root $(call q,$(DATA_ROOT)))
N ?= 10
STEPS ?= 1-5
PYTEST_ARGS ?=
SYNC_ARGS ?=
BENCH_ARGS ?=
SCALE_ARGS ?=
BENCH_OVERLAY := $(VENV)/bench-overlay
# When this make started (seconds since the epoch), evaluated once before any target runs.
MAKE_STARTED := $(shell date +%s)
# Exit codes of run_pipeline_safe.sh; make itself always exits 2 when a recipe fails, so `make run`
# prints the script's own code and its meaning (README "Exit codes").
EXIT_MEANINGS := 0=ok 1=a-step-or-the-preflight-failed 2=usage-or-configuration-error 75=another-run-holds-DATA_ROOT

.DEFAULT_GOAL := help
.PHONY: help venv run test lint dryrun log clean clean-data sync bench bench-scale report upload download deploy-infra infra-tools checkov

help: ## show this list of targets
	@echo "usage: make TARGET [DATA_ROOT=dir-or-uri] [STEPS=$(STEPS)] [N=$(N)] [PYTEST_ARGS=...]"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(call q,$(THIS_MAKEFILE))

venv: ## create or refresh .venv from requirements_stable.txt (no-op when up to date)
	@VENV_DIR=$(call q,$(VENV)) $(call q,$(PROJECT_ROOT)/rebuild_venv.sh)

run: venv ## run pipeline steps STEPS (default 1-5) on DATA_ROOT, logged to logs/ and sync_log.md
	@VENV_DIR=$(call q,$(VENV)) $(call q,$(PROJECT_ROOT)/run_pipeline_safe.sh) $(DATA_ROOT_ARG) --steps $(call q,$(STEPS)) \
		|| { code=$$?; echo "make run: run_pipeline_safe.sh exited with $$code (codes: $(EXIT_MEANINGS)); make reports it as Error $$code and exits 2" >&2; exit $$code; }

test: venv lint checkov ## lint (ruff), checkov on infrastructure/, then the tests with coverage of scripts_spark and scripts (fails under 80%), the 15 slowest listed
	cd $(call q,$(PROJECT_ROOT)) && $(call q,$(PY)) -m pytest --cov=scripts_spark --cov=scripts --cov-report=term --cov-fail-under=80 --durations=15 $(PYTEST_ARGS)

lint: venv ## ruff over the whole project (configuration in pyproject.toml); fails on any finding
	cd $(call q,$(PROJECT_ROOT)) && $(call q,$(PY)) -m ruff check .

dryrun: venv ## preflight checks and validation of every setting (DATA_ROOT, STEPS ...), no Spark job
	VENV_DIR=$(call q,$(VENV)) $(if $(DATA_ROOT),DATA_ROOT=$(call q,$(DATA_ROOT))) STEPS=$(call q,$(STEPS)) $(call q,$(PROJECT_ROOT)/check_env.sh)
	cd $(call q,$(PROJECT_ROOT)) && $(call q,$(PY)) -m scripts_spark.pipeline --dry-run $(DATA_ROOT_ARG) --steps $(call q,$(STEPS))

log: ## show the last N (default 10) rows of sync_log.md
	@cd $(call q,$(PROJECT_ROOT)) && py=$(call q,$(PY)); test -x "$$py" || py=python3; "$$py" -m scripts.sync_log tail -n $(call q,$(N))

clean: ## remove caches, coverage, Spark scratch, logs/*.log, build output, stale .venv.* (never data/)
	cd $(call q,$(PROJECT_ROOT)) && find . \( -path ./.git -o -path ./.venv -o -path ./data \) -prune \
		-o \( -name __pycache__ -o -name .pytest_cache \) -type d -prune -exec rm -rf {} +
	cd $(call q,$(PROJECT_ROOT)) && rm -rf .coverage .coverage.* coverage.xml htmlcov spark-warehouse metastore_db derby.log \
		build dist *.egg-info .venv.*/
	cd $(call q,$(PROJECT_ROOT)) && rm -f logs/*.log

clean-data: ## remove the derived layers (staging..reports) of a local DATA_ROOT marked as the pipeline's; keeps raw/
	@cd $(call q,$(PROJECT_ROOT)) && py=$(call q,$(PY)); test -x "$$py" || py=python3; \
		"$$py" -m scripts.clean_data $(DATA_ROOT_ARG)

sync: venv ## pull, rebuild the venvs here and on the VM, prove them identical, run STEPS on both, compare gold (SYNC_ARGS=--no-run)
	@# make exits 2 on any failure: the script's own exit code is printed so it is not lost.
	@# SYNC_MAKE_STARTED lets the sync report a venv that the `venv` prerequisite just built.
	@cd $(call q,$(PROJECT_ROOT)) && VENV_DIR=$(call q,$(VENV)) SYNC_MAKE_STARTED=$(call q,$(MAKE_STARTED)) $(call q,$(PY)) -m scripts.sync $(SYNC_ARGS) \
		-- $(DATA_ROOT_ARG) --steps $(call q,$(STEPS)) || { rc=$$?; echo "make sync: scripts.sync exited $$rc (1 a stage failed, 2 configuration, 130 interrupted)" >&2; exit $$rc; }

bench: venv ## parse, fetch and match benchmarks: figures and ratios to baselines (BENCH_ARGS=--quick, --only parse)
	@# Bench-only packages go to an overlay folder, not into the venv, so the venv keeps exactly
	@# the pinned set that check_env.sh and make sync compare.
	@test -d $(call q,$(BENCH_OVERLAY)/rapidfuzz) || $(call q,$(PY)) -m pip install --quiet --disable-pip-version-check \
		--target $(call q,$(BENCH_OVERLAY)) -r $(call q,$(PROJECT_ROOT)/requirements_bench.txt)
	cd $(call q,$(PROJECT_ROOT)) && PYTHONPATH=$(call q,$(BENCH_OVERLAY)) $(call q,$(PY)) -m scripts_spark.bench $(BENCH_ARGS)

bench-scale: venv ## whole pipeline at 20k, 100k and 1M films: times, memory, growth; rewrites docs/performance.md (SCALE_ARGS=--quick)
	cd $(call q,$(PROJECT_ROOT)) && $(call q,$(PY)) -m scripts_spark.bench_scale --doc docs/performance.md $(SCALE_ARGS)

report: venv ## rebuild the HTML and Markdown report from the latest gold tables and metrics
	cd $(call q,$(PROJECT_ROOT)) && $(call q,$(PY)) -m scripts_spark.report $(DATA_ROOT_ARG)

# --- Azure (issue 14): lake transfers, the Bicep policy check, the infrastructure deployment -------------
# LOCAL: the local DATA_ROOT (default DATA_ROOT when local, else ./data); LAKE: the abfss:// one (default
# LAKE_DATA_ROOT, or DATA_ROOT, from .env); LAYERS: comma-separated (upload: raw; download: gold,metrics,reports).
LOCAL ?=
LAKE ?=
LAYERS ?=
ENV ?= dev
RG ?=
INFRA_TOOLS := $(VENV)/infra-tools
TRANSFER_ARGS = $(if $(LOCAL),--local $(call q,$(LOCAL))) $(if $(LAKE),--lake $(call q,$(LAKE))) $(if $(LAYERS),--layers $(call q,$(LAYERS)))

upload: venv ## copy LAYERS (default raw/) of the local DATA_ROOT to the abfss:// one; resumable
	cd $(call q,$(PROJECT_ROOT)) && $(call q,$(PY)) -m scripts.lake_transfer upload $(TRANSFER_ARGS)

download: venv ## copy LAYERS (default gold, metrics, reports) of the abfss:// DATA_ROOT here; resumable
	cd $(call q,$(PROJECT_ROOT)) && $(call q,$(PY)) -m scripts.lake_transfer download $(TRANSFER_ARGS)

infra-tools: venv ## install checkov and the bundle models into .venv/infra-tools (outside the pinned venv)
	@# checkov and the bundle models go to a folder of their own, not into the venv (see requirements_infra.txt).
	@test -f $(call q,$(INFRA_TOOLS)/.installed) && cmp -s $(call q,$(INFRA_TOOLS)/.installed) $(call q,$(PROJECT_ROOT)/requirements_infra.txt) || { \
		rm -rf $(call q,$(INFRA_TOOLS)) && $(call q,$(PY)) -m pip install --quiet --disable-pip-version-check \
		--target $(call q,$(INFRA_TOOLS)) -r $(call q,$(PROJECT_ROOT)/requirements_infra.txt) && \
		cp $(call q,$(PROJECT_ROOT)/requirements_infra.txt) $(call q,$(INFRA_TOOLS)/.installed); }

checkov: infra-tools ## policy checks of infrastructure/*.bicep (offline); every skip names its reason in the template
	cd $(call q,$(PROJECT_ROOT)) && PYTHONPATH=$(call q,$(INFRA_TOOLS)) $(call q,$(PY)) -m checkov.main --directory infrastructure \
		--framework bicep --compact --quiet --skip-download

deploy-infra: ## what-if, then create, of infrastructure/main.bicep in resource group RG with main.ENV.bicepparam
	@test -n $(call q,$(RG)) || { echo "deploy-infra: set RG=<resource-group> (and ENV=dev|prod)"; exit 2; }
	@test -f $(call q,$(PROJECT_ROOT)/infrastructure/main.$(ENV).bicepparam) || { echo "deploy-infra: no infrastructure/main.$(ENV).bicepparam"; exit 2; }
	@command -v az >/dev/null || { echo "deploy-infra: the Azure CLI (az) is not installed"; exit 2; }
	az deployment group what-if --resource-group $(call q,$(RG)) --parameters $(call q,$(PROJECT_ROOT)/infrastructure/main.$(ENV).bicepparam)
	az deployment group create --resource-group $(call q,$(RG)) --name "soundtracks-$(ENV)" \
		--parameters $(call q,$(PROJECT_ROOT)/infrastructure/main.$(ENV).bicepparam) --query properties.outputs
