"""Compile a Triton kernel for a real GPU without one, and read its registers and spills from ``ptxas``.

``triton.compile`` builds PTX and cubin for any NVIDIA target on a CPU-only machine, and the ``ptxas`` shipped
inside Triton's package reports what each thread uses::

    info = kernels.gpu_compile.compile_for_gpu(my_kernel, {"x_ptr": "*fp32", "n": "i32", "BLOCK": "constexpr"},
                                               {"BLOCK": 1024}, arch=90)
    info.registers, info.spill_bytes

A kernel defined under Triton's interpreter (``TRITON_INTERPRET=1``, a CPU) compiles too, in a subprocess
without the interpreter: the file it was defined in is imported there, or for a notebook cell's kernel its source
alone, so such a kernel must then use only ``triton`` and ``tl``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import NamedTuple

__all__ = ["CompiledKernel", "compile_for_gpu", "compile_for_gpus", "ptxas_usage", "ARCHS"]

# Compute capabilities the lab compiles for: T4 (sm_75, what free notebook GPUs offer), A100 (sm_80), H100/H200
# (sm_90). Triton's documentation lists sm_80 and up as supported; sm_75 builds with the same compiler.
ARCHS = (75, 80, 90)


class CompiledKernel(NamedTuple):
    """What ``ptxas -v`` says of one compiled kernel, and the size of its cubin."""

    arch: int
    registers: int  # per thread
    spill_stores: int  # bytes
    spill_loads: int  # bytes
    stack: int  # bytes of stack frame per thread
    shared: int  # bytes of shared memory per block
    cubin_bytes: int
    ptx: str

    @property
    def spill_bytes(self) -> int:
        return self.spill_stores + self.spill_loads


def ptxas_usage(ptx: str, arch: int) -> dict[str, int]:
    """``ptxas -v`` on a kernel's PTX: registers, spill stores/loads (bytes), stack frame and shared memory."""
    import triton

    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "kernel.ptx"
        source.write_text(ptx)
        gpu = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
        out = subprocess.run(
            [str(ptxas), "-v", f"--gpu-name={gpu}", str(source), "-o", str(Path(tmp) / "kernel.cubin")],
            capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip

    def number(pattern: str) -> int:
        found = re.search(pattern, out)
        return int(found.group(1)) if found else 0

    return dict(
        registers=number(r"Used (\d+) registers"), spill_stores=number(r"(\d+) bytes spill stores"),
        spill_loads=number(r"(\d+) bytes spill loads"), stack=number(r"(\d+) bytes stack frame"),
        shared=number(r"(\d+) bytes smem"),
    )  # fmt: skip


def compile_for_gpu(kernel, signature: dict[str, str], constexprs: dict, arch: int = 90, num_warps: int = 4):
    """Build ``kernel`` for ``sm_<arch>`` and measure it.

    Args:
        kernel: a ``@triton.jit`` function (compiled or interpreted).
        signature: every other argument's type: ``"*fp32"`` (a pointer), ``"i32"``, ``"fp32"``.
        constexprs: the value of each ``tl.constexpr`` argument.
        arch: the compute capability, e.g. 75 (T4), 80 (A100), 90 (H100).
        num_warps: as the launcher passes it.

    Returns:
        a :class:`CompiledKernel`. Raises the compiler's error when the kernel does not build.
    """
    (result,) = compile_for_gpus(kernel, signature, constexprs, (arch,), num_warps)
    if isinstance(result, Exception):
        raise result
    return result


def compile_for_gpus(kernel, signature: dict[str, str], constexprs: dict, archs=ARCHS, num_warps: int = 4) -> list:
    """:func:`compile_for_gpu` for several archs at once: a :class:`CompiledKernel` or the exception, per arch."""
    from triton.runtime.jit import JITFunction

    if isinstance(kernel, JITFunction):
        results = []
        for arch in archs:
            try:
                results.append(_compile(kernel, signature, constexprs, arch, num_warps))
            except Exception as err:  # reported per arch, as the caller asked for all of them
                results.append(err)
        return results
    return _compile_elsewhere(kernel, signature, constexprs, archs, num_warps)


def _compile(kernel, signature: dict[str, str], constexprs: dict, arch: int, num_warps: int) -> CompiledKernel:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {name: "constexpr" if name in constexprs else signature.get(name) for name in _arg_names(kernel)}
    missing = [name for name, kind in signature.items() if kind is None]
    if missing:
        raise ValueError(f"compile_for_gpu: signature has no type for {missing}")
    source = ASTSource(kernel, signature, constexprs=constexprs)
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32), options=dict(num_warps=num_warps))
    ptx = compiled.asm["ptx"]
    return CompiledKernel(arch=arch, **ptxas_usage(ptx, arch), cubin_bytes=len(compiled.asm["cubin"]), ptx=ptx)


def _arg_names(kernel) -> list[str]:
    import inspect

    fn = getattr(kernel, "fn", kernel)
    return list(inspect.signature(fn).parameters)


_ELSEWHERE = """
import json, sys
from kernels.gpu_compile import compile_for_gpus, load_kernel
job = json.loads(sys.argv[1])
kernel = load_kernel(job["file"], job["name"])
out = []
for r in compile_for_gpus(kernel, job["signature"], job["constexprs"], job["archs"], job["num_warps"]):
    out.append(dict(error=f"{type(r).__name__}: {r}") if isinstance(r, Exception) else r._asdict())
print("RESULT " + json.dumps(out))
"""


def load_kernel(file: str, name: str):
    """The kernel ``name`` defined in the Python file ``file``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(file).stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _compile_elsewhere(kernel, signature, constexprs, archs, num_warps) -> list:
    """Compile an interpreted kernel in a Python process without ``TRITON_INTERPRET``."""
    fn = kernel.fn
    file = inspect.getsourcefile(fn)
    with tempfile.TemporaryDirectory() as tmp:
        if not file or not file.endswith(".py") or not Path(file).is_file() or "ipykernel" in file:
            file = str(Path(tmp) / "kernel_source.py")  # a notebook cell: its source alone
            Path(file).write_text("import triton\nimport triton.language as tl\n\n\n" +
                                  textwrap.dedent(inspect.getsource(fn)))  # fmt: skip
        job = dict(file=file, name=fn.__name__, signature=signature, constexprs=constexprs, archs=list(archs),
                   num_warps=num_warps)  # fmt: skip
        env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        done = subprocess.run([sys.executable, "-c", _ELSEWHERE, json.dumps(job)], capture_output=True, text=True,
                              env=env, timeout=600)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        error = RuntimeError(f"compiling {fn.__name__} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        return [error for _ in archs]
    return [RuntimeError(r["error"]) if "error" in r else CompiledKernel(**r) for r in json.loads(lines[0][7:])]
