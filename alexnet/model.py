"""AlexNet as in the paper (section 3.5, Figure 2): two columns that meet only at conv3 and the FC layers.

Each column is what one GTX 580 held in 2012: half the kernels of every layer. Within a column, conv1 -> conv2
and conv4 -> conv5 see only that column's maps; conv3, fc6, fc7 and fc8 read both columns. The columns are real
modules here (``model.columns[0]``, ``model.columns[1]``), so they can be placed on two devices (``devices=``)
and the cross-column layers are where activations change hands.

Also here: the single-device "grouped convolution" form of the same network (``GroupedAlexNet``, ``groups=2``)
with exact weight mappings both ways, a CIFAR-size AlexNet, the four-layer CNN of the ReLU/tanh comparison, and
the registry of models by name (``MODELS``, ``ModelSpec``, ``build_model``) that the CLI, the notebooks' widgets,
the experiments and checkpoints all go through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

import kernels

from .choices import ACTIVATIONS, BACKENDS, CUDA_CONVNET_MODELS, INITS, MODELS, check_choice


@dataclass
class AlexNetConfig:
    """Hyper-parameters of the network. ``AlexNetConfig()`` is the paper's; ``AlexNetConfig.cifar()`` is small."""

    num_classes: int = 1000
    input_size: int = 227  # the paper's Figure 2 says 224, but only 227 gives conv1's 55x55 (224 is padded)
    in_channels: int = 3
    conv1: tuple[int, int, int] = (11, 4, 0)  # kernel, stride, padding
    widths: tuple[int, int, int, int, int] = (48, 128, 192, 192, 128)  # maps per column, conv1..conv5
    fc_width: int = 2048  # units per column in fc6 and fc7
    dropout: float = 0.5
    lrn: dict = field(default_factory=lambda: dict(size=5, alpha=1e-4, beta=0.75, k=2.0))
    lrn_alpha_over_size: bool = False  # the paper's text (False) or cuda-convnet/Caffe/PyTorch's alpha/n (True)
    init: str = "paper"
    backend: str = "auto"  # how the ReLU/LRN/pool stages run: one of kernels.BACKENDS (``kernels.lrn(backend=...)``)

    @classmethod
    def cifar(cls, num_classes: int = 10, **overrides) -> AlexNetConfig:
        """AlexNet's shape for 32x32 inputs: conv1 5x5/1, narrower layers, so an epoch fits a laptop CPU."""
        base = dict(num_classes=num_classes, input_size=32, conv1=(5, 1, 2), widths=(24, 64, 96, 96, 64), fc_width=512)
        return cls(**{**base, **overrides})

    def map_sides(self) -> dict[str, int]:
        """Side of each layer's output maps for ``input_size`` (the paper's 227: conv1 55, pool1 27, pool2 13,
        pool5 6); conv2 keeps pool1's side, conv3..conv5 keep pool2's."""
        k, s, p = self.conv1
        conv1 = (self.input_size + 2 * p - k) // s + 1
        pool1 = (conv1 - 3) // 2 + 1
        pool2 = (pool1 - 3) // 2 + 1
        return dict(conv1=conv1, pool1=pool1, pool2=pool2, pool5=(pool2 - 3) // 2 + 1)

    def feature_size(self) -> int:
        """Side of conv5's pooled maps for ``input_size`` (6 for the paper's 227)."""
        return self.map_sides()["pool5"]

    @property
    def fc8_split(self) -> tuple[int, int]:
        """Classes scored by column 0 and column 1: fc8 is split like every layer; column 0 gets the odd one."""
        return self.num_classes - self.num_classes // 2, self.num_classes // 2

    def input_padding(self, height: int, width: int) -> tuple[int, int, int, int] | None:
        """``F.pad`` widths that turn the accepted 224x224 input into the paper's 227x227 (1 pixel top/left,
        2 bottom/right); None when the input needs none. Any other size is an error."""
        side = self.input_size
        if (height, width) == (224, 224) and side == 227:
            return (1, 2, 1, 2)
        if (height, width) != (side, side):
            accepted = f"{side}x{side}" + (" or 224x224" if side == 227 else "")
            raise ValueError(f"AlexNet: x must be {accepted} images, got {(height, width)}")
        return None


class ReLULRNPool(nn.Module):
    """ReLU -> LRN -> overlapping max-pool after conv1 and conv2 (sections 3.1, 3.3, 3.4).

    Runs ``kernels.relu_lrn_max_pool2d`` on the chosen backend: ``"torch"`` is its PyTorch-level form (with the
    kernels' cheaper LRN backward), the others its fused kernel.
    """

    def __init__(self, lrn: dict, alpha_over_size: bool, backend: str) -> None:
        super().__init__()
        self.lrn, self.alpha_over_size, self.backend = dict(lrn), alpha_over_size, backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return kernels.relu_lrn_max_pool2d(x, **self.lrn, alpha_over_size=self.alpha_over_size, backend=self.backend)


class ReLUPool(nn.Module):
    """ReLU -> overlapping max-pool after conv5."""

    def __init__(self, backend: str) -> None:
        super().__init__()
        self.backend = backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return kernels.max_pool2d(F.relu(x), 3, 2, backend=self.backend)


class Column(nn.Module):
    """One of the two columns ("GPUs"): half the kernels of every layer.

    ``conv3``, ``fc6``, ``fc7`` and ``fc8`` take both columns' activations as input (the cross-column layers);
    the other layers see only this column.
    """

    def __init__(self, cfg: AlexNetConfig, num_outputs: int) -> None:
        super().__init__()
        w1, w2, w3, w4, w5 = cfg.widths
        k1, s1, p1 = cfg.conv1
        backend = cfg.backend
        self.conv1 = nn.Conv2d(cfg.in_channels, w1, k1, stride=s1, padding=p1)
        self.post1 = ReLULRNPool(cfg.lrn, cfg.lrn_alpha_over_size, backend)
        self.conv2 = nn.Conv2d(w1, w2, 5, padding=2)
        self.post2 = ReLULRNPool(cfg.lrn, cfg.lrn_alpha_over_size, backend)
        self.conv3 = nn.Conv2d(2 * w2, w3, 3, padding=1)  # cross-column: reads both columns' conv2 maps
        self.conv4 = nn.Conv2d(w3, w4, 3, padding=1)
        self.conv5 = nn.Conv2d(w4, w5, 3, padding=1)
        self.post5 = ReLUPool(backend)
        side = cfg.feature_size()
        self.fc6 = nn.Linear(2 * w5 * side * side, cfg.fc_width)  # cross-column
        self.fc7 = nn.Linear(2 * cfg.fc_width, cfg.fc_width)  # cross-column
        self.fc8 = nn.Linear(2 * cfg.fc_width, num_outputs)  # cross-column: this column's share of the logits
        self.dropout = nn.Dropout(cfg.dropout)

    def features_a(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 -> ReLU/LRN/pool -> conv2 -> ReLU/LRN/pool, on this column alone."""
        return self.post2(self.conv2(self.post1(self.conv1(x))))

    def features_b(self, both: torch.Tensor) -> torch.Tensor:
        """conv3 (both columns in) -> conv4 -> conv5 -> pool, flattened."""
        x = F.relu(self.conv3(both))
        x = F.relu(self.conv4(x))
        return torch.flatten(self.post5(self.conv5(x)), 1)

    def hidden6(self, both: torch.Tensor) -> torch.Tensor:
        # Dropout on the outputs of fc6 and fc7, "the first two fully-connected layers" (section 4.2).
        return self.dropout(F.relu(self.fc6(both)))

    def hidden7(self, both: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.relu(self.fc7(both)))


# The order of a column's stages; between two stages both columns' outputs are exchanged (conv2 -> conv3,
# conv5 -> fc6, fc6 -> fc7, fc7 -> fc8): the only places where the paper's GPUs talked to each other.
COLUMN_STAGES = ("features_a", "features_b", "hidden6", "hidden7", "fc8")


def column_forward(columns, inputs: list[torch.Tensor], exchange, last: str = "fc8") -> list[torch.Tensor]:
    """Run ``columns`` (both columns in one process, or the one column a rank holds) stage by stage.

    ``inputs``: each column's input image batch. ``exchange(parts)`` turns the columns' outputs of one stage
    into each column's input for the next: both columns' activations concatenated along channels (a local
    ``torch.cat`` across devices, or an all-gather between ranks). Returns each column's output of ``last``.
    """
    parts = [column.features_a(x) for column, x in zip(columns, inputs)]
    for stage in COLUMN_STAGES[1 : COLUMN_STAGES.index(last) + 1]:
        parts = [getattr(column, stage)(both) for column, both in zip(columns, exchange(parts))]
    return parts


class AlexNet(nn.Module):
    """The paper's network. ``AlexNet()`` has 60,965,224 parameters; see :class:`AlexNetConfig` for the rest.

    Args:
        num_classes: size of the softmax (1000 for ImageNet).
        backend: how the ReLU -> LRN -> pool stages run, as in the ``kernels`` package: ``"triton"`` (the fused
            kernel), ``"torch"`` (PyTorch ops), ``"auto"`` (Triton where it runs); the same function either way.
        config: full control over the architecture (``AlexNetConfig.cifar()`` for 32x32 images).
        devices: ``(dev0, dev1)`` to hold column 0 and column 1 (the paper's two GPUs); default: one device.
        **overrides: any :class:`AlexNetConfig` field, e.g. ``init="modern"``, ``lrn_alpha_over_size=True``.

    Input: (N, 3, 227, 227), or (N, 3, 224, 224), which is zero-padded to 227 (1 pixel top/left, 2 bottom/right)
    so that conv1 gives the paper's 55x55. Output: (N, num_classes) logits.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        *,
        backend: str | None = None,
        config: AlexNetConfig | None = None,
        devices: tuple[str | torch.device, str | torch.device] | None = None,
        **overrides,
    ) -> None:
        super().__init__()
        if backend is not None:
            overrides["backend"] = backend
        cfg = config or AlexNetConfig(num_classes=num_classes, **overrides)
        if config is not None and overrides:
            cfg = AlexNetConfig(**{**cfg.__dict__, **overrides})
        check_choice("backend", cfg.backend, BACKENDS)
        check_choice("init", cfg.init, INITS)
        if cfg.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {cfg.num_classes}")
        if cfg.feature_size() < 1:
            raise ValueError(f"input_size {cfg.input_size} is too small for this network")
        self.config = cfg
        self.columns = nn.ModuleList([Column(cfg, outputs) for outputs in cfg.fc8_split])
        init_weights(self, cfg.init)
        self.devices: tuple[torch.device, torch.device] | None = None
        if devices is not None:
            self.place(devices)

    def place(self, devices) -> AlexNet:
        """Put column 0 on ``devices[0]`` and column 1 on ``devices[1]`` (they may be the same device)."""
        if len(devices) != 2:
            raise ValueError(f"devices must name two devices, one per column, got {devices!r}")
        self.devices = (torch.device(devices[0]), torch.device(devices[1]))
        for column, device in zip(self.columns, self.devices):
            column.to(device)
        return self

    def _exchange(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """Both columns' activations, concatenated on each column's device: the paper's inter-GPU transfer."""
        devices = self.devices or (parts[0].device, parts[0].device)
        return [torch.cat([p.to(d, non_blocking=True) for p in parts], dim=1) for d in devices]

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.dim() != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"AlexNet: x must be (N, {cfg.in_channels}, H, W), got shape {tuple(x.shape)}")
        padding = cfg.input_padding(*x.shape[-2:])
        return x if padding is None else F.pad(x, padding)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each column's fc7 activations (the 4096-d code of the paper's Figure 4, split in two halves)."""
        x = self._input(x)
        devices = self.devices or (x.device, x.device)
        return column_forward(self.columns, [x.to(d) for d in devices], self._exchange, last="hidden7")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._input(x)
        devices = self.devices or (x.device, x.device)
        logits = column_forward(self.columns, [x.to(d) for d in devices], self._exchange)
        return torch.cat([part.to(x.device) for part in logits], dim=1)

    def conv1_weight(self) -> torch.Tensor:
        """conv1's kernels of both columns, (2 * 48, 3, 11, 11): column 0 first (the paper's Figure 3)."""
        return torch.cat([c.conv1.weight.detach().to("cpu") for c in self.columns])

    def to_grouped(self) -> GroupedAlexNet:
        """The same network as one module with ``groups=2`` convolutions, on column 0's device."""
        first = next(self.parameters())
        grouped = GroupedAlexNet(self.config).to(device=first.device, dtype=first.dtype)
        grouped.load_state_dict(columns_to_grouped(self.state_dict()))
        return grouped

    @classmethod
    def from_grouped(cls, grouped: GroupedAlexNet) -> AlexNet:
        first = next(grouped.parameters())
        model = cls(config=grouped.config).to(device=first.device, dtype=first.dtype)
        model.load_state_dict(grouped_to_columns(grouped.state_dict()))
        return model


