"""Notebook controls (ipywidgets). The only module that knows about notebooks; the work is done elsewhere.

``TrainingDashboard`` trains in a background thread so the notebook stays usable: start / pause / stop, a
learning-rate slider that acts at the next step, a progress bar, live loss and error curves, and conv1's filters
redrawn as they learn; checkpoints are saved and loaded from the same panel.
"""

from __future__ import annotations

import io
import math
import threading
from pathlib import Path

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from IPython.display import Image, display

from . import viz
from .checkpoint import read_checkpoint
from .choices import BACKENDS, DASHBOARD_MODELS
from .train import Trainer


def show_figure(out: W.Output, fig) -> None:
    """Replace an Output widget's content with a matplotlib figure, as a PNG.

    Setting ``outputs`` (rather than ``with out: display(...)``) is safe from a background thread and works
    without a kernel, which is how the dashboard updates while training and how its tests read it.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")  # titles and labels stay whole
    plt.close(fig)
    out.outputs = ()
    out.append_display_data(Image(data=buffer.getvalue(), format="png"))


class TrainingDashboard:
    """Controls and live plots for a :class:`alexnet.train.Trainer`.

    Args:
        trainer: what to train (``alexnet.runs.build_trainer`` makes one from plain choices).
        steps: how many steps "Start" runs (it can be stopped or paused before).
        refresh_every: steps between plot redraws (drawing costs time on a CPU).
        checkpoint: where "Save" writes and "Load" reads.
    """

    def __init__(self, trainer: Trainer, steps: int = 500, refresh_every: int = 10, checkpoint="runs/notebook.pt",
                 validate_every: int = 200, validation_images: int = 2000):  # fmt: skip
        self.trainer, self.refresh_every = trainer, refresh_every
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
        self.lr.value = lr

    def _on_lr(self, change) -> None:
        self.trainer.set_lr(change["new"])
        if not self.running or self.trainer.paused:  # a running one says so at its next redraw
            state = "paused" if self.running else "ready"
            self.status.value = self._status_text(f"{state}, lr set to {change['new']:.1e} for the next step")

    def _train(self, steps: int) -> None:
        def on_step(trainer, record):
            self.progress.value += 1
            if self.val_subset is not None and trainer.global_step % self.validate_every == 0:
                self.validate()
            if trainer.global_step % self.refresh_every == 0:
                self.status.value = self._status_text("paused" if trainer.paused else "training")
                self.refresh()

        try:
            self.trainer.run(steps=steps, callbacks=[on_step], progress=False)
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

    def refresh(self) -> None:
        """Redraw the curves and conv1's filters."""
        show_figure(self.curves, viz.plot_training(self.trainer.history, self.trainer.epochs,
                                                   validation=self.validation))  # fmt: skip
        if hasattr(self.trainer.net, "conv1_weight"):
            show_figure(self.filters, viz.show_filters(self.trainer.net))

    def _status_text(self, state: str) -> str:
        t = self.trainer
        last = t.history[-1] if t.history else None
        metrics = f", loss {last['loss']:.3f}, train top-1 error {last['top1_err']:.2f}" if last else ""
        points = self.validation["points"]
        if points:
            step, error = points[-1]
            metrics += f", validation top-1 error {error:.2f} (step {step})"
        return f"{state} | epoch {t.epoch}, step {t.global_step}{metrics}, lr {t.lr:.1e}"

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


def _fixed_subset(dataset, count: int):
    """The same ``count`` images of ``dataset`` every time (seed 0), or all of them when it has no more."""
    if dataset is None or len(dataset) <= count:
        return dataset
    if hasattr(dataset, "subset"):
        return dataset.subset(count, seed=0)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:count]
    return torch.utils.data.Subset(dataset, order.tolist())


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


