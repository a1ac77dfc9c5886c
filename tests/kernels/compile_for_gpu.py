"""Compile every Triton kernel in ``kernels/`` (and the workshop's solutions) for real GPUs, with no GPU present.

Run without TRITON_INTERPRET (``test_compile_for_gpu.py`` does so in a subprocess): the interpreter accepts
code that the compiler rejects, and this is what catches it. Each variant's PTX also goes through the ``ptxas``
that ships inside Triton (``-v``): registers per thread, spill bytes, stack and shared memory. Prints one line
per compiled variant and exits non-zero if any kernel is missing from SPECS, fails to build, or spills.

    python tests/kernels/compile_for_gpu.py [--arch 75 80 90]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import JITFunction

import kernels
from kernels import workshop
from kernels._utils import spatial_block
from kernels.gpu_compile import ptxas_usage

DTYPES = ("fp32", "fp16", "bf16", "fp64")

# For each launched kernel: its float scalar arguments (any other non-pointer, non-constexpr is an i32), the
# element type of pointers that are not the tensor dtype, and its constexprs as a function of the tensor dtype,
# with the values its launcher uses for AlexNet.
_LRN = dict(SIZE=5, RING=8)
_POOL = dict(KH=3, KW=3, SH=2, SW=2, PH=0, PW=0)  # the paper's overlapping pooling
_FLAT = dict(CHANNELS_LAST=False, INDEX_64=False, BLOCK=1024)


# What the LRN launchers pick for AlexNet's 55x55 plane on a GPU: (BLOCK_HW, num_warps) for one ring (forward)
# and three (backward). The compile check builds each kernel with its launcher's warps, or ptxas judges a kernel
# that never runs.
_FORWARD_TILE = spatial_block(55 * 55, torch.device("cuda"), rings=1)
_BACKWARD_TILE = spatial_block(55 * 55, torch.device("cuda"), rings=3)


def _heavy_block(dtype: str) -> dict:
    """kernels._utils.flat_block(heavy=True, fp64=...): 256 elements per program, 128 in fp64."""
    return dict(BLOCK=128 if dtype == "fp64" else 256)


SPECS = {
    "kernels.lrn._lrn_forward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        constexprs=lambda dt: dict(**_LRN, BLOCK_HW=_FORWARD_TILE[0], ACC_FP64=dt == "fp64"),
        num_warps=_FORWARD_TILE[1],
    ),
    "kernels.lrn._lrn_backward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        constexprs=lambda dt: dict(**_LRN, BLOCK_HW=_BACKWARD_TILE[0], ACC_FP64=dt == "fp64"),
        num_warps=_BACKWARD_TILE[1],
    ),
    "kernels.maxpool._max_pool2d_forward_kernel": dict(
        pointers={"argmax_ptr": "i8", "indices_ptr": "i64"},
        constexprs=lambda dt: dict(**_POOL, **_FLAT, DH=1, DW=1, WRITE_INDICES=True, ACC_FP64=dt == "fp64"),
    ),
    "kernels.maxpool._max_pool2d_backward_kernel": dict(
        pointers={"argmax_ptr": "i8"},
        constexprs=lambda dt: dict(**_POOL, **_FLAT, DH=1, DW=1, ACC_FP64=dt == "fp64") | _heavy_block(dt),
    ),
    "kernels.fused._relu_lrn_max_pool2d_forward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        pointers={"argmax_ptr": "i8"},
        constexprs=lambda dt: dict(SIZE=5, **_POOL, **_FLAT, ACC_FP64=dt == "fp64") | dict(BLOCK=256),
    ),
    "kernels.fused._relu_lrn_max_pool2d_backward_kernel": dict(
        floats=("alpha", "beta", "beta_hi", "k"),
        pointers={"argmax_ptr": "i8"},
        constexprs=lambda dt: dict(**_LRN, **_POOL, CHANNELS_LAST=False, BLOCK_HW=_BACKWARD_TILE[0],
                                   ACC_FP64=dt == "fp64"),
        num_warps=_BACKWARD_TILE[1],
    ),
}


def _solution_spec(name: str) -> dict:
    """The workshop's kernels at the launcher's block (kernels.workshop), in every dtype."""
    signature, constexprs, num_warps = workshop.exercise_signature(name)
    return dict(
        floats=tuple(arg for arg, kind in signature.items() if kind == "fp32"),
        pointers={arg: kind[1:] for arg, kind in signature.items() if kind == "*i64"},
        constexprs=lambda dt, c=constexprs: dict(c, **({"ACC_FP64": dt == "fp64"} if "ACC_FP64" in c else {})),
        num_warps=num_warps,
    )


SPECS.update({f"solutions.{module}.{name}": _solution_spec(name) for name, module in workshop.SOLUTIONS.items()})
# sm_75 (T4) has no bf16 arithmetic: Triton emulates it through fp32, and the max-pool backward's bf16 variant
# spills 12 bytes there (ptxas of Triton 3.8). A T4 user trains in fp16 or fp32, where nothing spills.
ALLOWED_SPILLS = {("kernels.maxpool._max_pool2d_backward_kernel", "bf16", 75): 12}
# Variants whose code differs enough to be worth compiling too: channels-last decoding and int64 indexing.
EXTRA_VARIANTS = [dict(CHANNELS_LAST=True), dict(INDEX_64=True)]


def launched_kernels() -> dict[str, JITFunction]:
    """Every ``@triton.jit`` function named ``*_kernel`` in the kernels package (helpers compile inside them) and
    in the workshop's solutions (``labs/solutions/*.py``)."""
    modules = [importlib.import_module(f"kernels.{info.name}") for info in pkgutil.iter_modules(kernels.__path__)]
    modules += [workshop.load_solution(name) for name in sorted(set(workshop.SOLUTIONS.values()))]
    found = {}
    for module in modules:
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


