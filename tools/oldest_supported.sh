#!/usr/bin/env bash
# The lab on the oldest releases it supports (torch 2.11.0, triton 3.6.0, torchvision 0.26.0,
# numpy 2.5.2, Python 3.12), tried on this CPU:
#
#     bash tools/oldest_supported.sh [--overwrite]          # or: make oldest
#     bash tools/oldest_supported.sh --build-only           # only the venv
#
# Builds a venv with those releases (once, in ~/.cache/alexnet-lab/oldest-venv; about 3 GB, as torch 2.11's wheel
# brings its CUDA libraries), then runs, each timed:
#   1. the GPU data path's and the models' tests (torchvision 0.26's decode_jpeg on the CPU);
#   2. the compile-for-GPU check (sm_80 and sm_90 with that Triton's ptxas: registers and spills);
#   3. benchmarks/gpu_check.sh --cpu: every stage's real command that can run without a GPU, the kernel suite
#      through Triton 3.6's interpreter included.
# and writes benchmarks/results/oldest-supported.md (never over an existing one without --overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=2.11.0 TRITON=3.6.0 TORCHVISION=0.26.0 NUMPY=2.5.2
VENV="${OLDEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/alexnet-lab/oldest-venv}"
REPORT=benchmarks/results/oldest-supported.md
if [ -e "$REPORT" ] && [ "${1:-}" != "--overwrite" ] && [ "${1:-}" != "--build-only" ]; then
  echo "oldest_supported: $REPORT exists; pass --overwrite to replace it" >&2
  exit 2
fi

find_python() {  # the oldest set is tried on Python 3.12
  for candidate in "${OLDEST_PYTHON:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "oldest_supported: needs Python 3.12 (the oldest set's); set OLDEST_PYTHON to one" >&2
  exit 2
}

wanted="torch==$TORCH triton==$TRITON torchvision==$TORCHVISION numpy==$NUMPY"
if [ "$(cat "$VENV/.versions" 2>/dev/null)" != "$wanted" ]; then
  started=$(date +%s)
  rm -rf "$VENV"
  "$(find_python)" -m venv "$VENV"
  # What a bare CUDA machine typically has (pytest-xdist, hypothesis, scikit-image, ...) and no expecttest: the
  # OpInfo tests get it from the wheel that gpu_check.sh installs from .whl/, as they do on an offline machine.
  "$VENV/bin/python" -m pip install -q $wanted pytest pytest-xdist pytest-timeout hypothesis scikit-image \
    matplotlib pillow tqdm pyyaml
  echo "$wanted" > "$VENV/.versions"
  echo "oldest_supported: built $VENV in $(( $(date +%s) - started )) s"
fi
PY="$VENV/bin/python"
[ "${1:-}" != "--build-only" ] || exit 0
[ -n "$(ls .whl/expecttest-*.whl 2>/dev/null)" ] || python3 benchmarks/gpu_check.py --prepare >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PYTHONPATH=. PYTHON="$PY" PYTHONUNBUFFERED=1
step() {  # name, command...: run, time, keep the log's last line
  local name="$1"; shift
  local began=$(date +%s) code=0
  "$@" > "$work/$name.log" 2>&1 || code=$?
  echo "| $name | $([ $code = 0 ] && echo passed || echo "**failed (exit $code)**") | $(( $(date +%s) - began )) |" \
       "$(grep -E 'passed|failed|error' "$work/$name.log" | tail -1 | tr '|' '/' | cut -c1-200) |" >> "$work/rows.md"
  echo "oldest_supported: $name exit $code in $(( $(date +%s) - began )) s"
}
total=$(date +%s)
step "data path and model tests" "$PY" -m pytest -q -p no:cacheprovider tests/alexnet/test_device_data.py \
  tests/alexnet/test_model.py tests/kernels/test_compat.py
# An empty Triton cache, as on a fresh machine: every variant is compiled and timed.
step "compile for sm_80 and sm_90" env -u TRITON_INTERPRET TRITON_CACHE_DIR="$work/triton-cache" \
  "$PY" tests/kernels/compile_for_gpu.py --arch 80 90
step "gpu_check.sh --cpu" bash benchmarks/gpu_check.sh "$work/check" --cpu

versions=$("$PY" -c 'import platform, torch, triton, torchvision, numpy
print(f"Python {platform.python_version()}, torch {torch.__version__}, triton {triton.__version__}, "
      f"torchvision {torchvision.__version__}, numpy {numpy.__version__}")')
{
  echo "# The oldest supported releases, on a CPU"
  echo
  echo "\`bash tools/oldest_supported.sh\` on $(date -u '+%Y-%m-%d') ($(nproc) cores, $(uname -m)), $versions;"
  echo "$(( $(date +%s) - total )) s in all (the venv's build not counted)."
  echo
  echo "| step | status | seconds | last summary line of its log |"
  echo "| --- | --- | --- | --- |"
  cat "$work/rows.md"
  echo
  echo "Spills under that Triton's ptxas: $(grep -c '^FAIL' "$work/compile for sm_80 and sm_90.log" || true) variants" \
       "of $(grep -cE '^(ok|FAIL)' "$work/compile for sm_80 and sm_90.log" || true) (0 is the rule)."
  echo
  if [ -f "$work/check/SUMMARY.md" ]; then
    echo "## gpu_check.sh --cpu"
    echo
    tail -n +3 "$work/check/SUMMARY.md" | sed 's/^## /### /'
  fi
} > "$REPORT"
echo "oldest_supported: wrote $REPORT"
! grep -q '\*\*failed' "$work/rows.md"
