"""Images per second of the whole input pipeline on real ImageNet images: PIL on the CPU vs torchvision.io.

Reads the lab's 1,000 ImageNet samples (``../shared/data/imagenet-samples-256.zip``, or ``--data``), and times
one pass of batches with the paper's training augmentation (random 227x227 crops, flips, PCA colour shift) per
path: ``PIL`` (``alexnet.data.EpochLoader``: decode and augment image by image), ``torchvision.io cpu``
(``alexnet.device_data.DeviceJPEGLoader`` on the CPU: batch decode, batched augmentation) and, with a GPU,
``torchvision.io cuda`` (nvJPEG decoding and the augmentation on the device). Results go to benchmarks/results/.

    python benchmarks/bench_data.py [--data ZIP_OR_FOLDER] [--images 512] [--batch 128]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from _common import add_overwrite, device_name, result_path, save

from alexnet import data

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-samples-256.zip"


def images_per_second(batches, count: int, device: torch.device) -> float:
    start = time.perf_counter()
    seen = 0
    for x, _ in batches:
        seen += len(x)
        if seen >= count:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SAMPLES), help="image folder or zip (default: the lab's samples)")
    parser.add_argument("--images", type=int, default=512, help="images per measurement")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=8, help="file-reading threads of the torchvision.io paths")
    add_overwrite(parser)
    args = parser.parse_args()
    where = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    result_path("data-pipeline", where, args.overwrite)  # refuse before measuring, not after
    root = data.resolve_folder(args.data)
    dataset = data.ImageFolder(root)
    dataset.transform = data.Preprocess(torch.tensor(data.IMAGENET_MEAN).view(3, 1, 1), 227, train=True)
    count = min(args.images, len(dataset))
    rows = []

    def record(path: str, device: torch.device, rate: float) -> None:
        rows.append(dict(path=path, device=device_name(device), images=count, batch=args.batch,
                         images_per_s=round(rate, 1)))  # fmt: skip
        print(f"{path:>22} on {device_name(device)}: {rate:8.1f} images/s")

    cpu = torch.device("cpu")
    record("PIL", cpu, images_per_second(data.EpochLoader(dataset, args.batch).epoch(0), count, cpu))
    from alexnet.device_data import DeviceJPEGLoader

    try:
        import torchvision.io  # noqa: F401
    except ImportError:
        print("torchvision is not installed: only the PIL path was measured")
    devices = [cpu] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices if "torchvision.io" in sys.modules else []:
        loader = DeviceJPEGLoader(dataset, args.batch, device=device, threads=args.threads)
        images_per_second(loader.epoch(1), args.batch, device)  # warm-up: nvJPEG handles, kernels
        record(f"torchvision.io {device.type}", device, images_per_second(loader.epoch(0), count, device))
    path = save("data-pipeline", where, rows, dict(op="input pipeline", data=str(args.data)), overwrite=args.overwrite)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
