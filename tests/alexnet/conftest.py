"""Small made-up image folders and the shared real data, for the alexnet package's tests."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CIFAR_ZIP = SHARED / "cifar10-jpg.zip"
IMAGENET_ZIP = SHARED / "imagenet-samples-256.zip"

needs_cifar = pytest.mark.skipif(
    not CIFAR_ZIP.is_file(), reason=f"real CIFAR-10 not found at {CIFAR_ZIP} (a fresh clone has no ../shared/data)"
)
needs_imagenet = pytest.mark.skipif(
    not IMAGENET_ZIP.is_file(), reason=f"ImageNet samples not found at {IMAGENET_ZIP} (a fresh clone has none)"
)


def write_images(root: Path, classes: int, per_class: int, size, seed: int = 0, ext: str = ".png") -> Path:
    """root/<class>/<i><ext>: each class a different mean colour, so a network can learn them."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = size if isinstance(size, tuple) else (size, size)
            base = np.zeros((h, w, 3)) + 40 + 170 * (np.arange(3) == c % 3)
            pixels = np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}{ext}")
    return root


@pytest.fixture
def tiny_folder(tmp_path):
    """3 classes x 4 images of odd sizes, plus one corrupt file."""
    root = write_images(tmp_path / "imgs", 3, 4, (300, 200), ext=".jpg")
    write_images(tmp_path / "imgs", 1, 1, (64, 90), seed=1, ext=".png")  # a portrait one
    (root / "class1" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return root


@pytest.fixture
def tiny_cifar(tmp_path):
    """CIFAR-shaped folder: train/ and test/ with 3 classes of 32x32 images."""
    write_images(tmp_path / "c" / "train", 3, 16, 32)
    write_images(tmp_path / "c" / "test", 3, 4, 32, seed=2)
    return tmp_path / "c"
