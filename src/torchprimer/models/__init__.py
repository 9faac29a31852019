"""The models of the tutorials, and a registry of them by name (used by the command line).

``MODELS[name]()`` builds a fresh model; ``MODEL_DATASET[name]`` names the dataset its
input shape fits (``None`` for the linear model, which takes plain feature vectors).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from torchprimer.models.cifar import CifarCNN, CifarLessonCNN
from torchprimer.models.linear import LinearModel
from torchprimer.models.mnist import ExamplesNet, MnistCNN, MnistMLP

__all__ = [
    "MODELS",
    "MODEL_DATASET",
    "CifarCNN",
    "CifarLessonCNN",
    "ExamplesNet",
    "LinearModel",
    "MnistCNN",
    "MnistMLP",
]

MODELS: dict[str, Callable[[], nn.Module]] = {
    "linear": LinearModel,
    "mnist-mlp": MnistMLP,
    "mnist-cnn": MnistCNN,
    "mnist-examples-net": ExamplesNet,
    "cifar-lesson": CifarLessonCNN,
    "cifar-cnn": CifarCNN,
}
"""Model constructors by registry name: ``MODELS["mnist-cnn"]()`` builds a fresh ``MnistCNN``."""

MODEL_DATASET: dict[str, str | None] = {
    "linear": None,
    "mnist-mlp": "mnist",
    "mnist-cnn": "mnist",
    "mnist-examples-net": "mnist",
    "cifar-lesson": "cifar10",
    "cifar-cnn": "cifar10",
}
"""The dataset each registered model's input shape fits (``None``: plain feature vectors)."""
