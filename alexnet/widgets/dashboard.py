"""The training dashboard: choose and build a run (:class:`TrainingSetup`), train it in a background thread with
live plots (:class:`TrainingDashboard`), save and load checkpoints (:class:`CheckpointLoader`)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import ipywidgets as W
import torch
from IPython.display import display

from .. import conv1, viz
from ..checkpoint import read_checkpoint
from ..choices import BACKENDS, DASHBOARD_DEFAULTS, DASHBOARD_MODELS, resolve_precision
from ..train import Trainer
from ._figures import show_figure


class TrainingDashboard:
    """Controls and live plots for a :class:`alexnet.train.Trainer`.

    Args:
        trainer: what to train (``alexnet.runs.build_trainer`` makes one from plain choices).
        steps: how many steps "Start" runs (it can be stopped or paused before).
        refresh_seconds: seconds between plot redraws; drawing costs a CPU a large share of a step, so a redraw
            every few seconds rather than every few steps leaves most of the time to training.
        refresh_every: redraw every this many steps instead (tests).
        checkpoint: where "Save" writes and "Load" reads.
        validate_every, validation_images: a quick validation on a fixed subset every so many steps.
        reference: a model whose conv1 is drawn beside the live one until the live one has structure (half the
            reference's smoothness); by default the shipped CIFAR-10 weights when the trainer trains their network.
    """

    def __init__(self, trainer: Trainer, steps: int = 500, refresh_seconds: float = 4.0,
                 refresh_every: int | None = None, checkpoint="runs/notebook.pt", validate_every: int = 200,
                 validation_images: int = 2000, reference="shipped"):  # fmt: skip
        self.trainer, self.refresh_every, self.refresh_seconds = trainer, refresh_every, refresh_seconds
        self._drawn_at = time.monotonic()  # the panel draws itself when shown
        self.watchers: list = []  # more callbacks(trainer, record) for every step of a run (benchmarks)
        self.reference = _shipped_reference(trainer) if reference == "shipped" else reference
        self._reference_smoothness = (conv1.conv1_structure(self.reference)["smoothness"]
                                      if self.reference is not None else None)  # fmt: skip
        # A quick validation every ``validate_every`` steps on a fixed subset, so a student sees a validation
        # number within minutes, not only at the end of an epoch (the full validation still runs there).
        self.validate_every = validate_every
        self.val_subset = _fixed_subset(trainer.val_set, validation_images)
        self.validation = dict(images=len(self.val_subset) if self.val_subset is not None else 0, points=[])
        # Before the epoch's full validation starts; a dashboard built again on this trainer replaces the old one's.
        trainer.engine.hooks = [h for h in trainer.engine.hooks if not isinstance(h, _SaysValidating)]
        trainer.engine.hooks.insert(0, _SaysValidating(self))
        self.checkpoint = Path(checkpoint)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._confirm_overwrite = False  # Save was pressed once over an existing file
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.pause_button = W.Button(description="Pause", icon="pause", disabled=True)
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.save_button = W.Button(description="Save", icon="save")
        self.load_button = W.Button(description="Load", icon="folder-open")
        self.steps = W.IntText(value=steps, description="steps", layout=W.Layout(width="160px"))
        # 1e-5 .. 0.3 in steps of 10**0.01 (about 2%) on a wide track: a short drag moves the rate by a fraction of
        # a decade, not by a factor of 40; the readout can be typed into for an exact value.
        self.lr = W.FloatLogSlider(base=10, min=-5, max=-0.5, step=0.01, description="lr", readout_format=".2e",
                                   continuous_update=False, layout=W.Layout(width="480px"))  # fmt: skip
        self._show_lr(trainer.lr)
        self.progress = W.IntProgress(value=0, min=0, max=steps, description="progress")
        self.status = W.Label(value=self._status_text("ready: press Start to train"))
        self.curves = W.Output(layout=W.Layout(min_height="260px"))
        self.filters = W.Output()
        self.start_button.on_click(self.start)
        self.pause_button.on_click(self.toggle_pause)
        self.stop_button.on_click(self.stop)
        self.save_button.on_click(self.save)
        self.load_button.on_click(self.load)
        self.lr.observe(self._on_lr, names="value")
        self.widget = W.VBox([
            W.HBox([self.start_button, self.pause_button, self.stop_button, self.save_button, self.load_button]),
            W.HBox([self.steps, self.lr, self.progress]),
            self.status, self.curves, self.filters,
        ])  # fmt: skip

    # -- actions (also what the buttons call) ------------------------------------------------------

    def start(self, _button=None) -> None:
        """Train ``steps`` steps in a background thread (no-op if already running)."""
        if self.running:
            return
        self.error = None
        self.progress.max, self.progress.value = self.steps.value, 0
        self.start_button.disabled, self.pause_button.disabled, self.stop_button.disabled = True, False, False
        self.status.value = self._status_text("training")
        self.thread = threading.Thread(target=self._train, args=(self.steps.value,), daemon=True)
        self.thread.start()

    def toggle_pause(self, _button=None) -> None:
        if self.trainer.paused:
            self.trainer.resume()
            self.pause_button.description = "Pause"
            self.status.value = self._status_text("training")
        else:
            self.trainer.pause()
            self.pause_button.description = "Resume"
            self.status.value = self._status_text("paused")

    def stop(self, _button=None) -> None:
        self.trainer.stop()

    def save(self, _button=None) -> Path | None:
        """Write the checkpoint. A file already there (a run saved earlier) is replaced only on a second press."""
        if self.checkpoint.exists() and not self._confirm_overwrite:
            self._confirm_overwrite = True
            self.status.value = self._status_text(
                f"{self.checkpoint} holds a saved run ({_summary_or_reason(self.checkpoint)}): press Save again to "
                "replace it"
            )
            return None
        self._confirm_overwrite = False
        path = self.trainer.save_checkpoint(self.checkpoint)
        self.status.value = self._status_text(f"saved {path}")
        return path

    def load(self, _button=None) -> None:
        if self.running:
            self.status.value = self._status_text("stop training before loading a checkpoint")
            return
        try:
            self.trainer.load_checkpoint(self.checkpoint)
        except (FileNotFoundError, ValueError) as err:
            self.status.value = self._status_text(f"cannot load: {err}")
            return
        self._show_lr(self.trainer.lr)
        self.status.value = self._status_text(f"loaded {self.checkpoint} (step {self.trainer.global_step})")
        self.refresh()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background run ends (for scripts and tests)."""
        if self.thread is not None:
            self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    # -- internals ---------------------------------------------------------------------------------

    def _show_lr(self, lr: float) -> None:
        """Put the slider at ``lr``, widening its range first if needed (a slider clamps, and a clamped value would
        change the run's rate)."""
        exponent = math.log10(lr)
        self.lr.min, self.lr.max = min(self.lr.min, math.floor(exponent)), max(self.lr.max, math.ceil(exponent))
        self._showing_lr = True  # the run's own rate, shown: not a user's change (which would also move a warm-up)
        try:
            self.lr.value = lr
        finally:
            self._showing_lr = False

    def _on_lr(self, change) -> None:
        if getattr(self, "_showing_lr", False):
            return
        self.trainer.set_lr(change["new"])
        if not self.running or self.trainer.paused:  # a running one says so at its next redraw
            state = "paused" if self.running else "ready"
            self.status.value = self._status_text(f"{state}, lr set to {change['new']:.1e} for the next step")

    def _train(self, steps: int) -> None:
        def on_step(trainer, record):
            self.progress.value += 1
            if self.val_subset is not None and trainer.global_step % self.validate_every == 0:
                self.validate()
            if self._redraw_due(trainer.global_step):
                self.status.value = self._status_text("paused" if trainer.paused else "training")
                self.refresh()

        try:
            self.trainer.run(steps=steps, callbacks=[on_step, *self.watchers], progress=False)
        except BaseException as err:  # shown in the panel: a thread's exception would otherwise vanish
            self.error = err
        finally:
            self.start_button.disabled, self.pause_button.disabled, self.stop_button.disabled = False, True, True
            self.pause_button.description = "Pause"
            self.status.value = self._status_text(f"error: {self.error}" if self.error else "stopped")
            self.refresh()

    def validate(self) -> float:
        """Top-1 error on the fixed validation subset now (the status says so while it runs); kept for the plot."""
        self.status.value = self._status_text(f"validating on {self.validation['images']:,} images")
        error = self.trainer.evaluate(self.val_subset)["top1_err"]
        self.validation["points"].append((self.trainer.global_step, error))
        self.status.value = self._status_text("training")
        return error

    def _redraw_due(self, step: int) -> bool:
        if self.refresh_every is not None:
            return step % self.refresh_every == 0
        if time.monotonic() - self._drawn_at < self.refresh_seconds:
            return False
        self._drawn_at = time.monotonic()
        return True

    def refresh(self) -> None:
        """Redraw the curves and conv1's filters (beside the reference's until the live ones have structure)."""
        self._drawn_at = time.monotonic()
        show_figure(self.curves, viz.plot_training(self.trainer.history, self.trainer.epochs,
                                                   validation=self.validation))  # fmt: skip
        net = self.trainer.net
        if not hasattr(net, "conv1_weight"):
            return
        label = f"live conv1, step {self.trainer.global_step:,}"
        if self.reference is not None and conv1.conv1_structure(net)["smoothness"] < self._reference_smoothness / 2:
            figure = viz.show_conv1_progress(net, self.reference, label=label,
                                             reference_label="shipped weights (where 20 epochs get you)")  # fmt: skip
        else:
            figure = viz.show_conv1_progress(net, label=label)
        show_figure(self.filters, figure)

    def _status_text(self, state: str) -> str:
        t = self.trainer
        last = t.history[-1] if t.history else None
        metrics = f", loss {last['loss']:.3f}, train top-1 error {last['top1_err']:.2f}" if last else ""
        points = self.validation["points"]
        if points:
            step, error = points[-1]
            metrics += f", validation top-1 error {error:.2f} (step {step})"
        return f"{state} | epoch {t.epoch}, step {t.global_step}{metrics}, lr {t.lr:.1e} | {t.config.recipe} " \
               f"recipe, {t.precision}"

    def _ipython_display_(self) -> None:
        display(self.widget)
        self.refresh()


class _SaysValidating:
    """An engine hook: the dashboard's status says the epoch's full validation is running while it does."""

    def __init__(self, dashboard: TrainingDashboard) -> None:
        self.dashboard = dashboard

    def on_epoch_end(self, engine, record: dict) -> None:
        images = len(self.dashboard.trainer.val_set) if self.dashboard.trainer.val_set is not None else 0
        if images:
            self.dashboard.status.value = self.dashboard._status_text(f"validating on all {images:,} images")


def _shipped_reference(trainer: Trainer):
    """The shipped CIFAR-10 weights when ``trainer`` trains their network on 10 classes, else None."""
    spec = trainer.spec
    if spec is None or spec.name != "cifar-alexnet" or len(trainer.classes) != 10:
        return None
    from ..hub import pretrained

    return pretrained("cifar-alexnet-cifar10", backend="torch")


def _fixed_subset(dataset, count: int):
    """The same ``count`` images of ``dataset`` every time (seed 0), or all of them when it has no more."""
    if dataset is None or len(dataset) <= count:
        return dataset
    if hasattr(dataset, "subset"):
        return dataset.subset(count, seed=0)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:count]
    return torch.utils.data.Subset(dataset, order.tolist())


