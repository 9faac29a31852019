"""The ``torchprimer`` command: train a registered model, download datasets, show versions.

    torchprimer train mnist-cnn --epochs 2
    torchprimer download mnist cifar10 --root data
    torchprimer info

Mistakes in the command (an unknown model, a model that does not fit the dataset, files
not on disk, a path that cannot be written) end with a one-line message and a non-zero
exit status (2 for a wrong command, 1 for anything else), not a traceback.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch

import torchprimer
from torchprimer.models import MODEL_DATASET, MODELS

DATASETS = ("mnist", "cifar10")
#: Peak learning rate of the one-cycle schedule per model (Adam), used when --lr is not given.
DEFAULT_LR = {
    "mnist-mlp": 2e-3,
    "mnist-cnn": 6e-3,  # the benchmark's recipe: 99 % test accuracy in about 1.4 epochs
    "mnist-examples-net": 2e-3,
    "cifar-lesson": 1e-3,  # no activations, no batch norm: larger rates diverge
    "cifar-cnn": 4e-3,
}
SHAPES = {"mnist": "1x28x28 grey MNIST digits", "cifar10": "3x32x32 colour CIFAR-10 images"}


class UsageError(Exception):
    """A mistake in the command; its message is printed without a traceback."""


def _positive(convert: Callable[[str], float], what: str) -> Callable[[str], float]:
    """An argparse ``type`` that converts with ``convert`` and refuses values that are not > 0."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what}, got {text!r}") from None
        if not value > 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"expected a {what}, got {text!r}")
        return value

    return parse


