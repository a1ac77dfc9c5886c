"""Pictures: sample photographs, channel grids, and stand-in activations for looking at LRN and pooling."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def sample_photo(name: str = "chelsea") -> torch.Tensor:
    """A real photograph that ships with scikit-image (no internet needed), as (3, H, W) float in [0, 1].

    ``name`` is any colour image in ``skimage.data``: ``chelsea`` (a cat), ``astronaut``, ``coffee``, ...
    """
    from skimage import data

    if not hasattr(data, name):
        raise ValueError(f"sample_photo: name must be an image in skimage.data, got {name!r}")
    image = np.asarray(getattr(data, name)())
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"sample_photo: {name!r} is not an RGB image (shape {image.shape})")
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)


def gabor_bank(num_orientations: int = 8, size: int = 11, wavelength: float = 5.0) -> torch.Tensor:
    """Oriented Gabor filters, the kind AlexNet's conv1 learns (paper, Figure 3): (2 * num_orientations, 3, size, size).

    For each orientation an even (cosine) and an odd (sine) filter, applied to luminance (equal RGB weights).
    """
    half = size // 2
    ys, xs = torch.meshgrid(torch.arange(-half, half + 1.0), torch.arange(-half, half + 1.0), indexing="ij")
    envelope = torch.exp(-(xs**2 + ys**2) / (2 * (size / 4) ** 2))
    filters = []
    for i in range(num_orientations):
        theta = math.pi * i / num_orientations
        u = xs * math.cos(theta) + ys * math.sin(theta)
        for phase in (torch.cos, torch.sin):
            g = envelope * phase(2 * math.pi * u / wavelength)
            g = g - g.mean()
            filters.append(g / g.norm())
    bank = torch.stack(filters)[:, None].expand(-1, 3, -1, -1) / 3.0
    return bank.contiguous()


def edge_responses(image: torch.Tensor, num_orientations: int = 8, stride: int = 2) -> torch.Tensor:
    """ReLU(Gabor bank * image): stand-in conv1 activations of a (3, H, W) image, as (1, C, H', W')."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"edge_responses: image must be (3, H, W), got shape {tuple(image.shape)}")
    bank = gabor_bank(num_orientations).to(image)
    # Reflect, not zero, padding: a zero border is an edge every filter would fire on.
    padded = F.pad(image[None], [bank.shape[-1] // 2] * 4, mode="reflect")
    return F.relu(F.conv2d(padded, bank, stride=stride))


def show_channels(rows: dict[str, torch.Tensor], channels: list[int], cmap: str = "magma"):
    """Grid of feature maps: one row per named (1, C, H, W) tensor, one column per channel. Returns the figure.

    Each row shares one colour scale, so rows can be compared by brightness.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(channels), figsize=(2.2 * len(channels), 2.2 * len(rows)), squeeze=False)
    for r, (title, maps) in enumerate(rows.items()):
        maps = maps.detach().float().cpu()
        vmax = maps[0, channels].max().item() or 1.0
        for c, channel in enumerate(channels):
            ax = axes[r, c]
            ax.imshow(maps[0, channel], cmap=cmap, vmin=0.0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
            if r == 0:
                ax.set_title(f"channel {channel}", fontsize=9)
    fig.tight_layout()
    return fig
