"""Figure 1 of the paper: a four-layer CNN with ReLUs reaches 25% training error on CIFAR-10 faster than tanh.

"A four-layer convolutional neural network with ReLUs (solid line) reaches a 25% training error rate on
CIFAR-10 six times faster than an equivalent network with tanh neurons (dashed line). The learning rates for
each network were chosen independently to make training as fast as possible. No regularization of any kind was
employed." (section 3.1)

What runs: :class:`alexnet.model.FourLayerCNN` with each activation and each learning rate of its grid, the same
seed, initial weights (up to the activation) and data order for all, SGD with momentum 0.9, batch 128, no weight
decay, dropout or augmentation. A run stops when an epoch's training error (the mean over that epoch's
mini-batches, as the paper plots it) reaches the target, or after ``max_epochs``. The fastest learning rate is
chosen per activation; the speed-up is tanh's epochs to target over ReLU's.

``results.json`` schema (``"schema": "alexnet-lab/relu-vs-tanh/1"``):
    settings      every argument, plus device, torch version and the data set's size
    runs          one per (activation, lr): ``epochs`` [{epoch, train_error}], ``iterations`` [{iteration,
                  train_error}] (mean over the last ``record_every`` mini-batches), ``reached_target``,
                  ``epochs_to_target`` / ``iterations_to_target`` (null when not reached), ``diverged``,
                  ``final_train_error``, ``wall_s``
    chosen        {"relu": lr, "tanh": lr}: the fastest run of each (null if none reached the target)
    speedup       {"epochs": tanh/relu or null, "iterations": ... or null, "reason": why null, or null}
    wall_s        the whole experiment
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..model import build_model
from ..train import TrainConfig, Trainer

SCHEMA = "alexnet-lab/relu-vs-tanh/1"
ACTIVATIONS = ("relu", "tanh")
DEFAULT_LRS = {"relu": (0.02,), "tanh": (0.02,)}


@dataclass
class Settings:
    data: str = "cifar10"
    lrs: dict = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_LRS.items()})
    target: float = 0.25
    max_epochs: int = 20
    batch_size: int = 128
    momentum: float = 0.9
    init: str = "modern"
    seed: int = 0
    record_every: int = 50
    device: str = "cpu"
    subset: int | None = None  # train on this many images (a quick look), None: all 50,000

    def __post_init__(self) -> None:
        if not 0 < self.target < 1:
            raise ValueError(f"target must be a training error in (0, 1), got {self.target}")
        if set(self.lrs) - set(ACTIVATIONS):
            raise ValueError(f"activations must be among {ACTIVATIONS}, got {sorted(self.lrs)}")
        for activation in ACTIVATIONS:
            grid = self.lrs.get(activation)
            if not grid:
                raise ValueError(f"the learning-rate grid for {activation} is empty: give at least one lr")
            if any(lr <= 0 for lr in grid):
                raise ValueError(f"learning rates must be > 0, got {grid} for {activation}")
        if self.init not in ("modern", "paper"):
            raise ValueError(f"init must be 'modern' or 'paper', got {self.init!r}")
        if self.max_epochs < 1 or self.batch_size < 1 or self.record_every < 1:
            raise ValueError("max_epochs, batch_size and record_every must be >= 1")


def first_reaching(values: list[float], target: float) -> int | None:
    """Index of the first value <= target, or None."""
    return next((i for i, v in enumerate(values) if v <= target), None)


def train_one(activation: str, lr: float, train_set, settings: Settings, progress: bool = True) -> dict:
    """Train one network until its epoch training error reaches the target; return its curves."""
    # The same initial weights for every run of this init, drawn without touching the global RNG.
    model = build_model("four-layer", activation=activation, init=settings.init, seed=settings.seed)
    config = TrainConfig(
        lr=lr, momentum=settings.momentum, weight_decay=0.0, batch_size=settings.batch_size, seed=settings.seed,
        device=settings.device, log_every=10**9,
    )  # fmt: skip
    trainer = Trainer(model, train_set, None, config)
    start = time.perf_counter()
    diverged = False
    epochs, iterations, window = [], [], []
    from tqdm.auto import tqdm

    bar = tqdm(total=settings.max_epochs, desc=f"{activation} lr={lr:g}", unit="epoch", disable=not progress)
    try:
        while trainer.epoch < settings.max_epochs:
            record = trainer.step()
            window.append(record["top1_err"])
            if record["step"] % settings.record_every == 0:
                iterations.append(dict(iteration=record["step"], train_error=sum(window) / len(window)))
                window.clear()
            if trainer.epochs and len(trainer.epochs) > len(epochs):
                err = trainer.epochs[-1]["train_top1_err"]
                epochs.append(dict(epoch=len(epochs) + 1, train_error=err))
                bar.update(1)
                bar.set_postfix(train_error=f"{err:.3f}")
                if err <= settings.target:
                    break
    except FloatingPointError:
        diverged = True
    bar.close()
    reached_epoch = first_reaching([e["train_error"] for e in epochs], settings.target)
    reached_iter = first_reaching([i["train_error"] for i in iterations], settings.target)
    return dict(
        activation=activation,
        lr=lr,
        epochs=epochs,
        iterations=iterations,
        reached_target=reached_epoch is not None,
        epochs_to_target=None if reached_epoch is None else epochs[reached_epoch]["epoch"],
        iterations_to_target=None if reached_iter is None else iterations[reached_iter]["iteration"],
        diverged=diverged,
        final_train_error=epochs[-1]["train_error"] if epochs else None,
        wall_s=time.perf_counter() - start,
    )


def choose(runs: list[dict], activation: str) -> dict | None:
    """The fastest run of an activation to reach the target (fewest epochs, then iterations), or None."""
    reached = [r for r in runs if r["activation"] == activation and r["reached_target"]]
    if not reached:
        return None
    return min(reached, key=lambda r: (r["epochs_to_target"], r["iterations_to_target"] or float("inf")))


def speedup(relu: dict | None, tanh: dict | None, target: float) -> dict:
    """tanh's epochs (and iterations) to target over ReLU's, from the runs' curves; null with a reason if not."""
    missing = [name for name, run in (("ReLU", relu), ("tanh", tanh)) if run is None]
    if missing:
        reason = f"{' and '.join(missing)} never reached {target:.0%} training error within the epoch limit"
        return dict(epochs=None, iterations=None, reason=reason)
    iters = None
    if relu["iterations_to_target"] and tanh["iterations_to_target"]:
        iters = tanh["iterations_to_target"] / relu["iterations_to_target"]
    return dict(epochs=tanh["epochs_to_target"] / relu["epochs_to_target"], iterations=iters, reason=None)


