#!/usr/bin/env bash
# Install detco-mm and its pinned OpenMMLab stack into a virtual environment in the repo.
#
#   tools/install.sh            (or: make install)
#
# Idempotent: a second run on a ready environment only re-checks it (well under a minute).
# Environment variables:
#   DETCO_VENV           where the venv goes (default: <repo>/.venv)
#   PYTHON               the interpreter to create it with: Python 3.11 or 3.12
#                        (default: python3.11)
#   DETCO_TORCH          'pinned' (default): torch 2.14.1 + torchvision 0.29.1 from the registry;
#                        'system': use the interpreter's own torch and torchvision as they are
#                        (the venv sees its site-packages; nothing torch-related is downloaded)
#   DETCO_MMCV_CUDA=1    build mmcv with CUDA ops even without a visible GPU (needs a CUDA torch;
#                        set TORCH_CUDA_ARCH_LIST too when no GPU is visible)
#   TORCH_CUDA_ARCH_LIST GPU architectures of the CUDA ops, e.g. "9.0" (H100/H200) or "8.0;9.0";
#                        setting it asks for CUDA ops. Default: the visible GPUs' architectures
#   DETCO_MMCV_CPU=1     CPU ops only, even with a visible GPU (MMDetection then needs CPU tensors)
#   CUDA_HOME            a CUDA toolkit whose nvcc matches torch's CUDA version; without it the
#                        compiler comes from the registry (cuda-toolkit[nvcc,cccl], torch's pin)
#   DETCO_CUDA_TOOLKIT   cuda-toolkit version to take nvcc from (default: the one torch pins)
#   DETCO_WHEEL_CACHE    where built mmcv wheels are kept, one subdirectory per Python tag,
#                        torch version and ops variant (default: ~/.cache/detco_mm/wheels)
#   DETCO_EXTRA_WHEELS   extra directories (':'-separated) of ready wheels, searched first
#                        (default: none);
#                        their mmcv wheels are classified by inspecting their compiled ops
#   DETCO_FORCE=1        reinstall even when the environment is up to date
# With no network: put the needed wheels in a directory and set PIP_FIND_LINKS=DIR
# PIP_NO_INDEX=1 (pip reads both), DETCO_TORCH=system and, for CUDA ops, CUDA_HOME.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DETCO_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
TORCH_MODE="${DETCO_TORCH:-pinned}"
WHEEL_CACHE="${DETCO_WHEEL_CACHE:-$HOME/.cache/detco_mm/wheels}"
EXTRA_WHEELS="${DETCO_EXTRA_WHEELS-}"
MMCV_VERSION=2.0.1
WHEELS_PY="$ROOT/detco_mm/install/mmcv_wheels.py"
STAMP="$VENV/.detco_install_stamp"
MMCV_STAMP="$VENV/.detco_mmcv_key"
T0=$(date +%s)

log() { printf '[install %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
fail() { printf '\ninstall.sh: FAILED at step "%s". %s\n' "$1" "${2:-See the output above.}" >&2; exit 1; }
step() {  # step NAME CMD...
  local name="$1"; shift
  log "$name"
  "$@" || fail "$name"
}

# A fingerprint of everything that decides what gets installed, the variant choices included.
fingerprint() {
  { cat "$ROOT/tools/install.sh" "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$WHEELS_PY"
    printf '%s\n' "torch=$TORCH_MODE" "cpu=${DETCO_MMCV_CPU:-}" "cuda=${DETCO_MMCV_CUDA:-}" \
      "archs=${TORCH_CUDA_ARCH_LIST:-}" "cuda_home=${CUDA_HOME:-}" "toolkit=${DETCO_CUDA_TOOLKIT:-}"
  } | sha256sum | cut -d' ' -f1
}

case "$TORCH_MODE" in
  pinned|system) ;;
  *) fail "check DETCO_TORCH" "DETCO_TORCH='$TORCH_MODE': use 'pinned' (torch 2.14.1, the default) or 'system' (the interpreter's own torch)." ;;
esac
command -v "$PYTHON" >/dev/null || fail "find python" "'$PYTHON' is not on PATH; install Python 3.11 or 3.12, or set PYTHON=/path/to/python3.12."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' \
  || fail "check python" "detco-mm supports Python 3.11 and 3.12, but '$PYTHON' is $("$PYTHON" -V 2>&1). Set PYTHON=/path/to/python3.11 or python3.12."

