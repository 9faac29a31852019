"""torchprimer: the models, data helpers and training loop that PyTorch Primer builds up to."""

__version__ = "0.1.0"
