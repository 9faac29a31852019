"""The command line: in-process for the error paths, one real subprocess run on MNIST."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import torchprimer
from torchprimer.cli import _split, main


def test_validation_split_is_seeded_disjoint_and_complete() -> None:
    train, val = _split(100, 20, seed=3)
    assert len(val) == 20 and len(train) == 80
    assert sorted(torch.cat([train, val]).tolist()) == list(range(100))  # every image in exactly one part
    assert torch.equal(val, _split(100, 20, seed=3)[1]) and not torch.equal(val, _split(100, 20, seed=4)[1])


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse exits on its own errors
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_prints_versions_and_device(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "info")
    assert code == 0
    for word in ("torchprimer " + torchprimer.__version__, "torch ", "torchvision", "device"):
        assert word in out


def test_unknown_model_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", "resnet")
    assert code == 2 and "invalid choice: 'resnet'" in err and "mnist-cnn" in err and "cifar-cnn" in err
    assert "Traceback" not in err


def test_unknown_dataset_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", "mnist-cnn", "--dataset", "imagenet")
    assert code == 2 and "choose from 'mnist', 'cifar10'" in err
    code, _, err = run_main(capsys, "download", "svhn")
    assert code == 2 and "choose from 'mnist', 'cifar10'" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--epochs", "0"), ("--epochs", "two"), ("--batch-size", "-3"), ("--lr", "0"), ("--max-batches", "x")],
)
def test_bad_options_exit_with_a_short_message(capsys: pytest.CaptureFixture[str], option: str, value: str) -> None:
    code, _, err = run_main(capsys, "train", "mnist-cnn", option, value)
    assert code == 2 and "expected a positive" in err and "Traceback" not in err


def test_missing_command_and_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run_main(
            capsys,
        )[0]
        == 2
    )
    code, _, err = run_main(capsys, "train", "mnist-cnn", "--device", "tpu")
    assert code == 2 and "choose from 'cpu', 'cuda', 'mps'" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_device_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", "mnist-cnn", "--device", "cuda")
    assert code == 1 and "device 'cuda' is not available on this machine; available: cpu" in err


def test_model_that_does_not_fit_the_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", "cifar-cnn", "--dataset", "mnist")
    assert code == 2
    assert "'cifar-cnn' takes 3x32x32" in err and "--dataset cifar10" in err and "mnist-cnn" in err
    code, _, err = run_main(capsys, "train", "mnist-mlp", "--dataset", "cifar10")
    assert code == 2 and "cifar-lesson, cifar-cnn" in err


def test_resume_needs_a_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", "mnist-cnn", "--resume")
    assert code == 2 and "--resume needs --checkpoint" in err


def test_bad_output_paths_are_refused_before_training(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(
        capsys, "train", "mnist-cnn", "--root", str(tmp_path / "none"), "--checkpoint", str(tmp_path)
    )
    assert code == 2 and f"--checkpoint expects a file path, but {str(tmp_path)!r} is a folder" in err
    (tmp_path / "file").write_text("")
    code, _, err = run_main(
        capsys, "train", "mnist-cnn", "--root", str(tmp_path / "none"), "--log-dir", str(tmp_path / "file")
    )
    assert code == 2 and "--log-dir expects a folder" in err and "Traceback" not in err


def test_unwritable_paths_are_refused_before_loading_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    missing_root = str(tmp_path / "none")  # a missing dataset would be reported later, with code 1
    code, _, err = run_main(
        capsys, "train", "mnist-mlp", "--root", missing_root, "--checkpoint", str(tmp_path / "file" / "ckpt.pt")
    )
    assert code == 2 and f"--checkpoint cannot be written: {str(tmp_path / 'file')!r} is a file" in err
    code, _, err = run_main(
        capsys, "train", "mnist-mlp", "--root", missing_root, "--log-dir", str(tmp_path / "file" / "logs")
    )
    assert code == 2 and "--log-dir cannot be written" in err and len(err.strip().splitlines()) == 1


def test_validation_size_and_batch_size_are_checked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "train", "mnist-cnn", "--root", str(tmp_path), "--val-size", "60000")
    assert code == 2 and "--val-size 60000 leaves no training images: mnist has 60,000" in err
    code, _, err = run_main(capsys, "train", "cifar-cnn", "--root", str(tmp_path), "--val-size", "50000")
    assert code == 2 and "cifar10 has 50,000" in err
    code, _, err = run_main(capsys, "train", "mnist-cnn", "--val-size", "0")
    assert code == 2 and "expected a positive integer" in err


def test_missing_dataset_says_where_to_put_the_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "train", "mnist-cnn", "--root", str(tmp_path))
    assert code == 1 and "train-images-idx3-ubyte.gz" in err and str(tmp_path / "MNIST" / "raw") in err
    assert "Traceback" not in err
    code, _, err = run_main(capsys, "train", "cifar-lesson", "--root", str(tmp_path))  # --dataset from the model
    assert code == 1 and "cifar-10-python.tar.gz" in err


def test_download_offline_fails_cleanly(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> None:
    from torchvision import datasets

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.CIFAR10, "download", offline)
    code, _, err = run_main(capsys, "download", "cifar10", "--root", str(tmp_path))
    assert code == 1 and "download failed" in err and "cifar-10-python.tar.gz" in err


def test_download_with_local_files_needs_no_network(capsys: pytest.CaptureFixture[str], mnist_root: Path) -> None:
    code, out, _ = run_main(capsys, "download", "mnist", "--root", str(mnist_root))
    assert code == 0 and "mnist: 60,000 training and 10,000 test images" in out


def test_train_in_process_with_checkpoint_logs_and_resume(
    capsys: pytest.CaptureFixture[str], mnist_root: Path, tmp_path: Path
) -> None:
    args = [
        "train",
        "mnist-mlp",
        "--root",
        str(mnist_root),
        "--max-batches",
        "3",
        "--no-progress",
        "--checkpoint",
        str(tmp_path / "mlp.pt"),
        "--log-dir",
        str(tmp_path / "logs"),
    ]
    code, out, _ = run_main(capsys, *args)
    assert code == 0 and (tmp_path / "mlp.pt").is_file() and any((tmp_path / "logs").iterdir())
    assert "epoch 1/1" in out and "val/acc" in out and out.strip().splitlines()[-1].startswith("test accuracy: ")
    assert "3,000 of 10,000 test images, --max-batches" in out
    logged = EventAccumulator(str(tmp_path / "logs")).Reload().Tags()["scalars"]
    assert {"val/acc", "val/loss", "test/acc", "test/loss"} <= set(logged)  # validation per epoch, test once
    code, out, _ = run_main(capsys, *args, "--resume")  # the one epoch is done: only the summary
    assert code == 0 and "epoch 1/1" not in out and "test accuracy: " in out
    code, _, err = run_main(capsys, *args, "--resume", "--epochs", "2")  # a one-cycle schedule cannot grow
    assert code == 2 and "resume with the same --epochs" in err
    code, _, err = run_main(capsys, *[("mnist-cnn" if arg == "mnist-mlp" else arg) for arg in args], "--resume")
    assert code == 1 and "'mlp.pt' does not fit MnistCNN (was it saved from another model?)" in err.replace(
        str(tmp_path) + "/", ""
    )
    (tmp_path / "mlp.pt").write_text("not a checkpoint")
    code, _, err = run_main(capsys, *args, "--resume")
    assert code == 1 and "mlp.pt" in err and "expected a file written by torchprimer.save_checkpoint" in err


def test_console_script_trains_mnist_cnn_without_progress_output(mnist_root: Path) -> None:
    script = Path(sys.executable).with_name("torchprimer")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "torchprimer"]
    result = subprocess.run(
        [
            *command,
            "train",
            "mnist-cnn",
            "--root",
            str(mnist_root),
            "--epochs",
            "1",
            "--max-batches",
            "3",
            "--val-size",
            "1000",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bars
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("training mnist-cnn (29,034 parameters) on mnist")
    assert lines[-1].startswith("test accuracy: ") and lines[-1].split()[2].endswith("%")
    assert "\r" not in result.stdout


def test_python_dash_m_runs_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "torchprimer", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == f"torchprimer {torchprimer.__version__}"


def test_cifar10_path_splits_validation_from_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchprimer import data

    made = []

    def stand_in(root, train=True, download=False, augment=False):  # small synthetic CIFAR-10, no files needed
        made.append((train, augment))
        return data.synthetic_cifar10(300 if train else 100, seed=0 if train else 1)

    monkeypatch.setattr(data, "cifar10", stand_in)
    code, out, err = run_main(
        capsys,
        "train",
        "cifar-lesson",
        "--root",
        str(tmp_path),
        "--max-batches",
        "2",
        "--val-size",
        "100",
        "--batch-size",
        "50",
        "--no-progress",
    )
    assert code == 0, err
    assert made == [(True, True), (True, False), (False, False)]  # augmented training images, plain validation
    assert "val/acc" in out and out.strip().splitlines()[-1].startswith("test accuracy: ")
