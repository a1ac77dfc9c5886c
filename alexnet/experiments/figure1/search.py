"""The search: each activation's learning-rate grid, the chosen lr over seeds, every run through the engine."""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ...choices import ACTIVATIONS
from ...engine import Diverged, Engine, EpochClock, ProgressBar, StateFile, Tally, TensorBatches
from ...files import load_json, save_json
from ...schedules import MaxEpochs, NoLaterThan, TargetError
from .._results import environment
from ..recipes import Inputs, Recipe, build_network, get_recipe, input_statistics, layer_statistics
from ..recipes import param_groups as recipe_param_groups

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
    images, target 50% training error, at most 20 epochs: two runs, sized for Run All in at most 3 minutes on 2 CPU
    cores (``benchmarks/bench_notebooks.py`` measures it). ``full=True``: the search the committed results come
    from (each lr grid, 3 seeds, all 50,000 images, target 25%, up to 60 epochs): hours of compute on 2 CPU cores for
    cuda-convnet. ``fast``: the test suite's few seconds.
    """
    if full:
        return SearchSettings(recipe=recipe, device=device)
    chosen = {"relu": [0.002], "tanh": [0.008]}  # cuda-convnet's chosen lrs (the committed search)
    if fast:
        return SearchSettings(recipe=recipe, lrs=chosen, seeds=1, target=0.8, max_epochs=2, subset=1024, device=device)
    return SearchSettings(recipe=recipe, lrs=chosen, seeds=1, target=0.5, max_epochs=20, subset=10_000, device=device)


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
    bar = ProgressBar(settings.max_epochs, engine.epoch, f"{activation} lr={lr:g} seed {seed}",
                      lambda r: dict(train_error=f"{r['train_error']:.3f}"), enabled=progress)  # fmt: skip
    engine.hooks += [bar, state]
    diverged = False
    try:
        engine.fit(TargetError(settings.target), MaxEpochs(settings.max_epochs), NoLaterThan(stop_after))
    except Diverged:
        diverged = True
    finally:
        bar.close(finished=engine.stopped in ("target", "pruned"))
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

    state_path = run_state_path(path) if path is not None else None

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


def run_state_path(results: Path) -> Path:
    """Where the run in progress keeps its state, beside the results file (a name .gitignore leaves out)."""
    return results.with_name(f".{results.stem}.run-in-progress.pt")


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
