"""TensorBoard logging, read back with TensorBoard's own event reader."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchprimer.tracking import log_metrics, tensorboard_writer
from torchprimer.train import fit


def read_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_log_metrics_writes_numbers_and_skips_the_rest(tmp_path: Path) -> None:
    with tensorboard_writer(tmp_path) as writer:
        log_metrics(writer, {"epoch": 1, "train/loss": 0.5, "train/acc": math.nan, "note": "x"}, step=1)
        log_metrics(writer, {"train/loss": torch.tensor(0.25), "train/flag": True, "lr": torch.ones(2)}, step=2)
    scalars = read_scalars(tmp_path)
    assert list(scalars) == ["train/loss"]
    assert scalars["train/loss"] == [(1, 0.5), (2, 0.25)]  # the one-element tensor is written too


def test_writer_is_closed_even_when_the_body_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with tensorboard_writer(tmp_path) as writer:
            log_metrics(writer, {"val/acc": 0.75}, step=3)
            raise RuntimeError("boom")
    assert writer.all_writers is None  # what SummaryWriter.close() leaves behind
    assert read_scalars(tmp_path)["val/acc"] == [(3, 0.75)]


def test_fit_logs_every_key_grouped_by_prefix(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    model = nn.Linear(4, 2)
    history = fit(model, loader, loader, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                  epochs=2, progress=False, log_dir=tmp_path)  # fmt: skip
    scalars = read_scalars(tmp_path)
    assert sorted(scalars) == ["lr", "train/acc", "train/loss", "val/acc", "val/loss"]
    assert [step for step, _ in scalars["val/loss"]] == [1, 2]
    assert scalars["val/loss"][1][1] == pytest.approx(history[1]["val/loss"])
