"""Write every number that comes from a results file into README.md, docs/*.md and the notebooks' markdown.

    python tools/render_docs.py            # rewrite the generated regions (make docs)
    python tools/render_docs.py --check    # exit 1 naming the files that regenerating would change

A generated region is ``<!-- gen:NAME -->...<!-- /gen -->``, inline (a number in a sentence) or around a table;
HTML comments do not show in rendered Markdown. NAME is a key of :func:`values`, computed from the committed
results files alone (``benchmarks/results/``, the shipped weights' manifest); the text between the markers is
replaced by its value, the prose around it is the author's. A region whose NAME is unknown is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
REGION = re.compile(r"<!-- gen:(?P<name>[\w.+-]+) -->(?P<body>.*?)<!-- /gen -->", re.S)
FIGURE1_RECIPES = ("cuda-convnet", "standardized", "standardized-rescaled", "scaled-tanh")


def pages() -> list[Path]:
    """Every file with generated regions: the README, the docs and the notebooks."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "labs").glob("*.ipynb"))]


def _listed(values: list[str], last: str = " and ") -> str:
    """``a, b and c``."""
    return ", ".join(values[:-1]) + last + values[-1] if len(values) > 1 else values[0]


def _span(values: list[str]) -> str:
    """``lo-hi`` of numbers written as strings (``lo`` alone when they read the same)."""
    lo, hi = min(values, key=float), max(values, key=float)
    return lo if lo == hi else f"{lo}-{hi}"


def _points(value: float, digits: int = 1) -> str:
    return f"{value * 100:+.{digits}f}"


