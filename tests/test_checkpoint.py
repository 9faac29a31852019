"""Checkpoints: round trip, atomic writes, exact resume, and clear errors for bad files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchprimer import checkpoint as ckpt
from torchprimer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from torchprimer.data import TensorLoader, synthetic_mnist
from torchprimer.models import MnistCNN
from torchprimer.train import fit


class DropoutNet(nn.Module):
    """Small classifier with dropout, so resuming must restore the random state too."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build(seed: int = 0):
    torch.manual_seed(seed)
    model = DropoutNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return model, optimizer, scheduler


def loaders(kind: str):
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(96, 8, generator=generator), torch.randint(0, 3, (96,), generator=generator)
    if kind == "tensor":  # shuffles with the global generator
        return TensorLoader(x, y, batch_size=16, shuffle=True), TensorLoader(x[:32], y[:32], batch_size=16)
    # a DataLoader with its own generator, saved in the checkpoint as well
    train = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(2))
    return train, DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16)


def test_round_trip_restores_everything(tmp_path: Path) -> None:
    model, optimizer, scheduler = build()
    train, val = loaders("tensor")
    history = fit(model, train, val, nn.CrossEntropyLoss(), optimizer, epochs=2, scheduler=scheduler, progress=False)
    path = save_checkpoint(
        tmp_path / "run" / "ckpt.pt", model=model, optimizer=optimizer, scheduler=scheduler, epoch=2, history=history
    )
    expected_draw = torch.rand(3)
    other, other_optimizer, other_scheduler = build(seed=99)
    state = load_checkpoint(path, model=other, optimizer=other_optimizer, scheduler=other_scheduler)
    assert torch.equal(torch.rand(3), expected_draw)  # the random state came back too
    assert state["epoch"] == 2 and state["history"] == list(history)
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other_scheduler.state_dict() == scheduler.state_dict()
    assert other_optimizer.state_dict()["state"][0]["exp_avg"].equal(optimizer.state_dict()["state"][0]["exp_avg"])


@pytest.mark.parametrize("kind", ["tensor", "dataloader"])
def test_resume_equals_an_uninterrupted_run(tmp_path: Path, kind: str) -> None:
    def run(epochs: int, path: Path | None, resume: bool = False):
        model, optimizer, scheduler = build()
        train, val = loaders(kind)
        history = fit(
            model,
            train,
            val,
            nn.CrossEntropyLoss(),
            optimizer,
            epochs=epochs,
            scheduler=scheduler,
            progress=False,
            checkpoint_path=path,
            resume=resume,
        )
        return history, model

    full, full_model = run(4, None)
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(12345)  # the interrupted run and the resumed one start from other global states
    first, _ = run(2, path)
    assert len(first) == 2
    torch.manual_seed(54321)
    resumed, resumed_model = run(4, path, resume=True)
    assert list(resumed) == list(full)  # the same losses, accuracies and learning rates, exactly
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)
    done, _ = run(4, path, resume=True)  # nothing left to do
    assert list(done) == list(full)


def test_resume_without_a_file_starts_fresh(tmp_path: Path) -> None:
    model, optimizer, _ = build()
    train, val = loaders("tensor")
    history = fit(
        model,
        train,
        val,
        nn.CrossEntropyLoss(),
        optimizer,
        epochs=1,
        progress=False,
        checkpoint_path=tmp_path / "new.pt",
        resume=True,
    )
    assert len(history) == 1 and (tmp_path / "new.pt").is_file()


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = DropoutNet()
    path = save_checkpoint(tmp_path / "ckpt.pt", model=model, epoch=1, history=[])
    before = path.read_bytes()

    def broken_save(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=model, epoch=2, history=[])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt", model=DropoutNet())


def test_garbage_file_names_the_file_and_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match=r"garbage\.pt.*expected a file written by torchprimer\.save_checkpoint"):
        load_checkpoint(path, model=DropoutNet())


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_or_empty_file_is_a_checkpoint_error(tmp_path: Path, keep: float) -> None:
    whole = save_checkpoint(tmp_path / "whole.pt", model=MnistCNN(), epoch=1, history=[]).read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(whole[: int(len(whole) * keep)])  # an interrupted copy; 0.0 is an empty file
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*cut\.pt.*but loading failed: \S"):
        load_checkpoint(path, model=MnistCNN())


