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
from _common import RESULTS, device_name, peak_gbps, plot_grouped, save, slug, time_ms

import kernels

HYPER = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)  # alpha / size convention, so every provider agrees


def providers(device: torch.device) -> dict:
    def ours(backend):
        return lambda x: kernels.lrn(x, **HYPER, alpha_over_size=True, backend=backend)

    eager = lambda x: F.local_response_norm(x, **HYPER)  # noqa: E731
    if device.type == "cuda":
        return {"triton": ours("triton"), "torch eager": eager, "torch.compile": torch.compile(eager)}
    return {"kernels (torch backend)": ours("torch"), "torch eager": eager}


def bench_one(fn, x: torch.Tensor, mode: str, device: torch.device, reps: int) -> dict:
    if mode == "forward":
        def run():
            with torch.no_grad():
                fn(x)
    else:
        xg = x.detach().requires_grad_()
        dy = torch.randn_like(x)

        def run():
            xg.grad = None
            fn(xg).backward(dy)

    return time_ms(run, device, reps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reps", type=int, default=20, help="timed runs per case on the CPU")
    args = parser.parse_args()
    device = torch.device(args.device)

    if device.type == "cuda":
        cases = [(s, d) for s in [(128, 96, 55, 55), (128, 256, 27, 27)] for d in (torch.float32, torch.bfloat16)]
    else:
        cases = [((32, 96, 55, 55), torch.float32)]
    peak = peak_gbps(device)
    rows = []
    for shape, dtype in cases:
        x = torch.randn(shape, device=device, dtype=dtype)
        for mode in ("forward", "forward+backward"):
            # Bytes that must move: read a, write b; backward also reads a and dy and writes dx.
            num_bytes = x.numel() * x.element_size() * (2 if mode == "forward" else 5)
            for name, fn in providers(device).items():
                t = bench_one(fn, x, mode, device, args.reps)
                gbps = num_bytes / (t["ms"] * 1e-3) / 1e9
                rows.append(dict(
                    shape="x".join(map(str, shape)), dtype=str(dtype).removeprefix("torch."), mode=mode,
                    provider=name, **t, gbps=round(gbps, 1),
                    pct_peak=round(100 * gbps / peak, 1) if peak else None,
                ))  # fmt: skip
                r = rows[-1]
                print(f"{r['shape']:>14} {r['dtype']:>8} {mode:>16} {name:>24}: {r['ms']:8.3f} ms "
                      f"[{r['ms_p20']:.3f}, {r['ms_p80']:.3f}]  {gbps:7.1f} GB/s"
                      + (f"  {r['pct_peak']}% of peak" if peak else ""))  # fmt: skip
    baseline = "torch eager"
    for r in rows:
        same_case = [b for b in rows if all(b[k] == r[k] for k in ("shape", "dtype", "mode"))]
        base = next(b for b in same_case if b["provider"] == baseline)
        r["speedup_vs_eager"] = round(base["ms"] / r["ms"], 2)
    path = save("lrn", device, rows, dict(op="lrn", hyper=HYPER, peak_gbps=peak))
    png = RESULTS / f"lrn-{slug(device_name(device))}.png"
    plot_grouped(rows, ("shape", "dtype", "mode"), f"LRN on {device_name(device)}", png)
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
