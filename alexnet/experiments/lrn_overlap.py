"""What LRN and overlapping pooling buy, measured on CIFAR-10 under cuda-convnet's own configurations.

The paper (section 3.3): "On the CIFAR-10 dataset, a four-layer CNN achieved a 13% test error rate without
normalization and 11% with normalization"; section 3.4: overlapping pooling lowers error and makes overfitting
slightly harder. The networks are :mod:`alexnet.cuda_convnet`'s variants; this module is cuda-convnet's recipe
and the study that runs them.

The recipe (cuda-convnet's ``convdata.py``, ``layer.cu``/``weights.cuh`` and ``wiki/Methodology.wiki``):

* inputs: random 24x24 crops of the 32x32 images and random horizontal flips, minus the centre 24x24 of the
  training set's per-pixel mean image, on the raw 0-255 scale; evaluation on the centre crop, and "multiview":
  the average softmax of 10 views (4 corners, the centre, and their mirror images);
* the update: ``inc = mom * inc - eps * (mean gradient + wc * W); W += inc`` per layer, with epsW 0.001, epsB
  0.002, momentum 0.9, weight decay ``wc`` on weights only (per layer: see ``Variant.weight_decay``), batch 128;
  when the schedule divides epsW by 10 the momentum already accumulated is kept as it is (it is in weight units);
* the schedule: train on "batches 1-4" (40,000 images) with "batch 5" (the other 10,000) held out for validation,
  then on all 50,000, then epsW / 10, then / 100 (bias rates unchanged): 13pct 100 + 40 + 10 + 10 epochs,
  11pct 350 + 150 + 10 + 10.

The split is a fixed permutation of the training images (seed 0): cuda-convnet's batch files are not what the
lab's JPEG folders hold, so "batch 5" is 10,000 images drawn once. The test set is evaluated after every epoch
for the curves (train-test gap), but nothing is chosen on it: the schedule is fixed in advance.

The study (:func:`run_study`) trains each variant for each seed, saving the run's whole state after every epoch
and rewriting the results file, so a killed study continues (``resume``) where it stopped, to the same weights.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..choices import MEMORY_FORMATS, check_choice
from ..cuda_convnet import LAYERS, CudaConvnetCIFAR, get_variant
from ..engine import Diverged, Engine, EpochClock, MaxEpochs, PhasedLR, ProgressBar, StateFile, Tally, TensorBatches
from ..files import load_json, save_json
from . import _results

SCHEMA = "alexnet-lab/lrn-overlap/1"
CROP, BORDER = 24, 4  # 24x24 crops of 32x32 images; the centre crop starts 4 pixels in


# ----------------------------------------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class Phase:
    """A stretch of epochs with one data range and one weight learning-rate factor."""

    epochs: int
    images: str  # "batches 1-4" (validation on batch 5) or "batches 1-5"
    lr_factor: float  # epsW multiplier (biases keep theirs)


SCHEDULES = {
    "13pct": (Phase(100, "batches 1-4", 1.0), Phase(40, "batches 1-5", 1.0), Phase(10, "batches 1-5", 0.1),
              Phase(10, "batches 1-5", 0.01)),
    "11pct": (Phase(350, "batches 1-4", 1.0), Phase(150, "batches 1-5", 1.0), Phase(10, "batches 1-5", 0.1),
              Phase(10, "batches 1-5", 0.01)),
}  # fmt: skip


def schedule_of(variant: str) -> tuple[Phase, ...]:
    """11pct's long schedule for the 11pct net; 13pct's for it and its ablations."""
    get_variant(variant)
    return SCHEDULES["11pct" if variant == "11pct" else "13pct"]


def total_epochs(schedule: tuple[Phase, ...]) -> int:
    return sum(phase.epochs for phase in schedule)


def phase_at(schedule: tuple[Phase, ...], epoch: int) -> Phase:
    """The phase epoch ``epoch`` (1-based) trains in; an epoch past the end is an error."""
    if epoch < 1:
        raise ValueError(f"epoch must be >= 1, got {epoch}")
    end = 0
    for phase in schedule:
        end += phase.epochs
        if epoch <= end:
            return phase
    raise ValueError(f"epoch {epoch} is past the end of the schedule ({total_epochs(schedule)} epochs)")


# ----------------------------------------------------------------------------------------------- the update rule


class CudaConvnetSGD(torch.optim.Optimizer):
    """cuda-convnet's update: ``inc = mom * inc - lr * (grad + wc * W); W += inc``, per parameter group.

    Unlike ``torch.optim.SGD`` (which keeps the momentum in gradient units and multiplies it by the current lr),
    the increment is kept in weight units, so a change of lr applies to new gradients only, as in cuda-convnet.
    Groups: ``lr``, ``momentum``, ``weight_decay``.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"CudaConvnetSGD: need lr > 0, 0 <= momentum < 1, weight_decay >= 0; got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")  # fmt: skip
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "inc" not in state:
                    state["inc"] = torch.zeros_like(p)
                inc = state["inc"]
                inc.mul_(group["momentum"]).add_(p.grad, alpha=-group["lr"])
                if group["weight_decay"]:
                    inc.add_(p, alpha=-group["lr"] * group["weight_decay"])
                p.add_(inc)
        return None


