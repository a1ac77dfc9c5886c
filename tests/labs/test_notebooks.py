"""Every notebook in labs/ runs top to bottom on a CPU in fast mode, draws its figures, and is stored clean."""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
LABS = ROOT / "labs"
NOTEBOOKS = sorted(LABS.glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts"

def _extra_keys() -> str:
    """The metadata keys the notebooks' git filter strips besides nbstripout's defaults (the Makefile's)."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return " ".join(re.search(r"^NOTEBOOK_EXTRA_KEYS := (.*)$", text, re.M)[1].split())


STRIP = [sys.executable, "-m", "nbstripout", "-t", "--extra-keys", _extra_keys()]
# What a notebook must print in fast mode: notebook 3 shows the committed Figure 1 results, notebook 4 opens on
# the shipped weights, with no training.
EXPECTED_TEXT = {
    "03_relu_vs_tanh.ipynb": ("runs committed.", "tanh/ReLU: "),  # the committed Figure 1 results are shown
    "04_what_the_network_learned.ipynb": ("cifar-alexnet-cifar10: ", "validation top-1 error"),
    "06_write_the_kernels.ipynb": ("not attempted yet", "sm_75: ", "registers per thread"),  # untouched skeletons
}


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {LABS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


def _user_clone(tmp_path: Path) -> Path:
    """A clone as a student has it after working in it: labs/ beside the committed results, and a run they saved
    with the dashboard's Save button in labs/runs/notebook.pt."""
    repo = tmp_path / "repo"
    (repo / "labs" / "runs").mkdir(parents=True)
    (repo / "benchmarks").symlink_to(ROOT / "benchmarks")
    (repo / "labs" / "runs" / "notebook.pt").write_bytes(SAVED_RUN)
    return repo / "labs"


SAVED_RUN = b"a student's saved run: 595 steps"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_draws_figures_and_keeps_a_saved_run(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    labs = _user_clone(tmp_path)
    # As a user runs it: no interpreter (the tests' TRITON_INTERPRET would make it slow), fast mode on.
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(ALEXNET_LAB_FAST="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
               ALEXNET_LAB_DATA=str(ROOT.parent / "shared" / "data"))  # fmt: skip
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(labs)}})
    client.execute(env=env)
    # Run All (this run, or a second one) never replaces what the student saved.
    assert (labs / "runs" / "notebook.pt").read_bytes() == SAVED_RUN
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{path.name} produced no figure"
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    for expected in EXPECTED_TEXT.get(path.name, ()):
        assert expected in text, f"{path.name}: no output says {expected!r}"
    ARTIFACTS.mkdir(exist_ok=True)
    nbformat.write(nb, ARTIFACTS / path.name)


def test_notebook_3_runs_a_search_of_a_few_minutes_unless_asked_for_the_full_one():
    from alexnet.experiments import figure1

    source = "".join(c.source for c in nbformat.read(LABS / "03_relu_vs_tanh.ipynb", as_version=4).cells)
    assert "FULL_SEARCH = False" in source and "figure1.live_settings(" in source and "full=FULL_SEARCH" in source
    default = figure1.live_settings()
    # Two runs (one lr each, one seed) of at most 20 epochs of 10,000 images: the Run All time docs/tests.md records.
    assert default.seeds == 1 and all(len(grid) == 1 for grid in default.lrs.values())
    assert figure1.budget(default) <= 2 * 20 * 10_000 and default.target == 0.5
    full = figure1.live_settings(full=True)
    assert full.seeds == 3 and full.subset is None and full.target == 0.25
    assert figure1.budget(full) > 50 * figure1.budget(default)


def _executed(nb):
    """What JupyterLab 4 saves after a Run All: outputs, counts, timings, fresh cell ids, widget state, the kernel's
    spec and language details."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for i, cell in enumerate(nb.cells):
        cell.id = uuid.uuid4().hex[:8]
        cell.metadata["execution"] = {"iopub.status.busy": "2026-12-03T06:00:00Z"}
        if cell.cell_type == "code":
            cell.execution_count = i + 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
            cell.metadata["scrolled"] = True
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"a": {}}, "version_major": 2}}
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py", "mimetype": "text/x-python",
        "name": "python", "nbconvert_exporter": "python", "pygments_lexer": "ipython3", "version": "3.11.7",
    }  # fmt: skip
    return nbformat.writes(nb) + "\n"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_strip_filter_gives_back_the_committed_notebook(path):
    committed = path.read_text(encoding="utf-8")
    run = subprocess.run(STRIP, input=_executed(json.loads(committed)), text=True, capture_output=True, check=True)
    assert run.stdout == committed
    again = subprocess.run(STRIP, input=committed, text=True, capture_output=True, check=True)
    assert again.stdout == committed


def test_git_status_stays_clean_after_jupyterlab_saves_outputs(tmp_path):
    """make lab installs the filter; then a notebook saved with outputs is, to git, the committed one, and
    make clean-notebooks strips the file itself."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("no git on PATH")
    repo = tmp_path / "clone"
    (repo / "labs").mkdir(parents=True)
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    shutil.copy(ROOT / "Makefile", repo / "Makefile")
    notebook = repo / "labs" / NOTEBOOKS[0].name
    shutil.copy(NOTEBOOKS[0], notebook)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip

    def run(*cmd):
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=True).stdout

    run(git, "init", "-q")
    run("make", "-s", "notebook-filter", f"BIN={Path(sys.executable).parent}", "STAMP=")
    run(git, "add", ".")
    run(git, "commit", "-qm", "clean")
    notebook.write_text(_executed(json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))), encoding="utf-8")
    # git diff runs the filter: nothing changed. (git status may still flag the file by its new size alone;
    # staging it shows there is nothing to commit.)
    assert run(git, "diff") == ""
    run(git, "add", "-A")
    assert run(git, "status", "--porcelain") == "" and run(git, "diff", "--cached") == ""
    run("make", "-s", "clean-notebooks", f"BIN={Path(sys.executable).parent}", "STAMP=")
    assert notebook.read_text(encoding="utf-8") == NOTEBOOKS[0].read_text(encoding="utf-8")


def test_notebook_2_trains_nothing_on_run_all_and_start_runs_at_most_2000_steps():
    notebook = nbformat.read(LABS / "02_train_alexnet.ipynb", as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    setup = next(source for source in cells if "TrainingSetup(" in source)
    assert "steps=20 if FAST else 2000" in setup  # what Start trains: about 2,000 steps, said in the text
    starts = [source for source in cells if "dash.start()" in source]
    assert starts and all(source.lstrip().startswith("if FAST:") for source in starts)  # Run All only builds


def test_notebook_5_runs_a_live_study_of_a_few_minutes():
    from alexnet.experiments import lrn_overlap

    source = "".join(c.source for c in nbformat.read(LABS / "05_what_lrn_and_overlap_buy.ipynb", as_version=4).cells)
    assert "lrn_overlap.live_settings(fast=FAST)" in source and "epochs=live.epochs" in source
    live = lrn_overlap.live_settings()
    # Three 13pct networks, 2 epochs of 6,400 training images: the Run All time docs/tests.md records.
    assert live.budget <= 3 * 2 * 6_400 and live.test_images <= 2_000
    assert lrn_overlap.live_settings(fast=True).budget < live.budget / 20
