"""The README and docs/: a short README whose numbers, like the docs' tables, come from the committed results."""

import json
import re
from pathlib import Path

from alexnet.experiments import figure1

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = (ROOT / "README.md").read_text()
RECIPES = ("cuda-convnet", "standardized", "standardized-rescaled", "scaled-tanh")


def _figure1_results():
    return [figure1.load(RESULTS / "relu_vs_tanh" / f"results-{name}.json") for name in RECIPES]


def test_the_readme_is_a_page_a_newcomer_reads_in_two_minutes():
    assert len(README.encode()) < 9_000
    for section in ("## Two commands", "## The notebooks", "## Results so far"):
        assert section in README
    for notebook in sorted((ROOT / "labs").glob("*.ipynb")):
        assert f"`{notebook.stem}`" in README, f"the README does not say what {notebook.name} shows"


def test_every_page_the_readme_links_exists():
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link


def test_figure1_tables_are_generated_from_the_committed_results():
    results = _figure1_results()
    page = (ROOT / "docs" / "figure1.md").read_text()
    assert figure1.recipes_table(results) in page
    for result in results[:3]:
        assert figure1.markdown_table(result) in page
    for row in figure1.recipes_table(results).splitlines()[2:]:
        ratio = row.split(" | ")[4]  # e.g. **5.6x** (5.5-6.3, 3 seeds)
        assert ratio in README, f"the README's results table lacks {ratio}"


def test_the_readmes_shipped_weights_and_figure3_numbers_are_the_committed_ones():
    meta = json.loads((ROOT / "alexnet" / "weights" / "cifar-alexnet-cifar10.json").read_text())
    assert f"**{meta['val_top1_err']:.2%}** top-1 error" in README
    runs = json.loads((RESULTS / "figure3" / "colour-specificity-runs.json").read_text())
    split = sum(runs["split"].values())
    assert f"columns differ (p < {runs['alpha']:g}) in **{split} of {len(runs['split'])}** runs" in README


def test_lrn_overlap_tables_and_the_readme_row_are_the_committed_results():
    from alexnet.experiments import lrn_overlap

    results = lrn_overlap.load(RESULTS / "lrn_overlap" / "results.json")
    page = (ROOT / "docs" / "lrn_overlap.md").read_text()
    assert lrn_overlap.markdown_summary(results, lrn_overlap.PLAN).split("\n\nDevice")[0] in page
    assert lrn_overlap.runs_table(results, lrn_overlap.PLAN) in page
    assert lrn_overlap.curve_table(results) in page
    assert lrn_overlap.curve_table(results, schedule="11pct") in page
    finished = {row["variant"]: row for row in lrn_overlap.summary(results) if row["seeds_finished"]}
    for variant, row in finished.items():  # the README gives each variant's median over its finished seeds
        assert f"**{row['multiview']['median']:.1%}**" in README, f"the README lacks {variant}'s median multiview"
    if {"13pct", "13pct+lrn"} <= finished.keys():
        for which in ("multiview", "centre", "gap"):  # the page's paired LRN differences, mean over seeds
            mean = lrn_overlap.compare(results, "13pct", "13pct+lrn", which)["mean"]
            assert f"**{mean * 100:+.1f} points**" in page, f"the page's {which} LRN difference"
    if {"13pct", "13pct-nonoverlap"} <= finished.keys():  # the page's paired overlap differences, mean over seeds
        for which in ("multiview", "centre", "gap"):
            mean = lrn_overlap.compare(results, "13pct-nonoverlap", "13pct", which)["mean"]
            assert f"**{mean * 100:+.1f} points**" in page, f"the page's {which} overlap difference"


def _listed(values: list[str]) -> str:
    """A pattern for values quoted in prose as "a, b and c" or "a, b, c"."""
    return "(?:, | and )".join(re.escape(v) for v in values)