def param_groups(net: CudaConvnetCIFAR, eps_w: float = 0.001, eps_b: float = 0.002) -> list[dict]:
    """One group per layer's weights (epsW, its wc) and one per layer's biases (epsB, no decay), as cuda-convnet."""
    decay = net.weight_decay_of()
    groups = []
    for name in LAYERS:
        layer = getattr(net, name)
        groups.append(dict(params=[layer.weight], lr=eps_w, weight_decay=decay[name], name=f"{name}.weight",
                           base_lr=eps_w, scales=True))  # fmt: skip
        groups.append(dict(params=[layer.bias], lr=eps_b, weight_decay=0.0, name=f"{name}.bias", base_lr=eps_b,
                           scales=False))  # fmt: skip
    return groups


# ----------------------------------------------------------------------------------------------- the data


@dataclass
class Data:
    """CIFAR-10 as uint8 tensors on the training device, split as cuda-convnet's batches."""

    train: torch.Tensor  # (50000, 3, 32, 32) uint8, "batches 1-4" first, then "batch 5"
    train_labels: torch.Tensor
    test: torch.Tensor  # (10000, 3, 32, 32)
    test_labels: torch.Tensor
    mean: torch.Tensor  # (3, 24, 24) float32: the centre of the training set's per-pixel mean image
    held_out: int  # the last ``held_out`` training images are "batch 5"

    @classmethod
    def from_tensors(cls, train, train_labels, test, test_labels, device="cpu", held_out: int | None = None, *,
                     train_count: int | None = None, test_count: int | None = None) -> Data:  # fmt: skip
        """``held_out`` of the training images (a fixed draw; default one fifth: 10,000 of CIFAR-10's 50,000)
        become "batch 5"; the mean image is computed over all training images (cuda-convnet's batches.meta holds
        the mean of batches 1-5). ``train_count`` / ``test_count``: a random sample of that many (fixed seed; an
        image folder lists its images class by class, so its first images would be one or two classes)."""
        if train_count is not None:
            pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:train_count]
            train, train_labels = train[pick], train_labels[pick]
        if test_count is not None:
            pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(2))[:test_count]
            test, test_labels = test[pick], test_labels[pick]
        held_out = len(train) // 5 if held_out is None else held_out
        if train.dtype != torch.uint8 or train.dim() != 4 or tuple(train.shape[1:]) != (3, 32, 32):
            raise ValueError(f"train must be uint8 (N, 3, 32, 32), got {train.dtype} {tuple(train.shape)}")
        if not 0 < held_out < len(train):
            raise ValueError(f"held_out must be in (0, {len(train)}), got {held_out}")
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
        keep, val = order[: len(train) - held_out], order[len(train) - held_out :]
        order = torch.cat([keep, val])
        mean = train.double().mean(0)[:, BORDER : BORDER + CROP, BORDER : BORDER + CROP].float()
        to = dict(device=device)
        return cls(train[order].to(**to), train_labels[order].to(**to), test.to(**to), test_labels.to(**to),
                   mean.to(**to), held_out)  # fmt: skip

    def environment(self) -> dict:
        """The results file's environment block: where these tensors live, and how many images."""
        return _results.environment(self.train.device, train_images=len(self.train), test_images=len(self.test))

    def count(self, images: str) -> int:
        """How many training images a phase trains on (they come first in ``train``)."""
        return len(self.train) - self.held_out if images == "batches 1-4" else len(self.train)