def lrn_explorer(x, channels=(0, 2, 4, 6)) -> W.Widget:
    """Sliders for LRN's n, k, alpha and beta, redrawing :func:`alexnet.viz.show_lrn` of ``x`` (1, C, H, W) live:
    before and after on one colour scale, the factor on a fixed one, the profile across channels."""
    out = W.Output()
    size = W.IntSlider(value=5, min=1, max=15, description="n (size)")
    k = W.FloatSlider(value=2.0, min=0.1, max=5.0, step=0.1, description="k")
    alpha = W.FloatLogSlider(value=1e-4, base=10, min=-6, max=-1, description="alpha", readout_format=".0e")
    beta = W.FloatSlider(value=0.75, min=0.0, max=2.0, step=0.05, description="beta")
    controls = [size, k, alpha, beta]

    def draw(_change=None):
        show_figure(out, viz.show_lrn(x, list(channels), size.value, alpha.value, beta.value, k.value))

    for control in controls:
        control.observe(draw, names="value")
    draw()
    return W.VBox([W.HBox(controls[:2]), W.HBox(controls[2:]), out])


class TrainingSetup:
    """Dropdowns for data, model, device layout and kernels; "Build" makes a trainer and shows its dashboard.

    ``defaults`` pre-select the choices (the notebook's one cell to change for a real run).
    """

    LAYOUTS = {
        "one device": None,
        "two columns on the CPU": ("cpu", "cpu"),
        "two columns on one GPU": ("cuda:0", "cuda:0"),
        "two columns on two GPUs": ("cuda:0", "cuda:1"),
    }

    def __init__(self, data_choices: dict[str, str], steps: int = 200, **defaults) -> None:
        self.data = W.Dropdown(options=data_choices, description="data")
        self.model = W.Dropdown(options=DASHBOARD_MODELS, description="model")
        self.layout = W.Dropdown(options=list(self.LAYOUTS), description="layout")
        self.backend = W.Dropdown(options=list(BACKENDS), description="backend")
        self.device = W.Dropdown(options=["cpu", "cuda"], description="device")
        self.batch_size = W.Dropdown(
            options=[16, 32, 64, 128, 256], value=defaults.pop("batch_size", 64), description="batch"
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
            self.build_button, self.output,
        ])  # fmt: skip

    def build(self, _button=None) -> TrainingDashboard:
        from .runs import build_trainer

        if self.dashboard is not None and self.dashboard.running:
            self.dashboard.stop()
            self.dashboard.wait()
        trainer = build_trainer(
            self.data.value, self.model.value, backend=self.backend.value, device=self.device.value,
            devices=self.LAYOUTS[self.layout.value], batch_size=self.batch_size.value, subset=self.subset.value or None,
        )  # fmt: skip
        self.dashboard = TrainingDashboard(trainer, steps=self.steps)
        self.output.outputs = ()
        self.output.append_display_data(self.dashboard.widget)
        self.dashboard.refresh()
        return self.dashboard

    def _ipython_display_(self) -> None:
        display(self.widget)


def activation_explorer(maps: dict, layer: str = "conv1") -> W.Widget:
    """Pick a layer and a first channel; shows 16 of that layer's feature maps."""
    out = W.Output()
    layer_picker = W.Dropdown(options=list(maps), value=layer, description="layer")
    start = W.IntSlider(value=0, min=0, max=max(0, maps[layer].shape[0] - 16), step=16, description="channels from")

    def draw(_change=None):
        start.max = max(0, maps[layer_picker.value].shape[0] - 16)
        show_figure(out, viz.show_activation_maps(maps, layer_picker.value, 16, min(start.value, start.max)))

    layer_picker.observe(draw, names="value")
    start.observe(draw, names="value")
    draw()
    return W.VBox([W.HBox([layer_picker, start]), out])


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
        from .checkpoint import load_model

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