class GroupedAlexNet(nn.Module):
    """AlexNet on one device: each layer one tensor, the column split expressed as ``groups=2``.

    This is how torchvision-style single-GPU code writes the paper's network. Parameter names match
    ``conv1`` ... ``fc8``; :func:`columns_to_grouped` / :func:`grouped_to_columns` map weights exactly.
    """

    def __init__(self, cfg: AlexNetConfig) -> None:
        super().__init__()
        self.config = cfg
        w1, w2, w3, w4, w5 = (2 * w for w in cfg.widths)
        k1, s1, p1 = cfg.conv1
        self.conv1 = nn.Conv2d(cfg.in_channels, w1, k1, stride=s1, padding=p1)
        self.conv2 = nn.Conv2d(w1, w2, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(w2, w3, 3, padding=1)
        self.conv4 = nn.Conv2d(w3, w4, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(w4, w5, 3, padding=1, groups=2)
        side = cfg.feature_size()
        self.fc6 = nn.Linear(w5 * side * side, 2 * cfg.fc_width)
        self.fc7 = nn.Linear(2 * cfg.fc_width, 2 * cfg.fc_width)
        self.fc8 = nn.Linear(2 * cfg.fc_width, cfg.num_classes)
        self.post1 = ReLULRNPool(cfg.lrn, cfg.lrn_alpha_over_size, cfg.backend)
        self.post2 = ReLULRNPool(cfg.lrn, cfg.lrn_alpha_over_size, cfg.backend)
        self.post5 = ReLUPool(cfg.backend)
        self.dropout = nn.Dropout(cfg.dropout)

    def _per_group(self, post: nn.Module, x: torch.Tensor) -> torch.Tensor:
        # LRN normalises within a column's maps: channel 47 and channel 48 are on different GPUs in the paper.
        return torch.cat([post(half) for half in x.chunk(2, dim=1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = self.config.input_padding(*x.shape[-2:])
        if padding is not None:
            x = F.pad(x, padding)
        x = self._per_group(self.post2, self.conv2(self._per_group(self.post1, self.conv1(x))))
        x = F.relu(self.conv4(F.relu(self.conv3(x))))
        x = torch.flatten(self.post5(self.conv5(x)), 1)
        x = self.dropout(F.relu(self.fc6(x)))
        x = self.dropout(F.relu(self.fc7(x)))
        return self.fc8(x)


# Every layer's output rows are column 0's then column 1's. A groups=2 conv stores only the diagonal blocks, so
# its weight is exactly the two columns' weights stacked; cross-column layers read both columns in the same order.
_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def columns_to_grouped(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """AlexNet (two columns) state dict -> GroupedAlexNet state dict. Output rows: column 0's, then column 1's."""
    out = {}
    for layer in _LAYERS:
        for kind in ("weight", "bias"):
            out[f"{layer}.{kind}"] = torch.cat([state[f"columns.{i}.{layer}.{kind}"] for i in (0, 1)])
    return out


def grouped_to_columns(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """GroupedAlexNet state dict -> AlexNet (two columns) state dict; inverse of :func:`columns_to_grouped`."""
    out = {}
    for layer in _LAYERS:
        for kind in ("weight", "bias"):
            tensor = state[f"{layer}.{kind}"]
            if layer == "fc8":  # column 0 holds the odd class out
                first = tensor.shape[0] - tensor.shape[0] // 2
                halves = (tensor[:first], tensor[first:])
            else:
                halves = tensor.chunk(2)
            for i in (0, 1):
                out[f"columns.{i}.{layer}.{kind}"] = halves[i].clone()
    return out


def init_weights(model: nn.Module, scheme: str = "paper") -> None:
    """Initialise conv and linear layers in place.

    ``"paper"`` (section 5): weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6 and fc7 ("accelerates
    the early stages of learning by providing the ReLUs with positive inputs"), 0 elsewhere. Known to stall
    networks of other depths or input scales for many epochs, which is why ``"modern"`` exists: torchvision's
    AlexNet scheme, Kaiming-normal convolutions (fan-out, ReLU gain), N(0, 0.01) fully connected layers (so the
    first logits are small), zero biases.
    """
    check_choice("init", scheme, INITS)
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        if scheme == "paper":
            nn.init.normal_(module.weight, 0.0, 0.01)
            one = name.split(".")[-1] in {"conv2", "conv4", "conv5", "fc6", "fc7"}
            nn.init.constant_(module.bias, 1.0 if one else 0.0)
        else:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)


class FourLayerCNN(nn.Module):
    """The network of the paper's Figure 1: three conv layers and a 10-way FC layer, on CIFAR-10.

    The paper gives no details beyond a pointer to cuda-convnet; its CIFAR-10 example nets use 5x5
    convolutions with 32, 32 and 64 maps, each followed by 3x3 stride-2 max-pooling. The activation is the
    experiment's variable (``"relu"`` or ``"tanh"``); no dropout, no LRN, no weight decay.

    ``init="paper"``: N(0, 0.01) weights and zero biases, the small-Gaussian style of 2012 (with it, deep tanh
    nets learn slowly); ``init="modern"``: PyTorch's default initialisation.
    """

    def __init__(
        self, activation: str = "relu", *, num_classes: int = 10, init: str = "modern", widths=(32, 32, 64)
    ) -> None:
        super().__init__()
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("init", init, INITS)
        self.activation = activation
        self.act = nn.ReLU() if activation == "relu" else nn.Tanh()
        c1, c2, c3 = widths
        self.conv1 = nn.Conv2d(3, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
        self.conv3 = nn.Conv2d(c2, c3, 5, padding=2)
        self.fc = nn.Linear(c3 * 3 * 3, num_classes)  # 32 -> 15 -> 7 -> 3 after three 3x3/2 pools
        if init == "paper":
            for module in (self.conv1, self.conv2, self.conv3, self.fc):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)
        # Channels-last: oneDNN's convolutions and pooling are ~1.5x faster on the CPU in this layout.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (3, 32, 32):
            raise ValueError(f"FourLayerCNN: x must be (N, 3, 32, 32), got shape {tuple(x.shape)}")
        x = x.contiguous(memory_format=torch.channels_last)
        for conv in (self.conv1, self.conv2, self.conv3):
            # Pool, then the activation: ReLU and tanh are monotonic, so this is the same function as
            # act -> pool (same values, same gradients) with the activation on a quarter of the cells.
            x = self.act(F.max_pool2d(conv(x), 3, 2))
        return self.fc(torch.flatten(x, 1))


def cifar_alexnet(num_classes: int = 10, *, devices=None, **overrides) -> AlexNet:
    """The two-column AlexNet shaped for 32x32 images (see :meth:`AlexNetConfig.cifar`)."""
    return AlexNet(config=AlexNetConfig.cifar(num_classes, **overrides), devices=devices)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------- models by name

@dataclass
class ModelSpec:
    """A model by name (one of MODELS) and its keyword arguments: what a checkpoint stores to rebuild it."""

    name: str
    kwargs: dict = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        """Side of the square images the model takes: 227 for the paper's AlexNet, 24 for cuda-convnet's CIFAR-10
        networks (crops), 32 for the other small ones."""
        if self.name in CUDA_CONVNET_MODELS:
            return 24
        return self.kwargs.get("input_size", 227) if self.name == "alexnet" else 32

    def build(self, seed: int | None = None) -> nn.Module:
        """The model; with ``seed``, its initial weights come from that seed without touching the global RNG."""
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return self.build()
        kwargs = self.kwargs
        if self.name == "alexnet":
            return AlexNet(**kwargs)
        if self.name in ("cifar-alexnet", "cifar-alexnet-grouped"):
            kwargs = dict(kwargs)
            model = AlexNet(config=AlexNetConfig.cifar(kwargs.pop("num_classes", 10), **kwargs))
            return model.to_grouped() if self.name == "cifar-alexnet-grouped" else model
        if self.name == "four-layer":
            return FourLayerCNN(**self.kwargs)
        if self.name in CUDA_CONVNET_MODELS:
            from .cuda_convnet import CudaConvnetCIFAR

            return CudaConvnetCIFAR(self.name.removeprefix("cuda-convnet-"), **kwargs)
        raise ValueError(f"model must be one of {MODELS}, got {self.name!r}")


def build_model(name: str, *, seed: int | None = None, **kwargs) -> nn.Module:
    """``build_model("cifar-alexnet", num_classes=10, init="modern", seed=0)``: a model from MODELS by name."""
    return ModelSpec(name, kwargs).build(seed)


def input_size_of(model: nn.Module) -> int:
    """Side of the square images ``model`` takes (32 for models without a config: the four-layer CNN)."""
    return model.config.input_size if isinstance(model, (AlexNet, GroupedAlexNet)) else 32
