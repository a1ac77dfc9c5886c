"""What a search's results say: sentences, Markdown tables, figures."""

from __future__ import annotations

import statistics
from pathlib import Path

from ...choices import ACTIVATIONS
from ..recipes import get_recipe
from .search import SearchSettings, default_grid


def describe(results: dict) -> str:
    """One paragraph: recipe, chosen lrs, epochs to target per seed, the ratio or why there is none."""
    s, summary = results["settings"], results["summary"]
    parts = [f"Recipe {s['recipe']} on {s['train_images']} training images ({s['device_name']}), target "
             f"{s['target']:.0%}, at most {s['max_epochs']} epochs."]  # fmt: skip
    for activation in ACTIVATIONS:
        entry = summary["activations"][activation]
        if not any(r["activation"] == activation for r in results["runs"]):
            parts.append(f"{activation}: no runs yet.")
        elif entry["lr"] is None:
            best = entry["best_train_error"]
            parts.append(f"{activation}: no lr reached it" + (f" (best error {best:.3f})." if best else "."))
        else:
            seeds = ", ".join(f"{e}" if e else "not reached" for e in entry["epochs_to_target"].values())
            parts.append(f"{activation}: lr {entry['lr']:g}, epochs to target per seed: {seeds}.")
    ratio = summary["ratio"]
    if ratio["median"] is not None:
        spread = "1 seed"
        if ratio["seeds"] > 1:
            spread = f"range {ratio['min']:.2f}-{ratio['max']:.2f}, {ratio['seeds']} seeds"
        parts.append(f"tanh/ReLU: {ratio['median']:.2f}x ({spread}); the paper reports about 6x.")
    else:
        parts.append(f"No ratio: {ratio['reason']}.")
    return " ".join(parts)


