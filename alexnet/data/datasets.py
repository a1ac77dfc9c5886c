"""Data sets of (image, label): image folders (and zips of them) decoded on the fly, small images decoded once
into a cached uint8 tensor (CIFAR-10 and other 32x32 folders), torchvision's CIFAR-10 and Imagenette, and an
offline demo set of scikit-image photographs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..files import atomic_save
from .cache import _path_key, cache_dir, index_fingerprint, resolve_folder
from .transforms import Preprocess

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class CorruptImageError(ValueError):
    """An image file that PIL cannot read."""


def find_images(root: str | Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """List ``root/<class>/<image>`` files: (path, class index) pairs sorted by class then name, and classes."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"image folder {root} has no class folders: expected root/<class>/<image>")
    samples = []
    for index, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        samples += [(p, index) for p in files]
    if not samples:
        raise ValueError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return samples, classes


def load_rgb(path: Path) -> Image.Image:
    """Open an image as RGB, or raise CorruptImageError naming the file."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CorruptImageError(f"cannot read image {path}: {err}") from err


def resize_center_crop(image: Image.Image, size: int = 256) -> torch.Tensor:
    """Rescale so the shorter side is ``size``, crop the central ``size`` x ``size`` patch: (3, size, size) uint8."""
    width, height = image.size
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    image = image.resize(new, Image.BILINEAR)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()


class ImageFolder(torch.utils.data.Dataset):
    """``root/<class>/<image>`` images, rescaled and centre-cropped to ``size`` (256), then ``transform``.

    Items are ``(image, label)``, or None for an unreadable image: the loaders drop those, count them and warn,
    so one bad file never kills a run deep inside a worker. Keys may be ``(index, seed)`` pairs: the seed drives
    the transform's randomness for that sample.
    """

    def __init__(self, root: str | Path, transform: Preprocess | None = None, size: int = 256) -> None:
        self.root = Path(root)
        self.samples, self.classes = find_images(self.root)
        self.transform, self.size = transform, size

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def load(self, index: int) -> torch.Tensor:
        """The resized and cropped (3, size, size) uint8 image; raises CorruptImageError."""
        return resize_center_crop(load_rgb(self.samples[index][0]), self.size)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        try:
            image = self.load(index)
        except CorruptImageError as err:
            warnings.warn(f"skipping unreadable image: {err}", stacklevel=2)
            return None
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        x = self.transform(image, gen) if self.transform else image
        return x, self.samples[index][1]

    def verify(self) -> list[Path]:
        """Try to decode every image; return the unreadable ones (and warn with their count)."""
        bad = []
        for path, _ in self.samples:
            try:
                load_rgb(path)
            except CorruptImageError:
                bad.append(path)
        if bad:
            warnings.warn(f"{len(bad)} of {len(self.samples)} images in {self.root} are unreadable", stacklevel=2)
        return bad


class TensorImages(torch.utils.data.Dataset):
    """Small images held in memory as one uint8 tensor (N, 3, H, W), with labels; ``transform`` per sample.

    ``get_batch`` serves a whole batch with tensor indexing (no per-sample Python when there is no transform).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], transform=None) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"TensorImages: images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if labels.shape != (images.shape[0],):
            raise ValueError(f"TensorImages: labels must be ({images.shape[0]},), got {tuple(labels.shape)}")
        self.images, self.labels, self.classes, self.transform = images, labels.long(), list(classes), transform

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        image = self.images[index]
        x = self.transform(image, gen) if self.transform else image.float()
        return x, int(self.labels[index])

    def get_batch(self, indices: list[int], seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices)
        if self.transform is None:
            return self.images[idx].float(), self.labels[idx]
        return self.transform.batch(self.images[idx], seeds), self.labels[idx]

    def subset(self, count: int, seed: int = 0) -> TensorImages:
        """A random subset of ``count`` images (the same one for the same seed), sharing the transform."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:count]
        return TensorImages(self.images[order], self.labels[order], self.classes, self.transform)


def decode_folder(root: str | Path, size: int | None = None, progress: bool = True) -> TensorImages:
    """Decode every image under ``root/<class>/`` into one uint8 tensor, cached on disk next to the extraction.

    ``size`` resizes (shorter side) and centre-crops; None requires all images to share one size (CIFAR).
    Unreadable images are skipped with one warning that counts them.
    """
    from tqdm.auto import tqdm

    samples, classes = find_images(root)
    key = index_fingerprint(root, samples, size)
    name = Path(root).name
    cached = cache_dir() / f"decoded-{name}-{_path_key(root)}-{key}.pt"
    if cached.is_file():
        data = torch.load(cached, weights_only=True)
        return TensorImages(data["images"], data["labels"], data["classes"])
    stale = sorted(cache_dir().glob(f"decoded-{name}-{_path_key(root)}-*.pt"))
    if stale:
        warnings.warn(f"the images in {root} changed since they were decoded: decoding them again", stacklevel=2)
        for old in stale:
            old.unlink(missing_ok=True)
    images, labels, bad = [], [], 0
    for path, label in tqdm(samples, desc=f"decoding {Path(root).name}", disable=not progress, leave=False):
        try:
            image = load_rgb(path)
        except CorruptImageError:
            bad += 1
            continue
        tensor = (
            resize_center_crop(image, size) if size else torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
        )
        if images and tensor.shape != images[0].shape:
            raise ValueError(
                f"{path} is {tuple(tensor.shape[1:])} pixels, the images before it {tuple(images[0].shape[1:])}: "
                "32x32 data sets need images of one size"
            )
        images.append(tensor)
        labels.append(label)
    if bad:
        warnings.warn(f"skipped {bad} unreadable images of {len(samples)} in {root}", stacklevel=2)
    data = dict(images=torch.stack(images), labels=torch.tensor(labels), classes=classes)
    atomic_save(data, cached)
    return TensorImages(data["images"], data["labels"], classes)


def data_root(root: Path) -> Path:
    """``root``, or the one folder inside it when that folder holds ``train/`` (a zip of ``cifar10/train/...``)."""
    if split_dirs(root):
        return root
    inner = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith((".", "__"))]
    if len(inner) == 1 and split_dirs(inner[0]):
        return inner[0]
    return root


def split_dirs(root: Path) -> dict[str, Path]:
    """``train`` and ``val``/``test`` sub-folders of a data set root, if it has them."""
    found = {}
    for name in ("train", "val", "test"):
        if (root / name).is_dir():
            found["val" if name == "test" and "val" not in found else name] = root / name
    return found


def check_cifar10_downloaded(download: bool = False) -> None:
    """A FileNotFoundError saying what to do, unless torchvision's CIFAR-10 is in the cache (or may be fetched)."""
    root = cache_dir() / "torchvision-cifar10"
    if not download and not (root / "cifar-10-batches-py").is_dir():
        raise FileNotFoundError(
            f"CIFAR-10 is not downloaded (looked in {root}): pass --download (download=True) when online, or give "
            "an image-folder copy such as the lab's --data ../shared/data/cifar10-jpg.zip"
        )


