"""Figure 3's claim as a measurement: conv1 colour specificity per kernel, per column, and over training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alexnet import conv1, viz
from alexnet.model import AlexNet, AlexNetConfig

from .test_train import make_trainer, synthetic_sets


def test_grey_kernels_score_zero_and_pure_opponent_kernels_one():
    gen = torch.Generator().manual_seed(0)
    shape = torch.randn(3, 1, 5, 5, generator=gen)
    grey = shape.expand(3, 3, 5, 5)
    red_green = shape * torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1)
    blue_yellow = shape * torch.tensor([1.0, 1.0, -2.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(conv1.colour_specificity(grey), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(conv1.colour_specificity(red_green), torch.ones(3))
    torch.testing.assert_close(conv1.colour_specificity(blue_yellow), torch.ones(3))
    red_only = shape * torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)  # |(1,0,0).l|^2 = 1/3 of the energy
    torch.testing.assert_close(conv1.colour_specificity(red_only), torch.full((3,), 2 / 3))


def test_specificity_ignores_scale_and_sign():
    kernels = torch.randn(6, 3, 7, 7, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(conv1.colour_specificity(kernels), conv1.colour_specificity(-3.5 * kernels))


def test_bad_kernels_are_a_clear_error():
    with pytest.raises(ValueError, match=r"kernels must be \(C, 3, k, k\)"):
        conv1.colour_specificity(torch.ones(4, 1, 3, 3))


CONFIGS = [AlexNetConfig(init="modern"), AlexNetConfig.cifar(init="modern")]


@pytest.mark.parametrize("config", CONFIGS, ids=["paper", "cifar"])
def test_columns_are_the_same_in_the_two_column_and_grouped_forms(config):
    model = AlexNet(config=config)
    columns = conv1.conv1_kernels_by_column(model)
    grouped = conv1.conv1_kernels_by_column(model.to_grouped())
    assert len(columns) == 2 and columns[0].shape[0] == config.widths[0]
    for a, b in zip(columns, grouped):
        assert torch.equal(a, b)


def test_permutation_test_separates_different_columns_only():
    gen = torch.Generator().manual_seed(2)
    low, high = torch.rand(48, generator=gen) * 0.2, 0.6 + torch.rand(48, generator=gen) * 0.3
    assert conv1.column_split_test(low, high, permutations=999)["p_value"] == pytest.approx(1 / 1000)
    same = conv1.column_split_test(low[:24], low[24:], permutations=999)
    assert same["p_value"] > 0.05 and abs(same["difference"]) < 0.1


def test_trainer_callback_records_each_epoch(tmp_path):
    trainer = make_trainer(synthetic_sets())  # the CIFAR-size two-column AlexNet, 5 steps per epoch
    log = conv1.ColourSpecificityLog(tmp_path / "spec.json", permutations=99)
    trainer.run(epochs=2, progress=False, callbacks=[log])
    assert [r["epoch"] for r in log.records] == [0, 1]
    saved = json.loads((tmp_path / "spec.json").read_text())
    assert saved == json.loads(json.dumps(log.records)) and len(saved[0]["values"][0]) == 24


def test_the_figure_draws(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ax = viz.show_colour_specificity(AlexNet(config=AlexNetConfig.cifar(init="modern")))
    assert "colour specificity" in ax.get_ylabel()


def test_the_papers_alexnet_goes_through_the_same_analysis():
    import matplotlib

    matplotlib.use("Agg")
    from alexnet.model import build_model

    model = build_model("alexnet", backend="torch", init="modern", seed=0)  # 96 kernels of 11x11x3, as in Figure 3
    columns = conv1.conv1_kernels_by_column(model)
    assert [tuple(k.shape) for k in columns] == [(48, 3, 11, 11)] * 2
    values = [conv1.colour_specificity(k) for k in columns]
    # Untrained weights: no split, and each column near the 2/3 that random RGB directions give.
    assert all(abs(float(v.mean()) - 2 / 3) < 0.05 for v in values)
    assert conv1.column_split_test(*values, permutations=999)["p_value"] > 0.01
    ax = viz.show_colour_specificity(model)
    assert len(ax.patches) == 96


@pytest.mark.slow
def test_figure3_seeds_script_trains_each_run_once_then_collects(tmp_path, tiny_cifar):
    """benchmarks/figure3_seeds.sh end to end on a tiny CIFAR-shaped folder: one run of each form, 1 epoch."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "figure3_seeds.sh"
    runs, out = tmp_path / "runs", tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable, EPOCHS="1", SEEDS_COLUMNS="0", SEEDS_GROUPED="3", MPLBACKEND="Agg")
    env.pop("TRITON_INTERPRET", None)

    def run(**extra):
        return subprocess.run(["bash", str(script), str(tiny_cifar), str(runs), str(out)], env=dict(env, **extra),
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    results = json.loads((out / "colour-specificity-runs.json").read_text())
    assert list(results["runs"]) == ["columns:0", "grouped:3"] and results["epochs"] == 1
    assert (out / "colour-specificity-runs.png").stat().st_size > 0
    assert "columns:0: column means" in first.stdout and "grouped:3: column means" in first.stdout
    checkpoints = {p: p.stat().st_mtime_ns for p in runs.glob("*/checkpoint.pt")}
    assert sorted(p.parent.name for p in checkpoints) == ["columns-seed0", "grouped-seed3"]
    # Run again: the finished runs are reused, not trained again; the results are only replaced when asked.
    refused = run()
    assert refused.returncode != 0 and "pass --overwrite" in refused.stderr
    replaced = run(OVERWRITE="1")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert {p: p.stat().st_mtime_ns for p in runs.glob("*/checkpoint.pt")} == checkpoints