def test_the_lrn_overlap_pages_per_seed_numbers_are_the_committed_ones():
    """The prose quotes per-seed lists (paired differences, training errors, what the 10 views gain, the epoch-100
    validation lead) typed from the committed results: each must still be what ``results.json`` gives, seeds 0-2."""
    from alexnet.experiments import lrn_overlap

    results = lrn_overlap.load(RESULTS / "lrn_overlap" / "results.json")
    page = " ".join((ROOT / "docs" / "lrn_overlap.md").read_text().split())  # prose wraps anywhere
    finished = {row["variant"] for row in lrn_overlap.summary(results) if row["seeds_finished"] == 3}
    assert {"13pct", "13pct+lrn", "13pct-nonoverlap"} <= finished, "the page's paragraphs are about these runs"

    def per_seed(variant, value):
        return [value(results["runs"][f"{variant}:{seed}"]) for seed in range(3)]

    def train(run):
        return run["history"][-1]["train_error"]

    def view_gain(run):
        return f"{(run['final_test_error']['centre'] - run['final_test_error']['multiview']) * 100:.1f}"

    def found(*parts):
        return re.search("".join(p if isinstance(p, str) else _listed(p) for p in parts), page)

    for base, other in (("13pct", "13pct+lrn"), ("13pct-nonoverlap", "13pct")):
        for which in ("multiview", "centre", "gap"):
            diffs = [f"{d * 100:+.2f}" for d in lrn_overlap.compare(results, base, other, which)["differences"]]
            assert found(diffs), f"the page's per-seed {which} differences of {other} - {base}"
    lrn, base, nonoverlap = (per_seed(v, train) for v in ("13pct+lrn", "13pct", "13pct-nonoverlap"))
    assert found([f"{t:.1%}" for t in base], " against ", [f"{t:.1%}" for t in nonoverlap]), "overlap: training errors"
    assert found(per_seed("13pct", view_gain), " points below centre crop, against ",
                 per_seed("13pct-nonoverlap", view_gain)), "overlap: multiview gains"  # fmt: skip
    assert found([f"{(a - b) * 100:.1f}" for a, b in zip(lrn, base)], " points more training error"), "LRN: training"
    assert found(per_seed("13pct+lrn", view_gain), " points below centre crop, against ",
                 per_seed("13pct", view_gain)), "LRN: multiview gains"  # fmt: skip
    val = {v: per_seed(v, lambda run: run["history"][99]["val_error"]) for v in ("13pct+lrn", "13pct")}
    lead = [f"{(a - b) * 100:+.2f}" for a, b in zip(val["13pct+lrn"], val["13pct"])]
    assert found(lead, " points"), "LRN: the validation lead at epoch 100"


