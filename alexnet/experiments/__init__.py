"""Experiments that reproduce the paper's figures: ``relu_vs_tanh`` (Figure 1)."""
