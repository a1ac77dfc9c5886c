"""Column and data parallelism: every layout trains the same weights as one process, and checkpoints move between them.

Multi-process tests launch ``torchrun`` with gloo on the CPU, each on a free port, in their own process group so
that a timeout reaps every rank.
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alexnet.checkpoint import read_checkpoint
from alexnet.model import AlexNet, cifar_alexnet
from alexnet.parallel import place_columns, transfer_bytes_per_step

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("dist_worker.py")
STEPS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(mode: str, nproc: int, out: Path, steps: int = STEPS, resume: Path | None = None, timeout: int = 240):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("TRITON_INTERPRET", None)
    if nproc == 1:
        cmd = [sys.executable, str(WORKER)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", "--master-addr=127.0.0.1",
               f"--master-port={_free_port()}", str(WORKER)]  # fmt: skip
    cmd += [mode, str(steps), str(out)] + ([str(resume)] if resume else [])
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{mode} with {nproc} processes hung for {timeout} s")
    return proc.returncode, output


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "ckpt.pt"
    code, output = _launch("single", 1, out)
    assert code == 0, output
    return read_checkpoint(out)


def _initial_weights() -> dict:
    from tests.alexnet.dist_worker import SPEC

    torch.manual_seed(0)
    return SPEC.build().state_dict()


def _assert_same_weights(a: dict, b: dict):
    """Same parameters, and the same *updates* from the initial weights to within 0.1% (a 2x gradient fails)."""
    assert a["model"].keys() == b["model"].keys()
    initial = _initial_weights()
    for name in a["model"]:
        torch.testing.assert_close(a["model"][name], b["model"][name], rtol=1e-4, atol=1e-5, msg=name)
        update = (b["model"][name] - initial[name]).norm()
        assert update > 0, f"{name} did not train"
        assert (a["model"][name] - b["model"][name]).norm() <= 1e-3 * update + 1e-7, name
    assert a["optimizer"]["momentum"].keys() == b["optimizer"]["momentum"].keys()


@pytest.mark.slow
@pytest.mark.parametrize("mode, nproc", [("data", 2), ("columns", 2), ("hybrid", 4)])
def test_every_layout_trains_the_single_process_weights(single, tmp_path, mode, nproc):
    code, output = _launch(mode, nproc, tmp_path / "ckpt.pt")
    assert code == 0, output
    state = read_checkpoint(tmp_path / "ckpt.pt")
    assert state["progress"]["global_step"] == STEPS
    _assert_same_weights(state, single)


@pytest.mark.slow
def test_a_checkpoint_from_the_column_layout_resumes_in_one_process_and_in_data_parallel(single, tmp_path):
    code, output = _launch("columns", 2, tmp_path / "cols.pt", steps=2)
    assert code == 0, output
    code, output = _launch("single", 1, tmp_path / "resumed.pt", steps=1, resume=tmp_path / "cols.pt")
    assert code == 0, output
    _assert_same_weights(read_checkpoint(tmp_path / "resumed.pt"), single)
    code, output = _launch("data", 2, tmp_path / "resumed-ddp.pt", steps=1, resume=tmp_path / "cols.pt")
    assert code == 0, output
    _assert_same_weights(read_checkpoint(tmp_path / "resumed-ddp.pt"), single)


@pytest.mark.slow
def test_a_rank_that_dies_fails_the_launch_with_its_error_and_no_hang(tmp_path):
    code, output = _launch("fail", 2, tmp_path / "never.pt", steps=5, timeout=180)
    assert code != 0
    assert "rank 1 fails on purpose at step 2" in output
    assert not (tmp_path / "never.pt").exists()


def test_single_process_columns_on_two_devices_match_one_device_with_gradients():
    torch.manual_seed(0)
    model = cifar_alexnet(backend="torch", init="modern", dropout=0.0)
    placed = place_columns(cifar_alexnet(backend="torch", init="modern", dropout=0.0), ("cpu", "cpu"))
    placed.load_state_dict(model.state_dict())
    x = torch.randn(4, 3, 32, 32)
    model(x).square().sum().backward()
    placed(x).square().sum().backward()
    for (name, a), (_, b) in zip(model.named_parameters(), placed.named_parameters()):
        assert torch.equal(a.grad, b.grad), name
    with pytest.raises(TypeError, match="model must be an AlexNet"):
        place_columns(torch.nn.Linear(2, 2), ("cpu", "cpu"))


def test_transfer_volume_follows_the_papers_connectivity():
    volume = transfer_bytes_per_step(AlexNet(backend="torch"), batch_size=128)
    # conv2 -> conv3: 128 maps of 13x13 per column; conv5 -> fc6: 128 x 6 x 6; fc6, fc7: 2048; logits: 500.
    per_sample = 128 * 13 * 13 + 128 * 6 * 6 + 2048 + 2048 + 500
    assert volume["total"] == 2 * per_sample * 128 * 4


def test_the_scaling_document_quotes_the_computed_volume():
    volume = transfer_bytes_per_step(AlexNet(backend="torch"), batch_size=128)
    text = (ROOT / "docs" / "scaling.md").read_text()
    assert f"**{volume['total'] / 1e6:.2f}**" in text and f"{volume['conv2 -> conv3'] / 1e6:.2f}" in text


def _run_as_a_one_rank_job(script: str) -> subprocess.CompletedProcess:
    """Run ``script`` as the only rank of a torchrun-style job (the variables torchrun sets, a free port)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(_free_port()))  # fmt: skip
    env.pop("TRITON_INTERPRET", None)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)


def test_the_process_group_is_destroyed_at_exit_whichever_way_the_process_ends():
    # A group alive while the interpreter shuts down can abort the process: init_distributed registers its
    # teardown with atexit, so that every exit path (an exception, Ctrl-C, the end) leaves the group first.
    script = (
        "import atexit, torch.distributed as dist\n"
        "from alexnet.parallel import init_distributed\n"
        "init_distributed('data', timeout_s=30)\n"
        "assert dist.is_initialized()\n"
        "atexit._run_exitfuncs()\n"
        "print('initialized after exit handlers:', dist.is_initialized())\n"
    )
    result = _run_as_a_one_rank_job(script)
    assert result.returncode == 0, result.stderr
    assert "initialized after exit handlers: False" in result.stdout


def test_a_rank_ends_without_the_interpreters_shutdown_after_its_exit_handlers():
    # The abort's cause (alexnet/parallel.py, exit_rank): gloo's worker threads race the interpreter's shutdown.
    # A rank leaves the group, runs its exit handlers and flushes, then skips finalization, where the race lives.
    script = (
        "import atexit, sys, torch.distributed as dist\n"
        "from alexnet import parallel\n"
        "class Finalized:\n"
        "    def __del__(self):\n"
        "        print('finalized', flush=True)\n"
        "kept = Finalized()\n"
        "ctx = parallel.init_distributed('data', timeout_s=30)\n"
        "atexit.register(lambda: print('exit handler ran, in the group:', dist.is_initialized()))\n"
        "print('joined:', parallel.joined(), end='; ')\n"
        "sys.stdout.write('unflushed')\n"
        "parallel.exit_rank(3)\n"
    )
    result = _run_as_a_one_rank_job(script)
    assert result.returncode == 3, result.stderr
    assert "joined: True; unflushed" in result.stdout and "exit handler ran, in the group: False" in result.stdout
    assert "finalized" not in result.stdout  # the interpreter's shutdown (object teardown) did not run
