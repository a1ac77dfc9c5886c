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
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .checkpoint import atomic_save

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# ImageNet's RGB statistics on the 0-255 scale (mean) and of pixels scaled to [0, 1] (PCA; eigenvalues of the
# 3x3 covariance, eigenvectors as columns), the values used by fb.resnet.torch and most reproductions.
IMAGENET_MEAN = (123.68, 116.78, 103.94)
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))


class CorruptImageError(ValueError):
    """An image file that PIL cannot read."""


def cache_dir() -> Path:
    """Where extracted archives and decoded tensors go: ``$ALEXNET_LAB_CACHE`` or ``~/.cache/alexnet-lab``."""
    root = os.environ.get("ALEXNET_LAB_CACHE") or Path.home() / ".cache" / "alexnet-lab"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def index_fingerprint(root: str | Path, samples: list[tuple[Path, int]], *extra) -> str:
    """A key that changes when any image under ``root`` is added, removed, renamed, resized or rewritten: a hash of
    every file's relative path, class, size in bytes and modification time (and of ``extra``)."""
    root = Path(root)
    digest = hashlib.sha1(repr(extra).encode())
    for path, label in samples:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{label}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def _path_key(root: str | Path) -> str:
    return hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:8]


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]


def extract_zip(path: str | Path, cache: str | Path | None = None) -> Path:
    """Extract a zip archive once into the cache and return the folder; later calls return it at once.

    Extraction goes to a temporary folder that is renamed into place, so an interrupted run leaves nothing
    half-written behind.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"extract_zip: no such file {path}")
    target = Path(cache or cache_dir()) / f"{path.stem}-{_fingerprint(path)}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=target.parent))
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():  # refuse archives that would write outside the target
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ValueError(f"extract_zip: {path} holds an unsafe path {member!r}")
            archive.extractall(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not target.is_dir():
                raise
    except zipfile.BadZipFile as err:
        raise ValueError(f"extract_zip: {path} is not a valid zip archive ({err})") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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


# ----------------------------------------------------------------------------------------------- augmentation


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


# ----------------------------------------------------------------------------------------------- datasets


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


def resolve_folder(source: str | Path) -> Path:
    """A folder of images, extracting it first if ``source`` is a zip file."""
    path = Path(source).expanduser()
    if path.suffix.lower() == ".zip":
        return extract_zip(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data folder or zip: {path}")
    return path


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


def cifar10(source: str | Path | None = None, train: bool = True, *, download: bool = False) -> TensorImages:
    """CIFAR-10 as uint8 tensors (N, 3, 32, 32) and labels.

    source: an image-folder copy (``train/<class>/``, ``test/<class>/``, or a zip of it, such as
    ``../shared/data/cifar10-jpg.zip``), or None for torchvision's copy in the cache (``download=True`` fetches it
    when online).
    """
    if source is None:
        from torchvision.datasets import CIFAR10

        root = cache_dir() / "torchvision-cifar10"
        try:
            data = CIFAR10(str(root), train=train, download=download)
        except RuntimeError as err:
            raise FileNotFoundError(
                f"CIFAR-10 is not in {root}: let torchvision download it (needs internet) or use an image-folder "
                f"copy such as the lab's cifar10-jpg.zip ({err})"
            ) from err
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
            f"Imagenette is not in {root}: let torchvision download it (needs internet) ({err})"
        ) from err
    return root / "imagenette2-320" / split


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


# ----------------------------------------------------------------------------------------------- loading


class EpochLoader:
    """Batches for one epoch at a time, in an order fixed by (seed, epoch), resumable at any batch.

    Every sample also gets a seed for its augmentation, drawn from the same generator, so a run interrupted at
    batch k and resumed there sees exactly the batches it would have seen. Unreadable images (None items) are
    dropped from their batch and counted in ``skipped``.
    """

    def __init__(
        self, dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0, num_workers: int = 0,
        drop_last: bool = False,
    ) -> None:  # fmt: skip
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError("EpochLoader: the data set is empty")
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.num_workers, self.drop_last = num_workers, drop_last
        self.skipped = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def plan(self, epoch: int) -> list[tuple[list[int], list[int]]]:
        """(indices, per-sample seeds) of every batch of ``epoch``."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        n = len(self.dataset)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        seeds = torch.randint(0, 2**62, (n,), generator=gen)
        batches = []
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            batches.append((idx.tolist(), seeds[start : start + self.batch_size].tolist()))
        return batches

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = self.plan(epoch)[start_batch:]
        if hasattr(self.dataset, "get_batch"):
            for indices, seeds in batches:
                yield self.dataset.get_batch(indices, seeds)
            return
        keyed = [list(zip(indices, seeds)) for indices, seeds in batches]
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=keyed, num_workers=self.num_workers, collate_fn=self._collate,
            persistent_workers=False,
        )  # fmt: skip
        for x, y, skipped in loader:
            self.skipped += skipped
            if y.numel():
                yield x, y

    @staticmethod
    def _collate(items):
        # Runs in the worker: the count of dropped items travels back with the batch.
        good = [item for item in items if item is not None]
        if not good:
            return torch.empty(0), torch.empty(0, dtype=torch.long), len(items)
        return torch.stack([x for x, _ in good]), torch.tensor([y for _, y in good]), len(items) - len(good)


# ----------------------------------------------------------------------------------------------- front door


@dataclass
class DataSets:
    train: torch.utils.data.Dataset
    val: torch.utils.data.Dataset
    classes: list[str]
    source: str


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
    if mean not in ("pixel", "channel", "imagenet", "none"):
        raise ValueError(f"mean must be 'pixel', 'channel', 'imagenet' or 'none', got {mean!r}")
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


def _small_split(source: str, split: str) -> TensorImages:
    root = data_root(resolve_folder(source))
    splits = split_dirs(root)
    if split not in splits:
        raise ValueError(f"{root} has no {split}/ folder (expected train/ and val/ or test/)")
    return decode_folder(splits[split])


def cached_statistics(dataset: ImageFolder, max_images: int = 10_000) -> dict[str, torch.Tensor]:
    """:func:`image_statistics`, computed once per folder and kept in the cache."""
    key = index_fingerprint(dataset.root, dataset.samples, max_images)
    path = cache_dir() / f"stats-{dataset.root.name}-{_path_key(dataset.root)}-{key}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    stats = image_statistics(dataset, max_images)
    atomic_save(stats, path)
    return stats


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