def cifar10(source: str | Path | None = None, train: bool = True, *, download: bool = False) -> TensorImages:
    """CIFAR-10 as uint8 tensors (N, 3, 32, 32) and labels.

    source: an image-folder copy (``train/<class>/``, ``test/<class>/``, or a zip of it, such as
    ``../shared/data/cifar10-jpg.zip``), or None for torchvision's copy in the cache (``download=True`` fetches it
    when online).
    """
    if source is None:
        from torchvision.datasets import CIFAR10

        root = cache_dir() / "torchvision-cifar10"
        check_cifar10_downloaded(download)
        data = CIFAR10(str(root), train=train, download=download)
        images = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()
        return TensorImages(images, torch.tensor(data.targets), data.classes)
    root = data_root(resolve_folder(source))
    splits = split_dirs(root)
    key = "train" if train else "val"
    if key not in splits:
        raise ValueError(f"cifar10: {root} has no {'train' if train else 'test'}/ folder")
    return decode_folder(splits[key])


def imagenette(root: str | Path | None = None, split: str = "train", *, download: bool = False) -> Path:
    """Folder of the Imagenette subset of ImageNet (10 classes, 320 px), fetched by torchvision when online."""
    from torchvision.datasets import Imagenette

    root = Path(root or cache_dir() / "imagenette")
    try:
        Imagenette(str(root), split=split, size="320px", download=download)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"Imagenette is not in {root}: let torchvision download it (needs internet: download=True, or "
            f"--download on the command line) ({err})"
        ) from err
    return root / "imagenette2-320" / split


def _small_split(source: str, split: str) -> TensorImages:
    root = data_root(resolve_folder(source))
    splits = split_dirs(root)
    if split not in splits:
        raise ValueError(f"{root} has no {split}/ folder (expected train/ and val/ or test/)")
    return decode_folder(splits[split])


