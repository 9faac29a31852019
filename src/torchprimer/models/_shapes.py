"""A cheap input-shape check shared by the models.

A wrong shape deep inside a network surfaces as a matrix-size error that names no layer a
reader wrote. Checking the input once, at the top of ``forward``, turns it into a message
that says what the model expects.
"""

from __future__ import annotations

import torch


def check_input(x: torch.Tensor, expected: tuple[int | None, ...], model: str) -> None:
    """Raise ``ValueError`` unless ``x`` has shape ``expected`` (``None`` matches any size).

    Only Python integers are compared, so the check costs microseconds per batch.
    """
    shape = tuple(x.shape)
    if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
        wanted = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{model} expects input of shape {wanted}, got {shape}")
