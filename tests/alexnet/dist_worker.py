"""Run by test_parallel.py, alone or under torchrun: train a small AlexNet a few steps, save a checkpoint.

python dist_worker.py MODE STEPS OUT [RESUME]       MODE: single | data | columns | hybrid | fail
"""

import sys

import torch

from alexnet.model import AlexNetConfig, ModelSpec
from alexnet.train import TrainConfig, Trainer
from tests.alexnet.test_train import synthetic_sets

# No dropout: its masks are drawn in a different order when the columns live on different ranks.
SPEC = ModelSpec("cifar-alexnet", dict(num_classes=4, backend="torch", init="modern", dropout=0.0))


def main(mode: str, steps: int, out: str, resume: str | None = None) -> None:
    ctx = None
    if mode != "single":
        from alexnet.parallel import init_distributed

        ctx = init_distributed("columns" if mode == "fail" else mode, timeout_s=60)
    torch.manual_seed(0)
    model = SPEC.build()
    assert isinstance(model.config, AlexNetConfig)
    config = TrainConfig(lr=0.01, batch_size=8, seed=5, weight_decay=5e-4)
    trainer = Trainer(model, *synthetic_sets(), config, spec=SPEC, dist_ctx=ctx)
    if resume:
        trainer.load_checkpoint(resume)
    for _ in range(steps):
        if mode == "fail" and ctx.rank == 1 and trainer.global_step == 2:
            raise RuntimeError("rank 1 fails on purpose at step 2")
        trainer.step()
    trainer.save_checkpoint(out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], *sys.argv[4:])
    if sys.argv[1] != "single":
        from alexnet.parallel import exit_rank

        exit_rank(0)  # as the CLI ends a rank (see exit_rank)
