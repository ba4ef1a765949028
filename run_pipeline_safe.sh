#!/usr/bin/env bash
# Run the pipeline safely: preflight first, everything teed to a log file, the pipeline's own exit
# code kept, one row appended to sync_log.md. One run at a time per DATA_ROOT is the pipeline's own
# lock inside DATA_ROOT (scripts/data_root.py), which also covers a second checkout or a hand-run
# `python -m scripts_spark.pipeline`; runs on different roots do not block each other.
#
# All arguments go to `python -m scripts_spark.pipeline` unchanged (e.g. --steps 1-5 --data-root DIR
# --source sample); only a first argument -h/--help is taken here.
# Environment: VENV_DIR (default <project>/.venv), LOG_DIR (default <project>/logs), RUN_LOCK
# (optional: an extra lock file this script holds, e.g. one per machine; unset by default),
# SYNC_LOG (see scripts/sync_log.py), PIPELINE_CMD (tests only: a command line run instead of the
# pipeline module, the arguments appended).
# Exit codes: the pipeline's own code (0 ok, 1 a step failed, 2 usage or configuration, 75 another
# run holds DATA_ROOT); 1 preflight failed (pipeline not run); 2 usage; 75 RUN_LOCK is held.
# The code and its meaning are printed last, because `make run` turns every failure into make's 2.
set -euo pipefail

usage() { echo "usage: $(basename "$0") [-h] [pipeline args...]   (e.g. --steps 1-5 --data-root DIR)"; }

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; exit 0; fi

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV_DIR="${VENV_DIR:-$PROJECT_ROOT/.venv}"
LOG_DIR="${LOG_DIR:-$PROJECT_ROOT/logs}"
RUN_LOCK="${RUN_LOCK:-}"
export VENV_DIR
# PYTHONPATH rather than cd: relative paths in the arguments keep the caller's meaning.
export PYTHONPATH="$PROJECT_ROOT${PYTHONPATH:+:$PYTHONPATH}"

meaning() {
    case "$1" in
        0) echo "ok" ;;
        1) echo "a step or the preflight failed" ;;
        2) echo "usage or configuration error" ;;
        75) echo "another run holds the lock" ;;
        *) echo "killed or crashed" ;;
    esac
}
finish() {  # code: print the code and its meaning, then exit with it
    echo "run_pipeline_safe: exit $1 ($(meaning "$1"))" >&2
    exit "$1"
}

if [[ -n "$RUN_LOCK" ]]; then
    command -v flock >/dev/null || { echo "run_pipeline_safe: flock not found (apt-get install util-linux)" >&2; finish 2; }
    exec 9>>"$RUN_LOCK"
    if ! flock -n 9; then
        echo "another pipeline run is in progress (lock $RUN_LOCK)" >&2
        finish 75
    fi
fi

mkdir -p "$LOG_DIR"
LOG_FILE="$LOG_DIR/pipeline_$(date -u +%Y%m%dT%H%M%SZ).log"
started_ns="$(date +%s%N)"

# Interrupts reach the pipeline (a trapped, not ignored, signal is reset for children); this
# script carries on to record the run and exit with the pipeline's code.
trap 'echo "run_pipeline_safe: interrupted, waiting for the pipeline to stop" >&2' INT TERM

log_run() {  # result details
    local seconds py
    seconds="$(awk -v a="$started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
    py="$VENV_DIR/bin/python"
    [[ -x "$py" ]] && "$py" -c 'import sys' 2>/dev/null || py=python3
    local rc=0
    "$py" -m scripts.sync_log append --action run --result "$1" --duration "$seconds" --details "$2" \
        >/dev/null || rc=$?
    if (( rc == 3 )); then  # the details held a secret (passed as an argument?): log the run without them
        rc=0
        "$py" -m scripts.sync_log append --action run --result "$1" --duration "$seconds" \
            --details "log $log_name; arguments withheld: they contain a secret" >/dev/null || rc=$?
    fi
    (( rc == 0 )) || echo "run_pipeline_safe: WARNING: could not append to the sync log (exit $rc)" >&2
}

# The preflight checks the DATA_ROOT the pipeline will use: --data-root wins over the environment.
preflight_env=()
args=("$@")
for i in "${!args[@]}"; do
    case "${args[$i]}" in
        --data-root=*) preflight_env=("DATA_ROOT=${args[$i]#--data-root=}") ;;
        --data-root) [[ -n "${args[$((i + 1))]:-}" ]] && preflight_env=("DATA_ROOT=${args[$((i + 1))]}") ;;
    esac
done

# tee ignores interrupts so the log keeps the pipeline's last words.
log_tee() { (trap '' INT TERM; exec tee -a "$LOG_FILE"); }

run_pipeline() {
    if [[ -n "${PIPELINE_CMD:-}" ]]; then
        eval "$PIPELINE_CMD \"\$@\""
    else
        "$VENV_DIR/bin/python" -m scripts_spark.pipeline "$@"
    fi
}

log_name="${LOG_FILE#"$PROJECT_ROOT"/}"
set +e
env "${preflight_env[@]}" "$PROJECT_ROOT/check_env.sh" 9>&- 2>&1 | log_tee 9>&-
preflight=${PIPESTATUS[0]}
set -e
if (( preflight != 0 )); then
    echo "preflight failed (exit $preflight): pipeline not run; log: $LOG_FILE" | log_tee >&2
    log_run "failed (preflight, exit $preflight)" "log $log_name"
    finish 1
fi

echo "running: ${PIPELINE_CMD:-$VENV_DIR/bin/python -m scripts_spark.pipeline} $*" | log_tee
set +e
{ run_pipeline "$@"; } 9>&- 2>&1 | log_tee 9>&-
code=${PIPESTATUS[0]}
set -e

if (( code == 0 )); then
    echo "pipeline finished: exit 0; log: $LOG_FILE" | log_tee
    log_run "ok" "args: ${*:-(none)}; log $log_name"
else
    echo "pipeline FAILED: exit $code; log: $LOG_FILE" | log_tee >&2
    log_run "failed (exit $code)" "args: ${*:-(none)}; log $log_name"
fi
finish "$code"