_positive_int = _positive(int, "positive integer")
_positive_float = _positive(float, "positive number")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``torchprimer`` command."""
    parser = argparse.ArgumentParser(prog="torchprimer", description="Companion package of PyTorch Primer.")
    parser.add_argument("--version", action="version", version=f"torchprimer {torchprimer.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,download,info}")

    train = commands.add_parser("train", help="train a model and report its test accuracy")
    trainable = [name for name, dataset in MODEL_DATASET.items() if dataset is not None]
    train.add_argument("model", choices=trainable, metavar="MODEL", help=f"one of: {', '.join(trainable)}")
    train.add_argument("--dataset", choices=DATASETS, help="default: the dataset the model is built for")
    train.add_argument("--epochs", type=_positive_int, default=1, help="default: 1")
    train.add_argument("--batch-size", type=_positive_int, default=128, help="default: 128")
    train.add_argument("--lr", type=_positive_float, help="peak learning rate of Adam's one-cycle schedule")
    train.add_argument("--root", type=Path, default=Path("data"), help="dataset folder (default: data)")
    train.add_argument("--download", action="store_true", help="download the dataset if it is missing")
    train.add_argument("--log-dir", type=Path, help="write TensorBoard logs here")
    train.add_argument("--checkpoint", type=Path, help="save a checkpoint here after every epoch")
    train.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    train.add_argument("--max-batches", type=_positive_int, help="cut every pass to N batches (smoke run)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars (for logs and CI)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--device", choices=("cpu", "cuda", "mps"), help="default: the best available")
    train.set_defaults(handler=_train)

    download = commands.add_parser("download", help="download datasets for offline use")
    download.add_argument("datasets", nargs="+", choices=DATASETS, metavar="DATASET", help=f"any of: {', '.join(DATASETS)}")
    download.add_argument("--root", type=Path, default=Path("data"), help="where to put them (default: data)")
    download.set_defaults(handler=_download)

    info = commands.add_parser("info", help="print versions and the device training would use")
    info.set_defaults(handler=_info)
    return parser


def _loaders(dataset: str, root: Path, batch_size: int, download: bool):
    """Training and test loaders; MNIST is preloaded as tensors (the fast path)."""
    from torch.utils.data import DataLoader

    from torchprimer import data

    if dataset == "mnist":
        train = data.preload_mnist(root, train=True, download=download, batch_size=batch_size)
        test = data.preload_mnist(root, train=False, download=download, batch_size=1000)
        return train, test
    train_set = data.cifar10(root, train=True, download=download, augment=True)
    test_set = data.cifar10(root, train=False, download=download)
    return DataLoader(train_set, batch_size=batch_size, shuffle=True), DataLoader(test_set, batch_size=1000)


def _train(args: argparse.Namespace) -> int:
    from torchprimer.train import fit, format_metrics
    from torchprimer.utils import seed_everything, select_device

    expected = MODEL_DATASET[args.model]
    dataset = args.dataset or expected
    if dataset != expected:
        fitting = [name for name, d in MODEL_DATASET.items() if d == dataset]
        raise UsageError(
            f"model {args.model!r} takes {SHAPES[expected]} and cannot train on {dataset} ({SHAPES[dataset]}); "
            f"use --dataset {expected}, or a {dataset} model: {', '.join(fitting)}"
        )
    if args.resume and args.checkpoint is None:
        raise UsageError("--resume needs --checkpoint PATH")
    # Checked before training, so a bad path does not surface only after the first epoch.
    if args.checkpoint is not None and args.checkpoint.is_dir():
        raise UsageError(f"--checkpoint expects a file path, but {str(args.checkpoint)!r} is a folder")
    if args.log_dir is not None and args.log_dir.exists() and not args.log_dir.is_dir():
        raise UsageError(f"--log-dir expects a folder, but {str(args.log_dir)!r} is a file")
    device = select_device(args.device)
    seed_everything(args.seed)
    train_loader, test_loader = _loaders(dataset, args.root, args.batch_size, args.download)
    if device.type != "cpu" and hasattr(train_loader, "to"):
        train_loader, test_loader = train_loader.to(device), test_loader.to(device)

    model = MODELS[args.model]()
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.model]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = len(train_loader) if args.max_batches is None else min(len(train_loader), args.max_batches)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=args.epochs * steps)
    if args.resume:
        _check_schedule(args.checkpoint, scheduler.total_steps, args.epochs, steps)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"training {args.model} ({n_params:,} parameters) on {dataset}, {device.type}, "
          f"{args.epochs} epoch(s) of {steps} batches of {args.batch_size}", flush=True)  # fmt: skip

    def report(entry: dict) -> None:
        print(format_metrics(entry, args.epochs), flush=True)

    history = fit(
        model, train_loader, test_loader, torch.nn.CrossEntropyLoss(), optimizer,
        epochs=args.epochs, scheduler=scheduler, scheduler_interval="batch", device=device,
        max_batches=args.max_batches, progress=not args.no_progress, log_dir=args.log_dir,
        checkpoint_path=args.checkpoint, resume=args.resume,
        on_epoch_end=None if not args.no_progress else report,
    )  # fmt: skip
    if args.log_dir is not None:
        print(f"TensorBoard logs in {args.log_dir} (view: tensorboard --logdir {args.log_dir})")
    if args.checkpoint is not None:
        print(f"checkpoint saved to {args.checkpoint}")
    total = len(test_loader.dataset)
    seen = total if args.max_batches is None else min(total, args.max_batches * test_loader.batch_size)
    part = "" if seen == total else f"; first {seen:,} of {total:,} test images, --max-batches"
    print(f"test accuracy: {history.last['val/acc']:.2%} (test loss {history.last['val/loss']:.4f}{part})")
    return 0


def _check_schedule(path: Path, total_steps: int, epochs: int, steps: int) -> None:
    """Refuse to resume a one-cycle schedule with another length: it cannot be stretched."""
    if not path.is_file():
        return
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)["scheduler"]["total_steps"]
    except Exception:  # unreadable or foreign: load_checkpoint reports it properly
        return
    if saved != total_steps:
        raise UsageError(
            f"checkpoint {str(path)!r} was made for a one-cycle schedule of {saved} batches, "
            f"but --epochs {epochs} with {steps} batches per epoch makes {total_steps}: resume with the same "
            "--epochs, --batch-size and --max-batches as the interrupted run"
        )


def _download(args: argparse.Namespace) -> int:
    from torchprimer import data

    for name in dict.fromkeys(args.datasets):  # keep order, drop repeats
        load = data.mnist if name == "mnist" else data.cifar10
        train = load(args.root, train=True, download=True)
        test = load(args.root, train=False, download=True)
        print(f"{name}: {len(train):,} training and {len(test):,} test images in {args.root}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import torchvision

    from torchprimer.utils import select_device

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
    print(f"torchprimer {torchprimer.__version__}")
    print(f"python      {platform.python_version()}")
    print(f"torch       {torch.__version__} ({torch.get_num_threads()} CPU threads)")
    print(f"torchvision {torchvision.__version__}")
    print(f"cuda        {cuda}")
    print(f"device      {select_device()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    from torchprimer.checkpoint import CheckpointError
    from torchprimer.data import DatasetNotFoundError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, DatasetNotFoundError, CheckpointError, ValueError, OSError) as error:
        print(f"torchprimer {args.command}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    except KeyboardInterrupt:
        hint = " (resume with --resume)" if getattr(args, "checkpoint", None) else ""
        print(f"torchprimer {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