def markdown_table(results: dict) -> str:
    """Every run of a results file as a Markdown table (the README's "Committed so far"), in the order they ran."""
    rows = [
        "| activation | lr | seed | 25% training error | best error | at the last epoch: tanh units saturated "
        "(\\|z\\| > 2) / ReLU units dead | s/epoch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    target = results["settings"]["target"]
    for run in results["runs"]:
        done = len(run["epochs"])
        if run["reached_target"]:
            outcome = f"reached in {run['epochs_to_target']} epochs"
        elif run["diverged"]:
            outcome = f"diverged after {done} epochs"
        elif run["pruned"]:
            outcome = f"pruned after {done} epochs (could no longer win)"
        else:
            outcome = f"not reached in {done} epochs"
        key = "saturated_fraction" if run["activation"] == "tanh" else "dead_fraction"
        last = run["layers"][-1] if run["layers"] else {}
        units = ", ".join(f"{name} {v[key]:.0%}" for name, v in last.items() if isinstance(v, dict) and key in v)
        seconds = sorted(e["seconds"] for e in run["epochs"])[done // 2] if done else 0.0
        best = f"{run['best_train_error']:.1%}" if run["best_train_error"] is not None else "-"
        rows.append(f"| {run['activation']} | {run['lr']:g} | {run['seed']} | {outcome} | {best} | {units} | "
                    f"{seconds:.0f} s |")  # fmt: skip
    return "\n".join(rows).replace("25%", f"{target:.0%}")


def _curves(ax, results: dict) -> dict[str, list[dict]]:
    """Draw each activation's median training error over the chosen lr's seeds, with its range (ReLU solid, tanh
    dashed), the target and the ratio as the title; return the runs drawn per activation. Where no lr reached the
    target, the run that got lowest is drawn, labelled so."""
    drawn = {}
    for activation, style in (("relu", "-"), ("tanh", "--")):
        lr = results["summary"]["activations"][activation]["lr"]
        runs = [r for r in results["runs"] if r["activation"] == activation and r["lr"] == lr]
        if lr is None:
            tried = [r for r in results["runs"] if r["activation"] == activation and r["best_train_error"]]
            runs = sorted(tried, key=lambda r: r["best_train_error"])[:1]
        if not runs:
            continue
        length = max(len(r["epochs"]) for r in runs)
        columns = [[r["epochs"][i]["train_error"] for r in runs if len(r["epochs"]) > i] for i in range(length)]
        xs = range(1, length + 1)
        name = "ReLU" if activation == "relu" else "tanh"
        label = f"{name}, lr {runs[0]['lr']:g}, {len(runs)} seed{'s' * (len(runs) > 1)}"
        ax.plot(xs, [statistics.median(c) for c in columns], style, color="black", lw=1.6,
                label=label + ("" if lr is not None else ", not reached"))  # fmt: skip
        ax.fill_between(xs, [min(c) for c in columns], [max(c) for c in columns], color="grey", alpha=0.3, lw=0)
        drawn[activation] = runs
    ax.axhline(results["settings"]["target"], color="tab:red", lw=0.8, ls=":")
    ratio = results["summary"]["ratio"]
    ratio_text = f"{ratio['median']:.1f}x" if ratio["median"] else "no ratio"
    ax.set_title(f"{results['settings']['recipe']}: {ratio_text}")
    ax.set(xlabel="epochs", ylim=(0, 0.9))
    ax.legend(fontsize=8)
    return drawn


def plot(results: dict, path: str | Path | None = None):
    """Figure 1 for one recipe: median training error over the chosen lr's seeds with its range (ReLU solid, tanh
    dashed), and the mechanism: tanh's saturated and ReLU's dead fraction per layer. Returns the figure."""
    import matplotlib.pyplot as plt

    with_units = any(run["layers"] for run in results["runs"])  # files of the first experiment have none
    fig, axes = plt.subplots(1, 2 if with_units else 1, figsize=(10 if with_units else 6, 4), squeeze=False)
    ax = axes[0, 0]
    drawn = _curves(ax, results)
    ax.set_ylabel("training error rate")
    if with_units:
        _units(axes[0, 1], drawn)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def _units(ax, drawn: dict[str, list[dict]]) -> None:
    """tanh's saturated and ReLU's dead fraction per layer, per epoch, of the first run drawn of each activation."""
    for activation, runs in drawn.items():
        style = "-" if activation == "relu" else "--"
        key = "saturated_fraction" if activation == "tanh" else "dead_fraction"
        for layer in runs[0]["layers"][-1] if runs[0]["layers"] else ():
            if layer == "epoch":
                continue
            series = [entry[layer].get(key) for entry in runs[0]["layers"]]
            if series[0] is not None:
                ax.plot(range(1, len(series) + 1), series, style, label=f"{activation} {layer}")
    ax.set(xlabel="epochs", ylabel="fraction of units", title="tanh |z| > 2 (saturated), ReLU dead", ylim=(0, 1))
    ax.legend(fontsize=7, ncol=2)


def command(results: dict, out: str = "benchmarks/results/relu_vs_tanh") -> str:
    """The CLI command that makes (or continues) this results file: recipe, grids and seeds as they were given."""
    s = results["settings"]
    recipe = get_recipe(s["recipe"])
    parts = ["python -m alexnet relu-vs-tanh", f"--recipe {s['recipe']}", "--data ../shared/data/cifar10-jpg.zip"]
    grids = {activation: s["lrs"][activation] for activation in ACTIVATIONS}
    if grids["relu"] == grids["tanh"]:
        if grids["relu"] != default_grid(recipe.base_lr):
            parts.append("--lrs " + " ".join(f"{lr:g}" for lr in grids["relu"]))
    else:
        parts += [f"--lrs-{a} " + " ".join(f"{lr:g}" for lr in grids[a]) for a in ACTIVATIONS]
    defaults = SearchSettings.__dataclass_fields__
    for key in ("seeds", "target", "max_epochs", "batch_size", "subset"):
        if s[key] != defaults[key].default:
            parts.append(f"--{key.replace('_', '-')} {s[key]:g}")
    return " ".join(parts + [f"--out {out}", "--resume"])


def _epochs_text(entry: dict, runs: list[dict], activation: str) -> str:
    """'8 (7-8), 3 seeds' for the chosen lr, or why there is no number."""
    reached = [e for e in entry["epochs_to_target"].values() if e]
    missing = len(entry["epochs_to_target"]) - len(reached)
    if not reached:
        longest = max((len(r["epochs"]) for r in runs if r["activation"] == activation), default=0)
        best = entry["best_train_error"]
        return f"not reached in {longest} (best {best:.1%})" if best is not None else "no run"
    text = f"{statistics.median(reached):g}"
    if len(reached) > 1:
        text += f" ({min(reached)}-{max(reached)})"
    text += f", {len(reached)} seed{'s' * (len(reached) > 1)}"
    return text + (f", {missing} not reached" if missing else "")


def recipes_table(results: list[dict], out: str = "benchmarks/results/relu_vs_tanh") -> str:
    """One row per recipe (the README's and notebook 3's table): the chosen lrs, epochs to target per activation
    (median, range, seeds), the tanh/ReLU ratio, the compute time of all its runs, the device, the command."""
    rows = [
        "| recipe | chosen lr ReLU / tanh | ReLU: epochs to target | tanh: epochs to target | tanh/ReLU | runs, "
        "compute time | device | command |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        s, summary = result["settings"], result["summary"]
        lrs = " / ".join(f"{summary['activations'][a]['lr']:g}" if summary["activations"][a]["lr"] else "none"
                         for a in ACTIVATIONS)  # fmt: skip
        epochs = [_epochs_text(summary["activations"][a], result["runs"], a) for a in ACTIVATIONS]
        ratio = summary["ratio"]
        if ratio["median"] is None:
            ratio_text = "none"
        elif ratio["seeds"] > 1:
            ratio_text = f"**{ratio['median']:.1f}x** ({ratio['min']:.1f}-{ratio['max']:.1f}, {ratio['seeds']} seeds)"
        else:
            ratio_text = f"**{ratio['median']:.1f}x** (1 seed)"
        hours = sum(r["wall_s"] for r in result["runs"]) / 3600
        rows.append(f"| `{s['recipe']}` | {lrs} | {epochs[0]} | {epochs[1]} | {ratio_text} | {len(result['runs'])}, "
                    f"{hours:.1f} h | {s['device_name'].split(',')[0]} | `{command(result, out)}` |")  # fmt: skip
    return "\n".join(rows)


def plot_recipes(results: list[dict], path: str | Path | None = None):
    """Figure 1 per recipe, side by side on one error axis: the median training error over the chosen lr's seeds
    with its range, ReLU solid, tanh dashed. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.8), sharey=True, squeeze=False)
    for ax, result in zip(axes[0], results):
        _curves(ax, result)
    axes[0][0].set_ylabel("training error rate")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def _chosen_run(result: dict, activation: str) -> dict | None:
    """Seed 0 of the chosen lr, or (nothing reached the target) the run that got lowest."""
    lr = result["summary"]["activations"][activation]["lr"]
    runs = [r for r in result["runs"] if r["activation"] == activation and r["layers"]]
    if lr is not None:
        runs = [r for r in runs if r["lr"] == lr]
    return min(runs, key=lambda r: (r["seed"], r["best_train_error"] or 1.0), default=None)


def plot_mechanism(results: list[dict], path: str | Path | None = None):
    """The mechanism per recipe (one column each), from the chosen runs' per-epoch layer statistics: the fraction
    of tanh units saturated (|z| > 2) per layer, and every layer's pre-activation std for tanh (dashed) and ReLU
    (solid), on a log axis. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4.2 * len(results), 6.4), sharey="row", squeeze=False)
    colours = dict(conv1="tab:red", conv2="tab:orange", conv3="tab:blue")
    for column, result in enumerate(results):
        top, bottom = axes[0][column], axes[1][column]
        for activation, style in (("relu", "-"), ("tanh", "--")):
            run = _chosen_run(result, activation)
            if run is None:
                continue
            epochs = [entry["epoch"] for entry in run["layers"]]
            for layer, colour in colours.items():
                stats = [entry.get(layer, {}) for entry in run["layers"]]
                if activation == "tanh" and all("saturated_fraction" in s for s in stats):
                    top.plot(epochs, [s["saturated_fraction"] for s in stats], style, color=colour, label=layer)
                if all("pre_activation_std" in s for s in stats):
                    bottom.plot(epochs, [s["pre_activation_std"] for s in stats], style, color=colour,
                                label=f"{layer} {activation} (lr {run['lr']:g})")  # fmt: skip
        lrs = {a: (_chosen_run(result, a) or {}).get("lr") for a in ("relu", "tanh")}
        top.set(title=f"{result['settings']['recipe']}: tanh units |z| > 2", ylim=(0, 1))
        bottom.set(xlabel="epochs", yscale="log",
                   title=f"pre-activation std (ReLU lr {lrs['relu']:g}, tanh lr {lrs['tanh']:g})"
                   if None not in lrs.values() else "pre-activation std")  # fmt: skip
    axes[0][0].set_ylabel("fraction saturated")
    axes[1][0].set_ylabel("std of z")
    # One legend for the figure: colours are layers, line styles activations (per-panel legends were unreadable).
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, label=layer) for layer, colour in colours.items()]
    handles += [Line2D([], [], color="black", linestyle="-", label="ReLU"),
                Line2D([], [], color="black", linestyle="--", label="tanh")]  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=10, frameon=False)
    if path:
        fig.savefig(path, dpi=110)
    return fig