def crops(images: torch.Tensor, mean: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Random 24x24 crops with random horizontal flips (``gen``), or the centre crops (``gen`` None), of uint8
    images (N, 3, 32, 32), minus ``mean``: float32 (N, 3, 24, 24) on the raw 0-255 scale."""
    n, device = len(images), images.device
    if gen is None:
        return images[:, :, BORDER : BORDER + CROP, BORDER : BORDER + CROP].float() - mean
    dy = torch.randint(0, 32 - CROP + 1, (n,), generator=gen).to(device)
    dx = torch.randint(0, 32 - CROP + 1, (n,), generator=gen).to(device)
    flip = (torch.rand(n, generator=gen) < 0.5).to(device)
    steps = torch.arange(CROP, device=device)
    rows = dy[:, None] + steps  # (N, 24)
    cols = dx[:, None] + torch.where(flip[:, None], CROP - 1 - steps, steps)
    out = images[torch.arange(n, device=device)[:, None, None, None], torch.arange(3, device=device)[None, :, None,
                 None], rows[:, None, :, None], cols[:, None, None, :]]  # fmt: skip
    return out.float() - mean


def views(images: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """cuda-convnet's 10 test views of (N, 3, 32, 32) uint8 images: the 4 corner crops, the centre crop, and the
    mirror image of each, as (10, N, 3, 24, 24) float32 minus ``mean``."""
    corners = [(0, 0), (0, 32 - CROP), (32 - CROP, 0), (32 - CROP, 32 - CROP), (BORDER, BORDER)]
    out = [images[:, :, y : y + CROP, x : x + CROP].float() - mean for y, x in corners]
    out += [view.flip(-1) for view in out]  # the mirror image of a crop is the crop of the mirror image
    return torch.stack(out)


@torch.no_grad()
def test_error(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, *,
               multiview: bool = False, batch_size: int = 500) -> float:  # fmt: skip
    """Top-1 error on the centre crops, or (``multiview``) on the average softmax of the 10 views."""
    net.eval()
    wrong = 0
    for first in range(0, len(images), batch_size):
        chunk, y = images[first : first + batch_size], labels[first : first + batch_size]
        if multiview:
            stack = views(chunk, mean)
            batch = stack.flatten(0, 1).contiguous(memory_format=_input_format(net))
            probs = F.softmax(net(batch), dim=1).view(10, len(chunk), -1).mean(0)
        else:
            probs = net(crops(chunk, mean, None).contiguous(memory_format=_input_format(net)))
        wrong += int((probs.argmax(1) != y).sum())
    return wrong / len(images)


# ----------------------------------------------------------------------------------------------- one run




def _run_key(variant: str, seed: int, epochs: int, memory_format: str = "contiguous") -> dict:
    key = dict(variant=variant, seed=seed, epochs=epochs)
    if memory_format != "contiguous":  # keys of runs begun before the option existed stay as they were
        key["memory_format"] = memory_format
    return key


def _input_format(net: nn.Module) -> torch.memory_format:
    """The memory format the network's first convolution holds its weights in, for its inputs to match."""
    weight = next((m.weight for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    if weight is None:
        return torch.contiguous_format
    channels_last = weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format


def train_run(variant: str, seed: int, data: Data, *, epochs: int | None = None, batch_size: int = 128,
              backend: str = "auto", state_path: str | Path | None = None, progress: bool = True,
              on_epoch=None, memory_format: str = "contiguous") -> dict:  # fmt: skip
    """Train one network through its schedule (or its first ``epochs`` epochs); resumable from ``state_path``.

    Per epoch: training error (on the augmented crops, as trained), validation error on "batch 5" while it is
    held out, centre-crop test error, seconds. At the end: centre-crop and multiview test error.
    ``on_epoch(record)`` runs after every epoch (the study rewrites its results file there).
    ``memory_format``: ``"channels_last"`` holds weights and activations NHWC (fp32 either way: 1.1-1.4x faster
    per step on a 2-core x86-64 CPU, ``benchmarks/bench_cuda_convnet.py``; sums in another order, so not
    bit-identical to ``"contiguous"``). It is part of the run's key: a run resumes in the format it began in.
    """
    check_choice("memory_format", memory_format, MEMORY_FORMATS)
    schedule = schedule_of(variant)
    epochs = total_epochs(schedule) if epochs is None else epochs
    if not 1 <= epochs <= total_epochs(schedule):
        raise ValueError(f"epochs must be in [1, {total_epochs(schedule)}] for {variant}, got {epochs}")
    device = data.train.device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CudaConvnetCIFAR(variant, backend=backend).to(device)
    if memory_format == "channels_last":
        net = net.to(memory_format=torch.channels_last)
    optimizer = CudaConvnetSGD(param_groups(net), lr=0.001)
    phase = lambda epoch: phase_at(schedule, epoch + 1)  # noqa: E731  (the engine counts epochs from 0)
    layout = _input_format(net)
    batches = TensorBatches(data.train, data.train_labels, batch_size, seed=seed,
                            prepare=lambda x, gen: crops(x, data.mean, gen).contiguous(memory_format=layout),
                            size=lambda epoch: data.count(phase(epoch).images))  # fmt: skip
    key = _run_key(variant, seed, epochs, memory_format)
    state = StateFile(state_path, key)
    engine = Engine(net, optimizer, batches, schedule=PhasedLR(lambda epoch: phase(epoch).lr_factor),
                    hooks=[Tally(), EpochClock(), _Evaluation(data, phase, _results.machine_name(device))])  # fmt: skip
    state.restore(engine)
    postfix = lambda r: dict(train=f"{r['train_error']:.3f}", test=f"{r['test_error']:.3f}")  # noqa: E731
    bar = ProgressBar(epochs, engine.epoch, f"{variant} seed {seed}", postfix, enabled=progress)
    engine.hooks += [state, bar]
    if on_epoch is not None:
        engine.hooks.append(_Callback(lambda: on_epoch(dict(key, history=engine.records, finished=False,
                                                              wall_s=engine.wall_s))))  # fmt: skip
    try:
        engine.fit(MaxEpochs(epochs))
    except Diverged as err:
        raise FloatingPointError(f"{variant} seed {seed}: {err}") from None
    finally:
        bar.close()
    final = dict(centre=test_error(net, data.test, data.test_labels, data.mean),
                 multiview=test_error(net, data.test, data.test_labels, data.mean, multiview=True))  # fmt: skip
    seconds = [r["seconds"] for r in engine.records]
    return dict(key, history=engine.records, finished=True, final_test_error=final,
                seconds_per_epoch=statistics.median(seconds) if seconds else None, wall_s=engine.wall_s)  # fmt: skip


class _Evaluation:
    """Each epoch's record: its phase, the validation error on "batch 5" while it is held out, the centre-crop
    test error, and the machine (a resumed run may go on on another)."""

    def __init__(self, data: Data, phase, machine: str) -> None:
        self.data, self.phase, self.machine = data, phase, machine

    def on_epoch_end(self, engine: Engine, record: dict) -> None:
        data, phase = self.data, self.phase(engine.epoch)
        record.update(images=phase.images, lr_factor=phase.lr_factor, machine=self.machine)
        if phase.images == "batches 1-4":
            held = slice(len(data.train) - data.held_out, None)
            record["val_error"] = test_error(engine.model, data.train[held], data.train_labels[held], data.mean)
        record["test_error"] = test_error(engine.model, data.test, data.test_labels, data.mean)


class _Callback:
    def __init__(self, call) -> None:
        self.call = call

    def after_epoch(self, engine: Engine, record: dict) -> None:
        self.call()


# ----------------------------------------------------------------------------------------------- the study


PLAN = (("13pct", 3), ("13pct+lrn", 3), ("13pct-nonoverlap", 3), ("11pct", 1))  # (variant, seeds), in run order


def run_study(data: Data, out: str | Path, *, plan=PLAN, epochs: int | None = None, backend: str = "auto",
              resume: bool = False, progress: bool = True, max_runs: int | None = None,
              memory_format: str = "contiguous") -> dict:  # fmt: skip
    """Every (variant, seed) of ``plan``, seed by seed (so that each variant gets its first seed early, and the
    160-epoch networks before the 520-epoch one), a run begun in an earlier call first; writes
    ``out/results.json`` after every epoch, keeps each run's state in ``out/state/`` until it finishes, and
    redraws ``out/curves.png`` (:func:`plot`) after every finished run.

    ``epochs``: cut every schedule short (tests, quick looks). ``resume``: continue the study in ``out``;
    without it an ``out`` that holds results is refused. ``max_runs``: stop after this many runs this call.
    ``memory_format``: for runs that begin now (see :func:`train_run`); a run already begun keeps its own.
    """
    import matplotlib.pyplot as plt

    out = Path(out)
    path = out / "results.json"
    if path.exists() and not resume:
        raise FileExistsError(f"{path} exists: pass resume=True to continue that study, or use another folder")
    results = load(path) if path.exists() else dict(schema=SCHEMA, runs={}, environment=data.environment())
    if path.exists() and results.get("epochs_override") != epochs:
        raise ValueError(f"{path} was made with epochs={results.get('epochs_override')}, not {epochs}")
    results["epochs_override"] = epochs
    # Seed by seed, so each variant has a first seed early; the long (520-epoch) schedule after the short ones.
    # A run begun and not finished (a stopped process) goes first: its state is on disk and half its time spent.
    pairs = [(variant, seed, i) for i, (variant, seeds) in enumerate(plan) for seed in range(seeds)]
    unfinished = {name for name, run in results["runs"].items() if not run.get("finished")}
    pairs.sort(key=lambda p: (f"{p[0]}:{p[1]}" not in unfinished, total_epochs(schedule_of(p[0])), p[1], p[2]))
    order = [(variant, seed) for variant, seed, _ in pairs]
    done_now = 0
    for variant, seed in order:
        name = f"{variant}:{seed}"
        if results["runs"].get(name, {}).get("finished"):
            continue
        if max_runs is not None and done_now >= max_runs:
            break

        def on_epoch(record, name=name):
            results["runs"][name] = record
            save(results, path)

        state = out / "state" / f"{variant}-seed{seed}.pt"
        state.parent.mkdir(parents=True, exist_ok=True)
        begun = results["runs"].get(name)
        run_format = begun.get("memory_format", "contiguous") if begun else memory_format
        results["runs"][name] = train_run(variant, seed, data, epochs=epochs, backend=backend, state_path=state,
                                          progress=progress, on_epoch=on_epoch, memory_format=run_format)  # fmt: skip
        results["environment"] = data.environment()
        save(results, path)
        state.unlink(missing_ok=True)
        plt.close(plot(results, out / "curves.png"))  # the curves of every run so far, beside the results
        done_now += 1
    return results


def save(results: dict, path: str | Path) -> Path:
    """Written atomically: a study killed mid-write keeps the previous file."""
    return save_json(results, path)


def load(path: str | Path) -> dict:
    return load_json(path, SCHEMA, "an LRN/overlap study results file")


def summary(results: dict, plan=None) -> list[dict]:
    """Per variant: seeds finished, final centre / multiview test error (median, range), the train-test gap at
    the last epoch, seconds per epoch (median), wall time.

    ``plan`` ((variant, seeds) pairs, e.g. :data:`PLAN`): a row for every planned variant, in the plan's order,
    those not begun included, and ``runs`` counts the seeds planned; without it, the variants and runs begun.
    """
    by_variant: dict[str, list[dict]] = {variant: [] for variant, _ in plan or ()}
    for run in results["runs"].values():
        by_variant.setdefault(run["variant"], []).append(run)
    planned = dict(plan or ())

    def spread(values):
        return dict(median=statistics.median(values), min=min(values), max=max(values)) if values else None

    rows = []
    for variant, runs in by_variant.items():
        done = [r for r in runs if r["finished"]]
        rows.append(dict(
            variant=variant, seeds_finished=len(done), runs=max(planned.get(variant, 0), len(runs)),
            epochs_done=[len(r["history"]) for r in runs],
            centre=spread([r["final_test_error"]["centre"] for r in done]),
            multiview=spread([r["final_test_error"]["multiview"] for r in done]),
            gap=spread([r["history"][-1]["test_error"] - r["history"][-1]["train_error"] for r in done]),
            seconds_per_epoch=spread([s["seconds"] for r in runs for s in r["history"]]),
            seconds_by_machine=_seconds_by_machine(runs),
            wall_h=sum(r["wall_s"] for r in runs) / 3600,
        ))  # fmt: skip
    return rows


def _epoch_seconds_by_machine(runs: list[dict]) -> dict[str, list[float]]:
    """Each epoch's training seconds, grouped by the machine it ran on (epochs from before the machine was
    recorded under ``"unrecorded"``), in the order first met."""
    by_machine: dict[str, list[float]] = {}
    for run in runs:
        for epoch in run["history"]:
            by_machine.setdefault(epoch.get("machine", "unrecorded"), []).append(epoch["seconds"])
    return by_machine


def _seconds_by_machine(runs: list[dict]) -> dict[str, float]:
    """Median seconds per epoch on each machine the epochs ran on, in the order first met."""
    return {machine: statistics.median(seconds) for machine, seconds in _epoch_seconds_by_machine(runs).items()}


def summary_line(row: dict) -> str:
    """One variant of :func:`summary` as a sentence."""

    seconds = row["seconds_per_epoch"]
    if not row["epochs_done"]:
        return f"{row['variant']}: 0 of {row['runs']} runs finished (not begun)"
    return (f"{row['variant']}: {row['seeds_finished']} of {row['runs']} runs finished (epochs {row['epochs_done']}); "
            f"test error centre {_pct(row['centre'])}, multiview {_pct(row['multiview'])}; train-test gap "
            f"{_pct(row['gap'])}; {seconds['median']:.0f} s/epoch; {row['wall_h']:.2f} h")  # fmt: skip


def remaining(results: dict, plan=PLAN) -> list[dict]:
    """Per planned run not finished, in the plan's order: the epochs left and the hours they should take.

    The estimate is the variant's own pace so far: the median seconds per training image over its timed epochs
    (so an epoch on batches 1-5 costs 5/4 of one on batches 1-4), times the images left, times the share its
    runs spent beyond training (evaluation, saving). ``hours`` is None for a variant with no epoch yet. A
    median over every machine the epochs ran on: on another CPU the real time can differ twofold.
    """
    train_images = results.get("environment", {}).get("train_images", 50_000)
    share = {"batches 1-4": 0.8, "batches 1-5": 1.0}  # batch 5 is held out while training on batches 1-4
    rows = []
    for variant, seeds in plan:
        runs = [run for run in results["runs"].values() if run["variant"] == variant]
        timed = [(epoch["seconds"], share[epoch["images"]] * train_images)
                 for run in runs for epoch in run["history"] if "images" in epoch]  # fmt: skip
        per_image = statistics.median(s / n for s, n in timed) if timed else None
        trained = sum(epoch["seconds"] for run in runs for epoch in run["history"])
        overhead = max(1.0, sum(run["wall_s"] for run in runs) / trained) if trained else 1.0
        schedule = schedule_of(variant)
        epochs = min(results.get("epochs_override") or total_epochs(schedule), total_epochs(schedule))
        for seed in range(seeds):
            run = results["runs"].get(f"{variant}:{seed}")
            if run is not None and run["finished"]:
                continue
            done = len(run["history"]) if run else 0
            left = range(done + 1, epochs + 1)
            images = sum(share[phase_at(schedule, epoch).images] * train_images for epoch in left)
            hours = None if per_image is None else per_image * images * overhead / 3600
            rows.append(dict(variant=variant, seed=seed, epochs_done=done, epochs_left=len(left), hours=hours))
    return rows


def remaining_line(rows: list[dict]) -> str:
    """:func:`remaining` as a sentence."""
    if not rows:
        return "Left in the plan: nothing, every planned run has finished."
    parts = []
    for row in rows:
        epochs = row["epochs_done"] + row["epochs_left"]
        begun = f"{row['epochs_left']} of {epochs} epochs left" if row["epochs_done"] else f"{epochs} epochs"
        pace = "not timed yet" if row["hours"] is None else f"~{row['hours']:.1f} h"
        parts.append(f"{row['variant']} seed {row['seed']}: {begun}, {pace}")
    timed = [row["hours"] for row in rows if row["hours"] is not None]
    if not timed:  # no total: "about 0.0 h" would read as nothing left
        return f"Left in the plan: {'; '.join(parts)}."
    total = f"about {sum(timed):.1f} h at the pace so far"
    if len(timed) < len(rows):
        total += " and the runs not timed yet"
    return f"Left in the plan: {'; '.join(parts)}. In all {total}."


def compare(results: dict, base: str, other: str, which: str = "multiview") -> dict:
    """``other`` minus ``base`` in final test error (``which``: ``"centre"`` or ``"multiview"``) or in the
    train-test gap at the last epoch (``"gap"``: centre-crop test error minus training error, section 3.4's
    overfitting), paired by seed: the mean difference, each seed's, and whether it is inside the seed noise
    (|mean| no larger than the spread of either variant over its seeds). Only seeds both finished count."""
    if which not in ("centre", "multiview", "gap"):
        raise ValueError(f"which must be 'centre', 'multiview' or 'gap', not {which!r}")
    finals = {}
    for run in results["runs"].values():
        if run["finished"] and run["variant"] in (base, other):
            last = run["history"][-1]
            value = last["test_error"] - last["train_error"] if which == "gap" else run["final_test_error"][which]
            finals.setdefault(run["variant"], {})[run["seed"]] = value
    seeds = sorted(set(finals.get(base, {})) & set(finals.get(other, {})))
    diffs = [finals[other][s] - finals[base][s] for s in seeds]
    if not diffs:
        return dict(base=base, other=other, which=which, seeds=[], differences=[], mean=None, inside_noise=None)
    # The seed noise: the larger spread (max - min) of the two variants over all their finished seeds, and whose.
    spreads = [(max(v.values()) - min(v.values()), name, len(v))
               for name, v in ((base, finals[base]), (other, finals[other])) if len(v) > 1]  # fmt: skip
    noise, noise_variant, noise_seeds = max(spreads) if spreads else (None, None, 0)
    # A variant with one finished seed has no spread of its own: the noise above is the other variant's only.
    unmeasured = [name for name in (base, other) if len(finals[name]) == 1]
    mean = statistics.fmean(diffs)
    return dict(base=base, other=other, which=which, seeds=seeds, differences=diffs, mean=mean,
                std=statistics.stdev(diffs) if len(diffs) > 1 else None, noise=noise, noise_variant=noise_variant,
                noise_seeds=noise_seeds, inside_noise=None if noise is None else abs(mean) <= noise,
                unmeasured_noise=unmeasured)  # fmt: skip


def plot(results: dict, path: str | Path | None = None):
    """Left: test error per epoch of every run, one colour per variant (the data-range and rate changes marked).
    Right: the train-test gap per epoch (test error minus training error): how much each variant overfits."""
    import matplotlib.pyplot as plt

    fig, (ax_err, ax_gap) = plt.subplots(1, 2, figsize=(12, 4))
    variants = sorted({run["variant"] for run in results["runs"].values()})
    for run in results["runs"].values():
        colour = f"C{variants.index(run['variant'])}"
        epochs = [r["epoch"] for r in run["history"]]
        label = run["variant"] if run["seed"] == min(
            r["seed"] for r in results["runs"].values() if r["variant"] == run["variant"]) else None  # fmt: skip
        ax_err.plot(epochs, [r["test_error"] for r in run["history"]], color=colour, label=label, lw=1)
        ax_gap.plot(epochs, [r["test_error"] - r["train_error"] for r in run["history"]], color=colour, lw=1)
    last = max((len(run["history"]) for run in results["runs"].values()), default=0)
    boundaries = {sum(p.epochs for p in schedule_of(v)[: i + 1]) for v in variants for i in range(3)}
    boundaries = {b for b in boundaries if b < last}  # only the changes the runs have reached
    for ax in (ax_err, ax_gap):
        for b in sorted(boundaries):
            ax.axvline(b, color="grey", lw=0.6, ls=":")
    ax_err.set(xlabel="epoch", ylabel="test error (centre crop)", ylim=(0, None),
               title="test error per epoch (dotted: +batch 5, epsW/10, epsW/100)")  # fmt: skip
    ax_gap.set(xlabel="epoch", ylabel="test error - training error",
               title="train-test gap (training error: augmented crops, during the epoch)")  # fmt: skip
    ax_err.legend(fontsize=9)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def _pct(spread: dict | None) -> str:
    if spread is None:
        return "-"
    if spread["min"] == spread["max"]:
        return f"{spread['median']:.1%}"
    return f"{spread['median']:.1%} ({spread['min']:.1%}-{spread['max']:.1%})"


def markdown_summary(results: dict, plan=None) -> str:
    """:func:`summary` as a Markdown table: one row per variant, medians and ranges over its finished seeds
    (``plan``: as :func:`summary`'s, a row for every planned variant)."""
    lines = ["| variant | runs finished | epochs done per run | test error, centre crop | multiview | train-test gap "
             "(last epoch) | s/epoch | compute |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for row in summary(results, plan):
        seconds = row["seconds_per_epoch"]
        per_epoch = f"{seconds['median']:.0f}" if seconds else "-"
        lines.append(f"| `{row['variant']}` | {row['seeds_finished']} of {row['runs']} | "
                     f"{', '.join(map(str, row['epochs_done'])) or 'not begun'} | {_pct(row['centre'])} | "
                     f"{_pct(row['multiview'])} | {_pct(row['gap'])} | {per_epoch} | "
                     f"{row['wall_h']:.1f} h |")  # fmt: skip
    device = results.get("environment", {}).get("device", "?")
    text = "\n".join(lines) + f"\n\nDevice: {device}. Medians over finished seeds, ranges in parentheses."
    machines = [(row["variant"], machine, seconds) for row in summary(results, plan)
                for machine, seconds in row["seconds_by_machine"].items() if machine != "unrecorded"]  # fmt: skip
    if machines:  # the same study resumed on different CPUs: epoch times differ with the machine
        text += " Median s/epoch by machine: " + "; ".join(
            f"`{variant}` {seconds:.0f} on {machine}" for variant, machine, seconds in machines) + "."
    return text


TURNS = {
    "13pct": (25, 50, 100, 140, 150, 160),
    "11pct": (25, 50, 100, 160, 250, 350, 400, 500, 510, 520),  # 100 and 160: where the 13pct nets turn and end
}  # the epochs :func:`curve_table` shows by default: each phase's end, and a few on the way


def curve_table(results: dict, runs: tuple[str, ...] | None = None, epochs: tuple[int, ...] | None = None,
                schedule: str = "13pct") -> str:
    """The curves at the schedule's turns as a Markdown table: per run (default: seed 0 of every variant on
    ``schedule``, "13pct" or "11pct"), training error / loss on the augmented crops, validation ("batch 5", while
    held out) and centre-crop test error at each of ``epochs`` (default ``TURNS[schedule]``); a run that has not
    reached an epoch shows ``-``. Every run must train on ``schedule``: the data and rate columns are its."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, not {schedule!r}")
    phases = SCHEDULES[schedule]
    if runs is None:
        runs = tuple(name for name, run in results["runs"].items()
                     if run["seed"] == 0 and schedule_of(run["variant"]) == phases)  # fmt: skip
    other = [name for name in runs if schedule_of(results["runs"][name]["variant"]) != phases]
    if other:
        raise ValueError(f"runs {other} do not train on the {schedule} schedule; pass schedule= theirs")
    epochs = TURNS[schedule] if epochs is None else epochs
    rates = {1.0: "epsW", 0.1: "epsW / 10", 0.01: "epsW / 100"}
    head = " | ".join(f"`{results['runs'][name]['variant']}` train error / loss / validation / test" for name in runs)
    lines = [f"| epoch | data | rate | {head} |", "| --- | --- | --- | " + " | ".join("---" for _ in runs) + " |"]
    for epoch in epochs:
        phase = phase_at(phases, epoch)
        cells = []
        for name in runs:
            history = results["runs"][name]["history"]
            if len(history) < epoch:
                cells.append("-")
                continue
            r = history[epoch - 1]
            val = f"{r['val_error']:.1%}" if "val_error" in r else "-"
            cells.append(f"{r['train_error']:.1%} / {r['train_loss']:.3f} / {val} / {r['test_error']:.1%}")
        lines.append(f"| {epoch} | {phase.images} | {rates.get(phase.lr_factor, phase.lr_factor)} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines)


def runs_table(results: dict, plan=PLAN) -> str:
    """Every run begun as a Markdown table, in the plan's order then by seed: its memory format, epochs done,
    final test errors, the median training seconds per epoch on each machine its epochs ran on (how many
    epochs each, in brackets; "unrecorded" for epochs from before machines were recorded) and its wall time."""
    rank = {variant: i for i, (variant, _) in enumerate(plan)}
    lines = ["| run | memory format | epochs | test error, centre / multiview | training s/epoch by machine [epochs] "
             "| wall time |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for run in sorted(results["runs"].values(), key=lambda r: (rank.get(r["variant"], len(rank)), r["variant"],
                                                                r["seed"])):  # fmt: skip
        machines = "; ".join(f"{statistics.median(seconds):.0f} on {machine} [{len(seconds)}]"
                             for machine, seconds in _epoch_seconds_by_machine([run]).items())  # fmt: skip
        final = run.get("final_test_error")
        errors = f"{final['centre']:.1%} / {final['multiview']:.1%}" if run["finished"] else "running"
        epochs = f"{len(run['history'])} of {run.get('epochs', total_epochs(schedule_of(run['variant'])))}"
        fmt = run.get("memory_format", "contiguous").replace("_", "-")  # as the CLI spells it
        lines.append(f"| `{run['variant']}` seed {run['seed']} | {fmt} | "
                     f"{epochs} | {errors} | {machines or '-'} | {run['wall_s'] / 3600:.2f} h |")  # fmt: skip
    return "\n".join(lines)


def comparison_line(result: dict) -> str:
    """:func:`compare` as a sentence."""
    measure = "train-test gap" if result["which"] == "gap" else f"{result['which']} test error"
    name = f"{result['other']} - {result['base']} ({measure})"
    if result["mean"] is None:
        return f"{name}: not measured yet (no seed has finished both)"
    seeds = len(result["seeds"])
    if result["inside_noise"] is None:
        verdict = "one seed: no noise estimate yet"
    else:  # the noise is a range over a few seeds: with two, a rough estimate
        rough = ": a rough estimate" if result["noise_seeds"] < 3 else ""
        verdict = (f"{'inside' if result['inside_noise'] else 'larger than'} the seed noise (the spread of "
                   f"{result['noise_variant']} over {result['noise_seeds']} seeds, {_points(result['noise'])}{rough})")
        for single in result.get("unmeasured_noise", ()):
            verdict += f"; {single} has one finished seed, so its own seed noise is not in that estimate"
    each = ", ".join(f"{d * 100:+.2f}" for d in result["differences"])
    over = f"on average over {seeds} seed{'s' * (seeds > 1)} ({each})"
    return f"{name}: {_points(result['mean'], sign=True)} {over}; {verdict}"


def _points(fraction: float, sign: bool = False) -> str:
    """A difference of error rates in percentage points: ``+0.22 points``."""
    return f"{fraction * 100:{'+' if sign else ''}.2f} points"
