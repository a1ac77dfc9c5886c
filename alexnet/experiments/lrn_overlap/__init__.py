"""What LRN and overlapping pooling buy, measured on CIFAR-10 under cuda-convnet's own configurations.

The paper (section 3.3): "On the CIFAR-10 dataset, a four-layer CNN achieved a 13% test error rate without
normalization and 11% with normalization"; section 3.4: overlapping pooling lowers error and makes overfitting
slightly harder. The networks are :mod:`alexnet.cuda_convnet`'s variants; this module is cuda-convnet's recipe
and the study that runs them.

The recipe (cuda-convnet's ``convdata.py``, ``layer.cu``/``weights.cuh`` and ``wiki/Methodology.wiki``):

* inputs: random 24x24 crops of the 32x32 images and random horizontal flips, minus the centre 24x24 of the
  training set's per-pixel mean image, on the raw 0-255 scale; evaluation on the centre crop, and "multiview":
  the average softmax of 10 views (4 corners, the centre, and their mirror images);
* the update: ``inc = mom * inc - eps * (mean gradient + wc * W); W += inc`` per layer, with epsW 0.001, epsB
  0.002, momentum 0.9, weight decay ``wc`` on weights only (per layer: see ``Variant.weight_decay``), batch 128;
  when the schedule divides epsW by 10 the momentum already accumulated is kept as it is (it is in weight units);
* the schedule: train on "batches 1-4" (40,000 images) with "batch 5" (the other 10,000) held out for validation,
  then on all 50,000, then epsW / 10, then / 100 (bias rates unchanged): 13pct 100 + 40 + 10 + 10 epochs,
  11pct 350 + 150 + 10 + 10.

The split is a fixed permutation of the training images (seed 0): cuda-convnet's batch files are not what the
lab's JPEG folders hold, so "batch 5" is 10,000 images drawn once. The test set is evaluated after every epoch
for the curves (train-test gap), but nothing is chosen on it: the schedule is fixed in advance.

The study (:func:`run_study`) trains each variant for each seed, saving the run's whole state after every epoch
and rewriting the results file, so a killed study continues (``resume``) where it stopped, to the same weights.
"""

from .recipe import (  # noqa: F401
    SCHEDULES,
    SCHEMA,
    CudaConvnetSGD,
    Data,
    Phase,
    crops,
    param_groups,
    phase_at,
    schedule_of,
    test_error,
    total_epochs,
    views,
)
from .report import (  # noqa: F401
    TURNS,
    compare,
    comparison_line,
    curve_table,
    gap,
    markdown_summary,
    plot,
    remaining,
    remaining_line,
    runs_table,
    summary,
    summary_line,
)
from .study import PLAN, LiveSettings, live_settings, load, run_state_path, run_study, save, train_run  # noqa: F401
