"""Compile every Triton kernel in ``kernels/`` to cubin for real GPUs, with no GPU present.

Run without TRITON_INTERPRET (``test_compile_for_gpu.py`` does so in a subprocess): the interpreter accepts
code that the compiler rejects, and this is what catches it. Prints one line per compiled variant and exits
non-zero if any kernel is missing from SPECS or fails to build.

    python tests/kernels/compile_for_gpu.py [--arch 80 90]
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import JITFunction

import kernels

DTYPES = ("fp32", "fp16", "bf16", "fp64")

# For each launched kernel: its float scalar arguments (any other non-pointer, non-constexpr is an i32), the
# element type of pointers that are not the tensor dtype, and its constexprs as a function of the tensor dtype,
# with the values its launcher uses for AlexNet.
_LRN = dict(SIZE=5, RING=8)
_POOL = dict(KH=3, KW=3, SH=2, SW=2, PH=0, PW=0)  # the paper's overlapping pooling
_FLAT = dict(CHANNELS_LAST=False, INDEX_64=False, BLOCK=1024)

SPECS = {
    "kernels.lrn._lrn_forward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        constexprs=lambda dt: dict(**_LRN, BLOCK_HW=1024, ACC_FP64=dt == "fp64"),
    ),
    "kernels.lrn._lrn_backward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        constexprs=lambda dt: dict(**_LRN, BLOCK_HW=256, ACC_FP64=dt == "fp64"),
    ),
    "kernels.maxpool._max_pool2d_forward_kernel": dict(
        pointers={"argmax_ptr": "i8", "indices_ptr": "i64"},
        constexprs=lambda dt: dict(**_POOL, **_FLAT, DH=1, DW=1, WRITE_INDICES=True, ACC_FP64=dt == "fp64"),
    ),
    "kernels.maxpool._max_pool2d_backward_kernel": dict(
        pointers={"argmax_ptr": "i8"},
        constexprs=lambda dt: dict(**_POOL, **_FLAT, DH=1, DW=1, ACC_FP64=dt == "fp64"),
    ),
    "kernels.fused._relu_lrn_max_pool2d_forward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        pointers={"argmax_ptr": "i8"},
        constexprs=lambda dt: dict(SIZE=5, **_POOL, **_FLAT, ACC_FP64=dt == "fp64"),
    ),
    "kernels.fused._relu_lrn_max_pool2d_backward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        pointers={"argmax_ptr": "i8"},
        constexprs=lambda dt: dict(SIZE=5, **_POOL, **_FLAT, ACC_FP64=dt == "fp64"),
    ),
}
# Variants whose code differs enough to be worth compiling too: channels-last decoding and int64 indexing.
EXTRA_VARIANTS = [dict(CHANNELS_LAST=True), dict(INDEX_64=True)]


def launched_kernels() -> dict[str, JITFunction]:
    """Every ``@triton.jit`` function named ``*_kernel`` in the kernels package (helpers compile inside them)."""
    found = {}
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"kernels.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, JITFunction) and name.endswith("_kernel") and obj.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
    return found


def signature(fn: JITFunction, dtype: str, spec: dict, constexprs: dict) -> dict[str, str]:
    floats, pointers = spec.get("floats", ()), spec.get("pointers", {})
    sig = {}
    for name in fn.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name.endswith("_ptr"):
            sig[name] = f"*{pointers.get(name, dtype)}"
        elif name in floats:
            sig[name] = "fp32"
        else:
            sig[name] = "i32"
    return sig


def compile_one(job: tuple[str, str, dict, int]) -> str:
    """Compile one (kernel, dtype, constexprs, arch) variant; return its report line. Runs in a worker process."""
    qualname, dtype, constexprs, arch = job
    fn = launched_kernels()[qualname]
    flags = [f"{key}={value}" for key, value in constexprs.items() if key in ("CHANNELS_LAST", "INDEX_64") and value]
    label = " ".join([qualname, dtype, *flags, f"sm_{arch}"])
    src = ASTSource(fn, signature(fn, dtype, SPECS[qualname], constexprs), constexprs=constexprs)
    start = time.perf_counter()
    try:
        compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=dict(num_warps=4))
    except Exception as err:  # report every failure, not just the first
        return f"FAIL {label}: {type(err).__name__}: {err}"
    return f"ok   {label}: {len(compiled.asm['cubin'])} B cubin in {time.perf_counter() - start:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[80, 90], help="CUDA compute capabilities")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="compiler processes")
    args = parser.parse_args(argv)

    found = launched_kernels()
    missing = sorted(set(found) - set(SPECS))
    stale = sorted(set(SPECS) - set(found))
    if missing or stale:
        print(f"kernels without a compile spec: {missing}; specs without a kernel: {stale}")
        return 1
    jobs = []
    for qualname in sorted(found):
        base = SPECS[qualname]["constexprs"]
        variants = [(dtype, base(dtype)) for dtype in DTYPES]
        variants += [
            ("fp32", dict(base("fp32"), **extra)) for extra in EXTRA_VARIANTS if extra.keys() <= base("fp32").keys()
        ]
        jobs += [(qualname, dtype, constexprs, arch) for dtype, constexprs in variants for arch in args.arch]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        lines = list(pool.map(compile_one, jobs))
    print("\n".join(lines))
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
