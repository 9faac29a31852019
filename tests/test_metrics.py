"""Metrics: accuracy and confusion matrix against hand-counted answers and bad input."""

from __future__ import annotations

import pytest
import torch

from torchprimer.metrics import accuracy, confusion_matrix


def test_accuracy_counts_argmax_hits() -> None:
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("logits", "targets", "message"),
    [
        (torch.randn(4), torch.tensor([0, 1, 1, 0]), "logits of shape"),
        (torch.randn(4, 3), torch.tensor([0, 1]), "targets of shape"),
        (torch.randn(0, 3), torch.zeros(0, dtype=torch.long), "empty"),
    ],
)
def test_accuracy_rejects_bad_input(logits, targets, message) -> None:
    with pytest.raises(ValueError, match=message):
        accuracy(logits, targets)


def test_confusion_matrix_rows_are_true_classes() -> None:
    predictions = torch.tensor([0, 1, 1, 2, 2, 2])
    targets = torch.tensor([0, 1, 2, 2, 2, 0])
    expected = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 1, 2]])
    matrix = confusion_matrix(predictions, targets, num_classes=3)
    assert matrix.dtype == torch.int64
    assert torch.equal(matrix, expected)
    assert matrix.diag().sum() / matrix.sum() == pytest.approx(4 / 6)


def test_confusion_matrix_agrees_with_accuracy() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(200, 10), torch.randint(0, 10, (200,))
    matrix = confusion_matrix(logits.argmax(1), targets, 10)
    assert matrix.sum() == 200
    assert (matrix.diag().sum() / 200).item() == pytest.approx(accuracy(logits, targets))


@pytest.mark.parametrize(
    ("predictions", "targets", "num_classes", "message"),
    [
        (torch.tensor([0, 1]), torch.tensor([0, 1, 2]), 3, "same shape"),
        (torch.tensor([0, 3]), torch.tensor([0, 1]), 3, r"predictions must lie in \[0, 2\]"),
        (torch.tensor([0, 1]), torch.tensor([-1, 1]), 3, "targets must lie"),
        (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 3, "integer class indices"),
        (torch.tensor([0, 1]), torch.tensor([0, 1]), 0, "num_classes"),
    ],
)
def test_confusion_matrix_rejects_bad_input(predictions, targets, num_classes, message) -> None:
    with pytest.raises(ValueError, match=message):
        confusion_matrix(predictions, targets, num_classes)
