"""Benchmark kernels.lrn against torch.nn.functional.local_response_norm (eager and torch.compile).

On a GPU: AlexNet's LRN shapes (128,96,55,55) and (128,256,27,27), fp32 and bf16, forward and forward+backward,
with achieved bandwidth (bytes that must move / time) and % of the card's peak. On a CPU: the torch backend
(the laptop path) against F.local_response_norm at (32,96,55,55). Results go to benchmarks/results/ as JSON,
CSV and a PNG named after the device.

    python benchmarks/bench_lrn.py [--device cuda|cpu] [--reps 20]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _common import RESULTS, add_overwrite, device_name, peak_gbps, plot_grouped, result_path, run_cases, save, slug

import kernels

HYPER = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)  # alpha / size convention, so every provider agrees


def providers(device: torch.device) -> dict:
    def ours(backend):
        return lambda x: kernels.lrn(x, **HYPER, alpha_over_size=True, backend=backend)

    eager = lambda x: F.local_response_norm(x, **HYPER)  # noqa: E731
    if device.type == "cuda":
        return {"triton": ours("triton"), "torch eager": eager, "torch.compile": torch.compile(eager)}
    return {"kernels (torch backend)": ours("torch"), "torch eager": eager}


def bytes_moved(x: torch.Tensor, mode: str) -> int:
    # Read a, write b; backward also reads a and dy and writes dx.
    return x.numel() * x.element_size() * (2 if mode == "forward" else 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reps", type=int, default=20, help="timed runs per case on the CPU")
    add_overwrite(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    result_path("lrn", device, args.overwrite)  # refuse before measuring, not after
    if device.type == "cuda":
        cases = [(s, d) for s in [(128, 96, 55, 55), (128, 256, 27, 27)] for d in (torch.float32, torch.bfloat16)]
    else:
        cases = [((32, 96, 55, 55), torch.float32)]
    rows = run_cases(cases, providers(device), bytes_moved, device, args.reps)
    path = save("lrn", device, rows, dict(op="lrn", hyper=HYPER, peak_gbps=peak_gbps(device)), overwrite=args.overwrite)
    png = RESULTS / f"lrn-{slug(device_name(device))}.png"
    plot_grouped(rows, ("shape", "dtype", "mode"), f"LRN on {device_name(device)}", png)
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
