"""Experiments that reproduce the paper's claims: ``recipes`` and ``figure1`` (Figure 1, ReLU vs tanh),
``figure3`` (Figure 3's column split over runs), ``lrn_overlap`` (the CIFAR-10 claims for LRN and overlapping
pooling), ``relu_vs_tanh`` (the first, single-lr Figure 1 experiment)."""
