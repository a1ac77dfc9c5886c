"""Triton, or a stand-in where it is not installed (macOS / Windows laptops: the torch backend still works), and
whether its CPU interpreter is on."""

from __future__ import annotations

import os
from types import SimpleNamespace

try:
    import triton
    import triton.language as tl

    HAS_TRITON = True
except ImportError:  # macOS / Windows laptops: the torch backend still works.
    HAS_TRITON = False

    def _jit(fn=None, **_kwargs):
        return fn if fn is not None else (lambda f: f)

    triton = SimpleNamespace(jit=_jit, cdiv=lambda a, b: -(-a // b), next_power_of_2=None)
    tl = SimpleNamespace(constexpr=object)


def interpreter_enabled() -> bool:
    """True when Triton kernels run on the CPU through Triton's interpreter.

    The variable is read by Triton when a ``@triton.jit`` function is defined, so it must be set before
    ``kernels`` is imported; reading it again here only decides which backend ``"auto"`` picks.
    """
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


# Triton's interpreter in releases before 3.8 breaks on NumPy >= 2.4 (kernels/_compat.py says how and why).
INTERPRETER_FIX = "not needed"
if HAS_TRITON and interpreter_enabled():
    from ._compat import fix_interpreter_index

    INTERPRETER_FIX = fix_interpreter_index(triton.__version__)


