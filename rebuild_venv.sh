#!/usr/bin/env bash
# Create or refresh the project virtualenv from requirements_stable.txt (and its -r includes).
#
# Up to date = the venv's .requirements.sha256 stamp equals the current requirements hash, its
# python is the runtime manifest's version, and the installed packages are the pins (checked with
# scripts/venv_drift.py, not taken from the stamp): then nothing is done. A venv whose packages
# drifted from the pins (one changed or removed by hand, one added by hand) is repaired: pip puts
# the pins back, unpinned additions are uninstalled, the result is checked again, and the last line
# names what was repaired. Otherwise the venv is refreshed in place (pip moves changed pins), or
# rebuilt from scratch when its python is the wrong version or --force is given. The stamp is
# removed before installing and written last, so an interrupted build is redone next time.
#
# One rebuild of a venv at a time: a lock on the venv's parent folder, its holder recorded in
# $VENV_DIR.lock-holder. A busy lock is named (holder pid, start time; or, when the recorded holder
# is gone, the processes it left holding the lock) and waited for at most REBUILD_LOCK_WAIT seconds.
#
# Environment: VENV_DIR (default <project>/.venv), REQUIREMENTS_FILE (default
# <project>/requirements_stable.txt), PYTHON (interpreter to build with), PIP_VERSION (pip pinned
# in the venv; empty skips the pip upgrade), REBUILD_LOCK_WAIT (default 1800).
# Exit codes: 0 up to date, built or repaired; 2 usage; 3 no suitable Python; 4 venv creation failed
# or the lock wait timed out; 5 pip install failed or a repair did not hold; 6 the requirements
# file cannot be read.
set -euo pipefail

usage() { echo "usage: $(basename "$0") [--force] [-h]   (env: VENV_DIR, REQUIREMENTS_FILE, PYTHON, PIP_VERSION)"; }

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV_DIR="${VENV_DIR:-$PROJECT_ROOT/.venv}"
REQUIREMENTS="${REQUIREMENTS_FILE:-$PROJECT_ROOT/requirements_stable.txt}"
PIP_VERSION="${PIP_VERSION-24.3.1}"
HASH_TOOL="$PROJECT_ROOT/scripts/requirements_hash.py"
STAMP="$VENV_DIR/.requirements.sha256"
OUTCOME="$VENV_DIR/.rebuild_outcome"
LOCK_WAIT="${REBUILD_LOCK_WAIT:-1800}"

force=0
while (( $# )); do
    case "$1" in
        --force) force=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done

die() { local code="$1"; shift; echo "rebuild_venv: $*" >&2; exit "$code"; }

# "3.10" for an interpreter that runs, nothing otherwise.
minor_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

pyenv_root() { pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}"; }

# Any python3 can run the stdlib-only hash tool; the venv's own interpreter is chosen below.
bootstrap_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.10 "$(pyenv_root)"/versions/3.*/bin/python3; do
        [[ -n "$candidate" ]] || continue
        if [[ -n "$(minor_version "$candidate")" ]]; then echo "$candidate"; return 0; fi
    done
    return 1
}

BOOT_PY="$(bootstrap_python)" || die 3 "no python3 found to read $REQUIREMENTS: install python3 or set PYTHON=/path/to/python3"
[[ -r "$REQUIREMENTS" ]] || die 6 "cannot read requirements file $REQUIREMENTS"
want="$("$BOOT_PY" "$HASH_TOOL" --get python "$REQUIREMENTS")" \
    || die 6 "the runtime manifest included by $REQUIREMENTS declares no '# python: X.Y' line"
current_hash="$("$BOOT_PY" "$HASH_TOOL" "$REQUIREMENTS")" || die 6 "cannot hash $REQUIREMENTS"

# Two builds of one venv at once (say `make run` and `make test` in two shells) would corrupt it:
# serialize on the venv's parent folder, then decide.
mkdir -p "$(dirname "$VENV_DIR")"
LOCK_DIR="$(cd "$(dirname "$VENV_DIR")" && pwd -P)"
HOLDER_FILE="$VENV_DIR.lock-holder"

