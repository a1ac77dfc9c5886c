# Two entry points: `make lab` opens the notebooks, `make test` runs every test.
# Both create .venv on first use; PYTHON picks the interpreter that builds it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test install browser clean clean-notebooks notebook-filter bench gpu-check lint oldest docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test,lab]"
	touch $(STAMP)

install: $(STAMP)

lab: notebook-filter
	$(BIN)/jupyter lab labs/ $(ROOT_FLAG)

# JupyterLab autosaves outputs into the notebooks; nbstripout, installed as this clone's git filter (the attribute
# is in .gitattributes), strips them from what git sees, so a student's Run All leaves `git diff` clean. Besides
# its defaults (outputs, counts, widget state, cell ids, timings) it drops what differs between Python builds.
NOTEBOOK_EXTRA_KEYS := metadata.language_info.codemirror_mode metadata.language_info.file_extension \
  metadata.language_info.mimetype metadata.language_info.nbconvert_exporter metadata.language_info.pygments_lexer \
  metadata.language_info.version
notebook-filter: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  $(BIN)/nbstripout --install && \
	  git config filter.nbstripout.extrakeys "$(NOTEBOOK_EXTRA_KEYS)"; fi

# Strip the notebooks themselves (what the filter does for git).
clean-notebooks: $(STAMP)
	$(BIN)/nbstripout --extra-keys "$(NOTEBOOK_EXTRA_KEYS)" labs/*.ipynb

# The browser test drives JupyterLab in headless Chromium; install Debian's chromium when we can (root with
# apt-get), otherwise that one test is skipped with a note.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: no chromium on PATH; the browser test will be skipped"; fi; }

# One pytest process per core (pytest-xdist); TEST_WORKERS=0 runs them all in this one.
TEST_WORKERS ?= auto
test: $(STAMP) browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# Every number from a results file in README.md, docs/ and the notebooks' markdown (tools/render_docs.py).
docs: $(STAMP)
	$(BIN)/python tools/render_docs.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_lrn.py
	$(BIN)/python benchmarks/bench_maxpool.py
	$(BIN)/python benchmarks/bench_fused.py

# The CUDA tests and the benchmarks on a CUDA machine, into OUT (SUMMARY.md, summary.json, results.zip); then
# `python3 benchmarks/gpu_check.py --fold OUT` files them under benchmarks/results/. Uses the venv when there is one,
# else the system python3 (an offline machine prepared with `bash benchmarks/gpu_check.sh --prepare`).
gpu-check:
	@[ -n "$(OUT)" ] || { echo "make gpu-check: OUT=DIR is required (a new or empty folder for the results)" >&2; exit 2; }
	PYTHONPATH=. PYTHONUNBUFFERED=1 PYTHON=$$([ -x $(BIN)/python ] && echo $(BIN)/python || echo python3) \
	  bash benchmarks/gpu_check.sh $(OUT)

# The oldest releases the lab supports (torch 2.11 / triton 3.6), tried on this CPU: builds its
# own venv in ~/.cache/alexnet-lab (about 3 GB), writes benchmarks/results/oldest-supported.md. Not part of `make test`.
oldest:
	bash tools/oldest_supported.sh $(if $(OVERWRITE),--overwrite)

lint: $(STAMP)
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-artifacts