class TrainingSetup:
    """Dropdowns for data, model, device layout, backend, batch, recipe and precision; "Build" makes a trainer and
    shows its dashboard.

    ``defaults`` pre-select the choices over :data:`alexnet.choices.DASHBOARD_DEFAULTS` (the notebook's one cell
    to change for a real run).
    """

    LAYOUTS = {
        "one device": None,
        "two columns on the CPU": ("cpu", "cpu"),
        "two columns on one GPU": ("cuda:0", "cuda:0"),
        "two columns on two GPUs": ("cuda:0", "cuda:1"),
    }

    def __init__(self, data_choices: dict[str, str], steps: int = 200, **defaults) -> None:
        defaults = {**DASHBOARD_DEFAULTS, **defaults}
        self.data = W.Dropdown(options=data_choices, description="data")
        self.recipe = W.Dropdown(options={"fast start (warm-up, label smoothing)": "fast", "the paper's": "paper"},
                                 value=defaults.pop("recipe"), description="recipe")  # fmt: skip
        auto = resolve_precision("auto", "cpu")
        self.precision = W.Dropdown(options={f"auto ({auto} on this CPU)": "auto", "fp32": "fp32", "bf16": "bf16"},
                                    value=defaults.pop("precision"), description="precision")  # fmt: skip
        self.model = W.Dropdown(options=DASHBOARD_MODELS, description="model")
        self.layout = W.Dropdown(options=list(self.LAYOUTS), description="layout")
        self.backend = W.Dropdown(options=list(BACKENDS), description="backend")
        self.device = W.Dropdown(options=["cpu", "cuda"], description="device")
        self.batch_size = W.Dropdown(
            options=[16, 32, 64, 128, 256], value=defaults.pop("batch_size"), description="batch"
        )
        self.subset = W.IntText(value=defaults.pop("subset", 0), description="subset (0: all)",
                                style={"description_width": "initial"})  # fmt: skip
        for name, value in defaults.items():
            getattr(self, name).value = value
        self.steps = steps
        self.build_button = W.Button(description="Build", button_style="primary", icon="wrench")
        self.output = W.Output()
        self.dashboard: TrainingDashboard | None = None
        self.build_button.on_click(self.build)
        self.widget = W.VBox([
            W.HBox([self.data, self.model, self.layout]),
            W.HBox([self.backend, self.device, self.batch_size, self.subset]),
            W.HBox([self.recipe, self.precision]),
            self.build_button, self.output,
        ])  # fmt: skip

    def build(self, _button=None) -> TrainingDashboard:
        from ..runs import build_trainer

        if self.dashboard is not None and self.dashboard.running:
            self.dashboard.stop()
            self.dashboard.wait()
        trainer = build_trainer(
            self.data.value, self.model.value, backend=self.backend.value, device=self.device.value,
            devices=self.LAYOUTS[self.layout.value], batch_size=self.batch_size.value, subset=self.subset.value or None,
            recipe=self.recipe.value, precision=self.precision.value,
        )  # fmt: skip
        self.dashboard = TrainingDashboard(trainer, steps=self.steps)
        self.output.outputs = ()
        self.output.append_display_data(self.dashboard.widget)
        self.dashboard.refresh()
        return self.dashboard

    def _ipython_display_(self) -> None:
        display(self.widget)


