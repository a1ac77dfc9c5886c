#!/usr/bin/env bash
# The whole GPU validation in one command, on any CUDA machine (the lab's venv, or a bare system python3):
#
#     PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR      # or: make gpu-check OUT=OUTDIR; GPU_CHECK_BUDGET_S=480
#
# Kernel tests on CUDA (PyTorch's OpInfo samples too), copy bandwidth, bench_lrn/maxpool/fused/train/parallel/data
# and a short Figure 1 sweep, each stage timed and skipped cleanly when the budget runs out; OUTDIR gets SUMMARY.md,
# summary.json, results.zip. `--help` gives the whole procedure: `--prepare` for an offline machine, the check, `--fold` after.
# Wheels in .whl/ (expecttest, which a bare torch install lacks) are installed into a temporary folder first.
set -euo pipefail
usage="usage: PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR [--cpu] [--dry-run] | --prepare | --fold OUTDIR | --help"
if [ $# -lt 1 ]; then
  echo "$usage" >&2
  exit 2
fi
args=()
expect_path=1
for arg in "$@"; do
  case "$arg" in
    --prepare|--fold|--help|-h) expect_path=0; args+=("$arg") ;;
    --*) args+=("$arg") ;;
    *) args+=("$(realpath -m "$arg")") ;;  # a path as the caller meant it, before we move to the repository root
  esac
done
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
wheels="${GPU_CHECK_WHEELS:-.whl}"
if [ "$expect_path" = 1 ] && compgen -G "$wheels/*.whl" >/dev/null; then
  site="$(mktemp -d "${TMPDIR:-/tmp}/alexnet-lab-wheels.XXXXXX")"
  # Not fatal: without them the check still runs, and the summary counts what they would have enabled as skipped.
  if PIP_ROOT_USER_ACTION=ignore "$python" -m pip install -q --disable-pip-version-check --no-index --no-deps \
       --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl; then
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    echo "gpu_check: installed $(cd "$wheels" && ls *.whl | tr '\n' ' ')into $site"
  else
    echo "gpu_check: could not install the wheels in $wheels; going on without them" >&2
  fi
fi
exec "$python" benchmarks/gpu_check.py "${args[@]}"
