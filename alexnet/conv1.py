"""What conv1 learned, measured: each kernel's colour specificity and spatial smoothness, the permutation test
between the two columns (the paper's Figure 3: one column colour-agnostic, the other colour-specific), and a
trainer callback that logs them after every epoch. :mod:`alexnet.viz` draws them.
"""

from __future__ import annotations

import torch

# An orthonormal colour basis for RGB: luminance, then two opponent axes (red-green, blue-yellow).
COLOUR_BASIS = torch.tensor(
    [[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]
) / torch.tensor([3.0, 2.0, 6.0]).sqrt()[:, None]


def colour_specificity(kernels: torch.Tensor) -> torch.Tensor:
    """How colour-specific each conv1 kernel is: the fraction of its energy in the colour-opponent components.

    At every pixel of a kernel (C, 3, k, k) the RGB weight vector w is written in an orthonormal basis: luminance
    l = (1, 1, 1)/sqrt(3) and the opponent axes o1 = (1, -1, 0)/sqrt(2) (red-green) and o2 = (1, 1, -2)/sqrt(6)
    (blue-yellow). Then

        specificity = sum_pixels (w.o1)^2 + (w.o2)^2  /  sum_pixels |w|^2        in [0, 1]

    0 for a kernel that weighs R, G and B alike everywhere (colour-agnostic: the paper's column-0 kernels), near 1
    for one that only contrasts colours, 2/3 on average for random (untrained) weights. Returns (C,).
    """
    if kernels.dim() != 4 or kernels.shape[1] != 3:
        raise ValueError(f"colour_specificity: kernels must be (C, 3, k, k), got {tuple(kernels.shape)}")
    coords = torch.einsum("ij,cjhw->cihw", COLOUR_BASIS.to(kernels.dtype), kernels.detach().cpu())
    energy = coords.square().sum(dim=(2, 3))  # (C, 3): luminance, o1, o2
    total = energy.sum(1)
    return torch.where(total > 0, energy[:, 1:].sum(1) / total.clamp_min(1e-30), torch.zeros_like(total))


def spatial_smoothness(kernels: torch.Tensor) -> torch.Tensor:
    """How smooth each kernel is in space: 1 minus the energy of its differences between neighbouring pixels
    over what independent pixels of the same variance would give.

    For a kernel w (3, k, k) with its mean removed, the horizontal and vertical first differences d satisfy
    E[d^2] = 2 var(w) when the pixels are independent (random weights), so

        smoothness = 1 - mean(d^2) / (2 mean(w^2))        about 0 for random weights, towards 1 for blobs and edges

    (negative for checkerboards). Returns (C,): with :func:`colour_specificity` a measure of how far conv1 has
    moved from its random start.
    """
    if kernels.dim() != 4 or min(kernels.shape[2:]) < 2:
        raise ValueError(f"spatial_smoothness: kernels must be (C, channels, k, k) with k >= 2, got "
                         f"{tuple(kernels.shape)}")  # fmt: skip
    w = kernels.detach().cpu().double()
    w = w - w.mean(dim=(1, 2, 3), keepdim=True)
    dx, dy = w[..., :, 1:] - w[..., :, :-1], w[..., 1:, :] - w[..., :-1, :]
    diffs = torch.cat([dx.flatten(1), dy.flatten(1)], dim=1).square().mean(1)
    energy = w.flatten(1).square().mean(1).clamp_min(1e-30)
    return (1 - diffs / (2 * energy)).float()


def conv1_structure(model) -> dict[str, float]:
    """conv1's mean spatial smoothness and colour specificity over every kernel (random weights: about 0 and
    2/3)."""
    kernels = torch.cat(conv1_kernels_by_column(model))
    return dict(smoothness=float(spatial_smoothness(kernels).mean()),
                colour_specificity=float(colour_specificity(kernels).mean()))  # fmt: skip


def conv1_kernels_by_column(model) -> list[torch.Tensor]:
    """conv1's kernels of each column: AlexNet (two column modules) or its grouped form (groups=2 halves)."""
    if hasattr(model, "columns"):
        return [column.conv1.weight.detach().cpu() for column in model.columns]
    weight = model.conv1.weight.detach().cpu()
    return list(weight.chunk(2))


def column_split_test(first: torch.Tensor, second: torch.Tensor, permutations: int = 10_000, seed: int = 0) -> dict:
    """Do two columns' specificities differ? Means, their difference, and a two-sided permutation-test p-value
    (the share of random relabellings of the kernels whose mean difference is at least as large)."""
    values = torch.cat([first, second]).double()
    n = len(first)
    observed = (first.double().mean() - second.double().mean()).abs()
    gen = torch.Generator().manual_seed(seed)
    hits = 0
    for start in range(0, permutations, 4096):  # relabellings in batches: random keys sorted per row
        rows = min(4096, permutations - start)
        perm = values[torch.rand(rows, len(values), generator=gen).argsort(dim=1)]
        hits += int(((perm[:, :n].mean(1) - perm[:, n:].mean(1)).abs() >= observed - 1e-12).sum())
    return dict(mean_first=float(first.mean()), mean_second=float(second.mean()),
                difference=float(first.mean() - second.mean()), p_value=(hits + 1) / (permutations + 1))  # fmt: skip


class ColourSpecificityLog:
    """Trainer callback: after every epoch, each column's conv1 colour specificity and the permutation test.

    ``trainer.run(..., callbacks=[log])``; ``log.records`` holds one entry per epoch (written to ``path`` as JSON
    too, when given), so a notebook can show whether and when the split between the columns appears.
    """

    def __init__(self, path=None, permutations: int = 2000) -> None:
        self.path, self.permutations, self.records = path, permutations, []
        self._resumed = False

    def _resume(self, trainer) -> None:
        """A resumed run keeps the records of the epochs its checkpoint holds (later ones were never saved)."""
        import json
        from pathlib import Path

        self._resumed = True
        if self.path is None or self.records or not Path(self.path).exists():
            return
        records = json.loads(Path(self.path).read_text())
        self.records = [r for r in records if r["epoch"] < trainer.epoch]

    def __call__(self, trainer, record: dict) -> None:
        if not self._resumed:
            self._resume(trainer)
        if trainer.step_in_epoch != 0 or not trainer.epochs:
            return  # only right after an epoch ends
        epoch = trainer.epochs[-1]["epoch"]
        if self.records and self.records[-1]["epoch"] == epoch:
            return
        values = [colour_specificity(kernels) for kernels in conv1_kernels_by_column(trainer.net)]
        test = column_split_test(*values, permutations=self.permutations)
        self.records.append(dict(epoch=epoch, column_means=[float(v.mean()) for v in values],
                                 p_value=test["p_value"], values=[v.tolist() for v in values]))  # fmt: skip
        if self.path is not None:
            from .files import save_json

            save_json(self.records, self.path)
