"""kernels/_compat.py: the interpreter fix for triton-lang/triton#9171 (Triton < 3.8 with NumPy >= 2.4).

The real bug shows only in an old-Triton environment (``make oldest`` builds one: 187 kernel tests failed there
before the fix); here the fix's logic runs against a stand-in interpreter with the bug as Triton 3.6 ships it.
"""

import sys
import types

import numpy as np
import pytest
import torch

from kernels import _compat
from kernels._triton import HAS_TRITON, interpreter_enabled, triton

pytestmark = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")


class _Handle:
    def __init__(self, value):
        self.data = np.array([value], dtype=np.int32)  # how the interpreter passes a scalar argument


class _Tensor:
    def __init__(self, value):
        self.handle = _Handle(value)


class _Scope:
    """Triton 3.6's _LangPatchScope: set_attr now, undone when the launch ends."""

    def __init__(self):
        self.changes = []

    def set_attr(self, obj, name, value):
        self.changes.append((obj, name, getattr(obj, name, None)))
        setattr(obj, name, value)


def _buggy_patch_lang_tensor(tensor, scope):
    scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data))  # Triton 3.6, interpreter.py


@pytest.fixture
def old_interpreter(monkeypatch):
    """A triton.runtime.interpreter with 3.6's __index__, and a NumPy that refuses int(array of shape (1,))."""
    fake = types.ModuleType("triton.runtime.interpreter")
    fake._patch_lang_tensor = _buggy_patch_lang_tensor
    monkeypatch.setitem(sys.modules, "triton.runtime.interpreter", fake)
    monkeypatch.setattr(sys.modules["triton.runtime"], "interpreter", fake, raising=False)
    monkeypatch.setattr(_compat, "numpy_refuses_array_to_int", lambda: True)
    monkeypatch.setattr(_Tensor, "__index__", None, raising=False)
    return fake


def _index_after_launch(fake, value=7):
    scope = _Scope()
    fake._patch_lang_tensor(_Tensor, scope)
    return list(range(_Tensor(value))), scope


def test_the_fix_makes_a_range_over_a_scalar_argument_work(old_interpreter):
    if np.lib.NumpyVersion(np.__version__) >= "2.4.0":
        with pytest.raises(TypeError, match="0-dimensional"):
            _index_after_launch(old_interpreter)  # the bug as users of Triton 3.6 meet it
    assert _compat.fix_interpreter_index("3.6.0") == "fixed"
    values, scope = _index_after_launch(old_interpreter)
    assert values == list(range(7))
    assert [name for _, name, _ in scope.changes] == ["__index__", "__index__"]  # through the scope: undone after
    assert _compat.fix_interpreter_index("3.6.0") == "already fixed"


@pytest.mark.parametrize("version", ["3.8.0", "3.9.1", "4.0.0+git1234"])
def test_releases_with_the_upstream_fix_are_left_alone(old_interpreter, version):
    assert _compat.fix_interpreter_index(version) == "not needed"
    assert old_interpreter._patch_lang_tensor is _buggy_patch_lang_tensor


def test_an_older_numpy_needs_no_fix(old_interpreter, monkeypatch):
    monkeypatch.setattr(_compat, "numpy_refuses_array_to_int", lambda: False)
    assert _compat.fix_interpreter_index("3.6.0") == "not needed"


def test_an_unknown_interpreter_layout_is_refused_with_what_to_install(old_interpreter):
    del old_interpreter._patch_lang_tensor
    with pytest.raises(ImportError, match=r"triton>=3\.8.*numpy<2\.4"):
        _compat.fix_interpreter_index("3.2.0")


def test_numpy_probe_matches_the_installed_release():
    assert _compat.numpy_refuses_array_to_int() == (np.lib.NumpyVersion(np.__version__) >= "2.4.0")


@pytest.mark.skipif(not interpreter_enabled(), reason="the interpreter is what the fix is for")
def test_a_kernel_looping_over_a_runtime_channel_count_runs_in_this_interpreter():
    import triton.language as tl

    @triton.jit
    def count(out_ptr, C):
        total = 0
        for c in range(0, C + 2 - 1):
            total += c
        tl.store(out_ptr, total)

    out = torch.zeros(1, dtype=torch.int32)
    count[(1,)](out, 5)
    assert out.item() == sum(range(6))
