"""environment.yml installs what pyproject.toml declares, and the Makefile/CI entry points exist."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ.
CONDA_NAME = {"torch": "pytorch"}
PIP_ONLY = {"tomli"}  # a backport for Python < 3.11; conda's Python is new enough


def _split(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0].strip()
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    out = {}
    for req in reqs:
        name, spec = _split(req)
        if name not in PIP_ONLY:
            assert out.get(CONDA_NAME.get(name, name), spec) == spec, f"{name} has two different bounds"
            out[CONDA_NAME.get(name, name)] = spec
    return out


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "only conda-forge: the pytorch channel is gone"
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            if name not in {"python", "pip"}:
                out[name] = spec
    return out


def test_environment_yml_has_the_same_packages_and_bounds_as_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_environment_yml_installs_the_project_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_torch_and_triton_are_not_hard_pinned():
    for name, spec in _pyproject_requirements().items():
        assert "==" not in spec, f"{name}{spec}: users elsewhere must get newer releases"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_code_is_ruff_clean():
    import subprocess

    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shipped_weights_are_package_data():
    import fnmatch

    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["alexnet"]
    shipped = sorted((ROOT / "alexnet" / "weights").iterdir())
    assert shipped, "no shipped weights in alexnet/weights"
    for path in shipped:
        name = path.relative_to(ROOT / "alexnet").as_posix()
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), f"{name} would be left out of a wheel"


# Words about where or by whom the lab happened to be run, not about the lab (this file, which lists them, aside;
# the character classes keep the pattern from matching itself in other scanners).
_NOT_ABOUT_THE_LAB = re.compile(
    r"\bsess[i]ons?\b|\bl[e]nt\b|device[ ]call|device[ ]tool|give[_]back|files[_]at|carry[=]|what[ ]travels"
    r"|run[(]command[=]|GPU[ ]lease",
    re.IGNORECASE,
)
_SESSION_APIS = re.compile(r"start_new_session|[sS]essionContext(\.session)?")  # subprocess and JupyterLab APIs


def test_the_project_speaks_only_of_itself():
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = []
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if path.suffix in {".pt", ".png", ".zip", ".jpg"} or not path.is_file() or path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _NOT_ABOUT_THE_LAB.search(_SESSION_APIS.sub("", line)):
                found.append(f"{name}:{number}: {line.strip()[:100]}")
    assert not found, "say what the lab does, not who ran it where:\n" + "\n".join(found)


def test_a_long_runs_state_beside_committed_results_is_never_committed():
    """The resumable state of a Figure 1 sweep or an LRN/overlap run written into benchmarks/results/ (where
    --resume continues the committed studies) is ignored by git: results files and figures only."""
    import shutil

    from alexnet.experiments import figure1, lrn_overlap

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    results = ROOT / "benchmarks" / "results"
    states = [figure1.run_state_path(figure1.result_paths(results / "relu_vs_tanh", "cuda-convnet")[0]),
              lrn_overlap.run_state_path(results / "lrn_overlap", "11pct", 0)]  # fmt: skip
    kept = [results / "relu_vs_tanh" / "results-cuda-convnet.json", results / "lrn_overlap" / "results.json"]
    run = subprocess.run(["git", "check-ignore", *map(str, states + kept)], cwd=ROOT, capture_output=True, text=True)
    assert sorted(run.stdout.split()) == sorted(map(str, states))
