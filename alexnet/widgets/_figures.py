"""Figures into Output widgets, from any thread."""

from __future__ import annotations

import io

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import Image


def show_figure(out: W.Output, fig) -> None:
    """Replace an Output widget's content with a matplotlib figure, as a PNG.

    Setting ``outputs`` (rather than ``with out: display(...)``) is safe from a background thread and works
    without a kernel, which is how the dashboard updates while training and how its tests read it.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")  # titles and labels stay whole
    plt.close(fig)
    out.outputs = ()
    out.append_display_data(Image(data=buffer.getvalue(), format="png"))