def ptx_memory_instructions(ptx: str) -> dict[str, int]:
    """Static count of global load and store instructions in the PTX (a vector access counts once)."""
    return dict(ld_global=len(re.findall(r"\bld\.global", ptx)), st_global=len(re.findall(r"\bst\.global", ptx)))


def compile_one(job: tuple[str, str, dict, int]) -> dict:
    """Compile one (kernel, dtype, constexprs, arch) variant and measure it. Runs in a worker process.

    Returns {"line": report line, "ok": built without spilling, ...the ptxas and PTX figures}.
    """
    qualname, dtype, constexprs, arch = job
    fn = launched_kernels()[qualname]
    flags = [f"{key}={value}" for key, value in constexprs.items() if key in ("CHANNELS_LAST", "INDEX_64") and value]
    label = " ".join([qualname, dtype, *flags, f"sm_{arch}"])
    src = ASTSource(fn, signature(fn, dtype, SPECS[qualname], constexprs), constexprs=constexprs)
    start = time.perf_counter()
    try:
        options = dict(num_warps=SPECS[qualname].get("num_warps", 4))  # what its launcher uses on a GPU
        compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)
        usage = ptxas_usage(compiled.asm["ptx"], arch)
    except Exception as err:  # report every failure, not just the first
        return dict(line=f"FAIL {label}: {type(err).__name__}: {err}", ok=False)
    usage.update(ptx_memory_instructions(compiled.asm["ptx"]), kernel=qualname, dtype=dtype, arch=arch, flags=flags)
    spills = usage["spill_stores"] + usage["spill_loads"]
    allowed = (qualname, dtype, arch) in ALLOWED_SPILLS and spills <= ALLOWED_SPILLS[qualname, dtype, arch]
    line = (
        f"{'ok  ' if not spills or allowed else 'FAIL'} {label}: {len(compiled.asm['cubin'])} B cubin in "
        f"{time.perf_counter() - start:.2f} s, {usage['registers']} registers, {spills} B spilled, "
        f"{usage['ld_global']} ld.global / {usage['st_global']} st.global"
    )
    return dict(usage, line=line, ok=not spills or allowed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[75, 80, 90], help="CUDA compute capabilities")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="compiler processes")
    parser.add_argument("--json", default=None, help="also write every variant's figures to this JSON file")
    parser.add_argument("--only", default=None, help="compile only kernels whose name contains this")
    parser.add_argument("--dtype", default=None, choices=DTYPES, help="compile only this dtype (and no extras)")
    args = parser.parse_args(argv)

    found = launched_kernels()
    missing = sorted(set(found) - set(SPECS))
    stale = sorted(set(SPECS) - set(found))
    if missing or stale:
        print(f"kernels without a compile spec: {missing}; specs without a kernel: {stale}")
        return 1
    jobs = []
    for qualname in sorted(name for name in found if args.only is None or args.only in name):
        base = SPECS[qualname]["constexprs"]
        variants = [(dtype, base(dtype)) for dtype in DTYPES if args.dtype is None or dtype == args.dtype]
        variants += [
            ("fp32", dict(base("fp32"), **extra))
            for extra in EXTRA_VARIANTS
            if extra.keys() <= base("fp32").keys() and args.dtype is None
        ]
        jobs += [(qualname, dtype, constexprs, arch) for dtype, constexprs in variants for arch in args.arch]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(compile_one, jobs))
    print("\n".join(result["line"] for result in results))
    spilled = sum(1 for result in results if "spill_stores" in result and not result["ok"])
    failed = sum(1 for result in results if "spill_stores" not in result)
    print(f"{len(results) - spilled - failed} passed, {spilled + failed} failed: {len(results)} variants compiled for "
          f"sm_{', sm_'.join(map(str, args.arch))} ({spilled} spilled, {failed} did not build)")
    if args.json:
        Path(args.json).write_text(json.dumps([{k: v for k, v in r.items() if k != "line"} for r in results], indent=1))
    return 0 if all(result["ok"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
