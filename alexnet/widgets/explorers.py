"""Sliders and pickers for looking: LRN's constants on real activations, a model's activation maps."""

from __future__ import annotations

import io

import ipywidgets as W
import torch
from IPython.display import display

from .. import viz
from ._figures import show_figure


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
            from ..data import ImageFolder, resolve_folder

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
        from ..data import resize_center_crop

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