class ActivationBrowser:
    """Pick an image (from ``images``, or upload one), a layer and channels; shows the image and its feature maps.

    Args:
        model: an AlexNet (any input size); images are resized and centre-cropped to its input size.
        preprocess: turns a (3, S, S) uint8 image into the model's input (e.g. a data set's ``transform``).
        images: name -> (3, H, W) uint8 image.
    """

    def __init__(self, model, preprocess, images: dict, layer: str = "conv1") -> None:
        self.model, self.preprocess = model, preprocess
        self.images = dict(images)
        self.picker = W.Dropdown(options=list(self.images), description="image")
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.layer = W.Dropdown(options=list(viz.LAYERS), value=layer, description="layer")
        self.start = W.IntSlider(value=0, min=0, max=0, step=16, description="channels from",
                                 style={"description_width": "initial"})  # fmt: skip
        self.out = W.Output()
        self.maps: dict = {}
        self.shown: torch.Tensor | None = None  # the image as the model sees it (resized), drawn beside the maps
        self.picker.observe(lambda _c: self.update(), names="value")
        self.layer.observe(lambda _c: self.draw(), names="value")
        self.start.observe(lambda _c: self.draw(), names="value")
        self.upload.observe(self._on_upload, names="value")
        self.widget = W.VBox([W.HBox([self.picker, self.upload]), W.HBox([self.layer, self.start]), self.out])
        self.update()

    # Three ImageNet samples worth looking at (indices into the lab's 1,000-image zip, sorted by class folder).
    IMAGENET_PICKS = (0, 207, 430)  # a tench, a golden retriever, a basketball

    @classmethod
    def from_dataset(cls, model, dataset, *, count: int = 4, imagenet_samples=None, layer: str = "conv1"):
        """A browser over ``count`` images of ``dataset`` from different classes (the first of each; named by class,
        prepared by its ``transform``), scikit-image's astronaut, and three ImageNet photos when
        ``imagenet_samples`` (the lab's zip or folder) is given."""
        images = {}
        seen = set()
        for i, label in enumerate(dataset.labels.tolist()):
            if len(images) == min(count, len(dataset)):
                break
            if label not in seen or len(seen) == len(dataset.classes):
                seen.add(label)
                images[f"image {i} ({dataset.classes[int(label)]})"] = dataset.images[i]
        images["scikit-image: astronaut"] = (viz.sample_photo("astronaut") * 255).byte()
        if imagenet_samples is not None:
            from .data import ImageFolder, resolve_folder

            samples = ImageFolder(resolve_folder(imagenet_samples))
            for i in cls.IMAGENET_PICKS:
                if i < len(samples):
                    images[f"ImageNet: {samples.samples[i][0].stem}"] = samples.load(i)
        return cls(model, dataset.transform, images, layer=layer)

    def add_image_bytes(self, name: str, data: bytes) -> None:
        """Add an encoded image (JPEG, PNG, ...) to the choices and show it; unreadable files are reported."""
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as image:
                rgb = image.convert("RGB")
        except Exception as err:  # PIL raises many kinds for bad files
            self.out.outputs = ()
            self.out.append_stdout(f"cannot read {name}: {err}\n")
            return
        from .data import resize_center_crop

        self.images[name] = resize_center_crop(rgb, 256)
        self.picker.options = list(self.images)
        self.picker.value = name

    def _on_upload(self, change) -> None:
        for item in change["new"]:
            self.add_image_bytes(item["name"], bytes(item["content"]))

    def update(self) -> None:
        from torch.nn.functional import interpolate

        image = self.images[self.picker.value]
        side = self.model.config.input_size
        square = interpolate(image[None].float(), size=(256, 256), mode="area")
        if side < 224:  # small models see the whole image, shrunk; ImageNet-size preprocessing crops the 256
            square = interpolate(square, size=(side, side), mode="area")
        self.shown = square[0].round().clamp(0, 255).byte()
        self.maps = viz.activations(self.model, self.preprocess(self.shown))
        self.draw()

    def draw(self) -> None:
        fmaps = self.maps[self.layer.value]
        self.start.max = max(0, fmaps.shape[0] - 16)
        start = min(self.start.value, self.start.max)
        figure = viz.show_activation_maps(self.maps, self.layer.value, 16, start, image=self.shown,
                                          title=str(self.picker.value))  # fmt: skip
        show_figure(self.out, figure)

    def _ipython_display_(self) -> None:
        display(self.widget)