def run_experiment(settings: Settings, train_set=None, progress: bool = True) -> dict:
    """Run every (activation, lr) of the grids and return the results (see the module docstring for the schema).

    ``train_set``: the training images (N, 3, 32, 32) with their preprocessing; by default CIFAR-10 from
    ``settings.data`` through :func:`alexnet.data.load_datasets` (mean removed, per-channel std, no
    augmentation).
    """
    start = time.perf_counter()
    if train_set is None:
        from ..data import load_datasets

        train_set = load_datasets(settings.data, input_size=32, mean="channel", augment=False).train
    if settings.subset:
        train_set = train_set.subset(settings.subset, seed=settings.seed)
    runs = [
        train_one(activation, lr, train_set, settings, progress)
        for activation in ACTIVATIONS
        for lr in settings.lrs[activation]
    ]
    relu, tanh = choose(runs, "relu"), choose(runs, "tanh")
    if settings.device.startswith("cuda"):
        device_name = torch.cuda.get_device_name(torch.device(settings.device))
    else:
        device_name = f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    meta = dict(asdict(settings), train_images=len(train_set), torch=torch.__version__, device_name=device_name)
    return dict(
        schema=SCHEMA,
        settings=meta,
        runs=runs,
        chosen=dict(relu=relu["lr"] if relu else None, tanh=tanh["lr"] if tanh else None),
        speedup=speedup(relu, tanh, settings.target),
        wall_s=time.perf_counter() - start,
    )


