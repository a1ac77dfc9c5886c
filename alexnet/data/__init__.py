"""Real data with the paper's preprocessing (section 2 and 4.1), and loaders that resume exactly.

* Image folders (``root/<class>/<image>``, ImageNet's and torchvision's ``ImageFolder`` layout): each image is
  rescaled so its shorter side is 256 and centre-cropped to 256x256, the training mean is subtracted (per pixel,
  as in the paper, or per channel), training takes random 227x227 (or 224) crops, horizontal flips and the PCA
  colour augmentation; evaluation takes the centre crop or the paper's ten crops.
* CIFAR-10 from torchvision's download or from an image-folder copy; small images are decoded once into a uint8
  tensor cached on disk, so an epoch costs no JPEG decoding.
* Zip files (such as ``../shared/data/*.zip``) are extracted once into a cache folder outside the repository.

Randomness is per sample: the sampler hands every (epoch, position) its own seed, so crops and flips do not
depend on the number of workers or on where a run was interrupted and resumed.

The package: ``cache`` (extracted archives, decoded tensors), ``transforms`` (preprocessing and augmentation),
``datasets`` (image folders, zips, CIFAR-10, the demo photos), ``loaders`` (batches that resume exactly); this
module holds the one entry point, :func:`load_datasets`, and re-exports the rest.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..choices import MEANS, check_choice
from .cache import cache_dir, extract_zip, index_fingerprint, resolve_folder
from .datasets import (
    CIFAR10_CLASSES,
    DEMO_PHOTOS,
    IMAGE_EXTENSIONS,
    CorruptImageError,
    ImageFolder,
    TensorImages,
    _small_split,
    cached_statistics,
    check_cifar10_downloaded,
    check_classes,
    cifar10,
    data_root,
    decode_folder,
    demo_dataset,
    find_images,
    image_statistics,
    imagenette,
    load_rgb,
    resize_center_crop,
    split_dirs,
)
from .loaders import EpochLoader, train_loader
from .transforms import (
    IMAGENET_EIGVAL,
    IMAGENET_EIGVEC,
    IMAGENET_MEAN,
    Preprocess,
    pca_shift,
    ten_crops,
    tensor_moments,
)

__all__ = [
    "image_side",
    "DataSets",
    "load_datasets",
    "CIFAR10_CLASSES",
    "CorruptImageError",
    "DEMO_PHOTOS",
    "EpochLoader",
    "train_loader",
    "IMAGENET_EIGVAL",
    "IMAGENET_EIGVEC",
    "IMAGENET_MEAN",
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "Preprocess",
    "TensorImages",
    "cache_dir",
    "cached_statistics",
    "check_classes",
    "cifar10",
    "data_root",
    "decode_folder",
    "demo_dataset",
    "extract_zip",
    "find_images",
    "image_statistics",
    "imagenette",
    "index_fingerprint",
    "load_rgb",
    "pca_shift",
    "resize_center_crop",
    "resolve_folder",
    "split_dirs",
    "ten_crops",
    "tensor_moments",
]


@dataclass
class DataSets:
    train: torch.utils.data.Dataset
    val: torch.utils.data.Dataset
    classes: list[str]
    source: str


def image_side(source: str | Path, download: bool = False) -> int | None:
    """The longer side of a data set's images (one image looked at), or None when not known without a download.

    ``"cifar10"`` is 32 and ``"imagenette"`` None (large images); a folder or zip (extracted once into the cache)
    is measured on its first image. What ``python -m alexnet train`` uses to pick a model that fits the data.
    Data that are not there (a missing folder, CIFAR-10 not downloaded and ``download`` off) are a
    FileNotFoundError saying what to do.
    """
    import os

    from PIL import Image

    name = str(source)
    if name == "cifar10":
        check_cifar10_downloaded(download)
        return 32
    if name == "imagenette":
        return None
    for folder, dirs, files in os.walk(resolve_folder(source)):
        dirs.sort()
        for file in sorted(files):
            if file.lower().endswith(IMAGE_EXTENSIONS) and not file.startswith("."):
                try:
                    with Image.open(Path(folder) / file) as image:
                        return max(image.size)
                except OSError:
                    continue  # an unreadable image: the next one tells
    return None


def load_datasets(
    source: str | Path,
    *,
    input_size: int = 227,
    mean: str = "pixel",
    augment: bool = True,
    pca_std: float = 0.1,
    download: bool = False,
    max_stat_images: int = 10_000,
    standardize: bool | None = None,
) -> DataSets:
    """Training and validation sets for a model whose input is ``input_size`` pixels square.

    source: ``"cifar10"`` (torchvision's copy), ``"imagenette"``, or a folder / zip in image-folder layout, with
        ``train/`` and ``val/`` (or ``test/``) sub-folders, or classes at the top (then train and val are the
        same images: fine for a demo, said in a warning).
    mean: ``"pixel"`` (the paper: the training set's mean image), ``"channel"`` (its mean colour), ``"imagenet"``
        (ImageNet's mean colour, no pass over the data) or ``"none"``.
    augment: random crops and flips (and PCA colour noise with ``pca_std`` for ImageNet-size inputs) on train.
    standardize: also divide by the per-channel std. Default: yes for 32x32 data (small nets with modern
        initialisations), no for ImageNet-size inputs (the paper feeds raw pixel values minus the mean).
    """
    check_choice("mean", mean, MEANS)
    sets = _load_datasets(source, input_size, mean, augment, pca_std, download, max_stat_images, standardize)
    check_classes(sets.train, sets.val)
    return sets


def _load_datasets(source, input_size, mean, augment, pca_std, download, max_stat_images, standardize) -> DataSets:
    name = str(source)
    small = name == "cifar10" or (input_size == 32 and name != "imagenette")
    standardize = small if standardize is None else standardize
    if small:
        train = cifar10(None, True, download=download) if name == "cifar10" else _small_split(name, "train")
        val = cifar10(None, False, download=download) if name == "cifar10" else _small_split(name, "val")
        mean_pixel, std_channel = tensor_moments(train.images)
        mean_t = {"pixel": mean_pixel, "channel": mean_pixel.mean((1, 2), keepdim=True)}.get(mean)
        if mean == "imagenet":
            mean_t = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        # Small nets with today's initialisations expect unit-scale inputs: divide by the per-channel std.
        std_t = std_channel if standardize else None
        train.transform = Preprocess(mean_t, 32, train=augment, pca_std=0.0, pad=4 if augment else 0, std=std_t)
        val.transform = Preprocess(mean_t, 32, train=False, pca_std=0.0, std=std_t)
        return DataSets(train, val, list(train.classes), name)

    root = imagenette(None, "train", download=download).parent if name == "imagenette" else resolve_folder(name)
    root = data_root(root)
    splits = split_dirs(root)
    if "train" not in splits:
        warnings.warn(f"{root} has no train/ and val/ folders: validating on the training images", stacklevel=2)
        splits = {"train": root, "val": root}
    train = ImageFolder(splits["train"])
    val = ImageFolder(splits.get("val", splits["train"]))
    eigval = eigvec = None
    mean_t = torch.tensor(IMAGENET_MEAN).view(3, 1, 1) if mean == "imagenet" else None
    if mean in ("pixel", "channel"):
        stats = cached_statistics(train, max_stat_images)
        mean_t = stats["mean_pixel"] if mean == "pixel" else stats["mean_channel"]
        eigval, eigvec = stats["eigval"], stats["eigvec"]
    std_t = torch.tensor([58.4, 57.1, 57.4]).view(3, 1, 1) if standardize else None  # ImageNet's, 0-255 scale
    train.transform = Preprocess(mean_t, input_size, train=augment, pca_std=pca_std if augment else 0.0,
                                 eigval=eigval, eigvec=eigvec, std=std_t)  # fmt: skip
    val.transform = Preprocess(mean_t, input_size, train=False, std=std_t)
    return DataSets(train, val, train.classes, name)