# Who holds the lock, in one line: the recorded rebuild when it still runs; else the processes
# that keep the lock folder open (what a rebuild killed mid-install leaves behind): a stale lock.
lock_holder() {
    local pid started host rest fd found=""
    read -r pid started host rest < "$HOLDER_FILE" 2>/dev/null || true
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        echo "rebuild_venv.sh pid $pid on ${host:-?}, running since ${started:-?}"
        return
    fi
    while IFS= read -r fd; do
        fd="${fd#/proc/}"; fd="${fd%%/*}"
        [[ "$fd" == "$$" || "$fd" == "${BASHPID:-}" ]] && continue  # this script, and this subshell
        found+="${found:+, }pid $fd ($(tr '\0' ' ' < "/proc/$fd/cmdline" 2>/dev/null | cut -c1-120))"
    done < <(find /proc/[0-9]*/fd -maxdepth 1 -lname "$LOCK_DIR" 2>/dev/null | sort -u -t/ -k3,3n)
    echo "a STALE lock: its recorded holder${pid:+ (rebuild_venv.sh pid $pid, started ${started:-?})} is gone," \
        "the lock is kept by ${found:-a process this host cannot see}"
}

if command -v flock >/dev/null; then
    exec 8<"$LOCK_DIR"
    if ! flock -n 8; then
        holder="$(lock_holder)"
        echo "waiting up to ${LOCK_WAIT} s for the rebuild lock on $LOCK_DIR, held by $holder"
        flock -w "$LOCK_WAIT" 8 || die 4 "timed out after ${LOCK_WAIT} s waiting for the rebuild lock on $LOCK_DIR, held by $holder"
    fi
    printf '%s %s %s\n' "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(hostname 2>/dev/null || echo '?')" > "$HOLDER_FILE" || true
    trap 'rm -f "$HOLDER_FILE"' EXIT
fi

# Differences between the venv's packages and the pins, one "kind name installed pinned" line each.
venv_drift() {
    PYTHONPATH="$PROJECT_ROOT" "$VENV_DIR/bin/python" -m scripts.venv_drift "$REQUIREMENTS"
}
# "pandas 2.0.0 (pinned 1.5.3), left-pad 1.3.0 (not pinned)" from venv_drift's lines.
describe_drift() {
    awk -F '\t' '{ d = $1 == "changed" ? $2 " " $3 " (pinned " $4 ")" : $1 == "missing" ? $2 " missing (pinned " $4 ")" : $2 " " $3 " (not pinned)";
                   printf "%s%s", (NR > 1 ? ", " : ""), d }'
}
record_outcome() { printf '%s %s\n' "$(date +%s)" "$1" > "$OUTCOME.tmp" && mv "$OUTCOME.tmp" "$OUTCOME" || true; }

venv_minor=""
[[ -x "$VENV_DIR/bin/python" ]] && venv_minor="$(minor_version "$VENV_DIR/bin/python")"
drifted=""
if (( ! force )) && [[ "$venv_minor" == "$want" && -f "$STAMP" && "$(cat "$STAMP")" == "$current_hash" ]]; then
    drift_lines="$(venv_drift)" || die 6 "cannot check $VENV_DIR against the pins of $REQUIREMENTS (see above)"
    if [[ -z "$drift_lines" ]]; then
        echo "venv up to date (requirements ${current_hash:0:12})"
        exit 0
    fi
    drifted="$(describe_drift <<<"$drift_lines")"
    echo "venv drifted from the pins: $drifted: repairing"
fi

