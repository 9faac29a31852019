"""The training loop on tiny random data (plumbing), plus one short run on real MNIST."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchprimer import data
from torchprimer.models import LinearModel, MnistCNN
from torchprimer.train import History, evaluate, fit, format_metrics, train_one_epoch


class TinyNet(nn.Module):
    """A BoringModel-style classifier: 8 features in, 3 classes out."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def tiny(n: int = 64, seed: int = 0, batch_size: int = 16, shuffle: bool = True) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 8, generator=generator), torch.randint(0, 3, (n,), generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator)


def setup(seed: int = 0):
    torch.manual_seed(seed)
    model = TinyNet()
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)


def test_train_one_epoch_overfits_a_tiny_batch() -> None:
    model, optimizer = setup()
    loader = tiny(n=16, batch_size=16)
    first = train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
    for _ in range(150):
        last = train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer)
    assert last["loss"] < 0.05 < first["loss"] and last["acc"] == 1.0 and last["samples"] == 16


def test_evaluate_sets_eval_mode_needs_no_grad_and_changes_nothing() -> None:
    model, _ = setup()
    before = [p.clone() for p in model.parameters()]
    result = evaluate(model, tiny(shuffle=False), nn.CrossEntropyLoss())
    assert not model.training and 0.0 <= result["acc"] <= 1.0 and result["samples"] == 64
    assert all(torch.equal(a, b) and b.grad is None for a, b in zip(before, model.parameters()))
    x, y = next(iter(tiny(shuffle=False)))
    expected = nn.CrossEntropyLoss()(model(x), y).item()
    assert evaluate(model, tiny(shuffle=False), nn.CrossEntropyLoss(), max_batches=1)["loss"] == pytest.approx(expected)


def test_max_batches_cuts_the_epoch() -> None:
    model, optimizer = setup()
    result = train_one_epoch(model, tiny(), nn.CrossEntropyLoss(), optimizer, max_batches=2)
    assert result["samples"] == 32
    with pytest.raises(ValueError, match="max_batches"):
        train_one_epoch(model, tiny(), nn.CrossEntropyLoss(), optimizer, max_batches=0)


def test_empty_loader_is_an_error() -> None:
    model, optimizer = setup()
    with pytest.raises(ValueError, match="no batches"):
        train_one_epoch(model, [], nn.CrossEntropyLoss(), optimizer)


def test_regression_reports_nan_accuracy() -> None:
    torch.manual_seed(0)
    model = LinearModel()
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    loader = DataLoader(TensorDataset(x, 2 * x + 1), batch_size=8)
    result = train_one_epoch(model, loader, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert math.isnan(result["acc"]) and result["loss"] > 0


def test_fit_history_keys_and_helpers() -> None:
    model, optimizer = setup()
    history = fit(model, tiny(), tiny(seed=1), nn.CrossEntropyLoss(), optimizer, epochs=3, progress=False)
    assert isinstance(history, History) and len(history) == 3
    assert list(history[0]) == ["epoch", "train/loss", "train/acc", "val/loss", "val/acc", "lr"]
    assert history.column("epoch") == [1, 2, 3] and history.last is history[-1]
    assert history.best("val/acc")["val/acc"] == max(history.column("val/acc"))
    assert history.best("val/loss")["val/loss"] == min(history.column("val/loss"))
    assert "epoch 3/3" in format_metrics(history.last, 3) and "val/acc" in format_metrics(history.last)


def test_history_helpers_reject_bad_use() -> None:
    with pytest.raises(IndexError, match="no epoch has finished"):
        _ = History().last
    with pytest.raises(IndexError, match="no epoch has finished"):
        History().best()
    with pytest.raises(KeyError, match="unknown metric 'val/f1'; available: epoch, val/acc"):
        History([{"epoch": 1, "val/acc": 0.5}]).best("val/f1")
    with pytest.raises(KeyError, match="unknown metric 'val/f1'"):
        History([{"epoch": 1, "val/acc": 0.5}]).column("val/f1")
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        History([{"epoch": 1, "val/acc": 0.5}]).best("val/acc", mode="highest")


def test_history_best_skips_nan_and_follows_the_mode() -> None:
    history = History(
        [
            {"epoch": 1, "val/acc": math.nan, "lr": 0.1},
            {"epoch": 2, "val/acc": 0.4, "lr": 0.01},
            {"epoch": 3, "val/acc": 0.3, "lr": 0.05},
        ]
    )
    assert history.best("val/acc")["epoch"] == 2  # max() alone would return the NaN epoch
    assert history.best("lr", mode="min")["epoch"] == 2 and history.best("lr")["epoch"] == 1  # not a loss: highest
    with pytest.raises(ValueError, match="every epoch's 'val/acc' is NaN"):
        History([{"epoch": 1, "val/acc": math.nan}]).best()


def test_same_seed_same_losses() -> None:
    runs = []
    for _ in range(2):
        model, optimizer = setup(seed=7)
        history = fit(model, tiny(seed=7), tiny(seed=8), nn.CrossEntropyLoss(), optimizer, epochs=2, progress=False)
        runs.append(history.column("train/loss") + history.column("val/loss"))
    assert runs[0] == runs[1]


def test_scheduler_steps_per_epoch_by_default_and_per_batch_on_request() -> None:
    model, optimizer = setup()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(
        model, tiny(), tiny(), nn.CrossEntropyLoss(), optimizer, epochs=3, scheduler=scheduler, progress=False
    )
    assert history.column("lr") == pytest.approx([1e-2, 5e-3, 2.5e-3])  # lr used during each epoch
    model, optimizer = setup()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    fit(
        model,
        tiny(),
        tiny(),
        nn.CrossEntropyLoss(),
        optimizer,
        epochs=1,
        scheduler=scheduler,
        scheduler_interval="batch",
        progress=False,
    )
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5**4)  # 4 batches


class RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """A ``ReduceLROnPlateau`` that remembers the metric of every step."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        super().__init__(optimizer, patience=0)
        self.seen: list[float] = []

    def step(self, metrics: float, epoch: int | None = None) -> None:  # type: ignore[override]
        self.seen.append(metrics)
        super().step(metrics)


def test_plateau_scheduler_gets_the_validation_loss() -> None:
    model, optimizer = setup()
    scheduler = RecordingPlateau(optimizer)
    history = fit(
        model, tiny(), tiny(seed=1), nn.CrossEntropyLoss(), optimizer, epochs=3, scheduler=scheduler, progress=False
    )
    assert scheduler.seen == history.column("val/loss")
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps on the validation loss, once per epoch"):
        fit(
            model,
            tiny(),
            tiny(),
            nn.CrossEntropyLoss(),
            optimizer,
            epochs=1,
            scheduler=scheduler,
            scheduler_interval="batch",
            progress=False,
        )


def test_resume_from_a_checkpoint_past_epochs_is_refused(tmp_path: Path) -> None:
    model, optimizer = setup()
    path = tmp_path / "ckpt.pt"
    fit(model, tiny(), tiny(), nn.CrossEntropyLoss(), optimizer, epochs=3, checkpoint_path=path, progress=False)
    with pytest.raises(ValueError, match="has already trained 3 epochs, more than epochs=2"):
        fit(
            model,
            tiny(),
            tiny(),
            nn.CrossEntropyLoss(),
            optimizer,
            epochs=2,
            checkpoint_path=path,
            resume=True,
            progress=False,
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 1, "scheduler_interval": "step"}, "scheduler_interval must be 'epoch' or 'batch'"),
        ({"epochs": 1, "resume": True}, "resume=True needs a checkpoint_path"),
        ({"epochs": 1, "max_batches": 0}, "max_batches must be a positive integer"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    model, optimizer = setup()
    with pytest.raises(ValueError, match=message):
        fit(model, tiny(), tiny(), nn.CrossEntropyLoss(), optimizer, progress=False, **kwargs)


def test_progress_bar_and_epoch_lines(capsys: pytest.CaptureFixture[str]) -> None:
    model, optimizer = setup()
    seen = []
    fit(model, tiny(n=640), tiny(), nn.CrossEntropyLoss(), optimizer, epochs=2, progress=True, on_epoch_end=seen.append)
    out = capsys.readouterr()
    assert "epoch 1/2  train/loss" in out.out and "epoch 2/2" in out.out
    assert "epoch 1/2:" in out.err  # the bar's description, on stderr
    assert [entry["epoch"] for entry in seen] == [1, 2]
    fit(model, tiny(), tiny(), nn.CrossEntropyLoss(), optimizer, epochs=1, progress=False)
    assert capsys.readouterr() == ("", "")


def test_fit_on_real_mnist_learns_in_a_few_batches(mnist_root: Path) -> None:
    torch.manual_seed(0)
    train = data.preload_mnist(mnist_root, train=True, batch_size=128)
    test = data.preload_mnist(mnist_root, train=False, batch_size=100)  # max_batches: 3,000 test images
    model = MnistCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = fit(
        model, train, test, nn.CrossEntropyLoss(), optimizer, epochs=1, max_batches=30, progress=False, device="cpu"
    )
    assert history.last["val/acc"] > 0.8  # 30 batches of 128 images, checked on 3,000 test images
