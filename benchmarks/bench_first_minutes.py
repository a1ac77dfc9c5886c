"""A student's first minutes: the notebooks' training dashboard on CIFAR-10, minute by minute of wall time.

Each configuration builds the dashboard notebook 2 builds (the CIFAR-size AlexNet, its redraws and its quick
validations included, as a student would run it) and trains for ``--minutes`` of wall time. At every minute mark
the clock stops while the recorder measures the validation top-1 error on the dashboard's fixed 2,000-image test
subset and conv1's structure (mean spatial smoothness and colour specificity: about 0 and 2/3 for random weights;
``alexnet.conv1.conv1_structure``); minute 0 is the untrained network. Configurations are every combination of
``--recipes``, ``--precisions``, ``--batches`` and ``--threads``, one run each, one after another (run nothing
else on the machine meanwhile). Results go to ``benchmarks/results/first-minutes-<cpu>.json`` and a PNG.

    python benchmarks/bench_first_minutes.py [--minutes 5] [--recipes paper fast] [--precisions fp32 bf16]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import torch
from _common import RESULTS, add_overwrite, slug

from alexnet.choices import BACKENDS, PRECISIONS, RECIPES, resolve_precision
from alexnet.conv1 import conv1_structure
from alexnet.experiments._results import cpu_model
from alexnet.files import save_json

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpg.zip"


class MinuteMarks:
    """A per-step callback that measures at every ``every`` seconds of training wall time (its own measuring
    excluded) and stops the trainer after ``marks`` measurements: ``records`` holds one dict per mark."""

    def __init__(self, trainer, subset, *, marks: int, every: float = 60.0) -> None:
        self.trainer, self.subset, self.marks, self.every = trainer, subset, marks, every
        self.records: list[dict] = []
        self.start, self.measuring = time.perf_counter(), 0.0
        self.measure(0.0)  # minute 0: the untrained network
        self.start, self.measuring = time.perf_counter(), 0.0

    @property
    def elapsed(self) -> float:
        """Seconds since the start, the recorder's own measuring left out."""
        return time.perf_counter() - self.start - self.measuring

    def measure(self, at: float) -> None:
        began = time.perf_counter()
        error = self.trainer.evaluate(self.subset)["top1_err"]
        structure = conv1_structure(self.trainer.net)
        last = self.trainer.history[-1] if self.trainer.history else {}
        self.records.append(dict(minute=round(at / 60, 4), step=self.trainer.global_step, val_top1_err=error,
                                 train_loss=last.get("loss"), **structure))  # fmt: skip
        self.measuring += time.perf_counter() - began

    def __call__(self, trainer, record) -> None:
        mark = len(self.records) * self.every
        if self.elapsed < mark:
            return
        self.measure(mark)
        if len(self.records) > self.marks:
            trainer.stop()


def run_one(data: str, *, minutes: float, recipe: str, precision: str, batch: int, threads: int, every: float,
            subset: int | None = None, backend: str = "auto") -> dict:  # fmt: skip
    """Train one configuration through the dashboard for ``minutes`` of wall time; its record."""
    from alexnet.runs import build_trainer
    from alexnet.widgets import TrainingDashboard

    torch.set_num_threads(threads)
    trainer = build_trainer(data, "cifar-alexnet", batch_size=batch, recipe=recipe, precision=precision,
                            subset=subset, backend=backend)  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        dashboard = TrainingDashboard(trainer, steps=10**9, checkpoint=Path(folder) / "unused.pt")
        marks = MinuteMarks(trainer, dashboard.val_subset, marks=round(minutes * 60 / every), every=every)
        dashboard.watchers.append(marks)
        dashboard.start()
        dashboard.wait()
    if dashboard.error is not None:
        raise dashboard.error
    label = f"{recipe} recipe, {trainer.precision}, batch {batch}, {threads} thread{'s' * (threads > 1)}"
    print(f"{label}: " + ", ".join(f"{r['minute']:g} min {r['val_top1_err']:.1%}" for r in marks.records),
          flush=True)  # fmt: skip
    return dict(label=label, recipe=recipe, precision=trainer.precision, batch=batch, threads=threads,
                lr=trainer.config.lr, validation_images=len(dashboard.val_subset), marks=marks.records)  # fmt: skip


