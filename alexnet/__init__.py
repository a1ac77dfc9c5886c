"""A paper-faithful PyTorch AlexNet (Krizhevsky, Sutskever & Hinton, NIPS 2012) built on the ``kernels`` package."""

__version__ = "0.1.0"
