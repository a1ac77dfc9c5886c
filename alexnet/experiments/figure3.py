"""Figure 3's claim measured over several training runs: do the two columns' conv1 kernels split into a
colour-agnostic and a colour-specific group "in every run, independent of any particular random weight
initialization"?

Each run is an ordinary training folder (``python -m alexnet train --model cifar-alexnet ...``) whose
``colour-specificity.json`` the trainer wrote after every epoch (:class:`alexnet.conv1.ColourSpecificityLog`).
This module reads those folders, keeps the first ``--epochs`` epochs of each, and writes one JSON and one figure:

    python -m alexnet.experiments.figure3 --run columns:0=runs/a --run grouped:3=runs/b --epochs 5 \\
        --out benchmarks/results/figure3

``benchmarks/figure3_seeds.sh`` trains the committed runs (resumable) and calls this.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

from ..viz import column_split_test


def read_run(folder: str | Path, epochs: int) -> dict:
    """One run's per-epoch column means, p-values and validation error, cut to its first ``epochs`` epochs."""
    folder = Path(folder)
    path = folder / "colour-specificity.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train with python -m alexnet train (it writes one per epoch)")
    records = [r for r in json.loads(path.read_text()) if r["epoch"] < epochs]
    if len(records) < epochs:
        raise ValueError(f"{folder}: {len(records)} epochs recorded, --epochs {epochs} asked for (train it longer)")
    val = {}
    if (folder / "epochs.csv").is_file():
        with open(folder / "epochs.csv", newline="") as f:
            val = {int(row["epoch"]): float(row["val_top1_err"]) for row in csv.DictReader(f) if row["val_top1_err"]}
    last = records[-1]
    # The final epoch's test again with more permutations than the per-epoch log used.
    test = column_split_test(*(torch.tensor(v) for v in last["values"]), permutations=20_000)
    return dict(
        folder=str(folder),
        epochs=epochs,
        column_means=[r["column_means"] for r in records],
        p_values=[r["p_value"] for r in records],
        val_top1_err=[val.get(r["epoch"]) for r in records],
        final=dict(
            values=last["values"],
            column_means=last["column_means"],
            difference=test["difference"],
            p_value=test["p_value"],
        ),  # fmt: skip
    )


def collect(runs: dict[str, str | Path], epochs: int, alpha: float = 0.01) -> dict:
    """``runs``: label (``"<form>:<seed>"``) -> training folder. Adds a verdict: does every run split?"""
    results = {label: read_run(folder, epochs) for label, folder in runs.items()}
    split = {label: r["final"]["p_value"] < alpha for label, r in results.items()}
    return dict(epochs=epochs, alpha=alpha, runs=results, split=split, every_run_splits=all(split.values()))


def plot(results: dict):
    """Left: each column's mean colour specificity per epoch, one colour per run. Right: the final epoch's
    kernels of every run sorted by specificity, column 0 and column 1 side by side (the paper's layout)."""
    import matplotlib.pyplot as plt

    runs = results["runs"]
    fig = plt.figure(figsize=(11, max(3.2, 1.2 + 1.1 * len(runs))))
    grid = fig.add_gridspec(len(runs), 2, width_ratios=(1, 1.4))
    ax = fig.add_subplot(grid[:, 0])
    for i, (label, run) in enumerate(runs.items()):
        means = torch.tensor(run["column_means"])
        epochs = torch.arange(1, len(means) + 1)
        ax.plot(epochs.numpy(), means[:, 0].numpy(), color=f"C{i}", label=label)
        ax.plot(epochs.numpy(), means[:, 1].numpy(), color=f"C{i}", linestyle="--")
    ax.axhline(2 / 3, color="grey", linewidth=0.8, linestyle=":")
    ax.text(1, 2 / 3, " random weights", color="grey", fontsize=7, va="bottom")
    ax.set(xlabel="epoch", ylabel="mean colour specificity of conv1", ylim=(0, 1))
    from matplotlib.lines import Line2D

    styles = [Line2D([], [], color="black", label="column 0"), Line2D([], [], color="black", ls="--", label="column 1")]
    runs_legend = ax.legend(fontsize=8, loc="lower left", title="run", title_fontsize=8)
    ax.add_artist(runs_legend)
    ax.legend(handles=styles, fontsize=8, loc="lower right")
    for i, (label, run) in enumerate(runs.items()):
        sub = fig.add_subplot(grid[i, 1])
        for c, values in enumerate(run["final"]["values"]):
            values = torch.tensor(values).sort(descending=True).values
            positions = torch.arange(len(values)) + c * (len(values) + 3)
            sub.bar(positions.numpy(), values.numpy(), width=0.9, color=f"C{i}", alpha=1.0 if c == 0 else 0.5)
        final = run["final"]
        sub.set_ylim(0, 1)
        sub.set_xticks([])
        sub.set_yticks([0, 1])
        if i == len(runs) - 1:
            sub.set_xlabel("conv1 kernels sorted by specificity: column 0 (dark) | column 1 (light)", fontsize=8)
        sub.set_title(f"{label}: column means {final['column_means'][0]:.2f} | {final['column_means'][1]:.2f}, "
                      f"p = {final['p_value']:.2g}", fontsize=7)  # fmt: skip
    splits = sum(results["split"].values())
    fig.suptitle(f"Figure 3's column split after {results['epochs']} epochs: the columns differ in {splits} of "
                 f"{len(runs)} run{'s' if len(runs) > 1 else ''} (permutation test, p < {results['alpha']})",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexnet.experiments.figure3", description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=FOLDER",
                        help="a training folder, labelled e.g. columns:0=runs/seed0 (repeat)")  # fmt: skip
    parser.add_argument("--epochs", type=int, required=True, help="compare the runs after this many epochs")
    parser.add_argument("--out", required=True, help="folder for the results' .json and .png")
    parser.add_argument("--name", default="colour-specificity-runs", help="file name (without .json/.png)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.run:
        label, sep, folder = item.partition("=")
        if not sep:
            parser.error(f"--run {item}: expected LABEL=FOLDER")
        runs[label] = folder
    out = Path(args.out)
    json_path, png_path = out / f"{args.name}.json", out / f"{args.name}.png"
    if json_path.exists() and not args.overwrite:
        print(f"{parser.prog}: error: {json_path} exists (pass --overwrite to replace it)", file=sys.stderr)
        return 2
    try:
        results = collect(runs, args.epochs)
    except (FileNotFoundError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    plot(results).savefig(png_path, dpi=110)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    for label, run in results["runs"].items():
        final = run["final"]
        print(f"{label}: column means {final['column_means'][0]:.3f} / {final['column_means'][1]:.3f}, "
              f"p = {final['p_value']:.3g}, val top-1 error {run['val_top1_err'][-1]}")  # fmt: skip
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
