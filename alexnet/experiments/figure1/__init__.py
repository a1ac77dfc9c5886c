"""Figure 1 as the paper ran it: each activation's learning rate searched independently, then repeated over seeds.

For one recipe (:mod:`alexnet.experiments.recipes`), each activation runs over its learning-rate grid (factor-2
steps around the recipe's base lr, the best-guess first); a run stops at the target training error, at
``max_epochs``, when the loss diverges, or as soon as it can no longer beat the fewest epochs to target already
found for its activation (pruned). The fastest lr of each activation then runs with more seeds (initial weights
and data order). The ratio is tanh's epochs to target over ReLU's, per seed, reported as median and range.

Training is :class:`alexnet.engine.Engine` on one uint8 tensor kept on the training device
(:class:`~alexnet.engine.TensorBatches`): batches are indexed there, with no DataLoader and no per-batch host
transfer.

Results (``results-<recipe>.json``, schema ``alexnet-lab/figure1-search/1``) are rewritten after every run, and
the run in progress saves its state after every epoch, so a killed sweep resumes (``resume=True``) without
rerunning what finished. Each run records its per-epoch training
error and per-layer statistics (mean |W|, pre-activation std, tanh saturation / dead ReLUs).
"""

from .report import command, describe, markdown_table, plot, plot_mechanism, plot_recipes, recipes_table  # noqa: F401
from .search import (  # noqa: F401
    FIRST_SCHEMA,
    PROBE_IMAGES,
    SCHEMA,
    LayerLog,
    SearchSettings,
    budget,
    chosen_lr,
    default_grid,
    from_first_experiment,
    live_settings,
    load,
    result_paths,
    run_search,
    run_state_path,
    save,
    search_order,
    summarize,
    train_run,
)
