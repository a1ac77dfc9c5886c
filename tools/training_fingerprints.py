"""Fingerprints of every way the lab trains: 2 epochs on made-up data, fixed seeds, one thread.

    python tools/training_fingerprints.py [--out FILE] [--check FILE]

For each experiment (the Figure 1 search's run, the LRN/overlap study's run, ``python -m alexnet train`` and the
dashboard's ``build_trainer``) it trains 2 epochs and prints the SHA-256 of the final weights and of the history
(every recorded number but the seconds), plus the last epoch's training error. A change to the training code
that should not change what is computed must leave every hash as it was: ``--check FILE`` compares with a file
written by ``--out`` on the same machine (the bits depend on the CPU's kernels, so another CPU gives other hashes)
and exits 1 naming what differs, with the final errors side by side.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

TIMING_KEYS = {"seconds", "epoch_seconds", "wall_s", "images_per_s", "machine", "seconds_per_epoch"}


def saved_weights(path: Path) -> dict:
    """The weights in an experiment's run-state file."""
    saved = torch.load(path, weights_only=True)
    return saved["engine"]["model"] if "engine" in saved else saved["net"]


def weights_hash(state: dict) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def history_hash(records) -> str:
    return hashlib.sha256(json.dumps(_untimed(records), sort_keys=True).encode()).hexdigest()[:16]


def made_up_images(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, 3, 32, 32) uint8 images of 10 classes, each class a mean colour plus noise, and their labels."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 10
    base = torch.stack([torch.tensor([(c * 37) % 256, (c * 91) % 256, (c * 53) % 256]) for c in range(10)])
    images = base[labels][:, :, None, None] + torch.randn(count, 3, 32, 32, generator=gen) * 40
    return images.clamp(0, 255).to(torch.uint8), labels


def write_folder(root: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / f"class{int(label)}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy())).save(folder / f"{i:04d}.png")
    return root


def figure1_run(workdir: Path) -> dict:
    from alexnet.experiments import figure1
    from alexnet.experiments.recipes import Inputs, get_recipe, input_statistics

    images, labels = made_up_images(512, 0)
    settings = figure1.SearchSettings(lrs={"relu": [0.002], "tanh": [0.008]}, seeds=1, target=0.01, max_epochs=2,
                                      batch_size=64)  # fmt: skip
    recipe = get_recipe(settings.recipe)
    inputs = input_statistics(images, recipe)
    inputs = Inputs(inputs.mean, inputs.std)
    state = workdir / "figure1.pt"
    run = figure1.train_run(recipe, "tanh", 0.008, 0, images, labels, inputs, settings, state_path=state)
    return dict(weights=weights_hash(saved_weights(state)), history=history_hash(run),
                final_train_error=run["epochs"][-1]["train_error"])  # fmt: skip


def lrn_overlap_run(workdir: Path) -> dict:
    from alexnet.experiments import lrn_overlap

    train, train_labels = made_up_images(320, 1)
    test, test_labels = made_up_images(100, 2)
    data = lrn_overlap.Data.from_tensors(train, train_labels, test, test_labels)
    state = workdir / "lrn_overlap.pt"
    run = lrn_overlap.train_run("13pct+lrn", 0, data, epochs=2, batch_size=32, backend="torch", progress=False,
                                state_path=state)  # fmt: skip
    return dict(weights=weights_hash(saved_weights(state)), history=history_hash(run),
                final_train_error=run["history"][-1]["train_error"])  # fmt: skip


def _trainer_result(checkpoint_path: Path, epochs: list[dict]) -> dict:
    saved = torch.load(checkpoint_path, weights_only=True)
    return dict(weights=weights_hash(saved["model"]), history=history_hash(epochs),
                final_train_error=epochs[-1]["train_top1_err"])  # fmt: skip


def _cifar_folder(workdir: Path) -> Path:
    root = workdir / "cifar"
    if not root.exists():
        write_folder(root / "train", *made_up_images(200, 3))
        write_folder(root / "test", *made_up_images(60, 4))
    return root


def cli_train_run(workdir: Path) -> dict:
    from alexnet.__main__ import main

    out = workdir / "cli-run"
    code = main(["train", "--data", str(_cifar_folder(workdir)), "--epochs", "2", "--batch-size", "32",
                 "--out", str(out), "--quiet"])  # fmt: skip
    if code != 0:
        raise SystemExit(f"train exited {code}")
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return _trainer_result(out / "checkpoint.pt", [r for r in epochs if r["kind"] == "epoch"])


def dashboard_run(workdir: Path) -> dict:
    from alexnet.runs import build_trainer

    out = workdir / "dashboard-run"
    trainer = build_trainer(str(_cifar_folder(workdir)), batch_size=32, log_dir=out)
    epochs = trainer.run(epochs=2, progress=False)
    return _trainer_result(out / "checkpoint.pt", epochs)


EXPERIMENTS = {"figure1": figure1_run, "lrn_overlap": lrn_overlap_run, "train": cli_train_run,
               "dashboard": dashboard_run}  # fmt: skip


def fingerprints() -> dict:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        return {name: run(Path(tmp)) for name, run in EXPERIMENTS.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the fingerprints to this JSON file")
    parser.add_argument("--check", help="compare with fingerprints written by --out on this machine")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    found = fingerprints()
    for name, result in found.items():
        print(f"{name:12s} weights {result['weights']}  history {result['history']}  "
              f"train error {result['final_train_error']:.6f}")  # fmt: skip
    if args.out:
        from alexnet.experiments._results import machine_name

        record = dict(machine=machine_name("cpu"), torch=torch.__version__, results=found)
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    if args.check:
        expected = json.loads(Path(args.check).read_text())["results"]
        differ = [name for name in expected if expected[name] != found.get(name)]
        for name in differ:
            print(f"differs: {name}: train error {expected[name]['final_train_error']:.6f} -> "
                  f"{found[name]['final_train_error']:.6f}")  # fmt: skip
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
