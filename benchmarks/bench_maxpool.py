"""Benchmark kernels.max_pool2d against F.max_pool2d (cuDNN/ATen) and torch.compile, at AlexNet's pooling shapes.

GPU: (128,96,55,55) and (128,256,27,27), fp32 and bf16, forward and forward+backward (target on an H100:
forward+backward >= 1.0x F.max_pool2d). On a CPU without TRITON_INTERPRET there is no Triton path to time, so
the script says so and exits: the torch backend *is* F.max_pool2d.

    python benchmarks/bench_maxpool.py [--reps 20]
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from _common import RESULTS, add_overwrite, device_name, peak_gbps, plot_grouped, result_path, run_cases, save, slug

import kernels

CASES = [(s, d) for s in [(128, 96, 55, 55), (128, 256, 27, 27)] for d in (torch.float32, torch.bfloat16)]


def bytes_moved(x: torch.Tensor, mode: str) -> int:
    # Forward reads x and writes out (1/4 of x) plus a 1-byte position per output; backward reads dy and the
    # positions and writes dx. PyTorch writes 8-byte indices instead, so its real traffic is higher.
    n = x.numel()
    out = n // 4
    fwd = n * x.element_size() + out * (x.element_size() + 1)
    return fwd if mode == "forward" else fwd + out * (x.element_size() + 1) + n * x.element_size()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    add_overwrite(parser)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_maxpool: no CUDA device; on the CPU kernels.max_pool2d is F.max_pool2d (nothing to compare)")
        sys.exit(0)
    device = torch.device("cuda")
    result_path("maxpool", device, args.overwrite)  # refuse before measuring, not after
    eager = lambda x: F.max_pool2d(x, 3, 2)  # noqa: E731
    providers = {
        "triton": lambda x: kernels.max_pool2d(x, 3, 2, backend="triton"),
        "torch eager": eager,
        "torch.compile": torch.compile(eager),
    }
    rows = run_cases(CASES, providers, bytes_moved, device, args.reps)
    meta = dict(op="max_pool2d 3x3/2", peak_gbps=peak_gbps(device))
    path = save("maxpool", device, rows, meta, overwrite=args.overwrite)
    png = RESULTS / f"maxpool-{slug(device_name(device))}.png"
    plot_grouped(rows, ("shape", "dtype", "mode"), f"max_pool2d 3x3/2 on {device_name(device)}", png)
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
