"""Work-arounds for known bugs in the Triton releases these kernels support, each to go when its floor rises.

Only one so far, and only for Triton's CPU interpreter (``TRITON_INTERPRET=1``):

**triton-lang/triton#9171** (fixed in Triton 3.8 by #9172). The interpreter hands every scalar kernel argument
to the kernel as a one-element array, and its ``tensor.__index__`` converts it with ``int(array)``, which
NumPy >= 2.4 refuses for arrays with a dimension (``TypeError: only 0-dimensional arrays can be converted to
Python scalars``). Every ``for c in range(0, C)`` over a runtime channel count then fails: with Triton 3.6 and
NumPy 2.5, 187 of the kernel tests. :func:`fix_interpreter_index` installs upstream's one-line fix
(``int(array.squeeze())``) for the releases that lack it. Compiled kernels (a GPU) never run this code.
"""

from __future__ import annotations

import re

FIXED_IN = (3, 8)  # the first Triton release with triton-lang/triton#9172


def _release(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def numpy_refuses_array_to_int() -> bool:
    """True for NumPy >= 2.4, where ``int(np.array([1]))`` raises instead of warning."""
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            int(np.array([1]))
        except TypeError:
            return True
    return False


def fix_interpreter_index(triton_version: str) -> str:
    """Make the interpreter's ``tensor.__index__`` accept one-element arrays; say what was done.

    Returns ``"not needed"`` (Triton >= 3.8, or a NumPy that still converts), ``"fixed"`` or ``"already fixed"``.
    Raises ``ImportError`` naming the supported combinations when the bug is present but this Triton's interpreter
    is not laid out as the fix expects (a release this lab was never tested with).
    """
    if _release(triton_version) >= FIXED_IN or not numpy_refuses_array_to_int():
        return "not needed"
    from triton.runtime import interpreter

    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None:
        raise ImportError(
            f"kernels: Triton {triton_version}'s interpreter cannot run these kernels with NumPy >= 2.4 "
            "(triton-lang/triton#9171); install triton>=3.8, or numpy<2.4 to keep this Triton"
        )
    if getattr(original, "fixes_triton_9171", False):
        return "already fixed"

    def index(self) -> int:
        return int(self.handle.data.squeeze())

    def patch_lang_tensor(tensor, scope=None, *args, **kwargs):
        if scope is None:
            original(tensor, *args, **kwargs)
        else:
            original(tensor, scope, *args, **kwargs)
        if hasattr(scope, "set_attr"):  # the scope undoes its changes when the launch ends
            scope.set_attr(tensor, "__index__", index)
        else:
            tensor.__index__ = index

    patch_lang_tensor.fixes_triton_9171 = True
    interpreter._patch_lang_tensor = patch_lang_tensor
    return "fixed"
