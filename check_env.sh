#!/usr/bin/env bash
# Preflight: is this machine ready to run the pipeline? Runs scripts/env_check.py in the project venv.
# Exit codes: 0 every check passed; 1 a check failed or the venv is missing; 2 usage error.
set -euo pipefail

usage() { echo "usage: $(basename "$0") [--json] [-h]   (env: VENV_DIR, REQUIREMENTS_FILE, MIN_FREE_GB, DATA_ROOT)"; }

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV_DIR="${VENV_DIR:-$PROJECT_ROOT/.venv}"

json=0
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        --json) json=1 ;;
        *) usage >&2; exit 2 ;;
    esac
done

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
    message="venv missing: run ./rebuild_venv.sh (or make run/make test, which build it)"
    if (( json )); then
        printf '{"ok": false, "checks": [{"name": "venv", "ok": false, "detail": "no %s", "fix": "run ./rebuild_venv.sh"}]}\n' \
            "$VENV_DIR/bin/python"
    fi
    echo "$message" >&2
    exit 1
fi

# PYTHONPATH rather than cd: relative paths the caller passes in the environment keep their meaning.
export PYTHONPATH="$PROJECT_ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV_DIR/bin/python" -m scripts.env_check "$@"
