"""cuda-convnet's CIFAR-10 networks, the ones behind the paper's CIFAR-10 claims for LRN (section 3.3: "a
four-layer CNN achieved a 13% test error rate without normalization and 11% with normalization") and for
overlapping pooling (section 3.4).

From cuda-convnet's ``example-layers/`` (``layers-conv-local-13pct.cfg``, ``layers-conv-local-11pct.cfg`` and
their ``layer-params-*.cfg``), on 24x24 crops of CIFAR-10:

    conv1   64 filters 5x5 pad 2, ReLU, initW 1e-4      -> max-pool 3x3 stride 2 (24 -> 12)
    conv2   64 filters 5x5 pad 2, ReLU, initW 0.01      -> max-pool 3x3 stride 2 (12 -> 6)
    local3  32 filters 3x3 pad 1, ReLU, initW 0.04      (locally connected: its own weights at each of 6x6)
    local4  32 filters 3x3 pad 1, ReLU, initW 0.04
    fc10    initW 0.01                                  -> softmax

Biases start at 0. Pools round up (cuda-convnet's output size is ceil((in - size) / stride) + 1).

Variants (``VARIANTS``):

* ``13pct``: the published 13% network.
* ``13pct+lrn``: the clean ablation, the first version of the 11pct file: the 13pct net with cross-map response
  normalization (size 5, scale 0.001, pow 0.75) between each ReLU and its pool: conv -> ReLU -> LRN -> pool.
* ``13pct-nonoverlap``: both pools 2x2 stride 2 (the same 12 and 6 output sizes): section 3.4's ablation.
* ``11pct``: the published 11% network: cross-map normalization (size 9, scale 0.001, pow 0.75) after pool1 and
  after conv2's ReLU (before pool2), local3 with 64 filters (and fc10's weight decay 0.01, a training setting).

cuda-convnet's ``cmrnorm`` divides ``scale`` by ``size``: ``b = a / (1 + scale / size * sum a^2) ** pow``, which
is ``kernels.lrn(x, size, scale, pow, k=1.0, alpha_over_size=True)``. The pools run through
``kernels.max_pool2d``, the normalizations through ``kernels.lrn`` (or the fused kernel), so these networks
evaluate the lab's own kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

import kernels


class LocallyConnected2d(nn.Module):
    """A convolution whose weights differ at every output position (cuda-convnet's ``local`` layer).

    ``y[n, f, i, j] = b[f, i, j] + sum_{c, u, v} W[i, j, f, c, u, v] * x_pad[n, c, i * s + u, j * s + v]``

    weight: (H_out, W_out, out_channels, in_channels, k, k); bias: (out_channels, H_out, W_out), one per output
    unit, as cuda-convnet's unshared biases. Input (N, in_channels, H, W) of the ``input_size`` given at
    construction (the positions are fixed by it). Computed from the k*k shifted views of the input and one
    batched matmul over the positions; autograd gives the gradients.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, input_size: int, *,
                 stride: int = 1, padding: int = 0, init_std: float = 0.01) -> None:  # fmt: skip
        super().__init__()
        if min(in_channels, out_channels, kernel_size, input_size, stride) < 1 or padding < 0:
            raise ValueError(
                f"LocallyConnected2d: sizes must be >= 1 and padding >= 0, got in_channels={in_channels}, "
                f"out_channels={out_channels}, kernel_size={kernel_size}, input_size={input_size}, "
                f"stride={stride}, padding={padding}"
            )
        out = (input_size + 2 * padding - kernel_size) // stride + 1
        if out < 1:
            raise ValueError(f"LocallyConnected2d: kernel_size {kernel_size} does not fit input_size {input_size}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.input_size, self.output_size, self.stride, self.padding = input_size, out, stride, padding
        shape = (out, out, out_channels, in_channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.randn(shape) * init_std)
        self.bias = nn.Parameter(torch.zeros(out_channels, out, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.input_size, self.input_size):
            raise ValueError(
                f"LocallyConnected2d: x must be (N, {self.in_channels}, {self.input_size}, {self.input_size}), got "
                f"shape {tuple(x.shape)}"
            )
        n, side, k, s = x.shape[0], self.output_size, self.kernel_size, self.stride
        padded = F.pad(x, [self.padding] * 4)
        span = s * (side - 1) + 1
        # The k*k shifted views of the input, (N, C, k*k, side, side). (Not F.unfold: its CPU kernel takes seconds
        # on evaluation-size batches, 16 s for 2560x64x6x6 here with torch 2.14.)
        patches = torch.stack([padded[:, :, u : u + span : s, v : v + span : s] for u in range(k) for v in range(k)],
                              dim=2)  # fmt: skip
        cols = patches.permute(3, 4, 0, 1, 2).reshape(side * side, n, -1)  # (L, N, C*k*k): a matmul per position
        weight = self.weight.reshape(side * side, self.out_channels, -1).transpose(1, 2)  # (L, C*k*k, F)
        out = torch.bmm(cols, weight)  # (L, N, F)
        return out.permute(1, 2, 0).reshape(n, self.out_channels, side, side) + self.bias

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"input_size={self.input_size}, stride={self.stride}, padding={self.padding}")  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One network of the study: what differs between cuda-convnet's files and the ablations."""

    name: str
    pool: tuple[int, int] = (3, 2)  # (size, stride) of both pools
    lrn_before_pools: tuple[int, float, float] | None = None  # 13pct+lrn: (size, scale, pow) between ReLU and pool
    lrn_after_pool1_and_conv2: tuple[int, float, float] | None = None  # 11pct: cmrnorm after pool1 and conv2's ReLU
    local3_filters: int = 32
    weight_decay: tuple[float, ...] = (0.0, 0.0, 0.004, 0.004, 0.004)  # conv1, conv2, local3, local4, fc10
    config_file: str = "layers-conv-local-13pct.cfg"


VARIANTS = {
    v.name: v
    for v in (
        Variant("13pct"),
        Variant("13pct+lrn", lrn_before_pools=(5, 1e-3, 0.75), config_file="layers-conv-local-11pct.cfg (first)"),
        Variant("13pct-nonoverlap", pool=(2, 2), config_file="layers-conv-local-13pct.cfg, pools 2x2 stride 2"),
        Variant("11pct", lrn_after_pool1_and_conv2=(9, 1e-3, 0.75), local3_filters=64,
                weight_decay=(0.0, 0.0, 0.004, 0.004, 0.01), config_file="layers-conv-local-11pct.cfg"),
    )  # fmt: skip
}
LAYERS = ("conv1", "conv2", "local3", "local4", "fc10")
INIT_STD = dict(conv1=1e-4, conv2=0.01, local3=0.04, local4=0.04, fc10=0.01)  # cuda-convnet's initW per layer


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {name!r}")
    return VARIANTS[name]


def pooled_side(side: int, size: int, stride: int) -> int:
    """cuda-convnet's pooling output size: windows start every ``stride`` until one starts past the last cell
    that leaves a full window, rounded up (24 -> 12 for 3x3/2)."""
    return math.ceil((side - size) / stride) + 1


class CudaConvnetCIFAR(nn.Module):
    """One of cuda-convnet's CIFAR-10 networks on (N, 3, 24, 24) crops (see the module docstring).

    ``backend``: how the LRN and pooling kernels run (``kernels.BACKENDS``).
    """

    INPUT_SIZE = 24

    def __init__(self, variant: str = "13pct", *, num_classes: int = 10, backend: str = "auto") -> None:
        super().__init__()
        self.variant = get_variant(variant)
        self.backend = backend
        size, stride = self.variant.pool
        side1 = pooled_side(self.INPUT_SIZE, size, stride)
        side2 = pooled_side(side1, size, stride)
        if (side1, side2) != (12, 6):  # what the cfg files' local layers are built for
            raise ValueError(f"pooling {size}x{size} stride {stride} gives {side1} and {side2}, not 12 and 6")
        filters3 = self.variant.local3_filters
        self.conv1 = nn.Conv2d(3, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 64, 5, padding=2)
        self.local3 = LocallyConnected2d(64, filters3, 3, side2, padding=1, init_std=INIT_STD["local3"])
        self.local4 = LocallyConnected2d(filters3, 32, 3, side2, padding=1, init_std=INIT_STD["local4"])
        self.fc10 = nn.Linear(32 * side2 * side2, num_classes)
        for name in ("conv1", "conv2", "fc10"):
            layer = getattr(self, name)
            nn.init.normal_(layer.weight, 0.0, INIT_STD[name])
            nn.init.zeros_(layer.bias)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        size, stride = self.variant.pool
        return kernels.max_pool2d(x, size, stride, ceil_mode=True, backend=self.backend)

    def _stage(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        """conv -> ReLU -> pool, with LRN between ReLU and pool in ``13pct+lrn``. (Not the fused kernel: it has no
        ``ceil_mode``, and cuda-convnet's pools round up.)"""
        x = F.relu(conv(x))
        if self.variant.lrn_before_pools is not None:
            n, scale, power = self.variant.lrn_before_pools
            x = kernels.lrn(x, n, scale, power, 1.0, alpha_over_size=True, backend=self.backend)
        return self._pool(x)

    def _cmrnorm(self, x: torch.Tensor) -> torch.Tensor:
        n, scale, power = self.variant.lrn_after_pool1_and_conv2
        return kernels.lrn(x, n, scale, power, 1.0, alpha_over_size=True, backend=self.backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (3, self.INPUT_SIZE, self.INPUT_SIZE):
            raise ValueError(f"CudaConvnetCIFAR: x must be (N, 3, 24, 24), got shape {tuple(x.shape)}")
        if self.variant.lrn_after_pool1_and_conv2 is not None:  # 11pct
            x = self._cmrnorm(self._pool(F.relu(self.conv1(x))))
            x = self._pool(self._cmrnorm(F.relu(self.conv2(x))))
        else:
            x = self._stage(self.conv2, self._stage(self.conv1, x))
        x = F.relu(self.local4(F.relu(self.local3(x))))
        return self.fc10(torch.flatten(x, 1))

    def weight_decay_of(self) -> dict[str, float]:
        """cuda-convnet's per-layer weight decay (``wc``) of this variant, by layer name."""
        return dict(zip(LAYERS, self.variant.weight_decay))
