"""Strip a notebook of its outputs, as it is committed: ``git``'s clean filter for ``labs/*.ipynb``.

    python3 tools/strip_notebook.py < executed.ipynb > clean.ipynb     # the filter (make lab installs it)
    python3 tools/strip_notebook.py labs/*.ipynb                       # in place (make clean-notebooks)

JupyterLab autosaves outputs, execution counts, widget state and kernel details into the notebooks a student
runs; with the filter installed git sees the notebook without them, so ``git status`` stays clean and a commit
never carries outputs. Standard library only: the filter runs with any ``python3``, with or without the venv.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEEP_CELL_METADATA = ("tags", "slideshow")  # authored; everything else (timings, scroll state) is a run's


def strip(notebook: dict) -> dict:
    """The notebook without what running it adds."""
    for cell in notebook.get("cells", []):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_METADATA}
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    meta = notebook.get("metadata", {})
    language = meta.get("language_info", {}).get("name")
    notebook["metadata"] = {k: v for k, v in meta.items() if k == "kernelspec"}
    if language:
        notebook["metadata"]["language_info"] = {"name": language}
    return notebook


def dumps(notebook: dict) -> str:
    """Serialised as nbformat (and so JupyterLab) writes it: one-space indent, sorted keys, a final newline."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if not argv:
        sys.stdout.write(dumps(strip(json.load(sys.stdin))))
        return 0
    for name in argv:
        path = Path(name)
        text = dumps(strip(json.loads(path.read_text(encoding="utf-8"))))
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
