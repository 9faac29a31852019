"""Two CIFAR-10 classifiers: the lesson's network as written, and an improved one.

Both take normalized images of shape ``(N, 3, 32, 32)`` and return logits ``(N, 10)``.
"""

from __future__ import annotations

import torch
from torch import nn

from torchprimer.models._shapes import check_input

CIFAR_SHAPE = (None, 3, 32, 32)


class CifarLessonCNN(nn.Module):
    """The lesson's ``Sequential`` CNN, layer for layer: three 5x5 convs and two linears.

    It has no activation functions: each convolution is followed by a 2x2 max pool, and the
    pools, interleaved with the convolutions, are its only non-linearity. The two final
    linear layers, with nothing between them, compute one linear map. It trains, but it
    falls behind the same network with ReLU on data that needs a non-linearity. Kept
    faithful so the chapter that improves it has something to measure against. 145,578
    parameters.
    """

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2),  # (N, 32, 32, 32)
            nn.MaxPool2d(2),  # (N, 32, 16, 16)
            nn.Conv2d(32, 32, 5, padding=2),  # (N, 32, 16, 16)
            nn.MaxPool2d(2),  # (N, 32, 8, 8)
            nn.Conv2d(32, 64, 5, padding=2),  # (N, 64, 8, 8)
            nn.MaxPool2d(2),  # (N, 64, 4, 4)
            nn.Flatten(),  # (N, 1024)
            nn.Linear(1024, 64),  # (N, 64)
            nn.Linear(64, 10),  # (N, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, CIFAR_SHAPE)  # (N, 3, 32, 32)
        return self.layers(x)  # (N, 10)


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU, then a 2x2 max pool that halves height and width."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),  # bias is redundant before batch norm
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class CifarCNN(nn.Module):
    """The lesson's CNN repaired: ReLU after every conv, batch norm, dropout before the classifier.

    Three conv blocks (32, 64, 128 channels) each halve the image; one hidden linear layer.

    Args:
        dropout: probability of zeroing each flattened feature during training.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = nn.Sequential(_block(3, 32), _block(32, 64), _block(64, 128))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(128 * 4 * 4, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, CIFAR_SHAPE)  # (N, 3, 32, 32)
        x = self.features(x)  # (N, 128, 4, 4)
        return self.classifier(x)  # (N, 10)
