"""The command line, one module per command (``python -m alexnet`` in ``alexnet/__main__.py`` puts them together)."""