if [[ "${DETCO_FORCE:-0}" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$(fingerprint)" ]]; then
  log "environment $VENV is up to date; checking it"
  "$VENV/bin/python" "$ROOT/tools/check_env.py" || fail "check environment" "Re-run with DETCO_FORCE=1 to reinstall."
  log "done"
  exit 0
fi

# --- the venv: same interpreter version as PYTHON; sees the system torch when asked ----------
want_sys=false; [[ "$TORCH_MODE" == system ]] && want_sys=true
if [[ -x "$VENV/bin/python" ]]; then
  have_py="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  want_py="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  [[ "$have_py" == "$want_py" ]] || fail "check venv" "$VENV holds Python $have_py but PYTHON=$PYTHON is $want_py. Use another DETCO_VENV, or remove $VENV yourself."
  have_sys=false; grep -qiE '^include-system-site-packages *= *true' "$VENV/pyvenv.cfg" && have_sys=true
  [[ "$have_sys" == "$want_sys" ]] || fail "check venv" "$VENV was created with include-system-site-packages=$have_sys, but DETCO_TORCH=$TORCH_MODE needs $want_sys. Use another DETCO_VENV, or remove $VENV yourself."
elif $want_sys; then
  "$PYTHON" -c 'import torch, torchvision' 2>/dev/null \
    || fail "check system torch" "DETCO_TORCH=system, but '$PYTHON' cannot import torch and torchvision. Install them for that interpreter, or unset DETCO_TORCH."
  step "create venv $VENV (with the system site-packages: its torch)" "$PYTHON" -m venv --system-site-packages "$VENV"
else
  step "create venv $VENV" "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)
VPY="$VENV/bin/python"
if $want_sys; then
  "$VPY" -c 'import torch, torchvision' 2>/dev/null \
    || fail "check system torch" "the venv $VENV does not see the torch of '$PYTHON' (is '$PYTHON' itself a venv? --system-site-packages reaches the base interpreter's packages only). Set PYTHON to the interpreter torch is installed for."
fi

step "build tools (setuptools, wheel, ninja)" "${PIP[@]}" -r "$ROOT/requirements/build.txt"
if $want_sys; then
  log "using the system torch: $("$VPY" -c 'import torch, torchvision; print(torch.__version__, "CUDA", torch.version.cuda, "/ torchvision", torchvision.__version__)')"
else
  step "torch 2.14.1, torchvision 0.29.1" "${PIP[@]}" -r "$ROOT/requirements/torch.txt"
fi

# --- mmcv 2.0.1 with its C++ (and CUDA) ops: a ready wheel that fits, else built from the sdist
plan_out="$("$VPY" "$WHEELS_PY" plan)" || fail "choose the mmcv ops variant" "See the mmcv_wheels message above."
eval "$plan_out"  # PY_TAG TORCH_VERSION TORCH_CUDA MMCV_VARIANT MMCV_KIND MMCV_ARCHS MMCV_KEY MMCV_WHEEL CUDA_TOOLKIT_PIN
log "mmcv $MMCV_VERSION ops variant: $MMCV_VARIANT (python $PY_TAG, torch $TORCH_VERSION); cache key $MMCV_KEY"

# The CUDA compiler: CUDA_HOME when it matches torch, else nvcc from the registry into the venv.
setup_cuda_compiler() {
  if [[ -n "${CUDA_HOME:-}" ]]; then
    "$VPY" "$WHEELS_PY" check-cuda-home "$CUDA_HOME" --torch-cuda "$TORCH_CUDA" >/dev/null || return 1
    BUILD_CUDA_HOME="$CUDA_HOME"
  else
    local pin="${DETCO_CUDA_TOOLKIT:-$CUDA_TOOLKIT_PIN}"
    if [[ -z "$pin" ]]; then
      echo "torch $TORCH_VERSION does not pin cuda-toolkit: set CUDA_HOME to a CUDA $TORCH_CUDA toolkit, or DETCO_CUDA_TOOLKIT=<cuda-toolkit version for CUDA $TORCH_CUDA>" >&2
      return 1
    fi
    log "nvcc from the registry: cuda-toolkit[nvcc,cccl]==$pin"
    "${PIP[@]}" "cuda-toolkit[nvcc,cccl]==$pin" || return 1
    BUILD_CUDA_HOME="$("$VPY" -c "
import os, sys, nvidia
d = [os.path.join(p, 'cu${TORCH_CUDA%%.*}') for p in nvidia.__path__]
d = [x for x in d if os.path.exists(os.path.join(x, 'bin', 'nvcc'))]
print(d[0]) if d else sys.exit('no nvidia/cu${TORCH_CUDA%%.*}/bin/nvcc in ' + str(list(nvidia.__path__)))
")" || return 1
    "$VPY" "$WHEELS_PY" check-cuda-home "$BUILD_CUDA_HOME" --torch-cuda "$TORCH_CUDA" >/dev/null || return 1
    # The registry ships only libcudart.so.N; the linker's -lcudart wants libcudart.so.
    local lib="$BUILD_CUDA_HOME/lib"
    if [[ ! -e "$lib/libcudart.so" ]]; then
      local so; so="$(ls "$lib"/libcudart.so.* 2>/dev/null | head -n1)"
      [[ -n "$so" ]] || { echo "no libcudart.so.* in $lib" >&2; return 1; }
      ln -s "$(basename "$so")" "$lib/libcudart.so" || return 1
    fi
  fi
  # Seconds, not an hour: compile and link one kernel for the first architecture.
  local t; t="$(mktemp -d)"
  local arch="${MMCV_ARCHS%%;*}"; arch="${arch%+PTX}"; arch="${arch/./}"
  printf '__global__ void k(float *x) { x[0] = 1.f; }\nvoid launch(float *x) { k<<<1, 1>>>(x); }\n' > "$t/k.cu"
  local libdir="$BUILD_CUDA_HOME/lib64"; [[ -d "$libdir" ]] || libdir="$BUILD_CUDA_HOME/lib"
  if ! "$BUILD_CUDA_HOME/bin/nvcc" -shared -Xcompiler -fPIC -std=c++20 \
      -gencode "arch=compute_$arch,code=sm_$arch" -L"$libdir" -lcudart -o "$t/k.so" "$t/k.cu"; then
    rm -rf "$t"; echo "nvcc in $BUILD_CUDA_HOME cannot compile and link a kernel for sm_$arch" >&2; return 1
  fi
  rm -rf "$t"
  log "CUDA compiler: $BUILD_CUDA_HOME/bin/nvcc ($("$VPY" "$WHEELS_PY" check-cuda-home "$BUILD_CUDA_HOME" --torch-cuda "$TORCH_CUDA")), architectures $MMCV_ARCHS"
}

build_mmcv_wheel_in() {  # build_mmcv_wheel_in TMPDIR
  local tmp="$1" dest="$WHEEL_CACHE/$MMCV_KEY" t_build
  "$VPY" -m pip download --disable-pip-version-check --no-deps --no-build-isolation --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$tmp" || return 1
  tar -xzf "$tmp/mmcv-$MMCV_VERSION.tar.gz" -C "$tmp" || return 1
  local src="$tmp/mmcv-$MMCV_VERSION"
  # torch 2.14's headers need C++20; the sdist hard-codes -std=c++14 (for g++ and nvcc).
  grep -q "'-std=c++14'" "$src/setup.py" || { echo "setup.py of the sdist has no '-std=c++14' to replace" >&2; return 1; }
  sed -i "s/'-std=c++14'/'-std=c++20'/g" "$src/setup.py"
  mkdir -p "$dest" || return 1
  local -a build_env=(MMCV_WITH_OPS=1 "MAX_JOBS=${MAX_JOBS:-$(nproc)}")
  if [[ "$MMCV_KIND" == cuda ]]; then
    setup_cuda_compiler || return 1
    build_env+=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$MMCV_ARCHS" "CUDA_HOME=$BUILD_CUDA_HOME"
                "PATH=$BUILD_CUDA_HOME/bin:$PATH")
    log "compiling mmcv $MMCV_VERSION CPU + CUDA ops for $MMCV_ARCHS (about an hour on 2 cores, minutes on 16; cached in $dest)"
  else
    # mmcv's setup.py builds CUDA ops whenever torch sees a GPU: hide it for a CPU-ops build.
    build_env+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
    log "compiling mmcv $MMCV_VERSION CPU ops (15-45 minutes on 2 cores; cached in $dest)"
  fi
  t_build=$(date +%s)
  env "${build_env[@]}" "$VPY" -m pip wheel --disable-pip-version-check --no-deps \
    --no-build-isolation -w "$tmp/dist" "$src" || return 1
  t_build=$(( $(date +%s) - t_build ))
  log "mmcv wheel built in $(( t_build / 60 )) min $(( t_build % 60 )) s"
  # Sidecar first (it checks the build really has the variant), then both into place by rename,
  # so an interrupted build never leaves a half-written cache entry.
  "$VPY" "$WHEELS_PY" record "$tmp/dist/$MMCV_WHEEL" --python-tag "$PY_TAG" \
    --torch-version "$TORCH_VERSION" --variant "$MMCV_VARIANT" --build-seconds "$t_build" >/dev/null || return 1
  cp "$tmp/dist/$MMCV_WHEEL.detco.json" "$dest/.$MMCV_WHEEL.detco.json.part" \
    && cp "$tmp/dist/$MMCV_WHEEL" "$dest/.$MMCV_WHEEL.part" \
    && mv "$dest/.$MMCV_WHEEL.detco.json.part" "$dest/$MMCV_WHEEL.detco.json" \
    && mv "$dest/.$MMCV_WHEEL.part" "$dest/$MMCV_WHEEL"
}

build_mmcv_wheel() {
  local tmp rc=0
  tmp="$(mktemp -d)"
  build_mmcv_wheel_in "$tmp" || rc=1
  rm -rf "$tmp"
  return $rc
}

# The installed mmcv is kept when it is this variant's (the key written at its install; a venv
# of an install before the keyed cache has no key: its CPU-ops mmcv is kept when its ops load).
installed_kind="$("$VPY" "$WHEELS_PY" installed 2>/dev/null || echo none)"
key_ok=false
if [[ -f "$MMCV_STAMP" ]]; then [[ "$(cat "$MMCV_STAMP")" == "$MMCV_KEY" ]] && key_ok=true
elif [[ "$MMCV_KIND" == cpu ]]; then key_ok=true; fi
if "$VPY" -c "import importlib.metadata as m, sys; sys.exit(m.version('mmcv') != '$MMCV_VERSION')" 2>/dev/null \
   && $key_ok && [[ "$installed_kind" == "$MMCV_KIND "* ]] \
   && "$VPY" -c "import mmcv._ext" 2>/dev/null; then
  echo "$MMCV_KEY" > "$MMCV_STAMP"
  log "mmcv $MMCV_VERSION ($MMCV_VARIANT) already installed"
else
  if ! wheel="$("$VPY" "$WHEELS_PY" find --python-tag "$PY_TAG" --torch-version "$TORCH_VERSION" \
        --variant "$MMCV_VARIANT" --cache "$WHEEL_CACHE" --flat "$EXTRA_WHEELS")"; then
    step "build mmcv $MMCV_VERSION wheel ($MMCV_VARIANT) from the sdist" build_mmcv_wheel
    wheel="$WHEEL_CACHE/$MMCV_KEY/$MMCV_WHEEL"
  fi
  step "install mmcv from $wheel" "${PIP[@]}" --no-deps --force-reinstall "$wheel"
  MMCV_INSTALLED="$wheel"
fi

step "OpenMMLab stack (mmengine, mmcls, mmselfsup, mmdet) and dataset tools" "${PIP[@]}" -r "$ROOT/requirements/runtime.txt"
if [[ -n "${MMCV_INSTALLED:-}" ]]; then
  # A flat wheel does not record its torch; its ops must load with this one. (Checked after the
  # runtime step: importing mmcv needs opencv and mmengine.)
  "$VPY" -c "import mmcv._ext" || fail "load mmcv ops" "$MMCV_INSTALLED does not load with torch $TORCH_VERSION (built against another torch?). Remove it from DETCO_EXTRA_WHEELS / DETCO_WHEEL_CACHE, or set DETCO_EXTRA_WHEELS='' to build one."
  echo "$MMCV_KEY" > "$MMCV_STAMP"
fi
step "openmim 0.3.9 without its setuptools-downgrading chain" "${PIP[@]}" --no-deps openmim==0.3.9
step "openmim's real dependencies" "${PIP[@]}" -r "$ROOT/requirements/mim.txt"
step "test and lint tools" "${PIP[@]}" -r "$ROOT/requirements/tests.txt"
step "detco_mm (editable)" "${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"
step "check the environment" "$VPY" "$ROOT/tools/check_env.py"
fingerprint > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
