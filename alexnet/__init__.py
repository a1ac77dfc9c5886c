"""A paper-faithful PyTorch AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) built on the ``kernels`` package.

``model`` (the network), ``data`` (loaders with the paper's preprocessing), ``train`` (the training engine),
``viz`` (pictures), ``hub`` (shipped trained weights: ``alexnet.pretrained(...)``), ``__main__`` (the command
line: ``python -m alexnet --help``).
"""

from .hub import pretrained
from .model import AlexNet, AlexNetConfig, FourLayerCNN, GroupedAlexNet, cifar_alexnet, count_parameters

__version__ = "0.1.0"
__all__ = [
    "AlexNet", "AlexNetConfig", "FourLayerCNN", "GroupedAlexNet", "cifar_alexnet", "count_parameters", "pretrained",
]
