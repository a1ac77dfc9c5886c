"""The paper's two-column split: bytes crossing between columns per step, and the single-process two-device step.

Prints (and saves) the transfer volume per training step at batch 128 (fp32 and bf16) and times a training step
of AlexNet with both columns on one device as ``("cuda:0", "cuda:0")`` (or ``("cpu", "cpu")``) against the
unsplit model, then estimates the step time at 2, 8 and 64 GPUs over NVLink and 100 Gb/s Ethernet from the
measured step time and those bytes (see docs/scaling.md for the model behind the estimate).

    python benchmarks/bench_parallel.py [--batch 128]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _common import add_overwrite, result_path, save, time_ms

from alexnet import AlexNet
from alexnet.parallel import transfer_bytes_per_step

LINKS_GBPS = {"NVLink 4 (H100, per direction)": 450.0, "100 Gb/s Ethernet": 12.5}


def estimate(step_ms: float, column_bytes: int, param_bytes: int, gpus: int, link_gbps: float) -> float:
    """Step time (ms) on ``gpus`` GPUs in hybrid mode: each pair splits the columns, pairs split the batch.

    Compute shrinks with the number of pairs; each pair exchanges its share of the column traffic; gradients of
    each column are all-reduced over the pairs (ring all-reduce: 2 (P-1)/P of a column's parameters). No overlap
    of communication with compute is assumed, so this is an upper bound on the time.
    """
    pairs = max(gpus // 2, 1)
    compute = step_ms / gpus  # the column split halves each GPU's work, the data split divides it by the pairs
    exchange = column_bytes / pairs / (link_gbps * 1e9) * 1e3
    allreduce = 2 * (pairs - 1) / pairs * (param_bytes / 2) / (link_gbps * 1e9) * 1e3 if pairs > 1 else 0.0
    return compute + exchange + allreduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--reps", type=int, default=10)
    add_overwrite(parser)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    result_path("parallel", device, args.overwrite)  # refuse before measuring, not after
    model = AlexNet(init="modern").to(device)
    params = sum(p.numel() for p in model.parameters())
    volume = {dt: transfer_bytes_per_step(model, args.batch, size) for dt, size in (("fp32", 4), ("bf16", 2))}
    for dt, v in volume.items():
        print(f"bytes crossing between the columns per step ({dt}, batch {args.batch}):",
              ", ".join(f"{k} {b / 1e6:.2f} MB" for k, b in v.items()))  # fmt: skip
    x = torch.randn(args.batch, 3, 227, 227, device=device)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    rows = []
    for layout in ("one device", "two columns, same device"):
        torch.manual_seed(0)
        net = AlexNet(init="modern").to(device)
        if layout != "one device":
            net.place((device, device))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step(net=net, opt=opt):
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        t = time_ms(step, device, args.reps)
        rows.append(dict(layout=layout, batch=args.batch, **t))
        print(f"{layout}: {t['ms']:.1f} ms per step")
    step_ms = rows[0]["ms"]
    estimates = [
        dict(gpus=g, link=link, step_ms=round(estimate(step_ms, volume["fp32"]["total"], 4 * params, g, gbps), 2))
        for g in (2, 8, 64)
        for link, gbps in LINKS_GBPS.items()
    ]
    for e in estimates:
        print(f"estimate: {e['gpus']:>2} GPUs over {e['link']}: {e['step_ms']} ms per global step of {args.batch}")
    meta = dict(transfer_bytes=volume, parameters=params, estimates=estimates)
    save("parallel", device, rows, meta, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
