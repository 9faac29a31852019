"""Three MNIST classifiers, from a plain MLP to the network of pytorch/examples.

All take a batch of normalized images of shape ``(N, 1, 28, 28)`` and return raw logits of
shape ``(N, 10)``: pair them with ``nn.CrossEntropyLoss``, which applies log-softmax itself.
"""

from __future__ import annotations

import torch
from torch import nn

from torchprimer.models._shapes import check_input

MNIST_SHAPE = (None, 1, 28, 28)


class MnistMLP(nn.Module):
    """A 784-``hidden``-10 perceptron with one ReLU: the first network the tutorials build."""

    def __init__(self, hidden: int = 512) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, MNIST_SHAPE, (None, 28 * 28))  # (N, 1, 28, 28), or already flat (N, 784)
        x = self.flatten(x)  # (N, 784)
        x = torch.relu(self.fc1(x))  # (N, hidden)
        return self.fc2(x)  # (N, 10)


class MnistCNN(nn.Module):
    """A small, fast CNN: two 5x5 conv blocks with batch norm, then one linear layer.

    Each block is conv (padding 2 keeps the size), batch norm, ReLU, 2x2 max pool. With
    the default channels it has 29,034 parameters and reaches 99 % test accuracy in
    about 1.4 epochs with Adam and a one-cycle schedule (see the benchmarks).

    Args:
        channels: output channels of the two conv layers; smaller is faster.
    """

    def __init__(self, channels: tuple[int, int] = (16, 32)) -> None:
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size=5, padding=2)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5, padding=2)
        self.bn2 = nn.BatchNorm2d(c2)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(c2 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, MNIST_SHAPE)  # (N, 1, 28, 28)
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))  # (N, c1, 14, 14): (N, 16, 14, 14) by default
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))  # (N, c2, 7, 7): (N, 32, 7, 7) by default
        x = torch.flatten(x, 1)  # (N, c2 * 49): (N, 1568) by default
        return self.fc(x)  # (N, 10)


class ExamplesNet(nn.Module):
    """The architecture of pytorch/examples' MNIST ``Net``, returning logits.

    Two 3x3 convs (32 and 64 channels), max pool, dropout, then a 9216-128-10 classifier:
    1,199,882 parameters, about 40 times more than [`MnistCNN`][torchprimer.models.MnistCNN]. The original ends in
    ``log_softmax`` for ``nll_loss``; this one returns logits for ``nn.CrossEntropyLoss``,
    which computes the same loss.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, MNIST_SHAPE)  # (N, 1, 28, 28)
        x = torch.relu(self.conv1(x))  # (N, 32, 26, 26)
        x = torch.relu(self.conv2(x))  # (N, 64, 24, 24)
        x = self.dropout1(torch.max_pool2d(x, 2))  # (N, 64, 12, 12)
        x = torch.flatten(x, 1)  # (N, 9216)
        x = self.dropout2(torch.relu(self.fc1(x)))  # (N, 128)
        return self.fc2(x)  # (N, 10)
