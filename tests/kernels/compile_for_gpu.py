"""Compile every Triton kernel in ``kernels/`` to cubin for real GPUs, with no GPU present.

Run without TRITON_INTERPRET (``test_compile_for_gpu.py`` does so in a subprocess): the interpreter accepts
code that the compiler rejects, and this is what catches it. Prints one line per compiled variant and exits
non-zero if any kernel is missing from SPECS or fails to build.

    python tests/kernels/compile_for_gpu.py [--arch 80 90]
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import JITFunction

import kernels

DTYPES = ("fp32", "fp16", "bf16", "fp64")

# For each launched kernel: its float scalar arguments (everything else that is not a pointer or constexpr
# is an i32), and its constexprs as a function of the pointer dtype, with the values its launcher uses.
SPECS = {
    "kernels.lrn._lrn_forward_kernel": dict(
        floats=("alpha", "beta", "k"),
        constexprs=lambda dt: dict(SIZE=5, BLOCK_HW=1024, ACC_FP64=dt == "fp64"),
        num_warps=4,
    ),
    "kernels.lrn._lrn_backward_kernel": dict(
        floats=("alpha", "beta", "k"),
        constexprs=lambda dt: dict(SIZE=5, BLOCK_HW=1024, ACC_FP64=dt == "fp64"),
        num_warps=4,
    ),
}


def launched_kernels() -> dict[str, JITFunction]:
    """Every ``@triton.jit`` function named ``*_kernel`` in the kernels package (helpers compile inside them)."""
    found = {}
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"kernels.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, JITFunction) and name.endswith("_kernel") and obj.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
    return found


def signature(fn: JITFunction, dtype: str, floats: tuple[str, ...], constexprs: dict) -> dict[str, str]:
    sig = {}
    for name in fn.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name.endswith("_ptr"):
            sig[name] = f"*{dtype}"
        elif name in floats:
            sig[name] = "fp32"
        else:
            sig[name] = "i32"
    return sig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[80, 90], help="CUDA compute capabilities")
    args = parser.parse_args(argv)

    found = launched_kernels()
    missing = sorted(set(found) - set(SPECS))
    stale = sorted(set(SPECS) - set(found))
    if missing or stale:
        print(f"kernels without a compile spec: {missing}; specs without a kernel: {stale}")
        return 1
    failures = 0
    for qualname, fn in sorted(found.items()):
        spec = SPECS[qualname]
        for dtype in DTYPES:
            constexprs = spec["constexprs"](dtype)
            src = ASTSource(fn, signature(fn, dtype, spec["floats"], constexprs), constexprs=constexprs)
            for arch in args.arch:
                start = time.perf_counter()
                try:
                    compiled = triton.compile(
                        src, target=GPUTarget("cuda", arch, 32), options=dict(num_warps=spec["num_warps"])
                    )
                except Exception as err:  # report every failure, not just the first
                    failures += 1
                    print(f"FAIL {qualname} {dtype} sm_{arch}: {type(err).__name__}: {err}")
                    continue
                size = len(compiled.asm["cubin"])
                print(f"ok   {qualname} {dtype} sm_{arch}: {size} B cubin in {time.perf_counter() - start:.2f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
