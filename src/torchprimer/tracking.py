"""Log metrics to TensorBoard: a writer that always closes, and one call per step.

Keys grouped by prefix (``train/loss``, ``val/loss``) appear as one section per prefix in
TensorBoard. View the logs with ``tensorboard --logdir <log_dir>``.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # importing tensorboard takes a second; do it only when a writer is made
    from torch.utils.tensorboard import SummaryWriter


@contextlib.contextmanager
def tensorboard_writer(log_dir: str | Path) -> Iterator[SummaryWriter]:
    """Open a ``SummaryWriter`` on ``log_dir`` and close it on exit, even when the body raises.

    Closing flushes the events to disk; a writer left open can lose the last points.
    """
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        yield writer
    finally:
        writer.close()


def log_metrics(writer: SummaryWriter, metrics: Mapping[str, object], step: int) -> None:
    """Write every numeric value of ``metrics`` as a scalar at ``step``.

    Numbers and one-element tensors (a loss straight from ``loss_fn``) count as numeric.
    Other values, the ``epoch`` counter and NaN (an accuracy that does not apply to a
    regression model) are skipped.
    """
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
            value = value.item()
        if key == "epoch" or isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        if math.isnan(float(value)):
            continue
        writer.add_scalar(key, float(value), global_step=step)