# The interpreter to build with: $PYTHON, else python3.X on PATH, else pyenv's newest 3.X.*.
find_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        [[ "$(minor_version "$PYTHON")" == "$want" ]] && { echo "$PYTHON"; return 0; }
        echo "PYTHON=$PYTHON is not a runnable Python $want: unset it or point it at one" >&2
        return 1
    fi
    local candidate
    if candidate="$(command -v "python$want")" && [[ "$(minor_version "$candidate")" == "$want" ]]; then
        echo "$candidate"; return 0
    fi
    while IFS= read -r candidate; do  # newest patch release first
        [[ "$(minor_version "$candidate")" == "$want" ]] && { echo "$candidate"; return 0; }
    done < <(printf '%s\n' "$(pyenv_root)/versions/$want".*/bin/"python$want" | sort -V -r)
    echo "no Python $want found: install it (pyenv install $want) or set PYTHON=/path/to/python$want" >&2
    return 1
}

if ! BASE_PY="$(find_python)"; then exit 3; fi

if [[ -e "$VENV_DIR" ]] && { (( force )) || [[ "$venv_minor" != "$want" ]]; }; then
    # Refuse to delete a folder that is neither a venv nor empty: VENV_DIR may be mistyped.
    if [[ ! -f "$VENV_DIR/pyvenv.cfg" && -n "$(ls -A "$VENV_DIR")" ]]; then
        die 4 "$VENV_DIR is not a virtualenv (no pyvenv.cfg): not deleting it; fix VENV_DIR"
    fi
    if (( force )); then reason="--force"; else reason="its python is ${venv_minor:-missing}, want $want"; fi
    echo "removing $VENV_DIR ($reason)"
    # Moved aside first so a half-deleted venv is never taken for a venv; `make clean` removes leftovers.
    stale="$VENV_DIR.old.$$"
    mv "$VENV_DIR" "$stale"
    rm -rf "$stale"
fi

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
    echo "creating $VENV_DIR with $BASE_PY"
    "$BASE_PY" -m venv "$VENV_DIR" || die 4 "could not create $VENV_DIR with $BASE_PY (is its venv/ensurepip module installed?)"
fi

rm -f "$STAMP"
pip=("$VENV_DIR/bin/python" -m pip install --disable-pip-version-check --quiet)
if [[ -n "$PIP_VERSION" ]]; then
    "${pip[@]}" "pip==$PIP_VERSION" || die 5 "could not install pip==$PIP_VERSION into $VENV_DIR (network?); rerun when fixed"
fi
echo "installing $REQUIREMENTS into $VENV_DIR"
"${pip[@]}" -r "$REQUIREMENTS" || die 5 "pip install -r $REQUIREMENTS failed (see above); the venv is left unstamped, rerun when fixed"

# Pins are a full closure, so a package no pin names was added by hand (or dropped from the pins).
extras="$(venv_drift | awk -F '\t' '$1 == "extra" { print $2 }')" || die 5 "cannot check $VENV_DIR against the pins"
if [[ -n "$extras" ]]; then
    echo "uninstalling packages no pin names: $(echo $extras)"
    # shellcheck disable=SC2086  # one package name per word
    "$VENV_DIR/bin/python" -m pip uninstall --disable-pip-version-check --quiet --yes $extras \
        || die 5 "could not uninstall $(echo $extras) from $VENV_DIR"
fi
left="$(venv_drift)" || die 5 "cannot check $VENV_DIR against the pins"
if [[ -n "$left" ]]; then
    die 5 "after installing, $VENV_DIR still differs from the pins: $(describe_drift <<<"$left"); the venv is left unstamped"
fi

printf '%s\n' "$current_hash" > "$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
if [[ -n "$drifted" ]]; then
    record_outcome "venv repaired: $drifted, now as pinned (requirements ${current_hash:0:12})"
    echo "venv repaired: $drifted, now as pinned (requirements ${current_hash:0:12})"
else
    record_outcome "venv ready: $VENV_DIR (python $want, requirements ${current_hash:0:12})"
    echo "venv ready: $VENV_DIR (python $want, requirements ${current_hash:0:12})"
fi

# Advice only, nothing is installed from here: a system font the report's charts need besides the
# venv (without it Japanese, Korean and Chinese titles are drawn as boxes).
[[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]] \
    || echo "rebuild_venv: advice: for CJK titles in the report's charts, install Debian's fonts-noto-cjk (apt-get install -y fonts-noto-cjk)" >&2
