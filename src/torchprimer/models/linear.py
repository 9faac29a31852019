"""The smallest model: a straight line ``y = w·x + b``, one ``nn.Linear`` layer."""

from __future__ import annotations

import torch
from torch import nn

from torchprimer.models._shapes import check_input


class LinearModel(nn.Module):
    """Linear regression, ``y = x @ w.T + b``.

    With the defaults (one input, one output) it fits a line through points, the first
    model the tutorials train by hand before handing the work to autograd.
    """

    def __init__(self, in_features: int = 1, out_features: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self, (None, self.linear.in_features))  # (N, in_features)
        return self.linear(x)  # (N, out_features)
