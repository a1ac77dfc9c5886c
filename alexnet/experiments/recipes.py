"""Figure 1's training recipes: the cuda-convnet setup the paper used, ours, and the variants that explain the gap.

The paper trained its Figure 1 networks with cuda-convnet; its CIFAR-10 example (``layers-19pct.cfg``,
``layer-params-19pct.cfg``, ``convdata.py``, ``src/layer.cu``) is:

* inputs: raw 0..255 pixels minus the per-pixel mean image of the training set, no division by any std;
* net: conv1 32 5x5 pad 2, N(0, 1e-4) -> max-pool 3/2 -> activation; conv2 32 5x5 N(0, 0.01) -> activation ->
  avg-pool 3/2; conv3 64 5x5 N(0, 0.01) -> activation -> avg-pool 3/2; fc10 N(0, 0.01); biases 0; pools round
  up (32 -> 16 -> 8 -> 4) and averages divide by the in-bounds cells;
* SGD, momentum 0.9, weights lr ``epsW`` = 0.001 and biases 2x that, on the mini-batch *mean* gradient, batch 128,
  no weight decay for Figure 1.

Raw inputs (std about 60) are standardized inputs with conv1's init times 60 and conv1's learning rate times
~3600 (see ``standardized-rescaled``): conv1 learns thousands of times faster than the rest. A ReLU net is
positively homogeneous and does not mind; tanh saturates (high lr) or stays in its linear regime (low lr).

Recipes (``RECIPES``): ``cuda-convnet``, ``standardized`` (this lab's first setup: per-channel standardized
inputs, :class:`alexnet.model.FourLayerCNN` with max pools and PyTorch's init), ``standardized-rescaled``
(standardized inputs with a scalar std, conv1 rescaled: the same function and updates as ``cuda-convnet``),
``modern-init`` (raw inputs, PyTorch's fan-in init) and ``scaled-tanh`` (LeCun's 1.7159 tanh(2x/3)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..choices import ACTIVATIONS
from ..model import FourLayerCNN


@dataclass(frozen=True)
class Recipe:
    """How one Figure 1 network is fed, built, initialised and optimised.

    inputs: ``"raw"`` (0..255 minus the per-pixel mean image), ``"standardized"`` (minus the per-channel mean,
        divided by the per-channel std) or ``"scalar-standardized"`` (minus the per-pixel mean image, divided by
        the std of all training pixels: a scalar, so that rescaling conv1 is exact).
    net: ``"19pct"`` (cuda-convnet's layers-19pct) or ``"four-layer"`` (:class:`FourLayerCNN`).
    init: ``"cuda-convnet"`` (the per-layer Gaussians above), ``"modern"`` (PyTorch's default) or ``"paper"``.
    conv1_scale: conv1's initial weights times the input std (``standardized-rescaled``).
    conv1_lr_scale: conv1's weight lr times the input variance (``standardized-rescaled``).
    bias_lr: the biases' lr as a multiple of the weights' (cuda-convnet: 2).
    scaled_tanh: 1.7159 tanh(2x/3) in place of tanh.
    """

    name: str
    inputs: str
    net: str
    init: str
    conv1_scale: bool = False
    conv1_lr_scale: bool = False
    bias_lr: float = 2.0
    scaled_tanh: bool = False
    base_lr: float = 0.001  # the centre of the default learning-rate grid


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe("cuda-convnet", inputs="raw", net="19pct", init="cuda-convnet"),
        Recipe("standardized", inputs="standardized", net="four-layer", init="modern", bias_lr=1.0, base_lr=0.02),
        Recipe(
            "standardized-rescaled", inputs="scalar-standardized", net="19pct", init="cuda-convnet",
            conv1_scale=True, conv1_lr_scale=True,
        ),  # fmt: skip
        Recipe("modern-init", inputs="raw", net="19pct", init="modern"),
        Recipe("scaled-tanh", inputs="raw", net="19pct", init="cuda-convnet", scaled_tanh=True),
    )
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {tuple(RECIPES)}, got {name!r}")
    return RECIPES[name]


class ScaledTanh(nn.Module):
    """LeCun's 1.7159 tanh(2x/3): unit variance out for unit variance in, and the steepest slope near +-1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


def activation_module(activation: str, scaled_tanh: bool = False) -> nn.Module:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if activation == "relu":
        return nn.ReLU()
    return ScaledTanh() if scaled_tanh else nn.Tanh()


class CudaConvnet19pct(nn.Module):
    """cuda-convnet's ``layers-19pct.cfg``: the network the paper's Figure 1 footnote points to.

    conv1 (32, 5x5) -> max-pool 3/2 -> act; conv2 (32, 5x5) -> act -> avg-pool 3/2; conv3 (64, 5x5) -> act ->
    avg-pool 3/2; fc10. Pools round up (32 -> 16 -> 8 -> 4) and averages count only in-bounds cells.
    ``pre_activations`` (a dict, when set) receives every activation's input, for the saturation statistics.
    """

    LAYERS = ("conv1", "conv2", "conv3", "fc10")

    def __init__(self, activation: str = "relu", *, num_classes: int = 10, scaled_tanh: bool = False) -> None:
        super().__init__()
        self.act = activation_module(activation, scaled_tanh)
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc10 = nn.Linear(64 * 4 * 4, num_classes)
        self.pre_activations: dict[str, torch.Tensor] | None = None

    def _act(self, name: str, z: torch.Tensor) -> torch.Tensor:
        if self.pre_activations is not None:
            self.pre_activations[name] = z.detach()
        return self.act(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._act("conv1", F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(self._act("conv2", self.conv2(x)), 3, 2, ceil_mode=True, count_include_pad=False)
        x = F.avg_pool2d(self._act("conv3", self.conv3(x)), 3, 2, ceil_mode=True, count_include_pad=False)
        return self.fc10(torch.flatten(x, 1))


class _FourLayerWithStats(FourLayerCNN):
    """FourLayerCNN that can report its pre-activations (same computation as its parent)."""

    LAYERS = ("conv1", "conv2", "conv3", "fc")

    def __init__(self, activation: str, init: str, scaled_tanh: bool = False) -> None:
        super().__init__(activation, init=init)
        self.act = activation_module(activation, scaled_tanh)
        self.pre_activations: dict[str, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        for name, conv in zip(("conv1", "conv2", "conv3"), (self.conv1, self.conv2, self.conv3)):
            z = F.max_pool2d(conv(x), 3, 2)
            if self.pre_activations is not None:
                self.pre_activations[name] = z.detach()
            x = self.act(z)
        return self.fc(torch.flatten(x, 1))


def build_network(recipe: Recipe, activation: str, input_std: float = 1.0, seed: int = 0) -> nn.Module:
    """The recipe's network with its initial weights (the same for both activations at one seed)."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        if recipe.net == "four-layer":
            return _FourLayerWithStats(activation, init=recipe.init, scaled_tanh=recipe.scaled_tanh)
        net = CudaConvnet19pct(activation, scaled_tanh=recipe.scaled_tanh)
        if recipe.init == "cuda-convnet":
            gen = torch.Generator().manual_seed(seed)
            for name, std in (("conv1", 1e-4), ("conv2", 0.01), ("conv3", 0.01), ("fc10", 0.01)):
                layer = getattr(net, name)
                with torch.no_grad():
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * std)
                    layer.bias.zero_()
        if recipe.conv1_scale:
            with torch.no_grad():
                net.conv1.weight.mul_(input_std)
        return net
    finally:
        torch.random.set_rng_state(gen_state)


def param_groups(net: nn.Module, recipe: Recipe, lr: float, input_std: float = 1.0) -> list[dict]:
    """SGD groups: weights at lr (conv1's times the input variance when rescaled), biases at ``bias_lr`` x that."""
    groups = []
    for name, module in net.named_children():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        scale = input_std**2 if (recipe.conv1_lr_scale and name == "conv1") else 1.0
        groups.append(dict(params=[module.weight], lr=lr * scale))
        groups.append(dict(params=[module.bias], lr=lr * recipe.bias_lr))
    return groups


@dataclass
class Inputs:
    """What a recipe subtracts and divides by: ``prepare(uint8 batch)`` -> float32 network input."""

    mean: torch.Tensor  # (3, 32, 32) or (3, 1, 1), 0..255 scale
    std: torch.Tensor | None  # (3, 1, 1), a scalar tensor, or None

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() - self.mean
        return x if self.std is None else x / self.std

    @property
    def scalar_std(self) -> float:
        """The std of all training pixels, for rescaling conv1 (1 when inputs are not scalar-standardized)."""
        return float(self.std) if self.std is not None and self.std.numel() == 1 else 1.0


def input_statistics(images: torch.Tensor, recipe: Recipe) -> Inputs:
    """The recipe's preprocessing, measured on the training images (N, 3, 32, 32) uint8, in float64 chunks."""
    from ..data import tensor_moments

    mean_pixel, std_channel = tensor_moments(images)
    if recipe.inputs == "raw":
        return Inputs(mean_pixel, None)
    if recipe.inputs == "standardized":
        return Inputs(mean_pixel.mean((1, 2), keepdim=True), std_channel)
    if recipe.inputs == "scalar-standardized":
        total, count = 0.0, 0
        for start in range(0, len(images), 4096):
            block = images[start : start + 4096].double() - mean_pixel.double()
            total += float(block.square().sum())
            count += block.numel()
        return Inputs(mean_pixel, torch.tensor(math.sqrt(total / count), dtype=torch.float32))
    raise ValueError(f"unknown inputs {recipe.inputs!r}")


def layer_statistics(net: nn.Module, x: torch.Tensor, activation: str) -> dict[str, dict[str, float]]:
    """The mechanism, per layer: mean |W| (cuda-convnet printed it), the std of the pre-activations, and the
    fraction of tanh units with |z| > 2 (saturated: slope < 0.07) or of ReLU units that are 0 on every image.
    For LeCun's scaled tanh, z is tanh's argument 2x/3, so that "saturated" means the same slope.

    ``x``: a fixed probe batch (N, 3, 32, 32), already prepared.
    """
    net.pre_activations = {}
    try:
        with torch.no_grad():
            net(x)
        stats = {}
        for name in net.LAYERS:
            layer = getattr(net, name)
            entry = dict(mean_abs_weight=layer.weight.abs().mean().item())
            z = net.pre_activations.get(name)
            if z is not None:
                if isinstance(getattr(net, "act", None), ScaledTanh):
                    z = z * (2.0 / 3.0)  # saturation is judged on tanh's own argument
                entry.update(pre_activation_std=z.float().std().item(), **unit_activity(z, activation))
            stats[name] = entry
        return stats
    finally:
        net.pre_activations = None


def unit_activity(z: torch.Tensor, activation: str) -> dict[str, float]:
    """tanh: fraction of pre-activations with |z| > 2. ReLU: fraction of units (channel, position) that are <= 0
    for every image of the batch (dead for this batch). z: (N, C, H, W) or (N, F)."""
    if activation == "tanh":
        return dict(saturated_fraction=(z.abs() > 2).float().mean().item())
    return dict(dead_fraction=(z <= 0).all(dim=0).float().mean().item())


def same_training_in_other_units(
    images: torch.Tensor, labels: torch.Tensor, activation: str = "tanh", *, steps: int = 5, batch_size: int = 16,
    lr: float = 0.01,
) -> tuple[float, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Train ``cuda-convnet`` and ``standardized-rescaled`` side by side for a few SGD steps (float64 networks, the
    same batches) and return (the input std s, the logits of each on ``images``).

    Raw inputs x - m with conv1 weights W compute what inputs (x - m) / s with weights s W compute, and SGD on s W
    at lr s^2 eta makes the same updates: the two logits agree up to float error.
    """
    logits = []
    for name in ("cuda-convnet", "standardized-rescaled"):
        recipe = get_recipe(name)
        inputs = input_statistics(images, recipe)
        net = build_network(recipe, activation, inputs.scalar_std).double()
        opt = torch.optim.SGD(param_groups(net, recipe, lr, inputs.scalar_std), momentum=0.9)
        for step in range(steps):
            batch = slice(batch_size * step, batch_size * (step + 1))
            loss = F.cross_entropy(net(inputs.prepare(images[batch]).double()), labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            logits.append(net(inputs.prepare(images).double()))
    return inputs.scalar_std, logits[0], logits[1]
