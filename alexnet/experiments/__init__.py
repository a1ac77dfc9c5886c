"""Experiments that reproduce the paper's claims: ``recipes`` and ``figure1`` (Figure 1, ReLU vs tanh),
``figure3`` (Figure 3's column split over runs), ``lrn_overlap`` (the CIFAR-10 claims for LRN and overlapping
pooling). Each trains through :mod:`alexnet.engine` and keeps only what is its own: the search, the plan, the
analysis."""