def machine() -> str:
    """The CPU's model, the vector instructions torch uses, and AMX when the CPU has it."""
    amx = ", AMX" if torch.cpu._is_amx_tile_supported() else ""
    return f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()}{amx})"


def plot(result: dict, path: Path) -> None:
    """Validation error and conv1's smoothness against minutes, one line per configuration."""
    import matplotlib.pyplot as plt

    fig, (ax_err, ax_smooth) = plt.subplots(1, 2, figsize=(11, 3.8))
    for run in result["runs"]:
        minutes = [m["minute"] for m in run["marks"]]
        ax_err.plot(minutes, [m["val_top1_err"] for m in run["marks"]], marker=".", label=run["label"])
        ax_smooth.plot(minutes, [m["smoothness"] for m in run["marks"]], marker=".")
    ax_err.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_err.set(xlabel="minutes after Start", ylabel="validation top-1 error (2,000 test images)", ylim=(0, 1))
    ax_smooth.set(xlabel="minutes after Start", ylabel="conv1 smoothness (random weights: 0)")
    ax_err.legend(fontsize=7)
    fig.suptitle(f"The dashboard's first minutes on CIFAR-10: {result['meta']['machine']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="CIFAR-10 (a zip or folder, or 'cifar10')")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between measurements")
    parser.add_argument("--recipes", nargs="+", default=["paper", "fast"], choices=tuple(RECIPES))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=PRECISIONS)
    parser.add_argument("--batches", nargs="+", type=int, default=[64])
    parser.add_argument("--threads", nargs="+", type=int, default=[torch.get_num_threads()])
    parser.add_argument("--subset", type=int, default=None, help="train on this many images (smoke runs)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="how the ReLU/LRN/pool stages run")
    parser.add_argument("--out", default=None, help="the JSON to write (default: results/first-minutes-<cpu>.json)")
    parser.add_argument("--add", action="store_true", help="add these runs to the results file already there")
    add_overwrite(parser)
    args = parser.parse_args(argv)
    path = Path(args.out) if args.out else RESULTS / f"first-minutes-{slug(machine())}.json"
    if path.exists() and not (args.overwrite or args.add):
        raise SystemExit(f"{path} exists (a result measured before): pass --add to add these configurations to "
                         "it, --overwrite to replace it, or --out")  # fmt: skip
    earlier = json.loads(path.read_text()) if args.add and path.exists() else None
    if earlier is not None and earlier["meta"]["machine"] != machine():
        raise SystemExit(f"{path} was measured on {earlier['meta']['machine']}, not on this {machine()}")
    runs = []
    for recipe, precision, batch, threads in itertools.product(args.recipes, args.precisions, args.batches,
                                                               args.threads):  # fmt: skip
        if precision == "bf16" and resolve_precision("auto") != "bf16":
            print(f"note: {machine()} has no AMX: bf16 runs are emulated and slow")
        runs.append(run_one(args.data, minutes=args.minutes, recipe=recipe, precision=precision, batch=batch,
                            threads=threads, every=args.every, subset=args.subset, backend=args.backend))  # fmt: skip
    meta = dict(machine=machine(), torch=torch.__version__, date=time.strftime("%Y-%m-%d"), minutes=args.minutes,
                every_s=args.every, model="cifar-alexnet", data=Path(args.data).name,
                command="python benchmarks/bench_first_minutes.py " + " ".join(argv if argv is not None else
                                                                             __import__("sys").argv[1:]))  # fmt: skip
    if earlier is not None:  # a configuration measured again replaces its earlier run
        labels = {run["label"] for run in runs}
        runs = [run for run in earlier["runs"] if run["label"] not in labels] + runs
        meta["command"] = earlier["meta"]["command"] + "; " + meta["command"]
    result = dict(meta=meta, runs=runs)
    save_json(result, path)
    plot(result, path.with_suffix(".png"))
    print(f"saved {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
