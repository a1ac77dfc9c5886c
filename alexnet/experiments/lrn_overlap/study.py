"""One run of a variant through its schedule, and the study that runs the plan seed by seed, resumably."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from ...choices import MEMORY_FORMATS, check_choice
from ...cuda_convnet import CudaConvnetCIFAR
from ...engine import Diverged, Engine, EpochClock, ProgressBar, StateFile, Tally, TensorBatches
from ...files import load_json, save_json
from ...schedules import MaxEpochs, PhasedLR
from .. import _results
from .recipe import (
    SCHEMA,
    CudaConvnetSGD,
    Data,
    crops,
    input_format,
    param_groups,
    phase_at,
    schedule_of,
    test_error,
    total_epochs,  # fmt: skip
)


def _run_key(variant: str, seed: int, epochs: int, memory_format: str = "contiguous") -> dict:
    key = dict(variant=variant, seed=seed, epochs=epochs)
    if memory_format != "contiguous":  # contiguous runs' keys name no format: their committed states match
        key["memory_format"] = memory_format
    return key


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
    layout = input_format(net)
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


TRAIN_EVAL_IMAGES = 2000  # training images whose error is measured like the test error's, after every epoch


class _Evaluation:
    """Each epoch's record: its phase, the validation error on "batch 5" while it is held out, the centre-crop
    test error, the same error on the first 2,000 training images (``train_eval_error``: the epoch's own training
    error is averaged over crops and flips while the weights still move, so early on it lies above a test error
    measured at the epoch's end, and a gap taken from it reads negative), and the machine (a resumed run may go
    on on another)."""

    def __init__(self, data: Data, phase, machine: str) -> None:
        self.data, self.phase, self.machine = data, phase, machine

    def on_epoch_end(self, engine: Engine, record: dict) -> None:
        data, phase = self.data, self.phase(engine.epoch)
        record.update(images=phase.images, lr_factor=phase.lr_factor, machine=self.machine)
        if phase.images == "batches 1-4":
            held = slice(len(data.train) - data.held_out, None)
            record["val_error"] = test_error(engine.model, data.train[held], data.train_labels[held], data.mean)
        record["test_error"] = test_error(engine.model, data.test, data.test_labels, data.mean)
        seen = slice(0, min(TRAIN_EVAL_IMAGES, len(data.train) - data.held_out))  # in batches 1-4: always trained on
        record["train_eval_error"] = test_error(engine.model, data.train[seen], data.train_labels[seen], data.mean)


class _Callback:
    def __init__(self, call) -> None:
        self.call = call

    def after_epoch(self, engine: Engine, record: dict) -> None:
        self.call()


# ----------------------------------------------------------------------------------------------- the study


PLAN = (("13pct", 3), ("13pct+lrn", 3), ("13pct-nonoverlap", 3), ("11pct", 1))  # (variant, seeds), in run order


@dataclass(frozen=True)
class LiveSettings:
    """Notebook 5's "run it yourself": a random sample of ``train_images`` (a fifth held out as "batch 5") and
    ``test_images``, ``epochs`` epochs of each run in ``plan``."""

    train_images: int
    test_images: int
    epochs: int
    plan: tuple = (("13pct", 1), ("13pct+lrn", 1), ("13pct-nonoverlap", 1))

    @property
    def budget(self) -> int:
        """Training image-epochs over the plan: what Run All's time is proportional to."""
        return sum(seeds for _, seeds in self.plan) * self.epochs * self.train_images * 4 // 5


def live_settings(fast: bool = False) -> LiveSettings:
    """Sized for Run All in at most 3 minutes on 2 CPU cores (``benchmarks/bench_notebooks.py`` measures it);
    ``fast``: the test suite's seconds."""
    return LiveSettings(512, 256, 1) if fast else LiveSettings(8_000, 2_000, 2)


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

    from . import report

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

        state = run_state_path(out, variant, seed)
        state.parent.mkdir(parents=True, exist_ok=True)
        begun = results["runs"].get(name)
        run_format = begun.get("memory_format", "contiguous") if begun else memory_format
        results["runs"][name] = train_run(variant, seed, data, epochs=epochs, backend=backend, state_path=state,
                                          progress=progress, on_epoch=on_epoch, memory_format=run_format)  # fmt: skip
        results["environment"] = data.environment()
        save(results, path)
        state.unlink(missing_ok=True)
        plt.close(report.plot(results, out / "curves.png"))  # the curves of every run so far, beside the results
        done_now += 1
    return results


def run_state_path(out: Path, variant: str, seed: int) -> Path:
    """Where a run keeps its state until it finishes: ``out/state/`` (a folder .gitignore leaves out under
    ``benchmarks/results/``)."""
    return Path(out) / "state" / f"{variant}-seed{seed}.pt"


def save(results: dict, path: str | Path) -> Path:
    """Written atomically: a study killed mid-write keeps the previous file."""
    return save_json(results, path)


def load(path: str | Path) -> dict:
    return load_json(path, SCHEMA, "an LRN/overlap study results file")
