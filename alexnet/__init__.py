"""A paper-faithful PyTorch AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) built on the ``kernels`` package.

``model`` (the networks and the registry of models by name), ``choices`` (every name a user picks, with its
default), ``data`` (loaders with the paper's preprocessing), ``engine`` (the one training loop), ``train`` (the
interactive Trainer around it), ``runs`` (a run from a user's choices), ``checkpoint`` (reading and rebuilding),
``files`` (atomic writes), ``parallel`` (two devices and torchrun), ``viz`` (pictures), ``hub`` (shipped trained
weights: ``alexnet.pretrained(...)``), ``lab`` (the notebooks' setup), ``cli`` and ``__main__`` (the command line:
``python -m alexnet --help``).

The names below load on first use, so ``import alexnet`` does not import ``kernels`` (and Triton) by itself.
"""

import importlib

__version__ = "0.1.0"
_EXPORTS = {
    "AlexNet": "model",
    "AlexNetConfig": "model",
    "FourLayerCNN": "model",
    "GroupedAlexNet": "model",
    "cifar_alexnet": "model",
    "count_parameters": "model",
    "build_model": "model",
    "pretrained": "hub",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'alexnet' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