def figure1_values() -> dict[str, str]:
    from alexnet.experiments import figure1

    results = [figure1.load(RESULTS / "relu_vs_tanh" / f"results-{name}.json") for name in FIGURE1_RECIPES]
    out = {"figure1.recipes": figure1.recipes_table(results)}
    for name, result, row in zip(FIGURE1_RECIPES, results, figure1.recipes_table(results).splitlines()[2:]):
        out[f"figure1.runs.{name}"] = figure1.markdown_table(result)
        out[f"figure1.ratio.{name}"] = row.split(" | ")[4]  # e.g. **5.6x** (5.5-6.3, 3 seeds)
        out[f"figure1.compute.{name}"] = row.split(" | ")[5].split(", ")[1]  # e.g. 3.9 h
        ratio, chosen = result["summary"]["ratio"], result["summary"]["activations"]
        out[f"figure1.x.{name}"] = f"{ratio['median']:.1f}x"
        out[f"figure1.range.{name}"] = f"{ratio['min']:.1f}-{ratio['max']:.1f}"
        for activation in ("relu", "tanh"):
            epochs = list(chosen[activation]["epochs_to_target"].values())
            out[f"figure1.epochs.{name}.{activation}"] = ", ".join(map(str, epochs))
            out[f"figure1.epochs-range.{name}.{activation}"] = f"{min(epochs)}-{max(epochs)}"
        grid = result["settings"]["lrs"]["tanh"]
        out[f"figure1.grid.{name}"] = f"{min(grid):g}-{max(grid):g}"
    by_name = dict(zip(FIGURE1_RECIPES, results))
    cc = by_name["cuda-convnet"]
    saturated = [layers["conv1"]["saturated_fraction"] for run in cc["runs"]
                 if run["activation"] == "tanh" and run["lr"] == cc["summary"]["activations"]["tanh"]["lr"]
                 for layers in run["layers"]]  # fmt: skip
    out["figure1.saturated"] = f"{min(saturated) * 100:.0f}-{max(saturated) * 100:.0f}%"
    rescaled = by_name["standardized-rescaled"]
    gaps = [abs(a - b) for activation in ("relu", "tanh")
            for a, b in zip(_median_curve(cc, activation), _median_curve(rescaled, activation))]  # fmt: skip
    out["figure1.rescaled-curves"] = f"{max(gaps) * 100:.1f} points"
    first = figure1.load(RESULTS / "relu_vs_tanh" / "results-modern.json")["summary"]["ratio"]
    out["figure1.first-ratio"] = f"{first['median']:.2f}x"
    per_run = [sorted(e["seconds"] for e in run["epochs"])[len(run["epochs"]) // 2]
               for result in results for run in result["runs"] if run["epochs"]]  # fmt: skip
    out["figure1.seconds-range"] = f"{min(per_run):.0f} to {max(per_run):.0f}"
    out["figure1.first"] = _first_experiment_table()
    out.update(_figure1_reading(cc, by_name["standardized"], rescaled, by_name["scaled-tanh"]))
    return out


def _figure1_reading(cc: dict, standardized: dict, rescaled: dict, scaled: dict) -> dict[str, str]:
    """The numbers docs/figure1.md's "Reading it" quotes: the search's neighbours, tanh's pre-activation std and
    saturation, the input std, and how close the rescaled recipe's curves are to cuda-convnet's per seed."""
    out = {}
    for activation in ("relu", "tanh"):
        lr = cc["summary"]["activations"][activation]["lr"]
        seed0 = {run["lr"]: run for run in cc["runs"] if run["activation"] == activation and run["seed"] == 0}
        said = []
        for other in (lr / 2, lr * 2):
            run = seed0[other]
            said.append(f"{other:g} ({run['epochs_to_target']} epochs)" if run["reached_target"] else
                        f"{other:g} ({run['best_train_error']:.1%} after {len(run['epochs'])})")  # fmt: skip
        out[f"figure1.beat.{activation}"] = f"{lr:g} beat {_listed(said)}"
    tanh = next(run for run in cc["runs"] if run["activation"] == "tanh" and run["seed"] == 0
                and run["lr"] == cc["summary"]["activations"]["tanh"]["lr"])  # fmt: skip
    std = [layers["conv1"]["pre_activation_std"] for layers in tanh["layers"]]
    out["figure1.tanh-std"] = f"{std[0]:.0f} after the first epoch ({std[-1]:.0f} at the {len(std)}th)"
    out["figure1.conv2-saturated"] = f"{tanh['layers'][-1]['conv2']['saturated_fraction']:.0%}"
    out["figure1.input-std"] = f"{rescaled['settings']['input_std']:.1f}"
    gaps = []
    for ours in rescaled["runs"]:
        theirs = next(run for run in cc["runs"] if (run["activation"], run["lr"], run["seed"]) ==
                      (ours["activation"], ours["lr"], ours["seed"]))  # fmt: skip
        gaps += [abs(a["train_error"] - b["train_error"]) for a, b in zip(ours["epochs"], theirs["epochs"])]
    out["figure1.rescaled-per-seed"] = f"{max(gaps) * 100:.1f} points"
    chosen = standardized["summary"]["activations"]
    at_target = [layers["conv2"]["saturated_fraction"] for run in standardized["runs"]
                 if run["activation"] == "tanh" and run["lr"] == chosen["tanh"]["lr"]
                 for layers in run["layers"][-1:]]  # fmt: skip
    out["figure1.standardized-conv2"] = _span([f"{v * 100:.0f}" for v in at_target]) + "%"
    scaled_sat = [run["layers"][-1]["conv1"]["saturated_fraction"] for run in scaled["runs"]
                  if run["activation"] == "tanh"]  # fmt: skip
    out["figure1.scaled-saturated"] = _span([f"{v * 100:.0f}" for v in scaled_sat]) + "%"
    return out


def _first_experiment_table() -> str:
    """docs/figure1.md's first experiment (results-{modern,paper}.json): epochs to 25% and the two ratios."""
    lines = ["| init | ReLU: epochs to 25% | tanh: epochs to 25% | ratio tanh/ReLU (epochs, iterations) | wall time |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for init, label in (("modern", "modern (PyTorch default)"), ("paper", "paper (N(0, 0.01))")):
        result = json.loads((RESULTS / "relu_vs_tanh" / f"results-{init}.json").read_text())
        epochs = {run["activation"]: run["epochs_to_target"] for run in result["runs"]}
        ratio = result["speedup"]
        lines.append(f"| {label} | {epochs['relu']} | {epochs['tanh']} | {ratio['epochs']:.2f}x, "
                     f"{ratio['iterations']:.2f}x | {result['wall_s']:.0f} s |")  # fmt: skip
    return "\n".join(lines)


def _median_curve(result: dict, activation: str) -> list[float]:
    """The median training error per epoch over the seeds of an activation's chosen lr (as long as all ran)."""
    import statistics

    lr = result["summary"]["activations"][activation]["lr"]
    runs = [run for run in result["runs"] if run["activation"] == activation and run["lr"] == lr]
    length = min(len(run["epochs"]) for run in runs)
    return [statistics.median(run["epochs"][i]["train_error"] for run in runs) for i in range(length)]


def shipped_values() -> dict[str, str]:
    import csv

    meta = json.loads((ROOT / "alexnet" / "weights" / "cifar-alexnet-cifar10.json").read_text())
    with (RESULTS / "train" / "cifar-alexnet-cifar10-20-epochs-x86-64-cpu.csv").open() as f:
        epochs = list(csv.DictReader(f))
    drops = [int(e["epoch"]) for before, e in zip(epochs, epochs[1:]) if float(e["lr"]) < float(before["lr"])]
    seconds = [e["seconds"] for e in meta["history"]]
    runs = json.loads((RESULTS / "figure3" / "colour-specificity-runs.json").read_text())
    split = sum(runs["split"].values())
    with (RESULTS / "train" / "cifar-alexnet-3-epochs-x86-64-cpu.csv").open() as f:
        three = list(csv.DictReader(f))
    top1 = ", ".join(f"{float(e['val_top1_err']):.1%}" for e in three)
    top5 = ", ".join(f"{float(e['val_top5_err']):.1%}" for e in three)
    per_epoch = [float(e["epoch_seconds"]) for e in three]
    three_epochs = (f"{top1} after epochs 1-{len(three)} (top-5 {top5}), {min(per_epoch):.0f}-{max(per_epoch):.0f} s "
                    "per epoch")  # fmt: skip
    return {"weights.top1": f"**{meta['val_top1_err']:.2%}**",
            "weights.plateaus": ", ".join(f"after epoch {d}" for d in drops),
            "weights.seconds": (f"{meta['training_seconds']:,} s of training ({min(seconds):.0f} to "
                                f"{max(seconds):.0f} s per epoch"),
            "weights.curve": ", ".join(f"{e['val_top1_err'] * 100:.1f}" for e in meta["history"]) + "%",
            "weights.measured": f"{meta['val_top1_err']:.2%} (top-5 {meta['val_top5_err']:.2%})",
            "figure3.split": f"(p < {runs['alpha']:g}) in **{split} of {len(runs['split'])}**",
            "train.3-epochs": three_epochs}  # fmt: skip


def figure3_values() -> dict[str, str]:
    runs = json.loads((RESULTS / "figure3" / "colour-specificity-runs.json").read_text())
    shipped = next(iter(json.loads((RESULTS / "figure3" / "colour-specificity-shipped-run.json").read_text())
                        ["runs"].values()))  # fmt: skip
    head = "| run | form | seed | column 0 mean | column 1 mean | difference | permutation p | validation top-1 error |"
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    means, differences, p_values = [], [], []
    for name, run in runs["runs"].items():
        final = run["final"]
        form = "two columns" if name.startswith("columns") else "grouped (one device)"
        a, b = final["column_means"]
        means += [a, b]
        differences.append(abs(final["difference"]))
        p_values.append(final["p_value"])
        lines.append(f"| {name} | {form} | {name.split(':')[1]} | {a:.3f} | {b:.3f} | {differences[-1]:.3f} | "
                     f"{final['p_value']:.3g} | {run['val_top1_err'][-1]:.1%} |")  # fmt: skip
    count = len(runs["runs"])
    below = sum(p < runs["alpha"] for p in p_values)
    below_05 = sum(p < 0.05 for p in p_values)
    a, b = shipped["final"]["column_means"]
    return {
        "figure3.table": "\n".join(lines),
        "figure3.summary": (f"columns differ at p < {runs['alpha']:g} in {below} run{'s' * (below != 1)} of {count} "
                            f"(p < 0.05 in {below_05} of {count}), by at most {max(differences):.2f} in mean "
                            "specificity"),
        "figure3.range": f"{min(means):.2f}-{max(means):.2f} after {runs['epochs']} epochs",
        "figure3.shipped": f"ends at {a:.2f} vs {b:.2f} (p = {shipped['final']['p_value']:.2f}",
        "figure3.shipped-short": f"{a:.2f} vs {b:.2f}, p = {shipped['final']['p_value']:.2f}",
        "figure3.shipped-epochs": str(len(shipped["column_means"])),
    }


def lrn_overlap_values() -> dict[str, str]:
    from alexnet.cuda_convnet import CudaConvnetCIFAR
    from alexnet.experiments import lrn_overlap
    from alexnet.model import count_parameters

    results = lrn_overlap.load(RESULTS / "lrn_overlap" / "results.json")
    runs = results["runs"]
    out = {
        "lrn.summary": lrn_overlap.markdown_summary(results, lrn_overlap.PLAN).split("\n\nDevice")[0],
        "lrn.runs": lrn_overlap.runs_table(results, lrn_overlap.PLAN),
        "lrn.curves": lrn_overlap.curve_table(results),
        "lrn.curves-11pct": lrn_overlap.curve_table(results, schedule="11pct"),
    }
    for row in lrn_overlap.summary(results):
        if row["seeds_finished"]:
            out[f"lrn.median.{row['variant']}"] = f"**{row['multiview']['median']:.1%}**"
    pairs = {"lrn": ("13pct", "13pct+lrn"), "overlap": ("13pct-nonoverlap", "13pct"), "11pct": ("13pct", "11pct")}
    for name, (base, other) in pairs.items():
        for which in ("multiview", "centre", "gap"):
            compared = lrn_overlap.compare(results, base, other, which)
            out[f"lrn.{name}.{which}"] = f"**{_points(compared['mean'])} points**"
            out[f"lrn.{name}.{which}.2"] = f"**{_points(compared['mean'], 2)} points**"
            each = [_points(d, 2) for d in compared["differences"]]
            out[f"lrn.{name}.{which}.seeds"] = _listed(each)
            out[f"lrn.{name}.{which}.seeds-commas"] = ", ".join(each)

    def per_seed(variant, value):
        return [value(runs[f"{variant}:{seed}"]) for seed in range(3)]

    def train(run):
        return run["history"][-1]["train_error"]

    def view_gain(run):
        return f"{(run['final_test_error']['centre'] - run['final_test_error']['multiview']) * 100:.1f}"

    for variant in ("13pct", "13pct+lrn", "13pct-nonoverlap"):
        out[f"lrn.train.{variant}"] = _listed([f"{t:.1%}" for t in per_seed(variant, train)])
        out[f"lrn.views.{variant}"] = _listed(per_seed(variant, view_gain))
    for variant in ("13pct", "13pct+lrn", "13pct-nonoverlap"):
        finals = per_seed(variant, lambda run: run["final_test_error"])
        out[f"lrn.centre.{variant}"] = _listed([f"{f['centre']:.1%}" for f in finals])
        out[f"lrn.multiview.{variant}"] = _listed([f"{f['multiview']:.1%}" for f in finals])
        gaps = per_seed(variant, lambda run: run["final_test_error"]["centre"] - run["history"][-1]["train_error"])
        out[f"lrn.gap.{variant}"] = _listed([f"{g * 100:.1f}" for g in gaps])
        at_100 = per_seed(variant, lambda run: run["history"][99]["val_error"])  # the end of the first phase
        out[f"lrn.val100.{variant}"] = _listed([f"{v:.1%}" for v in at_100])
    more = [f"{(a - b) * 100:.1f}" for a, b in zip(per_seed("13pct+lrn", train), per_seed("13pct", train))]
    out["lrn.lrn.more-training-error"] = _listed(more)
    val = {v: per_seed(v, lambda run: run["history"][99]["val_error"]) for v in ("13pct+lrn", "13pct")}
    out["lrn.lrn.val-lead"] = _listed([_points(a - b, 2) for a, b in zip(val["13pct+lrn"], val["13pct"])])

    run, base = runs["11pct:0"], runs["13pct:0"]
    final, last, h = run["final_test_error"], run["history"][-1], run["history"]
    out["lrn.11pct.finals"] = f"{final['centre']:.1%} centre crop and {final['multiview']:.1%} multiview"
    out["lrn.11pct.train"] = f"{last['train_error']:.1%}"
    diffs = {which: lrn_overlap.compare(results, "13pct", "11pct", which)["mean"] * 100
             for which in ("multiview", "centre", "gap")}  # fmt: skip
    out["lrn.11pct.readme"] = f"**{final['multiview']:.1%}** multiview, {diffs['multiview']:+.1f} points against 13pct"
    out["lrn.11pct.readme-gap"] = f"{diffs['gap']:+.1f} points"
    out["lrn.11pct.lower"] = (f"{-diffs['multiview']:.1f} points lower multiview than `13pct` on the same seed "
                              f"({-diffs['centre']:.1f} points on the centre crop)")  # fmt: skip
    gaps = [(r["test_error"] - r["train_error"]) * 100 for r in (last, base["history"][-1])]
    out["lrn.11pct.gaps"] = "train-test gap {:.1f} against {:.1f} points".format(*gaps)
    late = [r["test_error"] for r in h[400:500]]
    out["lrn.11pct.epoch160"] = f"{h[159]['test_error']:.1%}"
    out["lrn.11pct.epoch500"] = f"{h[499]['test_error']:.1%} (epoch 500, within {min(late):.1%}"[:-1] + (
        f"-{max(late):.1%} over epochs 401-500)")  # fmt: skip
    out["lrn.11pct.drops"] = f"{h[509]['test_error']:.1%} (epoch 510) and {h[519]['test_error']:.1%}"
    out["lrn.11pct.train-drop"] = f"{h[499]['train_error']:.1%} to {last['train_error']:.1%}"
    views = [(f["centre"] - f["multiview"]) * 100 for f in (final, base["final_test_error"])]
    out["lrn.11pct.views"] = "{:.1f} points over the centre crop, against {:.1f}".format(*views)
    out["lrn.11pct.above-11"] = f"{final['multiview'] * 100 - 11:.1f}"
    out["lrn.readme"] = _readme_row(results, out)
    out["lrn.findings"] = _findings(out)
    params = count_parameters(CudaConvnetCIFAR("11pct")) / count_parameters(CudaConvnetCIFAR("13pct"))
    epochs = len(h) / len(base["history"])
    out["lrn.11pct.params"] = f"{params:.1f}"
    out["lrn.11pct.epochs"] = f"{epochs:.2f}"
    return out


def lrn_prose_values() -> dict[str, str]:
    """The numbers docs/lrn_overlap.md's prose quotes: seed spreads, the turn at epoch 100, the published pair."""
    import statistics

    from alexnet.experiments import lrn_overlap

    results = lrn_overlap.load(RESULTS / "lrn_overlap" / "results.json")
    runs = results["runs"]
    variants = ("13pct", "13pct+lrn", "13pct-nonoverlap")
    seeds = {v: [runs[f"{v}:{seed}"] for seed in range(3)] for v in variants}
    measures = {"multiview": lambda run: run["final_test_error"]["multiview"],
                "centre": lambda run: run["final_test_error"]["centre"],
                "gap": lambda run: run["history"][-1]["test_error"] - run["history"][-1]["train_error"]}  # fmt: skip

    def spread(variant, which):
        values = [measures[which](run) for run in seeds[variant]]
        return max(values) - min(values)

    def two(value):
        return f"{value * 100:.2f}"

    out = {}
    for variant in variants:
        out[f"lrn.spreads.{variant}"] = (f"{two(spread(variant, 'multiview'))} points multiview, "
                                         f"{two(spread(variant, 'centre'))} centre crop, "
                                         f"{two(spread(variant, 'gap'))} in the gap")  # fmt: skip
        out[f"lrn.spreads-list.{variant}"] = _listed([two(spread(variant, w)) for w in measures]) + " points"
        for which in measures:
            out[f"lrn.spread.{variant}.{which}"] = two(spread(variant, which))
        train = [(run["history"][99]["train_error"], run["history"][-1]["train_error"]) for run in seeds[variant]]
        out[f"lrn.train-drop.{variant}"] = (f"{statistics.median(t[0] for t in train):.1%} to "
                                            f"{statistics.median(t[1] for t in train):.1%}")  # fmt: skip
    ratios = [spread("13pct+lrn", w) / spread("13pct", w) for w in measures]
    out["lrn.spread-ratio"] = f"{min(ratios):.0f} to {max(ratios):.0f} times"
    for epoch in (100, 140):  # seed 0, as in the curve table
        out[f"lrn.loss{epoch}.13pct"] = f"{runs['13pct:0']['history'][epoch - 1]['train_loss']:.3f}"
    last_ten = [h["test_error"] for h in runs["13pct+lrn:2"]["history"][-10:]]
    out["lrn.last-ten.13pct+lrn.2"] = f"{min(last_ten) * 100:.1f}-{max(last_ten):.1%}"
    lrn = lrn_overlap.compare(results, "13pct", "13pct+lrn", "multiview")
    out["lrn.lrn.multiview.plain"] = _points(lrn["mean"], 2)
    out["lrn.lrn.centre.abs"] = f"{abs(lrn_overlap.compare(results, '13pct', '13pct+lrn', 'centre')['mean']) * 100:.1f}"
    gap = lrn_overlap.compare(results, "13pct", "13pct+lrn", "gap")
    out["lrn.lrn.gap-over-spread"] = f"{abs(gap['mean']) / gap['noise']:.0f} times"
    val = {v: [run["history"][99]["val_error"] for run in seeds[v]] for v in ("13pct", "13pct+lrn")}
    out["lrn.lrn.val-lead.mean"] = _points(statistics.fmean(a - b for a, b in zip(val["13pct+lrn"], val["13pct"])))
    out["lrn.val100.spread"] = f"{max(max(v) - min(v) for v in val.values()) * 100:.1f}"
    test = {v: [run["history"][99]["test_error"] for run in seeds[v]] for v in ("13pct", "13pct+lrn")}
    out["lrn.lrn.test100"] = ", ".join(_points(a - b, 2) for a, b in zip(test["13pct+lrn"], test["13pct"]))
    overlap = lrn_overlap.compare(results, "13pct-nonoverlap", "13pct", "multiview")
    out["lrn.overlap.over-noise"] = f"{abs(overlap['mean']) / overlap['noise']:.0f} times"
    out["lrn.overlap.noise"] = two(overlap["noise"])
    out["lrn.overlap.differences-within"] = two(max(overlap["differences"]) - min(overlap["differences"]))
    centres = [run["final_test_error"]["centre"] for v in ("13pct", "13pct-nonoverlap") for run in seeds[v]]
    out["lrn.overlap.centre-range"] = f"{min(centres) * 100:.1f}-{max(centres):.1%}"
    median = statistics.median(run["final_test_error"]["multiview"] for run in seeds["13pct"])
    out["lrn.offset.13pct"] = f"{median * 100 - 12.6:.1f}"  # cuda-convnet's Methodology page: 12.6% multiview
    out["lrn.median-multiview.13pct"] = f"{median:.1%}"
    eleven, base = runs["11pct:0"], runs["13pct:0"]
    gaps = [(r["history"][-1]["test_error"] - r["history"][-1]["train_error"]) * 100 for r in (eleven, base)]
    out["lrn.11pct.gap-points"] = f"{gaps[0]:.1f}"
    out["lrn.11pct.gaps-against"] = "{:.1f} points against {:.1f}".format(*gaps)
    published = lrn_overlap.compare(results, "13pct", "11pct", "multiview")["mean"]
    out["lrn.11pct.over-spread"] = f"{abs(published) / spread('13pct', 'multiview'):.0f} times"
    out["lrn.11pct.wall"] = f"{eleven['wall_s'] / 3600:.1f} hours"
    hours = [runs[f"{v}:{seed}"]["wall_s"] / 3600 for v in variants for seed in range(3)]
    out["lrn.run-hours"] = f"{min(hours):.1f} to {max(hours):.1f} hours"
    return out


def step_tables() -> dict[str, str]:
    """docs/lrn_overlap.md's step benchmark: ms per training step of each network and setting, per CPU."""
    out = {}
    for path in sorted(RESULTS.glob("cuda-convnet-step-*.json")):
        result = json.loads(path.read_text())
        settings = list(dict.fromkeys(row["setting"] for row in result["rows"]))
        lines = ["| variant | " + " | ".join(settings) + " |", "| --- " * (len(settings) + 1) + "|"]
        for variant in dict.fromkeys(row["variant"] for row in result["rows"]):
            cells = {row["setting"]: f"{row['ms']:.0f}" + (f" ({row['speedup']:.2f}x)" if row["speedup"] != 1.0 else "")
                     for row in result["rows"] if row["variant"] == variant}  # fmt: skip
            lines.append(f"| {variant} | " + " | ".join(cells.get(s, "-") for s in settings) + " |")
        meta = result["meta"]
        caption = (f"{meta['device']}, {meta['date']}, torch {meta['torch'].split('+')[0]}, `{meta['command']}` "
                   f"(`benchmarks/results/{path.name}`), ms per step of 128 crops:")  # fmt: skip
        out[f"lrn.steps.{path.stem.removeprefix('cuda-convnet-step-')}"] = caption + "\n\n" + "\n".join(lines)
    return out


def kernel_times() -> dict[str, str]:
    """docs/kernels.md's CPU table: the lab's ops against eager PyTorch, from the benchmarks' results."""
    lines = ["| device | op | shape, dtype | pass | ours | PyTorch eager | speed-up |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    commands = []
    for name, op in (("lrn", "LRN"), ("fused", "ReLU->LRN->pool")):
        for path in sorted(RESULTS.glob(f"{name}-*.json")):
            result = json.loads(path.read_text())
            rows = result["rows"]
            if "cpu" not in result["meta"]["device"].lower() or "provider" not in rows[0]:  # GPU runs; memory files
                continue
            commands.append(f"`{result['meta']['command']}` ({result['meta']['date']})")
            for ours in (r for r in rows if r["provider"].startswith("kernels")):
                eager = next(r for r in rows if r["provider"] == "torch eager" and r["shape"] == ours["shape"]
                             and r["dtype"] == ours["dtype"] and r["mode"] == ours["mode"])  # fmt: skip
                ms = [f"{r['ms']:.1f} ms [{r['ms_p20']:.1f}, {r['ms_p80']:.1f}]" for r in (ours, eager)]
                dtype = ours["dtype"].replace("float", "fp")
                lines.append(f"| {result['meta']['device']} | {op} | {ours['shape']} {dtype} | {ours['mode']} | "
                             f"{ms[0]} | {ms[1]} | {ours['speedup_vs_eager']:.2f}x |")  # fmt: skip
    return {"kernels.cpu-times": "\n".join(lines), "kernels.cpu-commands": _listed(commands)}


def _readme_row(results: dict, out: dict[str, str]) -> str:
    """The README's LRN/overlap cell: each variant's multiview error and the paired differences, in one breath."""
    from alexnet.experiments import lrn_overlap

    runs = results["runs"]
    seeds = {row["variant"]: row["seeds_finished"] for row in lrn_overlap.summary(results)}
    epochs = {v: len(runs[f"{v}:0"]["history"]) for v in ("13pct", "11pct")}
    return (
        f"fp32, multiview test error, median of {seeds['13pct']} seeds, {epochs['13pct']} epochs: 13pct "
        f"{out['lrn.median.13pct']} (cuda-convnet: 12.6%), with LRN {out['lrn.median.13pct+lrn']}, without overlap "
        f"(2x2 pools) {out['lrn.median.13pct-nonoverlap']}; the published 11pct net ({seeds['11pct']} seed, "
        f"{epochs['11pct']} epochs) {out['lrn.median.11pct']}. Paired by seed: LRN changes the multiview error by "
        f"{out['lrn.lrn.multiview']} and the train-test gap by {out['lrn.lrn.gap']} (a regularizer; the paper has 2 "
        f"points lower), overlap by {out['lrn.overlap.multiview']} and {out['lrn.overlap.gap']}, the 11pct net "
        f"against 13pct by {out['lrn.11pct.multiview']} and {out['lrn.11pct.gap']}"
    )


def _findings(out: dict[str, str]) -> str:
    """Notebook 5's findings: each claim's paired differences (mean, then per seed), against the paper's."""
    rows = [("LRN: `13pct+lrn` - `13pct`", "lrn", "2 points lower (13% -> 11%)"),
            ("overlap: `13pct` - `13pct-nonoverlap`", "overlap", "lower, and harder to overfit"),
            ("published pair: `11pct` - `13pct`, seed 0", "11pct", "2 points lower (13% -> 11%)")]  # fmt: skip
    lines = ["| paired difference, points | the paper | multiview | centre crop | train-test gap |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for label, name, paper in rows:
        cells = [f"{out[f'lrn.{name}.{which}']} ({out[f'lrn.{name}.{which}.seeds-commas']})"
                 for which in ("multiview", "centre", "gap")]  # fmt: skip
        lines.append(f"| {label} | {paper} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def first_minutes_values() -> dict[str, str]:
    """The dashboard's first minutes (benchmarks/bench_first_minutes.py), per CPU: a table of every configuration,
    and sentences on the defaults against the paper's recipe in fp32."""
    from alexnet.choices import DASHBOARD_DEFAULTS

    out, tables, runs_counted = {}, [], 0
    for path in sorted(RESULTS.glob("first-minutes-*.json")):
        result = json.loads(path.read_text())
        runs_counted += len(result["runs"])
        meta = result["meta"]
        minutes = [mark["minute"] for mark in result["runs"][0]["marks"][1:]]
        head = " | ".join(f"{m:g} min" for m in minutes)
        lines = [f"| configuration | {head} | steps | conv1 smoothness |",
                 "| --- " * (len(minutes) + 3) + "|"]  # fmt: skip
        for run in result["runs"]:
            marks = run["marks"]
            errors = " | ".join(f"{m['val_top1_err']:.1%}" for m in marks[1:])
            lines.append(f"| {run['label']} | {errors} | {marks[-1]['step']:,} | {_two(marks[-1]['smoothness'])} |")
        untrained = result["runs"][0]["marks"][0]
        tables.append(f"{meta['machine']}, torch {meta['torch'].split('+')[0]}, {meta['date']} "
                      f"(`benchmarks/results/{path.name}`): validation top-1 error on "
                      f"{result['runs'][0]['validation_images']:,} test images after each minute of wall time "
                      f"(untrained: {untrained['val_top1_err']:.1%}, conv1 smoothness {_two(untrained['smoothness'])})"
                      ":\n\n" + "\n".join(lines))  # fmt: skip
        precision = "bf16" if "AMX" in meta["machine"] else "fp32"  # what "auto" picks there
        default = _find_run(result, DASHBOARD_DEFAULTS["recipe"], precision, DASHBOARD_DEFAULTS["batch_size"])
        paper = _find_run(result, "paper", "fp32", DASHBOARD_DEFAULTS["batch_size"])
        if default is not None and paper is not None:
            out["first.default"] = (
                f"on the {meta['machine']}, the defaults ({default['label']}) train about "
                f"{default['marks'][-1]['step'] / meta['minutes']:,.0f} steps a minute and reach "
                f"{_errors_at(default)} validation error after {_minutes_listed(default)} minutes; the paper's "
                f"recipe in fp32, {_errors_at(paper)}"
            )  # fmt: skip
            per_minute = default["marks"][-1]["step"] / meta["minutes"]
            at_3 = min((run["marks"][3]["val_top1_err"], run["label"]) for run in result["runs"]
                       if len(run["marks"]) > 3)  # fmt: skip
            under = next((m["minute"] for m in default["marks"] if m["val_top1_err"] <= 0.5), None)
            out["first.readme"] = (
                f"best at 3 minutes: **{at_3[0]:.1%}** ({at_3[1]}); the defaults ({default['recipe']} recipe, "
                f"{default['precision']}) "
                + (f"reach 50% at minute {under:g}" if under is not None else "do not reach 50%")
                + f" and {default['marks'][-1]['val_top1_err']:.1%} at minute {default['marks'][-1]['minute']:g}, the "
                f"paper's recipe in fp32 {paper['marks'][-1]['val_top1_err']:.1%}; on the {meta['machine']}"
            )  # fmt: skip
            out["first.steps-per-minute"] = f"{per_minute:,.0f}"
            out["first.minutes-for-2000"] = f"about {2000 / per_minute:.0f} minutes"
            out["first.machine"] = meta["machine"]
            out["first.smoothness"] = (f"{_two(default['marks'][-1]['smoothness'])} after {meta['minutes']:g} minutes "
                                       f"(random weights: {_two(default['marks'][0]['smoothness'])}; the shipped "
                                       f"weights: {_two(_shipped_smoothness())})")  # fmt: skip
    out["first.tables"] = "\n\n".join(tables) if tables else "not measured yet"
    out["first.runs"] = str(runs_counted)
    return out


def notebook_values() -> dict[str, str]:
    """Each notebook's Run All time with its default settings (benchmarks/bench_notebooks.py), per CPU."""
    out, tables, longest = {}, [], []
    for path in sorted(RESULTS.glob("notebooks-*.json")):
        result = json.loads(path.read_text())
        seconds = result["seconds"]
        ways = [way for way in ("nbclient", "browser") if way in seconds]
        names = sorted({name for way in ways for name in seconds[way]})
        lines = ["| notebook | " + " | ".join(f"Run All, {way}" for way in ways) + " |",
                 "| --- " * (len(ways) + 1) + "|"]  # fmt: skip
        for name in names:
            cells = [f"{seconds[way][name]:.0f} s" if name in seconds[way] else "-" for way in ways]
            lines.append(f"| `{Path(name).stem}` | " + " | ".join(cells) + " |")
        tables.append(f"{result['meta']['machine']}, torch {result['meta']['torch'].split('+')[0]}, "
                      f"{result['meta']['date']} (`benchmarks/results/{path.name}`):\n\n" + "\n".join(lines))
        for name in names:
            slowest = max(seconds[way][name] for way in ways if name in seconds[way])
            out[f"notebooks.seconds.{Path(name).stem}"] = (f"{slowest:.0f} s on a 2-core {result['meta']['machine']} "
                                                           "(Run All, measured)")  # fmt: skip
        worst = max((seconds[way][name], name, way) for way in ways for name in seconds[way])
        longest.append((worst, result["meta"]["machine"]))
    out["notebooks.table"] = "\n\n".join(tables) if tables else "not measured yet"
    if longest:
        (worst, name, way), machine = max(longest)
        where = "in JupyterLab" if way == "browser" else "through nbclient"
        out["notebooks.summary"] = (f"within {worst / 60:.1f} minutes on a 2-core {machine} (the longest: "
                                    f"`{Path(name).stem}`, {worst:.0f} s {where})")  # fmt: skip
    return out


def _two(value: float) -> str:
    """Two decimals, without a minus sign on a value that rounds to zero."""
    return f"{round(value, 2) + 0.0:.2f}"


def _shipped_smoothness() -> float:
    import alexnet
    from alexnet.conv1 import conv1_structure

    return conv1_structure(alexnet.pretrained("cifar-alexnet-cifar10", backend="torch"))["smoothness"]


def _find_run(result: dict, recipe: str, precision: str, batch: int) -> dict | None:
    wanted = (recipe, precision, batch)
    runs = [run for run in result["runs"] if (run["recipe"], run["precision"], run["batch"]) == wanted]
    return max(runs, key=lambda run: run["threads"], default=None)


def _marks_at(run: dict) -> list[dict]:
    """The marks at 1, 3 and 5 minutes (those the run has)."""
    return [mark for mark in run["marks"] if mark["minute"] in (1, 3, 5)]


def _errors_at(run: dict) -> str:
    return _listed([f"{mark['val_top1_err']:.0%}" for mark in _marks_at(run)])


def _minutes_listed(run: dict) -> str:
    return _listed([f"{mark['minute']:g}" for mark in _marks_at(run)])


def values() -> dict[str, str]:
    """Every generated value by name, from the committed results files."""
    return {**figure1_values(), **shipped_values(), **figure3_values(), **lrn_overlap_values(), **lrn_prose_values(),
            **step_tables(), **kernel_times(), **first_minutes_values(),
            **notebook_values()}


def render(text: str, known: dict[str, str], where: str) -> str:
    """``text`` with every generated region's body replaced by its value."""

    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in known:
            raise SystemExit(f"error: {where}: no value named {name!r} (tools/render_docs.py's values())")
        body = known[name]
        if "\n" in match["body"] or "\n" in body:  # a block (a table): on lines of its own
            body = f"\n{body}\n"
        return f"<!-- gen:{name} -->{body}<!-- /gen -->"

    return REGION.sub(fill, text)


def render_file(path: Path, known: dict[str, str]) -> str:
    """The file's new text (a notebook's markdown cells rendered, its JSON written as nbformat writes it)."""
    text = path.read_text()
    if path.suffix != ".ipynb":
        return render(text, known, str(path.relative_to(ROOT)))
    import nbformat

    notebook = nbformat.reads(text, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = render(cell.source, known, str(path.relative_to(ROOT)))
    return nbformat.writes(notebook) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    known = values()
    stale = []
    for path in pages():
        old = path.read_text()
        if not REGION.search(old):
            continue
        new = render_file(path, known)
        if new != old:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new)
    if args.check:
        for path in stale:
            print(f"out of date: {path} (run make docs)")
        return 1 if stale else 0
    print(f"rewrote {', '.join(map(str, stale))}" if stale else "every generated region is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