class CheckpointLoader:
    """A path box and a Load button: reads any alexnet-lab checkpoint and hands the model to ``on_load``."""

    def __init__(self, path, on_load) -> None:
        self.path = W.Text(value=str(path), description="checkpoint", layout=W.Layout(width="480px"))
        self.button = W.Button(description="Load", icon="folder-open")
        self.status = W.HTML()
        self.on_load = on_load
        self.button.on_click(self.load)
        self.widget = W.VBox([W.HBox([self.path, self.button]), self.status])

    def load(self, _button=None):
        from ..checkpoint import load_model

        try:
            model = load_model(self.path.value)
        except (FileNotFoundError, ValueError) as err:
            self.status.value = f"<b>cannot load</b>: {err}"
            return None
        self.status.value = (f"loaded {checkpoint_summary(self.path.value)}: run the cells below again to see it "
                             "(Run > Run Selected Cell and All Below)")
        self.on_load(model)
        return model

    def _ipython_display_(self) -> None:
        display(self.widget)


def _summary_or_reason(path) -> str:
    try:
        return checkpoint_summary(path)
    except (OSError, ValueError) as err:
        return f"unreadable: {err}"


def checkpoint_summary(path) -> str:
    """One line about a checkpoint file, for a notebook's loader."""
    state = read_checkpoint(path)
    spec = state.get("model_spec") or {}
    return f"{spec.get('name', '?')} at epoch {state['progress']['epoch']}, step {state['progress']['global_step']}"
