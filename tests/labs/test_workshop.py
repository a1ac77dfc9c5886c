"""The kernel workshop grades what it should: untouched skeletons are "not attempted", the reference solutions pass
every check, and each known-wrong solution fails the check that names its mistake.

The skeletons and the known-wrong solutions are graded in-process from files (``@triton.jit`` reads a kernel's
source from its file); the reference solutions through the notebook with ``SOLUTIONS = True``. The untouched
notebook runs in test_notebooks.py.
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kernels import workshop

from ..conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "labs" / "06_write_the_kernels.ipynb"
SOLUTION_FILES = sorted((ROOT / "labs" / "solutions").glob("*.py"))
# One realistic mistake per exercise: (solution file, text replaced, replacement, the check that must fail).
KNOWN_WRONG = {
    "window sum shifted by one channel": (
        "window_sum", "            j = c - SIZE // 2 + d\n", "            j = c - SIZE // 2 + d + 1\n", "C=7, SIZE=5",
    ),
    "LRN window off by one": (
        "lrn", "            j = c - SIZE // 2 + d\n", "            j = c - SIZE // 2 + d + 1\n", "forward fp64",
    ),
    "backward sign flipped": (
        "lrn", "dx += tl.where(has_j, -2.0 * beta * cross, 0.0)", "dx += tl.where(has_j, 2.0 * beta * cross, 0.0)",
        "backward fp64",
    ),
    "pool gradient to every tied cell": (
        "max_pool",
        "            chosen = tl.load(idx_ptr + out, mask=holds, other=-1) == h * W + w\n",
        # "Am I my window's maximum?", recomputed from x: every tied cell says yes.
        "            best = tl.full((BLOCK,), float('-inf'), ACC)\n"
        "            for kh in tl.static_range(KS):\n"
        "                for kw in tl.static_range(KS):\n"
        "                    cell = plane * H * W + (oh * STRIDE + kh) * W + ow * STRIDE + kw\n"
        "                    best = tl.maximum(best, tl.load(x_ptr + cell, mask=holds, other=0.0).to(ACC))\n"
        "            chosen = tl.load(x_ptr + offs, mask=holds, other=0.0).to(ACC) == best\n",
        "backward, ties: only the first maximum",
    ),
}  # fmt: skip


def _write(tmp_path: Path, name: str, text: str):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return load_script(path)


def _skeletons(tmp_path: Path):
    text = "import triton\nimport triton.language as tl\n\n\n" + "\n\n".join(
        workshop.skeleton(name) for name in workshop.SOLUTIONS)
    return _write(tmp_path, "skeletons", text)


def _grade(module) -> dict:
    return dict(
        window_sum=workshop.check_window_sum(module.window_sum_kernel),
        lrn_forward=workshop.check_lrn_forward(module.lrn_forward_kernel),
        lrn_backward=workshop.check_lrn_backward(module.lrn_backward_kernel),
        max_pool=workshop.check_max_pool2d(module.max_pool_forward_kernel, module.max_pool_backward_kernel),
    )


def test_the_notebooks_skeletons_are_the_solutions_with_their_todo_region_emptied():
    sources = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    for name in workshop.SOLUTIONS:
        assert any(workshop.skeleton(name) in source + "\n" for source in sources), name
        assert 'float("nan")' in workshop.skeleton(name) and workshop.TODO_END in workshop.skeleton(name)
    assert "SOLUTIONS = False" in sources[0]


def test_untouched_skeletons_are_not_attempted(tmp_path):
    for exercise, report in _grade(_skeletons(tmp_path)).items():
        assert not report.attempted, exercise
        assert "not attempted yet" in str(report) and "fill in its TODO region" in str(report)


@pytest.mark.slow
@pytest.mark.parametrize("mistake", list(KNOWN_WRONG))
def test_each_known_wrong_solution_fails_the_check_that_names_it(tmp_path, mistake):
    module_name, old, new, check = KNOWN_WRONG[mistake]
    source = (ROOT / "labs" / "solutions" / f"{module_name}.py").read_text()
    assert source.count(old) == 1, "the solution changed: update KNOWN_WRONG"
    module = _write(tmp_path, f"wrong_{module_name}", source.replace(old, new))
    if module_name == "window_sum":
        report = workshop.check_window_sum(module.window_sum_kernel)
    elif module_name == "lrn":
        forward = "backward" not in check
        report = (workshop.check_lrn_forward(module.lrn_forward_kernel) if forward
                  else workshop.check_lrn_backward(module.lrn_backward_kernel))  # fmt: skip
    else:
        report = workshop.check_max_pool2d(module.max_pool_forward_kernel, module.max_pool_backward_kernel)
    assert report.attempted and check in report.failed, str(report)
    assert f"FAIL {check}: " in str(report)
    if mistake == "pool gradient to every tied cell":
        assert report.failed == [check]  # ties are the only thing it gets wrong


@pytest.mark.slow
def test_the_notebook_with_solutions_passes_every_check_and_compiles(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("SOLUTIONS = False", "SOLUTIONS = True")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "labs")}}
                   ).execute(env=env)  # fmt: skip
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    for op, count in (("window_sum", 3), ("lrn", 8), ("max_pool2d", 16)):
        assert f"of {count} checks pass" in text and f"{op} (" in text
    assert "FAIL" not in text and "not attempted" not in text
    assert "sm_75: " in text and "registers per thread, 0 B spilled" in text
