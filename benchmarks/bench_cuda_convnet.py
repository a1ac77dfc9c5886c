"""Training-step time of cuda-convnet's CIFAR-10 networks (the LRN/overlap study's) under CPU-side options.

Side by side, per variant: fp32 in contiguous NCHW (the study's first run), channels-last memory format, bf16
autocast (AMX on CPUs that have it; this changes the numerics, so a study run this way must say so), both, and
channels-last with glibc keeping freed memory (``alexnet._allocator``: the study's setting since 2026-12-04; it
changes no number, and is measured last because it cannot be undone in a process). One step = forward,
cross-entropy, backward and cuda-convnet's update on a batch of 128 random 24x24 crops. Results go to
benchmarks/results/ as JSON, CSV and a PNG named after the device.

    python benchmarks/bench_cuda_convnet.py [--reps 15] [--variants 13pct 13pct+lrn] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib

import torch
import torch.nn.functional as F
from _common import RESULTS, add_overwrite, device_name, result_path, save, slug, time_ms

from alexnet._allocator import keep_freed_memory
from alexnet.cuda_convnet import VARIANTS, CudaConvnetCIFAR
from alexnet.experiments.lrn_overlap import CudaConvnetSGD, param_groups

SETTINGS = {
    "fp32, NCHW": dict(channels_last=False, bf16=False),
    "channels-last": dict(channels_last=True, bf16=False),
    "bf16 autocast": dict(channels_last=False, bf16=True),
    "bf16 + channels-last": dict(channels_last=True, bf16=True),
    "channels-last, freed memory kept (the study)": dict(channels_last=True, bf16=False, keep_freed=True),
}


def step_fn(variant: str, channels_last: bool, bf16: bool, batch: int, device: torch.device):
    torch.manual_seed(0)
    net = CudaConvnetCIFAR(variant, backend="torch").to(device)
    optimizer = CudaConvnetSGD(param_groups(net), lr=0.001)
    x = torch.randn(batch, 3, 24, 24, device=device) * 60
    y = torch.randint(0, 10, (batch,), device=device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        with cast:
            loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    add_overwrite(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    result_path("cuda-convnet-step", device, args.overwrite)  # refuse before measuring, not after
    rows, base = [], {}
    for keep_freed in (False, True):  # keep_freed_memory() lasts for the process: its settings go last
        if keep_freed and not keep_freed_memory():
            print("not glibc: the freed-memory setting is skipped")
            break
        for variant in args.variants:
            for name, setting in SETTINGS.items():
                if setting.get("keep_freed", False) != keep_freed:
                    continue
                step = step_fn(variant, setting["channels_last"], setting["bf16"], args.batch, device)
                for _ in range(2):  # warm-up beyond time_ms's one: allocator, oneDNN's kernel choice
                    step()
                t = time_ms(step, device, args.reps)
                speedup = base.setdefault(variant, t["ms"]) / t["ms"]
                rows.append(dict(variant=variant, setting=name, batch=args.batch, **t, speedup=round(speedup, 2)))
                print(f"{variant:>17} {name:>44}: {t['ms']:8.1f} ms per step [{t['ms_p20']:.1f}, "
                      f"{t['ms_p80']:.1f}]  x{speedup:.2f}")  # fmt: skip
    rows.sort(key=lambda r: args.variants.index(r["variant"]))  # stable: settings stay in order
    meta = dict(op="cuda-convnet training step", reps=args.reps)
    path = save("cuda-convnet-step", device, rows, meta, overwrite=args.overwrite)
    png = RESULTS / f"cuda-convnet-step-{slug(device_name(device))}.png"
    plot(rows, f"cuda-convnet's CIFAR-10 nets, training step on {device_name(device)}", png)
    print(f"saved {path} and {png}")


def plot(rows: list[dict], title: str, path) -> None:
    import matplotlib.pyplot as plt

    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.5 * len(rows)))
    labels, values, errs = [], [], []
    for r in rows:
        labels.append(f"{r['variant']}: {r['setting']}")
        values.append(r["ms"])
        errs.append([[r["ms"] - r["ms_p20"]], [r["ms_p80"] - r["ms"]]])
    colours = [f"C{variants.index(r['variant'])}" for r in rows]
    ax.barh(range(len(rows)), values, color=colours, xerr=[[e[0][0] for e in errs], [e[1][0] for e in errs]])
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("ms per training step (batch 128), p20-p80 whiskers")
    ax.set_title(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    main()
