"""alexnet-deploy: AlexNet from PyTorch to production inference, with proof."""

__version__ = "0.1.0"
