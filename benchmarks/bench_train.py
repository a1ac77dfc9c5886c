"""Images per second of a full AlexNet training step (batch 128, 227x227), backend="triton" against "torch".

Target on an H100: the Triton path >= 1.15x the plain-PyTorch path. On a CPU it times the torch path only (the
Triton path needs a GPU) at a smaller batch. Results go to benchmarks/results/ as JSON/CSV and a PNG.

    python benchmarks/bench_train.py [--batch 128] [--reps 20]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _common import RESULTS, add_overwrite, device_name, plot_grouped, result_path, save, slug, time_ms

from alexnet import AlexNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="default: 128 on a GPU, 16 on the CPU")
    parser.add_argument("--reps", type=int, default=10)
    add_overwrite(parser)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    result_path("train-step", device, args.overwrite)  # refuse before measuring, not after
    batch = args.batch or (128 if device.type == "cuda" else 16)
    backends = ["triton", "torch"] if device.type == "cuda" else ["torch"]
    rows = []
    for dtype in [torch.float32, torch.bfloat16] if device.type == "cuda" else [torch.float32]:
        for backend in backends:
            torch.manual_seed(0)
            model = AlexNet(backend=backend, init="modern").to(device)
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            x = torch.randn(batch, 3, 227, 227, device=device)
            y = torch.randint(0, 1000, (batch,), device=device)

            def step(model=model, opt=opt, x=x, y=y, dtype=dtype):
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            t = time_ms(step, device, args.reps)
            row = dict(shape=f"batch {batch}", dtype=str(dtype).removeprefix("torch."), mode="train step",
                       provider=f"kernels={backend}", **t, images_per_s=round(batch / (t["ms"] * 1e-3), 1))  # fmt: skip
            rows.append(row)
            print(
                f"{row['dtype']:>9} kernels={backend:>6}: {t['ms']:9.2f} ms/step  {row['images_per_s']:8.1f} images/s"
            )
    path = save("train-step", device, rows, dict(op="AlexNet training step", batch=batch), overwrite=args.overwrite)
    png = RESULTS / f"train-step-{slug(device_name(device))}.png"
    plot_grouped(rows, ("dtype", "mode"), f"AlexNet training step on {device_name(device)}", png)
    print(f"saved {path} and {png}")


if __name__ == "__main__":
    main()