def test_a_folder_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path, model=DropoutNet())
    with pytest.raises(IsADirectoryError, match=r"is a folder; expected a file path such as .*checkpoint\.pt"):
        save_checkpoint(tmp_path, model=DropoutNet(), epoch=1, history=[])
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_file_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "ckpt.pt", model=DropoutNet(), epoch=1, history=[])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # like torch.save, not a temporary file's 0o600


def test_plain_state_dict_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(DropoutNet().state_dict(), path)
    with pytest.raises(
        CheckpointError, match=r"weights\.pt.*is not a torchprimer checkpoint: expected a dict with keys"
    ):
        load_checkpoint(path, model=DropoutNet())


def test_code_in_a_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "torchprimer-checkpoint", "payload": object()}, path)
    with pytest.raises(
        CheckpointError, match=r"cannot read checkpoint .*evil\.pt.*loading failed: Weights only load failed"
    ) as caught:
        load_checkpoint(path, model=DropoutNet())
    assert "\x1b" not in str(caught.value)  # torch's terminal colour codes are dropped


def test_checkpoint_of_another_model(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "cnn.pt", model=MnistCNN(), epoch=1, history=[])
    with pytest.raises(
        CheckpointError, match=r"cnn\.pt.*does not fit DropoutNet \(was it saved from another model\?\)"
    ):
        load_checkpoint(path, model=DropoutNet())
    with pytest.raises(
        CheckpointError, match=r"does not fit MnistCNN .*other sizes: conv1\.weight \(16x1x5x5 in the file, 8x1x5x5"
    ):
        load_checkpoint(path, model=MnistCNN(channels=(8, 16)))


def test_a_partly_fitting_checkpoint_leaves_the_model_untouched(tmp_path: Path) -> None:
    # load_state_dict alone copies the tensors that fit before it raises for the rest.
    saved = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    path = save_checkpoint(tmp_path / "ckpt.pt", model=saved, epoch=1, history=[])
    target = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 5))
    before = [p.clone() for p in target.parameters()]
    with pytest.raises(CheckpointError, match=r"other sizes: 1\.weight \(4x3 in the file, 5x3 in the model\), 1\.bias"):
        load_checkpoint(path, model=target)
    assert all(torch.equal(a, b) for a, b in zip(before, target.parameters()))


def test_optimizer_or_scheduler_of_another_kind_is_refused_before_anything_loads(tmp_path: Path) -> None:
    model, optimizer, scheduler = build()
    path = save_checkpoint(
        tmp_path / "ckpt.pt", model=model, optimizer=optimizer, scheduler=scheduler, epoch=1, history=[]
    )
    other = DropoutNet()
    before = {k: v.clone() for k, v in other.state_dict().items()}
    sgd = torch.optim.SGD(other.parameters(), lr=0.1)
    with pytest.raises(
        CheckpointError, match="holds Adam optimizer state, but the optimizer given to load it into is a SGD"
    ):
        load_checkpoint(path, model=other, optimizer=sgd)
    adam = torch.optim.Adam(other.parameters())
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(adam)
    with pytest.raises(
        CheckpointError, match="holds StepLR scheduler state, but the scheduler given .* is a ReduceLROnPlateau"
    ):
        load_checkpoint(path, model=other, optimizer=adam, scheduler=plateau)
    assert all(torch.equal(v, before[k]) for k, v in other.state_dict().items())  # the model was left alone


def test_checkpoint_without_optimizer_state(tmp_path: Path) -> None:
    model, optimizer, _ = build()
    path = save_checkpoint(tmp_path / "bare.pt", model=model, epoch=1, history=[])
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_checkpoint(path, model=model, optimizer=optimizer)


def test_checkpoint_holds_only_state_and_loads_weights_only(tmp_path: Path) -> None:
    model = MnistCNN()
    model(synthetic_mnist(8).tensors[0])  # a training-mode pass updates the batch norm statistics
    path = save_checkpoint(tmp_path / "m.pt", model=model, epoch=0, history=[])
    state = torch.load(path, weights_only=True)  # raises if anything but plain data were pickled
    assert state["format"] == "torchprimer-checkpoint" and state["version"] == 1
    assert torch.equal(state["model"]["bn1.running_mean"], model.bn1.running_mean)
    assert path.stat().st_size < 29_034 * 4 + 50_000  # the weights plus a little: no data, no code
