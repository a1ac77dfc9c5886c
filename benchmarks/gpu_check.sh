#!/usr/bin/env bash
# The whole GPU validation in one command, for a bare offline GPU machine (system python3, no venv):
#
#     PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR      # GPU_CHECK_BUDGET_S=480 by default
#
# Kernel tests on CUDA, copy bandwidth, bench_lrn/maxpool/fused/train/parallel and a short Figure 1 sweep, each
# stage timed and skipped cleanly when the budget runs out; OUTDIR gets SUMMARY.md, summary.json, results.zip.
# Details and how to fold the results into benchmarks/results/: benchmarks/gpu_check.py.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR [--dry-run]" >&2
  exit 2
fi
args=()
for arg in "$@"; do
  case "$arg" in
    --*) args+=("$arg") ;;
    *) args+=("$(realpath -m "$arg")") ;;  # OUTDIR as the caller meant it, before we move to the repository root
  esac
done
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "${args[@]}"
