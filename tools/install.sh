#!/usr/bin/env bash
# Install detco-mm and its pinned OpenMMLab stack into a virtual environment in the repo.
#
#   tools/install.sh            (or: make install)
#
# Idempotent: a second run on a ready environment only re-checks it (well under a minute).
# Environment variables:
#   DETCO_VENV           where the venv goes (default: <repo>/.venv)
#   PYTHON               the interpreter to create it with (default: python3.11)
#   DETCO_WHEEL_CACHE    where the mmcv wheel built from the sdist is kept
#                        (default: ~/.cache/detco_mm/wheels; outside the clone on purpose)
#   DETCO_EXTRA_WHEELS   extra directories (':'-separated) searched first for a ready mmcv wheel
#                        (default: <repo>/../shared/wheels when it exists; set to '' to skip)
#   DETCO_FORCE=1        reinstall even when the environment is up to date
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DETCO_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
WHEEL_CACHE="${DETCO_WHEEL_CACHE:-$HOME/.cache/detco_mm/wheels}"
EXTRA_WHEELS="${DETCO_EXTRA_WHEELS-$ROOT/../shared/wheels}"
MMCV_VERSION=2.0.1
MMCV_WHEEL="mmcv-${MMCV_VERSION}-cp311-cp311-linux_x86_64.whl"
STAMP="$VENV/.detco_install_stamp"
T0=$(date +%s)

log() { printf '[install %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
fail() { printf '\ninstall.sh: FAILED at step "%s". %s\n' "$1" "${2:-See the output above.}" >&2; exit 1; }
step() {  # step NAME CMD...
  local name="$1"; shift
  log "$name"
  "$@" || fail "$name"
}

# A fingerprint of everything that decides what gets installed.
fingerprint() {
  cat "$ROOT/tools/install.sh" "$ROOT"/requirements/*.txt "$ROOT/setup.py" | sha256sum | cut -d' ' -f1
}

command -v "$PYTHON" >/dev/null || fail "find python" "'$PYTHON' is not on PATH; install Python 3.11 or set PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || fail "check python" "detco-mm pins its stack for Python 3.11, but '$PYTHON' is $("$PYTHON" -V 2>&1). Set PYTHON=/path/to/python3.11."

if [[ "${DETCO_FORCE:-0}" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$(fingerprint)" ]]; then
  log "environment $VENV is up to date; checking it"
  "$VENV/bin/python" "$ROOT/tools/check_env.py" || fail "check environment" "Re-run with DETCO_FORCE=1 to reinstall."
  log "done"
  exit 0
fi

[[ -x "$VENV/bin/python" ]] || step "create venv $VENV" "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)

step "build tools, torch 2.14.1, torchvision 0.29.1" "${PIP[@]}" -r "$ROOT/requirements/build.txt"

# --- mmcv 2.0.1 with its C++ ops: a cached wheel, else built from the PyPI sdist -------------
find_wheel() {
  local d
  IFS=':' read -r -a dirs <<< "$EXTRA_WHEELS"
  for d in "${dirs[@]}" "$WHEEL_CACHE"; do
    [[ -n "$d" && -f "$d/$MMCV_WHEEL" ]] && { echo "$d/$MMCV_WHEEL"; return 0; }
  done
  return 1
}

build_mmcv_wheel_in() {  # build_mmcv_wheel_in TMPDIR
  local tmp="$1"
  "$VENV/bin/python" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$tmp" || return 1
  tar -xzf "$tmp/mmcv-$MMCV_VERSION.tar.gz" -C "$tmp" || return 1
  local src="$tmp/mmcv-$MMCV_VERSION"
  # torch 2.14's headers need C++20; the sdist hard-codes -std=c++14.
  grep -q "'-std=c++14'" "$src/setup.py" || { echo "setup.py of the sdist has no '-std=c++14' to replace" >&2; return 1; }
  sed -i "s/'-std=c++14'/'-std=c++20'/g" "$src/setup.py"
  mkdir -p "$WHEEL_CACHE" || return 1
  log "compiling mmcv $MMCV_VERSION ops (15-45 minutes on 2 cores; cached in $WHEEL_CACHE)"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$VENV/bin/python" -m pip wheel --no-deps \
    --no-build-isolation -w "$tmp/dist" "$src" || return 1
  # Into place with one rename, so an interrupted build never leaves a half-written cache entry.
  cp "$tmp/dist/$MMCV_WHEEL" "$WHEEL_CACHE/.$MMCV_WHEEL.part" \
    && mv "$WHEEL_CACHE/.$MMCV_WHEEL.part" "$WHEEL_CACHE/$MMCV_WHEEL"
}

build_mmcv_wheel() {
  local tmp rc=0
  tmp="$(mktemp -d)"
  build_mmcv_wheel_in "$tmp" || rc=1
  rm -rf "$tmp"
  return $rc
}

if "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mmcv') != '$MMCV_VERSION')" 2>/dev/null \
   && "$VENV/bin/python" -c "import mmcv._ext" 2>/dev/null; then
  log "mmcv $MMCV_VERSION with ops already installed"
else
  if ! wheel="$(find_wheel)"; then
    step "build mmcv $MMCV_VERSION wheel from the sdist" build_mmcv_wheel
    wheel="$WHEEL_CACHE/$MMCV_WHEEL"
  fi
  step "install mmcv from $wheel" "${PIP[@]}" --no-deps --force-reinstall "$wheel"
fi

step "OpenMMLab stack (mmengine, mmcls, mmselfsup, mmdet) and dataset tools" "${PIP[@]}" -r "$ROOT/requirements/runtime.txt"
step "openmim 0.3.9 without its setuptools-downgrading chain" "${PIP[@]}" --no-deps openmim==0.3.9
step "openmim's real dependencies" "${PIP[@]}" -r "$ROOT/requirements/mim.txt"
step "test tools" "${PIP[@]}" -r "$ROOT/requirements/tests.txt"
step "detco_mm (editable)" "${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"
step "check the environment" "$VENV/bin/python" "$ROOT/tools/check_env.py"
fingerprint > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
