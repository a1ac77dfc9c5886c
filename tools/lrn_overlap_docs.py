"""Rewrite the four generated tables of docs/lrn_overlap.md from the committed study results.

    python tools/lrn_overlap_docs.py [--results benchmarks/results/lrn_overlap/results.json]

The per-variant table (``lrn_overlap.markdown_summary(results, plan=PLAN)``), the per-run table
(``lrn_overlap.runs_table(results, PLAN)``) and the curves at each schedule's turns
(``lrn_overlap.curve_table(results)`` for the 13pct nets, ``curve_table(results, schedule="11pct")`` for the
11pct net) are replaced in place; the prose around them is the author's, and ``tests/test_docs.py`` checks that
all four tables are the committed results'. Run it after committing a finished
run (or the progress of one), then reread the prose.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alexnet.experiments import lrn_overlap  # noqa: E402


def replace_table(page: str, header_start: str, table: str) -> str:
    """``page`` with the Markdown table whose header line begins with ``header_start`` replaced by ``table``."""
    lines = page.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(header_start)]
    if len(starts) != 1:
        raise SystemExit(f"error: expected one table starting {header_start!r} in the page, found {len(starts)}")
    end = starts[0]
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[: starts[0]] + table.split("\n") + lines[end:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=ROOT / "benchmarks/results/lrn_overlap/results.json", type=Path)
    parser.add_argument("--page", default=ROOT / "docs/lrn_overlap.md", type=Path)
    args = parser.parse_args(argv)
    results = lrn_overlap.load(args.results)
    page = args.page.read_text()
    new = replace_table(page, "| variant | runs finished |",
                        lrn_overlap.markdown_summary(results, lrn_overlap.PLAN).split("\n\nDevice")[0])
    new = replace_table(new, "| run | memory format |", lrn_overlap.runs_table(results, lrn_overlap.PLAN))
    for schedule in ("13pct", "11pct"):  # each table's first run is its schedule's own net
        new = replace_table(new, f"| epoch | data | rate | `{schedule}` ",
                            lrn_overlap.curve_table(results, schedule=schedule))
    args.page.write_text(new)
    print(f"{args.page}: {'rewritten' if new != page else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
