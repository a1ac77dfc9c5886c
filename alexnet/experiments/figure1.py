"""Figure 1 as the paper ran it: each activation's learning rate searched independently, then repeated over seeds.

For one recipe (:mod:`alexnet.experiments.recipes`), each activation runs over its learning-rate grid (factor-2
steps around the recipe's base lr, the best-guess first); a run stops at the target training error, at
``max_epochs``, when the loss diverges, or as soon as it can no longer beat the fewest epochs to target already
found for its activation (pruned). The fastest lr of each activation then runs with more seeds (initial weights
and data order). The ratio is tanh's epochs to target over ReLU's, per seed, reported as median and range.

Training is :class:`alexnet.engine.Engine` on one uint8 tensor kept on the training device
(:class:`~alexnet.engine.TensorBatches`): batches are indexed there, with no DataLoader and no per-batch host
transfer.

Results (``results-<recipe>.json``, schema ``alexnet-lab/figure1-search/1``) are rewritten after every run, and
the run in progress saves its state after every epoch, so a killed sweep resumes (``resume=True``) without
rerunning what finished. Each run records its per-epoch training
error and per-layer statistics (mean |W|, pre-activation std, tanh saturation / dead ReLUs).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..choices import ACTIVATIONS
from ..engine import (
    Diverged,
    Engine,
    EpochClock,
    MaxEpochs,
    NoLaterThan,
    ProgressBar,
    StateFile,
    Tally,
    TargetError,
    TensorBatches,
)
from ..files import load_json, save_json
from ._results import environment
from .recipes import Inputs, Recipe, build_network, get_recipe, input_statistics, layer_statistics
from .recipes import param_groups as recipe_param_groups

SCHEMA = "alexnet-lab/figure1-search/1"
FIRST_SCHEMA = "alexnet-lab/relu-vs-tanh/1"  # the first experiment's files, read through from_first_experiment
PROBE_IMAGES = 512  # the fixed batch the per-layer statistics are measured on


def default_grid(base_lr: float) -> list[float]:
    """Factor-2 steps around ``base_lr``: 1/4x ... 16x (2.5e-4 ... 1.6e-2 for cuda-convnet's 0.001)."""
    return [base_lr * 2.0**k for k in range(-2, 5)]


@dataclass
class SearchSettings:
    recipe: str = "cuda-convnet"
    lrs: dict = field(default_factory=dict)  # {activation: [lr, ...]}; empty: default_grid of the recipe
    seeds: int = 3  # runs of the chosen lr per activation (seed 0 is the search's)
    target: float = 0.25
    max_epochs: int = 60
    batch_size: int = 128
    momentum: float = 0.9
    data: str = "cifar10"
    subset: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        recipe = get_recipe(self.recipe)
        if not 0 < self.target < 1:
            raise ValueError(f"target must be a training error in (0, 1), got {self.target}")
        if set(self.lrs) - set(ACTIVATIONS):
            raise ValueError(f"lrs: activations must be among {ACTIVATIONS}, got {sorted(self.lrs)}")
        for activation in ACTIVATIONS:
            grid = self.lrs.setdefault(activation, default_grid(recipe.base_lr))
            if not grid:
                raise ValueError(f"the learning-rate grid for {activation} is empty: give at least one lr")
            if any(not math.isfinite(lr) or lr <= 0 for lr in grid):
                raise ValueError(f"learning rates must be finite and > 0, got {grid} for {activation}")
        if self.seeds < 1 or self.max_epochs < 1 or self.batch_size < 1:
            raise ValueError("seeds, max_epochs and batch_size must be >= 1")

    def identity(self) -> dict:
        """What must match for runs of an earlier sweep to be reused."""
        keep = ("recipe", "target", "max_epochs", "batch_size", "momentum", "data", "subset")
        return {key: getattr(self, key) for key in keep}


def live_settings(recipe: str = "cuda-convnet", *, full: bool = False, fast: bool = False, device: str = "cpu"):
    """Notebook 3's "run it yourself" search, sized for Run All.

    Default: the recipe's chosen learning rates (cuda-convnet's 0.002 for ReLU, 0.008 for tanh), one seed, 10,000
    images, target 40% training error, at most 30 epochs: two runs, about 2-3 minutes on 2 CPU cores (measured:
    ReLU 8 epochs, tanh 27, 133 s). ``full=True``: the search the committed results come from (each lr grid,
    3 seeds, all 50,000 images, target 25%, up to 60 epochs): about 4 hours of compute on 2 CPU cores for
    cuda-convnet. ``fast``: the test suite's few seconds.
    """
    if full:
        return SearchSettings(recipe=recipe, device=device)
    chosen = {"relu": [0.002], "tanh": [0.008]}  # cuda-convnet's chosen lrs (the committed search)
    if fast:
        return SearchSettings(recipe=recipe, lrs=chosen, seeds=1, target=0.8, max_epochs=2, subset=1024, device=device)
    return SearchSettings(recipe=recipe, lrs=chosen, seeds=1, target=0.4, max_epochs=30, subset=10_000, device=device)


def budget(settings: SearchSettings) -> int:
    """The most image-epochs a search can train (every lr and seed run to ``max_epochs``): its cost bound."""
    runs = sum(len(grid) + settings.seeds - 1 for grid in settings.lrs.values())
    return runs * settings.max_epochs * (settings.subset or 50_000)


def search_order(grid: list[float], base_lr: float) -> list[float]:
    """The grid, nearest the base lr first: the likely winners run first and prune the rest early."""
    return sorted(grid, key=lambda lr: (abs(math.log(lr / base_lr)), lr))


def train_run(
    recipe: Recipe, activation: str, lr: float, seed: int, images: torch.Tensor, labels: torch.Tensor,
    inputs: Inputs, settings: SearchSettings, stop_after: int | None = None, progress: bool = False,
    state_path: str | Path | None = None,
) -> dict:  # fmt: skip
    """Train one network until its epoch training error reaches the target (or it diverges, is pruned after
    ``stop_after`` epochs, or reaches ``max_epochs``). images: (N, 3, 32, 32) uint8 on the training device.

    ``state_path``: after every epoch the run's state (weights, momentum, curves) is saved there, and a run that
    finds its own state there continues from it: a killed sweep loses at most one epoch. Data order and
    initial weights depend only on (seed, epoch), so the continued run is the uninterrupted one.
    """
    net = build_network(recipe, activation, inputs.scalar_std, seed).to(images.device)
    optimizer = torch.optim.SGD(recipe_param_groups(net, recipe, lr, inputs.scalar_std), momentum=settings.momentum)
    batches = TensorBatches(images, labels, settings.batch_size, seed=seed, prepare=lambda x, gen: inputs.prepare(x))
    layers = LayerLog(net, inputs.prepare(images[:PROBE_IMAGES]), activation)
    key = dict(settings.identity(), activation=activation, lr=lr, seed=seed)  # identity() names the recipe
    state = StateFile(state_path, key, extra=lambda: dict(layers=layers.records))
    engine = Engine(net, optimizer, batches, hooks=[Tally(), EpochClock(), layers])
    layers.records = (state.restore(engine) or {}).get("layers", [])
    bar = ProgressBar(settings.max_epochs, engine.epoch, f"{recipe.name} {activation} lr={lr:g} seed={seed}",
                      lambda r: dict(train_error=f"{r['train_error']:.3f}"), enabled=progress, leave=False)  # fmt: skip
    engine.hooks += [bar, state]
    diverged = False
    try:
        engine.fit(TargetError(settings.target), MaxEpochs(settings.max_epochs), NoLaterThan(stop_after))
    except Diverged:
        diverged = True
    finally:
        bar.close()
    epochs = [dict(epoch=r["epoch"], train_error=r["train_error"], seconds=r["seconds"]) for r in engine.records]
    reached = next((e["epoch"] for e in epochs if e["train_error"] <= settings.target), None)
    errors = [e["train_error"] for e in epochs]
    return dict(
        recipe=recipe.name, activation=activation, lr=lr, seed=seed, epochs=epochs, layers=layers.records,
        reached_target=reached is not None, epochs_to_target=reached, diverged=diverged,
        pruned=engine.stopped == "pruned", final_train_error=errors[-1] if errors else None,
        best_train_error=min(errors) if errors else None, wall_s=engine.wall_s,
    )  # fmt: skip


class LayerLog:
    """Per-layer statistics (:func:`layer_statistics`) of the network on a fixed probe batch after every epoch."""

    def __init__(self, net, probe: torch.Tensor, activation: str) -> None:
        self.net, self.probe, self.activation = net, probe, activation
        self.records: list[dict] = []

    def on_epoch_end(self, engine: Engine, record: dict) -> None:
        self.net.eval()
        self.records.append(dict(epoch=record["epoch"], **layer_statistics(self.net, self.probe, self.activation)))


def _key(run: dict) -> tuple:
    return run["activation"], run["lr"], run["seed"]


def chosen_lr(runs: list[dict], activation: str) -> float | None:
    """The lr of the seed-0 run that reached the target in the fewest epochs (ties: the smaller lr)."""
    reached = [r for r in runs if r["activation"] == activation and r["seed"] == 0 and r["reached_target"]]
    return min(reached, key=lambda r: (r["epochs_to_target"], r["lr"]))["lr"] if reached else None


def summarize(runs: list[dict], target: float) -> dict:
    """Chosen lr, epochs to target per seed, and the tanh/ReLU ratio (median and range) from the runs' curves."""
    out = {}
    for activation in ACTIVATIONS:
        lr = chosen_lr(runs, activation)
        seeded = sorted((r for r in runs if r["activation"] == activation and r["lr"] == lr), key=lambda r: r["seed"])
        best = min((r["best_train_error"] for r in runs if r["activation"] == activation and r["best_train_error"]
                    is not None), default=None)  # fmt: skip
        out[activation] = dict(
            lr=lr, epochs_to_target={r["seed"]: r["epochs_to_target"] for r in seeded}, best_train_error=best
        )
    relu, tanh = out["relu"]["epochs_to_target"], out["tanh"]["epochs_to_target"]
    pairs = [tanh[s] / relu[s] for s in sorted(set(relu) & set(tanh)) if relu[s] and tanh[s]]
    if pairs:
        ratio = dict(median=statistics.median(pairs), min=min(pairs), max=max(pairs), seeds=len(pairs), reason=None)
    else:
        not_run = [a for a in ACTIVATIONS if not any(r["activation"] == a for r in runs)]
        missing = [a for a in ACTIVATIONS if out[a]["lr"] is None and a not in not_run]
        if not_run:
            reason = f"no {' and no '.join(not_run)} runs yet"
        elif missing:
            reason = f"{' and '.join(missing)} never reached {target:.0%} training error within the epoch limit"
        else:
            reason = "no seed reached the target with both activations"
        ratio = dict(median=None, min=None, max=None, seeds=0, reason=reason)
    return dict(activations=out, ratio=ratio)


def run_search(
    settings: SearchSettings, images: torch.Tensor, labels: torch.Tensor, out: str | Path | None = None, *,
    resume: bool = False, progress: bool = True,
) -> dict:  # fmt: skip
    """The whole search for one recipe; writes ``out/results-<recipe>.json`` after every run when ``out`` is given.

    images: (N, 3, 32, 32) uint8 training images, labels: (N,). ``resume``: reuse the runs already in the file
    (same settings), running only the rest.
    """
    recipe = get_recipe(settings.recipe)
    device = torch.device(settings.device)
    if settings.subset:
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[: settings.subset]
        images, labels = images[keep], labels[keep]
    inputs = input_statistics(images, recipe)
    inputs = Inputs(inputs.mean.to(device), None if inputs.std is None else inputs.std.to(device))
    images, labels = images.to(device), labels.to(device)
    path = result_paths(out, recipe.name)[0] if out is not None else None
    runs = _previous_runs(path, settings) if resume and path is not None else []
    start = time.perf_counter()

    def results() -> dict:
        return dict(
            schema=SCHEMA, settings=dict(asdict(settings), **environment(settings.device, train_images=len(images),
                                                                          input_std=inputs.scalar_std)),
            runs=runs, summary=summarize(runs, settings.target), wall_s=time.perf_counter() - start,
        )  # fmt: skip

    state_path = path.with_name(f".{path.stem}.run-in-progress.pt") if path is not None else None

    def run(activation: str, lr: float, seed: int, stop_after: int | None = None) -> None:
        if any(_key(r) == (activation, lr, seed) for r in runs):
            return
        runs.append(train_run(recipe, activation, lr, seed, images, labels, inputs, settings, stop_after, progress,
                              state_path=state_path))  # fmt: skip
        if path is not None:
            save(results(), path)
            state_path.unlink(missing_ok=True)

    for activation in ACTIVATIONS:
        for lr in search_order(settings.lrs[activation], recipe.base_lr):
            best = [r["epochs_to_target"] for r in runs if r["activation"] == activation and r["seed"] == 0
                    and r["reached_target"]]  # fmt: skip
            run(activation, lr, 0, stop_after=min(best) - 1 if best else None)
        lr = chosen_lr(runs, activation)
        if lr is not None:
            for seed in range(1, settings.seeds):
                run(activation, lr, seed)
    final = results()
    if path is not None:
        save(final, path)
    return final


def _previous_runs(path: Path, settings: SearchSettings) -> list[dict]:
    if not path.is_file():
        return []
    previous = load(path)
    old = {key: previous["settings"].get(key) for key in settings.identity()}
    if old != settings.identity():
        changed = {k: (old[k], v) for k, v in settings.identity().items() if old[k] != v}
        raise ValueError(f"--resume: {path} was made with other settings {changed}; use another --out")
    return list(previous["runs"])


def result_paths(out: str | Path, recipe: str) -> tuple[Path, Path]:
    """Where a sweep of ``recipe`` writes: ``results-<recipe>.json`` and ``figure1-<recipe>.png`` in ``out``."""
    return Path(out) / f"results-{recipe}.json", Path(out) / f"figure1-{recipe}.png"


def save(results: dict, path: str | Path) -> Path:
    """Write the results atomically (a sweep killed mid-write keeps the previous file)."""
    return save_json(results, path)


def load(path: str | Path) -> dict:
    """A results file of this module, or of the lab's first Figure 1 experiment (:func:`from_first_experiment`)."""
    if json.loads(Path(path).read_text()).get("schema") == FIRST_SCHEMA:
        return from_first_experiment(load_json(path, FIRST_SCHEMA, "a Figure 1 results file"))
    return load_json(path, SCHEMA, "a Figure 1 search results file")


def from_first_experiment(results: dict) -> dict:
    """The lab's first Figure 1 experiment (``results-{modern,paper}.json``: one lr of 0.02 per activation, the
    four-layer CNN on standardized inputs, trained with the paper's SGD) in this module's schema, so that it reads,
    tabulates and plots like a search. Those files record no per-layer statistics and no per-epoch seconds: each
    epoch gets its run's mean."""
    s = results["settings"]
    runs = []
    for run in results["runs"]:
        errors = [e["train_error"] for e in run["epochs"]]
        seconds = run["wall_s"] / max(len(errors), 1)
        runs.append(dict(
            recipe=f"standardized, {s['init']} init", activation=run["activation"], lr=run["lr"], seed=s["seed"],
            epochs=[dict(e, seconds=seconds) for e in run["epochs"]], layers=[], reached_target=run["reached_target"],
            epochs_to_target=run["epochs_to_target"], diverged=run["diverged"], pruned=False,
            final_train_error=run["final_train_error"], best_train_error=min(errors) if errors else None,
            wall_s=run["wall_s"],
        ))  # fmt: skip
    keep = ("lrs", "target", "max_epochs", "batch_size", "momentum", "data", "subset", "device", "train_images",
            "device_name", "torch")  # fmt: skip
    settings = dict({key: s[key] for key in keep}, recipe=f"standardized, {s['init']} init", seeds=1)
    return dict(schema=SCHEMA, settings=settings, runs=runs, summary=summarize(runs, s["target"]),
                wall_s=results["wall_s"])  # fmt: skip


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
