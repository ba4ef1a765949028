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
# Layers under DATA_ROOT that the pipeline re-creates from raw/ (docs/contracts.md); raw/ is never listed.
DERIVED_LAYERS := staging bronze silver gold metrics reports

.DEFAULT_GOAL := help
.PHONY: help venv run test dryrun log clean clean-data sync bench report upload download deploy-infra infra-tools checkov

help: ## show this list of targets
	@echo "usage: make TARGET [DATA_ROOT=dir-or-uri] [STEPS=$(STEPS)] [N=$(N)] [PYTEST_ARGS=...]"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: ## create or refresh .venv from requirements_stable.txt (no-op when up to date)
	@VENV_DIR=$(VENV) $(PROJECT_ROOT)/rebuild_venv.sh

run: venv ## run pipeline steps STEPS (default 1-5) on DATA_ROOT, logged to logs/ and sync_log.md
	VENV_DIR=$(VENV) $(PROJECT_ROOT)/run_pipeline_safe.sh $(DATA_ROOT_ARG) --steps $(STEPS)

test: venv checkov ## run checkov on infrastructure/, then the tests with coverage (fails under 80%)
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

sync: venv ## pull, rebuild the venvs here and on the VM, prove them identical, run STEPS, log (SYNC_ARGS=--no-run)
	cd $(PROJECT_ROOT) && VENV_DIR=$(VENV) $(PY) -m scripts.sync $(SYNC_ARGS) -- $(DATA_ROOT_ARG) --steps $(STEPS)

bench: venv ## parse, fetch and match benchmarks: figures and ratios to baselines (BENCH_ARGS=--quick, --only parse)
	@# Bench-only packages go to an overlay folder, not into the venv, so the venv keeps exactly
	@# the pinned set that check_env.sh and make sync compare.
	@test -d $(BENCH_OVERLAY)/rapidfuzz || $(PY) -m pip install --quiet --disable-pip-version-check \
		--target $(BENCH_OVERLAY) -r $(PROJECT_ROOT)/requirements_bench.txt
	cd $(PROJECT_ROOT) && PYTHONPATH=$(BENCH_OVERLAY) $(PY) -m scripts_spark.bench $(BENCH_ARGS)

report: venv ## rebuild the HTML and Markdown report from the latest gold tables and metrics
	cd $(PROJECT_ROOT) && $(PY) -m scripts_spark.report $(DATA_ROOT_ARG)

# --- Azure (issue 14): lake transfers, the Bicep policy check, the infrastructure deployment -------------
# LOCAL: the local DATA_ROOT (default DATA_ROOT when local, else ./data); LAKE: the abfss:// one (default
# LAKE_DATA_ROOT, or DATA_ROOT, from .env); LAYERS: comma-separated (upload: raw; download: gold,metrics,reports).
LOCAL ?=
LAKE ?=
LAYERS ?=
ENV ?= dev
RG ?=
INFRA_TOOLS := $(VENV)/infra-tools
TRANSFER_ARGS = $(if $(LOCAL),--local "$(LOCAL)") $(if $(LAKE),--lake "$(LAKE)") $(if $(LAYERS),--layers "$(LAYERS)")

upload: venv ## copy LAYERS (default raw/) of the local DATA_ROOT to the abfss:// one; resumable
	cd "$(PROJECT_ROOT)" && $(PY) -m scripts.lake_transfer upload $(TRANSFER_ARGS)

download: venv ## copy LAYERS (default gold, metrics, reports) of the abfss:// DATA_ROOT here; resumable
	cd "$(PROJECT_ROOT)" && $(PY) -m scripts.lake_transfer download $(TRANSFER_ARGS)

infra-tools: venv ## install checkov and the bundle models into .venv/infra-tools (outside the pinned venv)
	@# checkov and the bundle models go to a folder of their own, not into the venv (see requirements_infra.txt).
	@test -f "$(INFRA_TOOLS)/.installed" && cmp -s "$(INFRA_TOOLS)/.installed" "$(PROJECT_ROOT)/requirements_infra.txt" || { \
		rm -rf "$(INFRA_TOOLS)" && $(PY) -m pip install --quiet --disable-pip-version-check \
		--target "$(INFRA_TOOLS)" -r "$(PROJECT_ROOT)/requirements_infra.txt" && \
		cp "$(PROJECT_ROOT)/requirements_infra.txt" "$(INFRA_TOOLS)/.installed"; }

checkov: infra-tools ## policy checks of infrastructure/*.bicep (offline); every skip names its reason in the template
	cd "$(PROJECT_ROOT)" && PYTHONPATH="$(INFRA_TOOLS)" $(PY) -m checkov.main --directory infrastructure \
		--framework bicep --compact --quiet --skip-download

deploy-infra: ## what-if, then create, of infrastructure/main.bicep in resource group RG with main.ENV.bicepparam
	@test -n "$(RG)" || { echo "deploy-infra: set RG=<resource-group> (and ENV=dev|prod)"; exit 2; }
	@test -f "$(PROJECT_ROOT)/infrastructure/main.$(ENV).bicepparam" || { echo "deploy-infra: no infrastructure/main.$(ENV).bicepparam"; exit 2; }
	@command -v az >/dev/null || { echo "deploy-infra: the Azure CLI (az) is not installed"; exit 2; }
	az deployment group what-if --resource-group "$(RG)" --parameters "$(PROJECT_ROOT)/infrastructure/main.$(ENV).bicepparam"
	az deployment group create --resource-group "$(RG)" --name "soundtracks-$(ENV)" \
		--parameters "$(PROJECT_ROOT)/infrastructure/main.$(ENV).bicepparam" --query properties.outputs
