"""Notebook controls (ipywidgets): the only package that knows about notebooks; the work is done elsewhere.

- :class:`TrainingSetup` / :class:`TrainingDashboard` (``dashboard``): choose, build and train in a background
  thread so the notebook stays usable: start / pause / stop, a learning-rate slider that acts at the next step,
  live loss, error and validation curves, conv1's filters as they learn; checkpoints saved and loaded from the
  same panel (:class:`CheckpointLoader` for the notebooks that only load).
- :func:`lrn_explorer`, :func:`activation_explorer`, :class:`ActivationBrowser` (``explorers``): sliders and
  pickers over LRN's constants and a model's activation maps.
"""

from ._figures import show_figure
from .dashboard import CheckpointLoader, TrainingDashboard, TrainingSetup, checkpoint_summary
from .explorers import ActivationBrowser, activation_explorer, lrn_explorer

__all__ = ["ActivationBrowser", "CheckpointLoader", "TrainingDashboard", "TrainingSetup", "activation_explorer",
           "checkpoint_summary", "lrn_explorer", "show_figure"]
