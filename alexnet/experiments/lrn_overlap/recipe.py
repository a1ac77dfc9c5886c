"""cuda-convnet's recipe: the schedule, the update rule, the data split, crops and views, the test error."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...cuda_convnet import LAYERS, CudaConvnetCIFAR, get_variant
from .. import _results

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
            batch = stack.flatten(0, 1).contiguous(memory_format=input_format(net))
            probs = F.softmax(net(batch), dim=1).view(10, len(chunk), -1).mean(0)
        else:
            probs = net(crops(chunk, mean, None).contiguous(memory_format=input_format(net)))
        wrong += int((probs.argmax(1) != y).sum())
    return wrong / len(images)


# ----------------------------------------------------------------------------------------------- one run


def input_format(net: nn.Module) -> torch.memory_format:
    """The memory format the network's first convolution holds its weights in, for its inputs to match."""
    weight = next((m.weight for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    if weight is None:
        return torch.contiguous_format
    channels_last = weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format