def test_the_published_pairs_numbers_in_the_readme_page_and_notebook_are_the_committed_ones():
    """The 11pct net (one seed) against 13pct seed 0: its final errors and the paired differences the page, the
    README and notebook 5's "What we saw" quote must be what ``results.json`` gives."""
    from alexnet.experiments import lrn_overlap

    results = lrn_overlap.load(RESULTS / "lrn_overlap" / "results.json")
    run = results["runs"]["11pct:0"]
    assert run["finished"], "the page, README and notebook describe a finished 11pct run"
    page = " ".join((ROOT / "docs" / "lrn_overlap.md").read_text().split())
    notebook = json.loads((ROOT / "labs" / "05_what_lrn_and_overlap_buy.ipynb").read_text())
    saw = " ".join("".join(c["source"]) for c in notebook["cells"] if "## What we saw" in "".join(c["source"]))
    final, last = run["final_test_error"], run["history"][-1]
    finals = f"{final['centre']:.1%} centre crop and {final['multiview']:.1%} multiview"
    assert finals in page and finals in " ".join(saw.split()), "the 11pct net's final test errors"
    assert f"training error {last['train_error']:.1%}" in page
    diffs = {which: lrn_overlap.compare(results, "13pct", "11pct", which) for which in ("multiview", "centre", "gap")}
    assert all(d["seeds"] == [0] for d in diffs.values())
    quoted = ", ".join(f"**{d['mean'] * 100:+.2f} points** {what}"
                       for d, what in zip(diffs.values(), ("multiview", "centre crop", "in the train-test gap")))
    assert quoted in page, f"the page's 11pct - 13pct differences: {quoted}"
    lower_mv, lower_centre = (-diffs[w]["mean"] * 100 for w in ("multiview", "centre"))
    gap = diffs["gap"]["mean"] * 100
    assert f"**{final['multiview']:.1%}** multiview, {-lower_mv:+.1f} points against 13pct" in README
    assert f"wider train-test gap ({gap:+.1f} points)" in README
    base_last = results["runs"]["13pct:0"]["history"][-1]
    gaps = [(r["test_error"] - r["train_error"]) * 100 for r in (last, base_last)]
    saw = " ".join(saw.split())
    assert (f"{lower_mv:.1f} points lower multiview than `13pct` on the same seed ({lower_centre:.1f} points on the "
            f"centre crop)") in saw  # fmt: skip
    assert "train-test gap {:.1f} against {:.1f} points".format(*gaps) in saw
    h = run["history"]  # the page's walk along the 11pct curve
    late = [r["test_error"] for r in h[400:500]]
    assert (f"its test error was {h[159]['test_error']:.1%}; the 150 epochs on batches 1-5 ended at "
            f"{h[499]['test_error']:.1%} (epoch 500, within {min(late):.1%}"[:-1] + f"-{max(late):.1%} over epochs "
            "401-500)") in page  # fmt: skip
    assert f"took it to {h[509]['test_error']:.1%} (epoch 510) and {h[519]['test_error']:.1%}" in page
    assert f"training error from {h[499]['train_error']:.1%} to {last['train_error']:.1%}" in page
    base = results["runs"]["13pct:0"]["final_test_error"]
    views = [(f["centre"] - f["multiview"]) * 100 for f in (final, base)]
    assert "gain {:.1f} points over the centre crop, against {:.1f} for `13pct` seed 0".format(*views) in page
    assert f"{final['multiview'] * 100 - 11:.1f} points above cuda-convnet's 11%" in page
    from alexnet.cuda_convnet import CudaConvnetCIFAR
    from alexnet.model import count_parameters

    params = count_parameters(CudaConvnetCIFAR("11pct")) / count_parameters(CudaConvnetCIFAR("13pct"))
    epochs = len(h) / len(results["runs"]["13pct:0"]["history"])
    assert f"{params:.1f}x the parameters and {epochs:.2f}x the epochs" in README
    assert f"{params:.1f} times the parameters" in page and f"trains {epochs:.2f} times as long" in page


def test_the_lrn_overlap_docs_tool_rewrites_its_four_tables_and_only_them(tmp_path):
    import subprocess
    import sys

    from alexnet.experiments import lrn_overlap

    results = lrn_overlap.load(RESULTS / "lrn_overlap" / "results.json")
    table = lrn_overlap.markdown_summary(results, lrn_overlap.PLAN).split("\n\nDevice")[0]
    runs = lrn_overlap.runs_table(results, lrn_overlap.PLAN)
    curves = lrn_overlap.curve_table(results)
    curves_11 = lrn_overlap.curve_table(results, schedule="11pct")
    stale = "| variant | runs finished | old |\n| --- | --- | --- |\n| `13pct` | 0 of 3 | - |"
    page = tmp_path / "page.md"
    old_runs = "| run | memory format | old |\n| `13pct` seed 0 | x |"
    old_curves = "| epoch | data | rate | `13pct` old |\n| 1 | x | y |"
    old_11 = "| epoch | data | rate | `11pct` old |\n| 1 | x | y |"
    page.write_text(f"# title\n\nprose\n\n{stale}\n\n{old_runs}\n\nmore prose\n\n{old_curves}\n\n{old_11}\n\nend\n")
    tool = [sys.executable, str(ROOT / "tools" / "lrn_overlap_docs.py"), "--page", str(page)]
    run = subprocess.run(tool, capture_output=True, text=True, check=True)
    assert "rewritten" in run.stdout
    expected = f"# title\n\nprose\n\n{table}\n\n{runs}\n\nmore prose\n\n{curves}\n\n{curves_11}\n\nend\n"
    assert page.read_text() == expected
    assert "already up to date" in subprocess.run(tool, capture_output=True, text=True, check=True).stdout
    page.write_text("no tables here\n")
    run = subprocess.run(tool, capture_output=True, text=True)
    assert run.returncode != 0 and "expected one table starting '| variant | runs finished |'" in run.stderr
