"""Which backend runs where: GPUs too old for Triton get the PyTorch path with one warning, never a crash."""

import warnings
from types import SimpleNamespace

import pytest
import torch


def _fake_cuda_tensor():
    return SimpleNamespace(is_cuda=True, device=torch.device("cuda", 0))


def test_a_gpu_older_than_sm75_runs_the_pytorch_path_and_says_why_once(monkeypatch):
    from kernels import _dispatch, _triton

    monkeypatch.setattr(_triton, "HAS_TRITON", True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (6, 0))
    monkeypatch.setattr(_dispatch, "_warned", set())
    with pytest.warns(UserWarning, match="this GPU is sm_60, older than the sm_75 that Triton's kernels need, so the "
                      "PyTorch versions run instead"):  # fmt: skip
        assert _dispatch.resolve_backend("auto", _fake_cuda_tensor(), "lrn") == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not at every call
        assert _dispatch.resolve_backend("auto", _fake_cuda_tensor(), "lrn") == "torch"
    with pytest.raises(RuntimeError, match="lrn: backend='triton' cannot run here: this GPU is sm_60"):
        _dispatch.resolve_backend("triton", _fake_cuda_tensor(), "lrn")


@pytest.mark.parametrize("capability", [(7, 5), (8, 0), (9, 0)])
def test_sm75_and_newer_run_triton(monkeypatch, capability):
    from kernels import _dispatch, _triton

    monkeypatch.setattr(_triton, "HAS_TRITON", True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert _dispatch.resolve_backend("auto", _fake_cuda_tensor(), "lrn") == "triton"


def test_backend_for_says_what_runs_for_a_tensor(monkeypatch):
    import kernels
    from kernels import _triton

    x = torch.zeros(1, 4, 3, 3)
    assert kernels.backend_for(x, "torch") == "torch"
    monkeypatch.setattr(_triton, "interpreter_enabled", lambda: False)
    assert kernels.backend_for(x) == "torch"  # a plain CPU: the PyTorch implementation
    monkeypatch.setattr(_triton, "HAS_TRITON", True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert kernels.backend_for(_fake_cuda_tensor()) == "triton"  # a GPU: the Triton kernel
    with pytest.raises(ValueError, match="backend must be one of"):
        kernels.backend_for(x, "cuda")
