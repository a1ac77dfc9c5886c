#!/usr/bin/env bash
# Figure 3's column split over several runs: trains the CIFAR-size AlexNet in both forms (two columns, and the
# grouped single-device form) with several seeds, then compares the columns' conv1 colour specificity.
#
#     bash benchmarks/figure3_seeds.sh [DATA] [RUNS] [OUT]
#
# DATA defaults to ../shared/data/cifar10-jpg.zip, RUNS (training folders) to runs/figure3, OUT to
# benchmarks/results/figure3. EPOCHS (default 6, as committed) epochs per run, SEEDS_COLUMNS (default "0 1 2") and
# SEEDS_GROUPED (default "3 4 5": independent of the column runs' starting weights). Every run resumes where it
# stopped; a folder that already holds a longer run with the same recipe is used as it is (its first EPOCHS
# epochs). About 75-95 s per epoch on 2 x86-64 cores, so about 45 minutes for the defaults (measured: 6 epochs each).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/cifar10-jpg.zip}
RUNS=${2:-runs/figure3}
OUT=${3:-benchmarks/results/figure3}
EPOCHS=${EPOCHS:-6}
PYTHON=${PYTHON:-python}
labels=()
train() {  # form model seed
  local folder="$RUNS/$1-seed$3"
  local args=(--model "$2" --data "$DATA" --init modern --backend torch --seed "$3" --epochs "$EPOCHS")
  if [ -f "$folder/checkpoint.pt" ]; then
    args=(--resume "$folder/checkpoint.pt" --data "$DATA" --epochs "$EPOCHS")
    local done_epochs
    done_epochs=$("$PYTHON" -c "import sys, torch; print(torch.load(sys.argv[1], weights_only=True)['progress']['epoch'])" "$folder/checkpoint.pt")
    if [ "$done_epochs" -ge "$EPOCHS" ]; then labels+=("--run" "$1:$3=$folder"); return; fi
  fi
  "$PYTHON" -m alexnet train "${args[@]}" --out "$folder" --quiet
  labels+=("--run" "$1:$3=$folder")
}
for seed in ${SEEDS_COLUMNS:-0 1 2}; do train columns cifar-alexnet "$seed"; done
for seed in ${SEEDS_GROUPED:-3 4 5}; do train grouped cifar-alexnet-grouped "$seed"; done
"$PYTHON" -m alexnet.experiments.figure3 "${labels[@]}" --epochs "$EPOCHS" --out "$OUT" ${OVERWRITE:+--overwrite}
