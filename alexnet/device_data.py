"""Data loading on the training device: JPEG decoding and the paper's augmentation as batched tensor ops.

On a GPU the paper's AlexNet trains thousands of images per second, more than PIL on a few CPU cores can decode.
:class:`DeviceJPEGLoader` reads the files' bytes on CPU threads, decodes whole batches with
``torchvision.io.decode_jpeg(..., device=...)`` (nvJPEG on CUDA), rescales and centre-crops to 256x256 on the
device, and applies :func:`augment_batch`: the same augmentation as :class:`alexnet.data.Preprocess` (mean
subtraction, random crops, horizontal flips, the PCA colour shift), drawn for the whole batch at once. The two
paths agree in distribution (tested on the CPU); they do not draw the same random numbers.

It serves the same batches as :class:`alexnet.data.EpochLoader` (the same plan for each epoch, resumable at any
batch), and like it skips unreadable images and counts them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F

from .data import EpochLoader, ImageFolder, Preprocess


def augment_batch(images: torch.Tensor, preprocess: Preprocess, gen: torch.Generator | None = None) -> torch.Tensor:
    """:class:`Preprocess` for a whole batch: uint8 (N, 3, S, S) -> float32 (N, 3, crop, crop), on images' device.

    Training: per image a random crop position, a flip with probability 1/2 and a PCA colour shift, all drawn from
    ``gen`` (on the images' device). Evaluation: the centre crop.
    """
    x = preprocess.normalize(images)
    if preprocess.pad:
        x = F.pad(x, [preprocess.pad] * 4)
    num, _, height, width = x.shape
    crop = preprocess.crop
    if crop > height or crop > width:
        raise ValueError(f"augment_batch: crop {crop} is larger than the images {(height, width)}")
    device = x.device
    if not preprocess.train:
        top, left = (height - crop) // 2, (width - crop) // 2
        return x[..., top : top + crop, left : left + crop].contiguous()
    top = torch.randint(0, height - crop + 1, (num,), generator=gen, device=device)
    left = torch.randint(0, width - crop + 1, (num,), generator=gen, device=device)
    steps = torch.arange(crop, device=device)
    rows = top[:, None] + steps  # (N, crop)
    cols = left[:, None] + steps
    if preprocess.flip:
        flip = torch.rand(num, generator=gen, device=device) < 0.5
        cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch_index = torch.arange(num, device=device)[:, None, None, None]
    channel = torch.arange(3, device=device)[None, :, None, None]
    out = x[batch_index, channel, rows[:, None, :, None], cols[:, None, None, :]]
    if preprocess.pca_std > 0:
        alpha = torch.randn(num, 3, generator=gen, device=device) * preprocess.pca_std
        eigval, eigvec = preprocess.eigval.to(device), preprocess.eigvec.to(device)
        out = out + (255.0 * (alpha * eigval) @ eigvec.T)[:, :, None, None]  # the paper's shift, per image
    return out


def resize_center_crop_tensor(image: torch.Tensor, size: int = 256) -> torch.Tensor:
    """(3, H, W) uint8 -> (3, size, size) uint8: shorter side to ``size`` (bilinear, antialiased), centre crop."""
    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new = (max(size, round(height * scale)), max(size, round(width * scale)))
    resized = F.interpolate(image[None].float(), size=new, mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = (new[0] - size) // 2, (new[1] - size) // 2
    return resized[:, top : top + size, left : left + size].round().clamp(0, 255).to(torch.uint8)


class DeviceJPEGLoader:
    """Batches of an :class:`ImageFolder` decoded and augmented on ``device``, in :class:`EpochLoader`'s order.

    Args:
        dataset: image folder whose ``transform`` (a :class:`Preprocess`) says how to augment.
        batch_size, shuffle, seed: as for :class:`EpochLoader` (the same plan per epoch).
        device: where decoding and augmentation run (``"cuda"`` for nvJPEG; ``"cpu"`` works too).
        threads: CPU threads that read the files' bytes.
    """

    def __init__(self, dataset: ImageFolder, batch_size: int, *, device="cuda", shuffle: bool = True,
                 seed: int = 0, threads: int = 8) -> None:  # fmt: skip
        try:
            import torchvision.io  # noqa: F401
        except ImportError as err:
            raise RuntimeError("DeviceJPEGLoader needs torchvision (torchvision.io.decode_jpeg)") from err
        if not isinstance(dataset.transform, Preprocess):
            raise ValueError("DeviceJPEGLoader: the data set's transform must be an alexnet.data.Preprocess")
        self.dataset, self.device = dataset, torch.device(device)
        self.plan_source = EpochLoader(dataset, batch_size, shuffle=shuffle, seed=seed)
        self.pool = ThreadPoolExecutor(max_workers=threads)
        self.skipped = 0

    def steps(self, epoch: int) -> int:
        """Batches in ``epoch`` (the same in every epoch)."""
        return len(self)

    def __len__(self) -> int:
        return len(self.plan_source)

    def _read(self, index: int) -> torch.Tensor:
        from torchvision.io import read_file

        return read_file(str(self.dataset.samples[index][0]))

    def _decode(self, data: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """Decode a batch on the device; files nvJPEG refuses (PNG, CMYK, corrupt) go through the CPU decoder."""
        from torchvision.io import ImageReadMode, decode_image, decode_jpeg

        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its decoders in favour of TorchCodec; they work, and we say so once here.
            warnings.filterwarnings("ignore", "The image decoding and encoding", DeprecationWarning)
            try:
                return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device))
            except RuntimeError:
                pass
            images = []
            for raw in data:
                try:
                    images.append(decode_image(raw, mode=ImageReadMode.RGB).to(self.device))
                except RuntimeError:
                    images.append(None)
            return images

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (images float32 (N, 3, crop, crop), labels (N,)) on the device for ``epoch`` from ``start_batch``."""
        transform = self.dataset.transform
        for indices, seeds in self.plan_source.plan(epoch)[start_batch:]:
            decoded = self._decode(list(self.pool.map(self._read, indices)))
            keep = [i for i, image in enumerate(decoded) if image is not None]
            if len(keep) < len(indices):
                self.skipped += len(indices) - len(keep)
                warnings.warn(f"skipping {len(indices) - len(keep)} unreadable images", stacklevel=2)
            if not keep:
                continue
            images = torch.stack([resize_center_crop_tensor(decoded[i], self.dataset.size) for i in keep])
            labels = torch.tensor([self.dataset.samples[indices[i]][1] for i in keep], device=self.device)
            gen = torch.Generator(device=self.device).manual_seed(seeds[0])
            yield augment_batch(images, transform, gen), labels