def check_classes(train_set, val_set=None) -> list[str] | None:
    """The training set's class names, checked: at least two, and the validation set's must be the same.

    A validation folder missing a class would otherwise shift every later label by one.
    """
    classes = getattr(train_set, "classes", None)
    if classes is None:
        return None
    classes = list(classes)
    if len(classes) < 2:
        raise ValueError(
            f"the training data has {len(classes)} class ({', '.join(classes)}): a classifier needs at least 2 "
            "(is the data one folder above its class folders?)"
        )
    val_classes = getattr(val_set, "classes", None)
    if val_classes is not None and list(val_classes) != classes:
        missing = sorted(set(classes) - set(val_classes))
        extra = sorted(set(val_classes) - set(classes))
        raise ValueError(
            f"the validation classes differ from the training classes (missing: {missing or 'none'}, "
            f"extra: {extra or 'none'}): labels would not line up"
        )
    return classes


DEMO_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "retina")


def demo_dataset(per_class: int = 200, size: int = 32, seed: int = 0) -> tuple[TensorImages, TensorImages]:
    """A tiny offline data set of real photographs: random crops of scikit-image's sample photos, one class each.

    For notebooks on a machine with no data and no internet. Returns (train, val) as uint8 (N, 3, size, size).
    """
    from skimage import data as skdata

    gen = torch.Generator().manual_seed(seed)
    images, labels = [], []
    for label, name in enumerate(DEMO_PHOTOS):
        photo = torch.from_numpy(np.asarray(getattr(skdata, name)())[..., :3].copy()).permute(2, 0, 1)
        photo = F.interpolate(photo[None].float(), scale_factor=128 / min(photo.shape[1:]), mode="area")[0]
        for _ in range(per_class):
            crop = int(torch.randint(size, 2 * size + 1, (1,), generator=gen))
            top = int(torch.randint(0, photo.shape[1] - crop + 1, (1,), generator=gen))
            left = int(torch.randint(0, photo.shape[2] - crop + 1, (1,), generator=gen))
            patch = photo[None, :, top : top + crop, left : left + crop]
            images.append(F.interpolate(patch, size=(size, size), mode="area")[0].round().clamp(0, 255).to(torch.uint8))
            labels.append(label)
    images, labels = torch.stack(images), torch.tensor(labels)
    order = torch.randperm(len(labels), generator=gen)
    images, labels = images[order], labels[order]
    cut = int(0.8 * len(labels))
    mean = images[:cut].float().mean((0, 2, 3)).view(3, 1, 1)
    std = images[:cut].float().std((0, 2, 3)).view(3, 1, 1)
    train = TensorImages(
        images[:cut], labels[:cut], DEMO_PHOTOS, Preprocess(mean, size, train=True, pca_std=0.0, pad=4, std=std)
    )
    val = TensorImages(images[cut:], labels[cut:], DEMO_PHOTOS, Preprocess(mean, size, train=False, std=std))
    return train, val


def image_statistics(dataset: ImageFolder, max_images: int = 10_000, seed: int = 0) -> dict[str, torch.Tensor]:
    """Per-pixel and per-channel mean (0-255) and the RGB covariance's eigen-decomposition ([0, 1] pixels).

    Computed over up to ``max_images`` training images (a random subset; the paper used all of them).
    """
    from tqdm.auto import tqdm

    count = min(len(dataset), max_images)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count].tolist()
    total = torch.zeros(3, dataset.size, dataset.size, dtype=torch.float64)
    outer = torch.zeros(3, 3, dtype=torch.float64)
    seen = 0
    for index in tqdm(order, desc="image statistics", leave=False):
        try:
            image = dataset.load(index).double()
        except CorruptImageError:
            continue
        total += image
        pixels = image.flatten(1) / 255.0
        outer += pixels @ pixels.T / pixels.shape[1]
        seen += 1
    if seen == 0:
        raise ValueError("image_statistics: no readable images")
    mean_pixel = total / seen
    mean_rgb = mean_pixel.mean(dim=(1, 2)) / 255.0
    cov = outer / seen - torch.outer(mean_rgb, mean_rgb)
    eigval, eigvec = torch.linalg.eigh(cov)
    return dict(
        mean_pixel=mean_pixel.float(),
        mean_channel=(mean_rgb * 255).float().view(3, 1, 1),
        eigval=eigval.flip(0).float(),
        eigvec=eigvec.flip(1).float(),
        count=torch.tensor(seen),
    )


def cached_statistics(dataset: ImageFolder, max_images: int = 10_000) -> dict[str, torch.Tensor]:
    """:func:`image_statistics`, computed once per folder and kept in the cache."""
    key = index_fingerprint(dataset.root, dataset.samples, max_images)
    path = cache_dir() / f"stats-{dataset.root.name}-{_path_key(dataset.root)}-{key}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    stats = image_statistics(dataset, max_images)
    atomic_save(stats, path)
    return stats
