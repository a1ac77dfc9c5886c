"""The notebooks' setup (alexnet.lab) and a light ``import alexnet``."""

import os
import subprocess
import sys
from pathlib import Path

import alexnet.lab
from alexnet.lab import setup

ROOT = Path(__file__).resolve().parents[2]


def test_setup_reads_fast_mode_device_and_the_shared_data(tmp_path, monkeypatch, capsys):
    labs = tmp_path / "repo" / "labs"
    labs.mkdir(parents=True)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "cifar10-jpg.zip").write_bytes(b"PK")
    monkeypatch.chdir(labs)
    monkeypatch.setenv("ALEXNET_LAB_FAST", "1")
    monkeypatch.delenv("ALEXNET_LAB_DATA", raising=False)
    kept = []  # the real call lasts for the process: this one only records it (the subprocess below makes it)
    monkeypatch.setattr(alexnet.lab, "keep_freed_memory", lambda: kept.append(True) or True)
    lab = setup()
    assert lab.fast and lab.device in ("cpu", "cuda") and lab.freed_memory_kept and kept == [True]
    assert lab.shared == tmp_path / "shared" / "data" and lab.cifar10 == lab.shared / "cifar10-jpg.zip"
    assert lab.imagenet_samples is None and lab.results == tmp_path / "repo" / "benchmarks" / "results"
    assert "fast mode: True" in capsys.readouterr().out
    monkeypatch.setenv("ALEXNET_LAB_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("ALEXNET_LAB_FAST", "0")
    lab = setup(verbose=False)
    assert not lab.fast and lab.cifar10 is None and capsys.readouterr().out == ""


def test_import_alexnet_leaves_the_triton_choice_open():
    code = (
        "import os, sys, alexnet, alexnet.lab\n"
        "assert 'kernels' not in sys.modules and 'triton' not in sys.modules, 'kernels imported too early'\n"
        "lab = alexnet.lab.setup(triton_on_cpu=True, verbose=False)\n"
        "assert os.environ['TRITON_INTERPRET'] == ('1' if lab.device == 'cpu' else os.environ['TRITON_INTERPRET'])\n"
        "from alexnet._allocator import keep_freed_memory\n"
        "assert lab.freed_memory_kept == keep_freed_memory() == sys.platform.startswith('linux'), 'glibc thresholds'\n"
        "from alexnet import AlexNet, pretrained\n"
        "assert 'kernels' in sys.modules and callable(pretrained) and AlexNet.__name__ == 'AlexNet'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
