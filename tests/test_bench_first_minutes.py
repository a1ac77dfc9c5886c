"""The first-minutes benchmark's recorder and results, on a tiny run (the timings themselves are the benchmark's)."""

import json
import sys
from pathlib import Path

import pytest

from .alexnet.conftest import write_images
from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports its sibling _common
    try:
        yield load_script(ROOT / "benchmarks" / "bench_first_minutes.py")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_a_tiny_run_records_every_mark_from_the_untrained_network_on_and_plots_it(bench, tmp_path):
    write_images(tmp_path / "c" / "train", 3, 16, 32)
    write_images(tmp_path / "c" / "test", 3, 6, 32, seed=2)
    out = tmp_path / "first-minutes.json"
    bench.main(["--data", str(tmp_path / "c"), "--minutes", "0.03", "--every", "0.6", "--recipes", "paper", "fast",
                "--precisions", "fp32", "--batches", "8", "--backend", "torch", "--out", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert result["meta"]["machine"] == bench.machine() and result["meta"]["minutes"] == 0.03
    assert [run["recipe"] for run in result["runs"]] == ["paper", "fast"]
    for run in result["runs"]:
        marks = run["marks"]
        assert [m["minute"] for m in marks] == pytest.approx([0.0, 0.01, 0.02, 0.03])
        assert marks[0]["step"] == 0 and marks[0]["train_loss"] is None  # minute 0: the untrained network
        assert all(a["step"] <= b["step"] for a, b in zip(marks, marks[1:])) and marks[-1]["step"] > 0
        assert all(0 <= m["val_top1_err"] <= 1 and abs(m["smoothness"]) < 1 for m in marks)
        assert run["precision"] == "fp32" and run["validation_images"] == 18 and run["batch"] == 8
    assert result["runs"][1]["lr"] == 0.03 and result["runs"][0]["lr"] == 0.01
    assert out.with_suffix(".png").stat().st_size > 10_000
    with pytest.raises(SystemExit, match="exists"):
        bench.main(["--data", str(tmp_path / "c"), "--out", str(out)])
