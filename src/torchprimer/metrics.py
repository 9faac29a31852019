"""Classification metrics: accuracy and the confusion matrix."""

from __future__ import annotations

import torch


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction (0 to 1) of rows of ``logits`` ``(N, C)`` whose largest entry is the target class.

    ``targets`` holds class indices ``(N,)``. Works on logits, probabilities or
    log-probabilities alike, since all share the same arg-max.
    """
    if logits.ndim != 2:
        raise ValueError(f"accuracy expects logits of shape (N, C), got {tuple(logits.shape)}")
    if targets.shape != (logits.shape[0],):
        raise ValueError(
            f"accuracy expects targets of shape ({logits.shape[0]},) to match the logits, got {tuple(targets.shape)}"
        )
    if logits.shape[0] == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return (logits.argmax(dim=1) == targets).float().mean().item()


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count predictions per (true class, predicted class): a ``(num_classes, num_classes)`` int64 tensor.

    Row ``i`` holds the examples whose true class is ``i``; column ``j`` those predicted as
    ``j``. The diagonal counts the correct ones, so ``m.diag().sum() / m.sum()`` is the accuracy.
    ``predictions`` and ``targets`` are class indices of the same shape ``(N,)``.
    """
    if predictions.shape != targets.shape or predictions.ndim != 1:
        raise ValueError(
            "confusion_matrix expects predictions and targets of the same shape (N,), "
            f"got {tuple(predictions.shape)} and {tuple(targets.shape)}"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    for name, values in (("predictions", predictions), ("targets", targets)):
        if values.is_floating_point():
            raise ValueError(f"{name} must be integer class indices, got dtype {values.dtype}")
        if values.numel() and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} must lie in [0, {num_classes - 1}], got values in [{values.min()}, {values.max()}]"
            )
    flat = targets.long() * num_classes + predictions.long()
    return torch.bincount(flat.cpu(), minlength=num_classes * num_classes).reshape(num_classes, num_classes)
