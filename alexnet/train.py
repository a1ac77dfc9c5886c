"""The training engine: the paper's recipe (section 5), driven step by step from a notebook or run from the CLI.

Defaults are the paper's: SGD with momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.01 divided by 10
when the validation error stops improving. A :class:`Trainer` exposes ``step()`` (one mini-batch), ``run()``
(steps or epochs, with callbacks and a tqdm bar), ``pause()`` / ``resume()`` / ``stop()`` callable from another
thread, live metrics in ``history``, metrics files (JSON lines and CSV) and atomic checkpoints that hold
everything needed to continue exactly: model, optimizer, scheduler, every RNG and the position in the data.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from . import checkpoint, parallel
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, read_checkpoint
from .data import check_classes, train_loader
from .engine import Diverged, Engine
from .files import atomic_save
from .metrics import EpochCheckpoints, MetricsLog, TrainerMetrics, evaluate
from .model import ModelSpec
from .schedules import PlateauLR, WarmupLR

# What makes a folder hold a run (colour-specificity.json: see alexnet.conv1.ColourSpecificityLog).
RUN_FILES = ("checkpoint.pt", "metrics.jsonl", "epochs.csv", "colour-specificity.json")


AUTOCAST = {"fp32": None, "bf16": torch.bfloat16}  # a precision's autocast dtype (None: no autocast)


@dataclass
class TrainConfig:
    """Optimisation settings; the defaults are the paper's (section 5)."""

    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    lr_decay: float = 0.1  # "divide the learning rate by 10 when the validation error rate stopped improving"
    plateau_patience: int = 1  # epochs without a better validation error before dividing
    min_lr: float = 1e-6
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    log_every: int = 10  # steps between records in metrics.jsonl
    eval_batches: int | None = None  # cap on validation batches per epoch (None: all)
    # The recipe's additions (alexnet.choices.RECIPES; the paper's: none) and the forward pass's precision.
    recipe: str = "paper"
    warmup_steps: int = 0  # a linear warm-up to lr over this many steps
    label_smoothing: float = 0.0
    precision: str = "fp32"  # or "bf16" (autocast); alexnet.choices.resolve_precision turns "auto" into one

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay", "min_lr"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"TrainConfig: {name} must be a finite number, got {getattr(self, name)}")
        for name in ("lr", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig: {name} must be > 0, got {getattr(self, name)}")
        for name in ("momentum", "weight_decay", "min_lr"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig: {name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.lr_decay < 1:
            raise ValueError(f"TrainConfig: lr_decay must be in (0, 1), got {self.lr_decay}")
        if self.warmup_steps < 0:
            raise ValueError(f"TrainConfig: warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"TrainConfig: label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.precision not in AUTOCAST:
            raise ValueError(f"TrainConfig: precision must be one of {tuple(AUTOCAST)}, got {self.precision!r}")






# ----------------------------------------------------------------------------------------------- trainer


class Trainer:
    """Trains ``model`` on ``train_set``, validating on ``val_set`` after every epoch.

    Args:
        model: any classifier taking (N, 3, H, W) images.
        train_set, val_set: data sets of (image, label), e.g. from :func:`alexnet.data.load_datasets`.
        config: :class:`TrainConfig` (the paper's recipe by default).
        log_dir: folder for ``metrics.jsonl``, ``epochs.csv`` and ``checkpoint.pt`` (None: keep nothing on disk).
            A folder that already holds a run is never overwritten: load its ``checkpoint.pt`` to continue it, or
            pass ``overwrite=True`` to start over (its logs are then cleared).
        spec: how to rebuild the model from a checkpoint (:class:`ModelSpec`); needed by ``evaluate`` on the CLI.
        preprocessing: how the data were prepared (e.g. ``{"mean": "pixel", "augment": True}``), kept in the
            checkpoint so that evaluation prepares them the same way. The class names come from the data sets.

    Ctrl-C (SIGINT) and SIGTERM during ``run()`` in the main thread stop it between two steps and write the
    checkpoint, so a resume continues exactly; ``interrupted`` then names the signal. A second Ctrl-C aborts.

    Thread safety: ``pause()``, ``resume()`` and ``stop()`` may be called from any thread while ``run()`` works;
    everything else belongs to the thread that runs.
    """

    def __init__(
        self,
        model: nn.Module,
        train_set,
        val_set=None,
        config: TrainConfig | None = None,
        *,
        log_dir: str | Path | None = None,
        spec: ModelSpec | None = None,
        dist_ctx: parallel.DistContext | None = None,
        preprocessing: dict | None = None,
        overwrite: bool = False,
    ) -> None:
        self.config = config or TrainConfig()
        self.classes = check_classes(train_set, val_set)
        self.preprocessing = dict(preprocessing or {})
        self.dist = dist_ctx
        self.strategy = parallel.strategy_for(dist_ctx, self.config.device)
        self.device = self.strategy.device
        self.model = self.strategy.wrap(model)
        params = self.strategy.parameters(self.model)
        log_dir = log_dir if self.strategy.is_main else None
        self.net = self.strategy.base(self.model)  # the whole network, as checkpoints describe it
        self.spec = spec
        self.train_set, self.val_set = train_set, val_set
        self._progress = False
        self.loader = train_loader(train_set, self.config.batch_size, self.device, seed=self.config.seed,
                                   num_workers=self.config.num_workers)  # fmt: skip
        self.optimizer = torch.optim.SGD(
            params, lr=self.config.lr, momentum=self.config.momentum,
            weight_decay=self.config.weight_decay,
        )  # fmt: skip
        self.schedule = PlateauLR(self.optimizer, factor=self.config.lr_decay, patience=self.config.plateau_patience,
                                  min_lr=self.config.min_lr)  # fmt: skip
        if self.config.warmup_steps:
            self.schedule = WarmupLR(self.schedule, steps=self.config.warmup_steps, peak=self.config.lr)
        self.log_dir = Path(log_dir) if log_dir else None
        self._unresumed_run = self._prepare_log_dir(overwrite)  # a run is here that we have not loaded
        self.log = MetricsLog(log_dir)
        self.interrupted: str | None = None  # "SIGINT" / "SIGTERM" when a signal stopped run()
        self.history: list[dict] = []  # one record per step: live metrics for plots
        self.metrics = TrainerMetrics(self)
        self.engine = Engine(self.model, self.optimizer, self.loader, schedule=self.schedule,
                             hooks=[self.metrics, EpochCheckpoints(self)], parallel=self.strategy,
                             rng=self._private_rng, autocast=AUTOCAST[self.config.precision],
                             label_smoothing=self.config.label_smoothing)  # fmt: skip
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        # The trainer's own random stream (dropout): seeded like torch.manual_seed(seed) would, but private, so
        # training neither changes nor depends on the global RNG (a notebook's own draws stay its own).
        self.rng = dict(cpu=torch.Generator().manual_seed(self.config.seed).get_state(), cuda={})

    # -- progress, kept by the engine -----------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Epochs finished."""
        return self.engine.epoch

    @property
    def step_in_epoch(self) -> int:
        return self.engine.step_in_epoch

    @property
    def global_step(self) -> int:
        return self.engine.global_step

    @property
    def epochs(self) -> list[dict]:
        """One record per finished epoch."""
        return self.engine.records

    def _cuda_indices(self) -> list[int]:
        devices = getattr(self.net, "devices", None) or (self.device,)
        indices = {torch.device(d).index for d in devices if torch.device(d).type == "cuda"}
        return sorted(torch.cuda.current_device() if i is None else i for i in indices)

    @contextlib.contextmanager
    def _private_rng(self):
        """Run the block on the trainer's random stream (CPU and its CUDA devices); the global one is untouched."""
        cuda = self._cuda_indices()
        with torch.random.fork_rng(devices=cuda):
            torch.set_rng_state(self.rng["cpu"])
            for index in cuda:
                if index in self.rng["cuda"]:
                    torch.cuda.set_rng_state(self.rng["cuda"][index], index)
                else:
                    with torch.cuda.device(index):
                        torch.cuda.manual_seed(self.config.seed)
            try:
                yield
            finally:
                self.rng["cpu"] = torch.get_rng_state()
                for index in cuda:
                    self.rng["cuda"][index] = torch.cuda.get_rng_state(index)

    def _prepare_log_dir(self, overwrite: bool) -> bool:
        """Clear temporary files a killed run left; start over if asked. True if the folder holds a run."""
        if self.log_dir is None:
            return False
        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise NotADirectoryError(f"log_dir {self.log_dir} is a file, not a folder")
        for leftover in self.log_dir.glob(".checkpoint.pt.*.tmp"):  # a save cut short by SIGKILL
            leftover.unlink(missing_ok=True)
        existing = [name for name in RUN_FILES if (self.log_dir / name).exists()]
        if existing and overwrite:
            for name in existing:
                (self.log_dir / name).unlink()
            return False
        return bool(existing)

    def _check_not_overwriting(self) -> None:
        if self._unresumed_run:
            existing = ", ".join(name for name in RUN_FILES if (self.log_dir / name).exists())
            raise FileExistsError(
                f"{self.log_dir} already holds a run ({existing}): resume it from {self.log_dir / 'checkpoint.pt'}, "
                "or start over with overwrite=True"
            )

    # -- control from other threads ---------------------------------------------------------------

    def pause(self) -> None:
        """Make ``run()`` wait before its next step, until ``resume()`` or ``stop()``."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        """Make ``run()`` return after the step in progress (a checkpoint is written if there is a log_dir)."""
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # -- training -----------------------------------------------------------------------------------

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def set_lr(self, lr: float) -> None:
        """Change the learning rate now (the notebook's slider)."""
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if isinstance(self.schedule, WarmupLR):  # during the warm-up the slider moves the rate it rises to
            self.schedule.peak = lr

    @property
    def precision(self) -> str:
        """``"fp32"`` or ``"bf16"``: the forward pass's precision now."""
        return "bf16" if self.engine.autocast == torch.bfloat16 else "fp32"

    def step(self) -> dict:
        """One SGD step on the next mini-batch; at the end of an epoch also validates and adjusts the lr.

        Returns the step's record: epoch, step, loss, top-1/top-5 error on the batch, lr, images/s.
        """
        self._check_not_overwriting()
        try:
            self.engine.step()
        except Diverged as err:
            raise Diverged(f"{err}{self._divergence_hint()}") from None
        return self.history[-1]

    def _divergence_hint(self) -> str:
        """The known cause, said only where it applies: a modern init fed the paper's raw 0-255 pixels."""
        init = (self.spec.kwargs.get("init") if self.spec is not None else None) or getattr(
            getattr(self.model, "config", None), "init", None
        )
        raw_pixels = getattr(getattr(self.train_set, "transform", None), "std", 0) is None
        if init == "modern" and raw_pixels:
            return (". Networks with init='modern' on inputs at the paper's raw 0-255 pixel scale diverge at the "
                    "paper's lr 0.01: use init='paper' or lr 0.001")  # fmt: skip
        return ""

    def run(
        self,
        steps: int | None = None,
        epochs: int | None = None,
        callbacks: Iterable[Callable[[Trainer, dict], None]] = (),
        progress: bool = True,
    ) -> list[dict]:
        """Train for ``steps`` mini-batches or until ``epochs`` epochs are finished in total (one of the two).

        ``callbacks(trainer, record)`` run after every step. Returns the epoch records. ``stop()`` from another
        thread ends the run after the current step; ``pause()`` makes it wait.
        """
        if (steps is None) == (epochs is None):
            raise ValueError("run: give exactly one of steps or epochs")
        if steps is not None and steps < 0 or epochs is not None and epochs < 0:
            raise ValueError(f"run: steps and epochs must be >= 0, got steps={steps}, epochs={epochs}")
        from tqdm.auto import tqdm

        self._check_not_overwriting()
        self._progress = progress  # the validation at each epoch's end shows a bar too
        if steps is not None:
            total = steps
        else:
            total = max(0, (epochs - self.epoch) * self.steps_per_epoch - self.step_in_epoch)
        self._stop.clear()
        self.interrupted = None
        with _stop_on_signals(self), tqdm(total=total, desc="training", disable=not progress, unit="step") as bar:
            for _ in range(total):
                self._running.wait()
                if self._stop.is_set():
                    break
                record = self.step()
                bar.update(1)
                bar.set_postfix(epoch=record["epoch"], loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.0e}")
                for callback in callbacks:
                    callback(self, record)
        if self._stop.is_set() and self.log_dir:
            self.save_checkpoint(self.log_dir / "checkpoint.pt")
        return self.epochs

    def evaluate(
        self, dataset=None, *, ten_crop: bool = False, max_batches: int | None = None, progress: bool = False
    ) -> dict:
        """:func:`evaluate` of this trainer's model on ``dataset`` (the validation set by default)."""
        dataset = dataset if dataset is not None else self.val_set
        if dataset is None:
            raise ValueError("evaluate: no data set (pass one, or give the Trainer a val_set)")
        return evaluate(self.model, dataset, ten_crop=ten_crop, batch_size=self.config.batch_size,
                        device=self.device, num_workers=self.config.num_workers, max_batches=max_batches,
                        progress=progress)  # fmt: skip

    # -- checkpoints -------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The checkpoint: model, momentum, lr and schedule, progress, RNGs, config, data, logs so far.

        Layout-independent (parameters and momentum by name, the same in every parallel mode) and plain data, so
        it loads with ``weights_only=True``. In a distributed run every rank must call it (the columns are
        gathered); rank 0's copy is the one saved.
        """
        # The trainer's private stream (python's and numpy's are recorded too, though training draws from neither).
        rng = dict(torch=self.rng["cpu"].clone(), python=random.getstate(), numpy=checkpoint.numpy_rng_state())
        if torch.cuda.is_available():
            states = torch.cuda.get_rng_state_all()
            rng["cuda"] = [self.rng["cuda"].get(index, state) for index, state in enumerate(states)]
        model_state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        momentum = self.strategy.full_state(self.model, self._momentum_by_name())
        return dict(
            format=CHECKPOINT_FORMAT,
            version=CHECKPOINT_VERSION,
            model_spec=asdict(self.spec) if self.spec else None,
            model=self.strategy.full_state(self.model, model_state),
            optimizer=dict(lr=self.lr, momentum=momentum),
            scheduler=self.schedule.state_dict(),
            rng=rng,
            progress=dict(epoch=self.epoch, step_in_epoch=self.step_in_epoch, global_step=self.global_step),
            epoch_stats=self.metrics.state_dict(),
            train_config=asdict(self.config),
            epochs=self.epochs,
            data=dict(self.preprocessing, classes=self.classes),
            loader=dict(skipped=self.loader.skipped),
        )

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly from a checkpoint's state (:meth:`state_dict`); the global RNGs are left alone."""
        self.net.load_state_dict(state["model"])
        params = dict(self.net.named_parameters())
        for name, buf in state["optimizer"]["momentum"].items():
            param = params[name]
            if any(param is p for g in self.optimizer.param_groups for p in g["params"]):
                self.optimizer.state[param]["momentum_buffer"] = buf.to(param.device, param.dtype).clone()
        self.set_lr(state["optimizer"]["lr"])
        self.schedule.load_state_dict(state["scheduler"])
        progress = state["progress"]
        engine = self.engine
        engine.epoch, engine.step_in_epoch = progress["epoch"], progress["step_in_epoch"]
        engine.global_step = progress["global_step"]
        engine.records = list(state["epochs"])
        engine.reset_batches()
        self.metrics.load_state_dict(state["epoch_stats"])
        self.loader.skipped = state.get("loader", {}).get("skipped", 0)
        rng = state["rng"]
        self.rng["cpu"] = rng["torch"].clone()
        if "cuda" in rng and torch.cuda.is_available():
            saved = rng["cuda"]
            self.rng["cuda"] = {index: saved[index] for index in self._cuda_indices() if index < len(saved)}

    def _momentum_by_name(self) -> dict[str, torch.Tensor]:
        names = {id(p): n for n, p in self.net.named_parameters()}
        out = {}
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                buf = self.optimizer.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    out[names[id(p)]] = buf.detach().cpu()
        return out

    def save_checkpoint(self, path: str | Path | None, *, overwrite: bool = True) -> Path | None:
        """Write everything needed to resume exactly; atomic (temporary file, then rename).

        ``overwrite=False`` refuses (FileExistsError) to replace a file that is already there: what a notebook
        cell should pass, so that running it again never replaces a run someone saved.
        Distributed: every rank must call it; only rank 0 writes (``path`` may be None on the others).
        """
        if not overwrite and path is not None and Path(path).exists():
            raise FileExistsError(
                f"save_checkpoint: {path} already exists (a saved run is kept): choose another path, or pass "
                "overwrite=True to replace it"
            )
        state = self.state_dict()
        if not self.strategy.is_main or path is None:
            return None
        atomic_save(state, path)
        return Path(path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue exactly from a checkpoint written by :meth:`save_checkpoint`.

        The checkpoint's classes must be the data's. When the trainer logs to a folder, that folder's run can only
        be continued from its own checkpoint, and rows logged after the checkpoint (a run killed between writing
        them and its next checkpoint) are dropped, since the resumed run logs those steps again.
        """
        state = read_checkpoint(path)
        if self._unresumed_run and Path(path).resolve() != (self.log_dir / "checkpoint.pt").resolve():
            raise FileExistsError(
                f"{self.log_dir} holds another run: resume into it only from its own checkpoint.pt, or start over "
                "with overwrite=True"
            )
        saved_classes = (state.get("data") or {}).get("classes")
        if saved_classes is not None and self.classes is not None and list(saved_classes) != self.classes:
            raise ValueError(
                f"checkpoint {path} was trained on {len(saved_classes)} classes ({_short(saved_classes)}), the data "
                f"has {len(self.classes)} ({_short(self.classes)})"
            )
        saved_recipe = state.get("train_config", {}).get("recipe", "paper")  # runs from before recipes: the paper's
        if saved_recipe != self.config.recipe:  # the schedules' states differ: one cannot continue the other
            raise ValueError(
                f"checkpoint {path} was trained with the {saved_recipe} recipe, this trainer has the "
                f"{self.config.recipe} one: build it with recipe={saved_recipe!r} to continue that run"
            )
        try:
            self.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"checkpoint {path} does not fit this model: {err}") from err
        self.log.truncate(self.epoch, self.global_step)
        self._unresumed_run = False


def _short(names) -> str:
    return ", ".join(list(names)[:4]) + (", ..." if len(names) > 4 else "")


class _stop_on_signals:
    """While ``run()`` works in the main thread: the first SIGINT or SIGTERM asks the trainer to stop after the
    step in progress (never in the middle of one: the checkpoint written then resumes exactly); a second SIGINT
    raises KeyboardInterrupt at once (or, during a checkpoint write, right after it: see
    ``alexnet.files.atomic_write``)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, trainer: Trainer) -> None:
        self.trainer, self.previous = trainer, {}

    def _handle(self, signum, _frame) -> None:
        self.trainer.interrupted = signal.Signals(signum).name
        self.trainer.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS
                             if signal.getsignal(sig) is not None}  # None: not set from Python, cannot be put back
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
