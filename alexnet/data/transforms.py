"""The paper's preprocessing (section 2: the training mean subtracted) and augmentation (section 4.1: random
crops, flips, PCA colour noise), the ten-crop evaluation, and the statistics they need."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# ImageNet's RGB statistics on the 0-255 scale (mean) and of pixels scaled to [0, 1] (PCA; eigenvalues of the
# 3x3 covariance, eigenvectors as columns), the values used by fb.resnet.torch and most reproductions.
IMAGENET_MEAN = (123.68, 116.78, 103.94)
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)


IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))


@dataclass
class Preprocess:
    """The paper's per-image pipeline on (3, S, S) uint8 images; returns float32 on the 0-255 scale, mean removed.

    mean: (3, S, S) per-pixel mean (the paper), (3, 1, 1) per-channel mean, or None.
    crop: side of the crop (227 for the paper's AlexNet, 224 accepted; S for no cropping).
    train: random crops and horizontal flips when True, the centre crop when False.
    pca_std: sigma of the PCA colour augmentation (0.1 in the paper; 0 turns it off).
    eigval, eigvec: the RGB covariance's eigenvalues (3,) and eigenvectors (3, 3) as columns, for [0, 1] pixels.
    pad: zero padding before random crops (the usual CIFAR recipe: 4 with crop 32).
    """

    mean: torch.Tensor | None
    crop: int
    train: bool
    pca_std: float = 0.1
    eigval: torch.Tensor = None
    eigvec: torch.Tensor = None
    pad: int = 0
    flip: bool = True
    std: torch.Tensor | None = None  # divide by it after subtracting the mean (None: the paper's raw pixel scale)

    def __post_init__(self) -> None:
        self.eigval = torch.tensor(IMAGENET_EIGVAL) if self.eigval is None else torch.as_tensor(self.eigval).float()
        self.eigvec = torch.tensor(IMAGENET_EIGVEC) if self.eigvec is None else torch.as_tensor(self.eigvec).float()

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 3, S, S) -> float32, mean removed (and divided by std if set)."""
        x = images.float()
        if self.mean is not None:
            x = x - self.mean
        if self.std is not None:
            x = x / self.std
        return x

    def batch(self, images: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """The transform of a batch (N, 3, S, S) uint8; equal to calling it per image with those seeds."""
        if self.train:
            return torch.stack([self(image, torch.Generator().manual_seed(s)) for image, s in zip(images, seeds)])
        x = self.normalize(images)  # deterministic: one vectorised pass
        top, left = (x.shape[-2] - self.crop) // 2, (x.shape[-1] - self.crop) // 2
        return x[..., top : top + self.crop, left : left + self.crop].contiguous()

    def __call__(self, image: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        x = self.normalize(image)
        if self.pad:
            x = F.pad(x, [self.pad] * 4)
        side = x.shape[-1]
        if self.crop > side or self.crop > x.shape[-2]:
            raise ValueError(f"Preprocess: crop {self.crop} is larger than the image {tuple(x.shape[-2:])}")
        if self.train:
            top = int(torch.randint(0, x.shape[-2] - self.crop + 1, (1,), generator=gen))
            left = int(torch.randint(0, side - self.crop + 1, (1,), generator=gen))
            x = x[:, top : top + self.crop, left : left + self.crop]
            if self.flip and torch.rand((), generator=gen) < 0.5:
                x = x.flip(-1)
            if self.pca_std > 0:
                x = x + pca_shift(self.eigval, self.eigvec, self.pca_std, gen).view(3, 1, 1)
        else:
            top, left = (x.shape[-2] - self.crop) // 2, (side - self.crop) // 2
            x = x[:, top : top + self.crop, left : left + self.crop]
        return x.contiguous()


def pca_shift(eigval: torch.Tensor, eigvec: torch.Tensor, std: float, gen: torch.Generator | None) -> torch.Tensor:
    """The paper's colour augmentation (section 4.1): ``[p1 p2 p3] [a1 l1, a2 l2, a3 l3]^T``, a_i ~ N(0, std).

    Eigenvalues are those of [0, 1] pixels, as in fb.resnet.torch; the shift is returned on the 0-255 scale.
    """
    alpha = torch.randn(3, generator=gen) * std
    return 255.0 * (eigvec @ (alpha * eigval))


def ten_crops(x: torch.Tensor, crop: int) -> torch.Tensor:
    """The paper's test-time crops (section 4.1): four corners and centre, and their mirror images: (10, 3, c, c)."""
    height, width = x.shape[-2:]
    corners = [(0, 0), (0, width - crop), (height - crop, 0), (height - crop, width - crop)]
    corners.append(((height - crop) // 2, (width - crop) // 2))
    patches = torch.stack([x[:, t : t + crop, left : left + crop] for t, left in corners])
    return torch.cat([patches, patches.flip(-1)])


def tensor_moments(images: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel mean (3, H, W) and per-channel std (3, 1, 1) of uint8 images (N, 3, H, W), in float64 chunks.

    CIFAR-10's training set as one float tensor would be 600 MB; chunks keep the peak small.
    """
    total = torch.zeros(images.shape[1:], dtype=torch.float64)
    squares = torch.zeros(images.shape[1], dtype=torch.float64)
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].double()
        total += block.sum(0)
        squares += block.square().sum((0, 2, 3))
    count = len(images)
    mean_pixel = total / count
    per_channel = count * images.shape[2] * images.shape[3]
    var = squares / per_channel - mean_pixel.mean((1, 2)).square()
    return mean_pixel.float(), var.clamp_min(0).sqrt().float().view(-1, 1, 1)
