"""The README and docs/: short, linked, and every number from a results file written by ``make docs``."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RENDER = ROOT / "tools" / "render_docs.py"
sys.path.insert(0, str(RENDER.parent))

import render_docs  # noqa: E402


def test_the_readme_is_a_page_a_newcomer_reads_in_two_minutes():
    assert len(README.encode()) < 9_000
    for section in ("## Two commands", "## The notebooks", "## Results so far"):
        assert section in README
    for notebook in sorted((ROOT / "labs").glob("*.ipynb")):
        assert f"`{notebook.stem}`" in README, f"the README does not say what {notebook.name} shows"


def test_every_link_in_the_readme_and_docs_resolves():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for link in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if not link.startswith(("http://", "https://", "mailto:")):
                assert (page.parent / link).exists(), f"{page.relative_to(ROOT)} links to {link}, which is not there"


def test_regenerating_the_docs_changes_nothing():
    run = subprocess.run([sys.executable, str(RENDER), "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_generated_region_names_a_value_and_every_page_with_results_has_regions():
    known = render_docs.values()
    named = set()
    for page in render_docs.pages():
        named |= {match["name"] for match in render_docs.REGION.finditer(page.read_text())}
    assert named <= set(known), f"regions without a value: {sorted(named - set(known))}"
    for page in ("README.md", "docs/figure1.md", "docs/lrn_overlap.md", "labs/05_what_lrn_and_overlap_buy.ipynb"):
        assert render_docs.REGION.search((ROOT / page).read_text()), f"{page} quotes results but has no regions"


def test_a_stale_region_is_rewritten_inline_and_as_a_block_and_the_prose_is_kept():
    known = {"x.value": "**1.5%**", "x.table": "| a |\n| --- |\n| 1 |"}
    page = ("Prose <!-- gen:x.value -->**9.9%**<!-- /gen --> more.\n\n"
            "<!-- gen:x.table -->\n| old |\n<!-- /gen -->\nend\n")  # fmt: skip
    rendered = render_docs.render(page, known, "page.md")
    assert rendered == ("Prose <!-- gen:x.value -->**1.5%**<!-- /gen --> more.\n\n"
                        "<!-- gen:x.table -->\n| a |\n| --- |\n| 1 |\n<!-- /gen -->\nend\n")  # fmt: skip
    assert render_docs.render(rendered, known, "page.md") == rendered


def test_a_region_with_an_unknown_name_is_an_error_naming_the_page():
    try:
        render_docs.render("<!-- gen:no.such -->1<!-- /gen -->", {}, "docs/x.md")
    except SystemExit as err:
        assert "docs/x.md" in str(err) and "no.such" in str(err)
    else:
        raise AssertionError("an unknown region was accepted")


def test_generated_values_follow_the_results_files(tmp_path, monkeypatch):
    """The renderer reads the results files alone: a changed manifest changes the README's number."""
    import json
    import shutil

    weights = tmp_path / "alexnet" / "weights"
    weights.mkdir(parents=True)
    meta = json.loads((ROOT / "alexnet" / "weights" / "cifar-alexnet-cifar10.json").read_text())
    meta["val_top1_err"] = 0.1234
    (weights / "cifar-alexnet-cifar10.json").write_text(json.dumps(meta))
    for folder in ("figure3", "train"):
        shutil.copytree(ROOT / "benchmarks" / "results" / folder, tmp_path / "results" / folder)
    monkeypatch.setattr(render_docs, "ROOT", tmp_path)
    monkeypatch.setattr(render_docs, "RESULTS", tmp_path / "results")
    assert render_docs.shipped_values()["weights.top1"] == "**12.34%**"


def _readme_commands() -> list[str]:
    block = re.search(r"## Train from the command line\n\n```bash\n(.*?)```", README, re.S)[1]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readmes_commands_run_from_a_fresh_shell_with_the_documented_activation():
    """A new shell has no venv on PATH: the block activates it first, and then every command it shows parses and
    starts (``--help`` in place of the work)."""
    import os

    from alexnet.__main__ import build_parser

    lines = _readme_commands()
    assert lines[0] == "source .venv/bin/activate"
    commands = lines[1:]
    assert commands and all(line.startswith("python -m alexnet ") for line in commands)
    for line in commands:
        build_parser().parse_args(line.split()[3:])  # every option exists, spelled in full
    if not (ROOT / ".venv" / "bin" / "activate").is_file():
        import pytest

        pytest.skip("no .venv here (make test builds it)")
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    for line in commands:
        command = " ".join(line.split()[:4]) + " --help"
        run = subprocess.run(["bash", "-c", f"{lines[0]} && {command}"], cwd=ROOT, env=env, capture_output=True,
                             text=True)  # fmt: skip
        assert run.returncode == 0 and "usage:" in run.stdout, run.stderr
