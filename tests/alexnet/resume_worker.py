"""Run by test_train.py in a fresh process: build the trainer, resume from a checkpoint, train, save the weights.

python resume_worker.py DATA.pt CHECKPOINT STEPS OUT.pt
"""

import sys

import torch

from tests.alexnet.test_train import make_trainer

if __name__ == "__main__":
    data_path, checkpoint, steps, out = sys.argv[1:]
    trainer = make_trainer(torch.load(data_path, weights_only=False))
    trainer.load_checkpoint(checkpoint)
    trainer.run(steps=int(steps), progress=False)
    torch.save(trainer.model.state_dict(), out)