def _data_name(data: str) -> str:
    return "CIFAR-10" if data == "cifar10" or "cifar" in Path(data).name.lower() else Path(data).name


def summary(results: dict) -> str:
    """One paragraph: what ran, what was chosen, the ratio (or why there is none), against the paper's six."""
    s = results["settings"]
    parts = [
        f"Four-layer CNN on {s['train_images']} training images of {_data_name(s['data'])} ({s['init']} init, "
        f"batch {s['batch_size']}, "
        f"momentum {s['momentum']}, no regularization), target {s['target']:.0%} training error, at most "
        f"{s['max_epochs']} epochs, on {s['device_name']}."
    ]
    for activation in ACTIVATIONS:
        run = choose(results["runs"], activation)
        if run:
            parts.append(
                f"{activation}: fastest lr {run['lr']:g} reached it in {run['epochs_to_target']} epochs "
                f"({run['iterations_to_target'] or 'n/a'} iterations)."
            )
        else:
            finals = [r["final_train_error"] for r in results["runs"] if r["activation"] == activation]
            best = min((f for f in finals if f is not None), default=None)
            parts.append(f"{activation}: no lr reached it (best final error {best:.3f})." if best is not None else
                         f"{activation}: every run diverged.")  # fmt: skip
    ratio = results["speedup"]
    if ratio["epochs"] is not None:
        iters = f", {ratio['iterations']:.2f}x in iterations" if ratio["iterations"] else ""
        parts.append(f"ReLU was {ratio['epochs']:.2f}x faster in epochs{iters}; the paper reports about 6x.")
    else:
        parts.append(f"No ratio: {ratio['reason']}.")
    parts.append(f"Wall time {results['wall_s']:.0f} s.")
    return " ".join(parts)


def plot(results: dict, path: str | Path | None = None):
    """The paper's Figure 1: training error vs epochs, ReLU solid, tanh dashed, the target as a line.

    Chosen runs are drawn bold; the other learning rates of the sweep thin. Returns the figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    chosen = results["chosen"]
    for run in results["runs"]:
        xs = [e["epoch"] for e in run["epochs"]]
        ys = [e["train_error"] for e in run["epochs"]]
        best = chosen[run["activation"]] == run["lr"]
        style = "-" if run["activation"] == "relu" else "--"
        label = f"{'ReLU' if run['activation'] == 'relu' else 'tanh'} (lr {run['lr']:g})" + (
            "" if best else ", not chosen"
        )
        ax.plot(xs, ys, style, marker="o", ms=3, color="black" if best else "grey", lw=2 if best else 0.8, label=label)
    target = results["settings"]["target"]
    ax.axhline(target, color="tab:red", lw=0.8, ls=":")
    ax.text(0.98, target, f"{target:.0%}", color="tab:red", ha="right", va="bottom", transform=ax.get_yaxis_transform())
    ax.set_xlabel("epochs")
    ax.set_ylabel("training error rate")
    ax.set_ylim(0, 0.8)
    ratio = results["speedup"]["epochs"]
    ax.set_title(f"ReLU vs tanh, {results['settings']['init']} init: " + (f"{ratio:.1f}x" if ratio else "no ratio"))
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=120)
    return fig


def result_paths(out: str | Path, init: str) -> tuple[Path, Path]:
    """Where :func:`save` writes the results of one ``init``: ``results-<init>.json`` and ``figure1-<init>.png``."""
    return Path(out) / f"results-{init}.json", Path(out) / f"figure1-{init}.png"


def save(results: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``results-<init>.json`` and ``figure1-<init>.png`` into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = result_paths(out, results["settings"]["init"])
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    plot(results, png_path)
    return json_path, png_path


def load(path: str | Path) -> dict:
    results = json.loads(Path(path).read_text())
    if results.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a relu-vs-tanh results file (schema {results.get('schema')!r})")
    return results
