"""A cheap input check shared by the models: a tensor of the expected shape and dtype.

A wrong shape deep inside a network surfaces as a matrix-size error that names no layer a
reader wrote, and integer pixels (``uint8``) or NumPy's ``float64`` as a dtype mismatch
inside a convolution. Checking the input once, at the top of ``forward``, turns either
into a message that says what the model expects.
"""

from __future__ import annotations

import torch
from torch import nn

Shape = tuple[int | None, ...]


def _format(shape: Shape) -> str:
    return "(" + ", ".join("N" if size is None else str(size) for size in shape) + ")"


def check_input(x: torch.Tensor, model: nn.Module, *shapes: Shape) -> None:
    """Raise unless ``x`` is a tensor of one of ``shapes`` with the dtype of ``model``'s weights.

    ``None`` in a shape matches any size (the batch). A wrong shape raises ``ValueError``;
    something that is not a tensor, or a tensor of another dtype, raises ``TypeError``.
    Only Python integers and dtypes are compared, so the check costs microseconds per batch.
    """
    name = type(model).__name__
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}: convert it with torch.as_tensor")
    shape = tuple(x.shape)
    if not any(len(shape) == len(s) and all(e is None or e == n for e, n in zip(s, shape)) for s in shapes):
        wanted = " or ".join(_format(s) for s in shapes)
        raise ValueError(f"{name} expects input of shape {wanted}, got {shape}")
    dtype = next(model.parameters()).dtype
    if x.dtype != dtype:
        hint = " (images: x.float() / 255, as ToTensor does)" if not x.is_floating_point() else ""
        raise TypeError(
            f"{name} expects input of dtype {dtype} like its weights, got {x.dtype}: convert with x.to({dtype}){hint}"
        )
