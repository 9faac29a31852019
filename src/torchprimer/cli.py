"""The ``torchprimer`` command: train a registered model, download datasets, show versions.

    torchprimer train mnist-cnn --epochs 2
    torchprimer download mnist cifar10 --root data
    torchprimer info

``train`` holds out ``--val-size`` training images (drawn with ``--seed``) as the
validation split that ``fit`` reports after every epoch, and evaluates the test split once,
at the end. Started by ``torchrun`` it trains on every process it starts:

    torchrun --nproc_per_node=2 -m torchprimer train mnist-cnn --epochs 1

Mistakes in the command (an unknown model, a model that does not fit the dataset, files
not on disk, a path that cannot be written, a checkpoint of another model) are found
before the data is loaded and end with a one-line message and a non-zero exit status (2
for a wrong command, 1 for anything else), not a traceback. Under torchrun every process
finds them alike and only rank 0 prints them; an error during training is printed by the
rank that hit it, with its number.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import sys
from collections.abc import Callable, Iterable
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
#: Training images held out for validation when --val-size is not given.
DEFAULT_VAL_SIZE = 5000
#: Batch size of the validation and test passes (no gradients: large batches are cheap).
EVAL_BATCH = 1000
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
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

    train = commands.add_parser("train", help="train a model, validate every epoch, then report its test accuracy")
    trainable = [name for name, dataset in MODEL_DATASET.items() if dataset is not None]
    train.add_argument("model", choices=trainable, metavar="MODEL", help=f"one of: {', '.join(trainable)}")
    train.add_argument("--dataset", choices=DATASETS, help="default: the dataset the model is built for")
    train.add_argument("--epochs", type=_positive_int, default=1, help="default: 1")
    train.add_argument(
        "--batch-size", type=_positive_int, default=128, help="default: 128; under torchrun, split over the processes"
    )
    train.add_argument(
        "--val-size",
        type=_positive_int,
        default=DEFAULT_VAL_SIZE,
        help=f"training images held out for validation, drawn with --seed (default: {DEFAULT_VAL_SIZE})",
    )
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
    download.add_argument(
        "datasets", nargs="+", choices=DATASETS, metavar="DATASET", help=f"any of: {', '.join(DATASETS)}"
    )
    download.add_argument("--root", type=Path, default=Path("data"), help="where to put them (default: data)")
    download.set_defaults(handler=_download)

    info = commands.add_parser("info", help="print versions and the device training would use")
    info.set_defaults(handler=_info)
    return parser


#: Training images per dataset, known before loading so the command can be checked first.
TRAIN_SIZE = {"mnist": 60_000, "cifar10": 50_000}


def _check(args: argparse.Namespace, dataset: str, processes: int) -> None:
    """Refuse a command that cannot work, before any data is loaded."""
    expected = MODEL_DATASET[args.model]
    if dataset != expected:
        fitting = [name for name, d in MODEL_DATASET.items() if d == dataset]
        raise UsageError(
            f"model {args.model!r} takes {SHAPES[expected]} and cannot train on {dataset} ({SHAPES[dataset]}); "
            f"use --dataset {expected}, or a {dataset} model: {', '.join(fitting)}"
        )
    if args.val_size >= TRAIN_SIZE[dataset]:
        raise UsageError(
            f"--val-size {args.val_size} leaves no training images: {dataset} has {TRAIN_SIZE[dataset]:,}; "
            f"choose fewer than that (default: {DEFAULT_VAL_SIZE})"
        )
    if args.batch_size % processes:
        raise UsageError(
            f"--batch-size {args.batch_size} does not split evenly over {processes} processes: "
            f"choose a multiple of {processes} (each process trains on --batch-size / {processes} images per step)"
        )
    if args.resume and args.checkpoint is None:
        raise UsageError("--resume needs --checkpoint PATH")
    if args.checkpoint is not None:
        if args.checkpoint.is_dir():
            raise UsageError(f"--checkpoint expects a file path, but {str(args.checkpoint)!r} is a folder")
        _check_creatable(args.checkpoint.parent, "--checkpoint")
    if args.log_dir is not None:
        if args.log_dir.exists() and not args.log_dir.is_dir():
            raise UsageError(f"--log-dir expects a folder, but {str(args.log_dir)!r} is a file")
        _check_creatable(args.log_dir, "--log-dir")


def _check_creatable(folder: Path, option: str) -> None:
    """Refuse a folder that cannot be made because a file stands where one of its parents should be."""
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} cannot be written: {str(parent)!r} is a file, not a folder")
            return


def _split(size: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the training and validation parts of a training split, drawn with ``seed``."""
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    return order[val_size:], order[:val_size]


def _loaders(args: argparse.Namespace, dataset: str, batch_size: int) -> tuple[Batches, Batches, Batches]:
    """Training, validation and test loaders; the validation images are carved out of the
    training split with ``--seed``. MNIST is preloaded as tensors (the fast path)."""
    from torch.utils.data import DataLoader, Subset

    from torchprimer import data

    if dataset == "mnist":
        full = data.preload_mnist(args.root, train=True, download=args.download)
        train_index, val_index = _split(len(full.labels), args.val_size, args.seed)
        train = data.TensorLoader(full.images[train_index], full.labels[train_index], batch_size, shuffle=True)
        val = data.TensorLoader(full.images[val_index], full.labels[val_index], EVAL_BATCH)
        test = data.preload_mnist(args.root, train=False, download=args.download, batch_size=EVAL_BATCH)
        return train, val, test
    augmented = data.cifar10(args.root, train=True, download=args.download, augment=True)
    plain = data.cifar10(args.root, train=True, download=args.download)  # the same images, not augmented
    train_index, val_index = _split(len(plain), args.val_size, args.seed)
    train = DataLoader(Subset(augmented, train_index.tolist()), batch_size=batch_size, shuffle=True)
    val = DataLoader(Subset(plain, val_index.tolist()), batch_size=EVAL_BATCH)
    test = DataLoader(data.cifar10(args.root, train=False, download=args.download), batch_size=EVAL_BATCH)
    return train, val, test


def _train(args: argparse.Namespace) -> int:
    from torchprimer import distributed
    from torchprimer.checkpoint import load_checkpoint
    from torchprimer.data import TensorLoader
    from torchprimer.tracking import log_metrics, tensorboard_writer
    from torchprimer.train import evaluate, fit, format_metrics
    from torchprimer.utils import seed_everything, select_device

    processes = int(os.environ.get("WORLD_SIZE", "1")) if distributed.launched_by_torchrun() else 1
    main_process = distributed.is_main_process()
    dataset = args.dataset or MODEL_DATASET[args.model]
    _check(args, dataset, processes)
    device = distributed.device_for_rank(select_device(args.device))
    if processes > 1:  # torchrun's default is 1 thread per process; use the cores there are
        torch.set_num_threads(distributed.threads_per_process())

    seed_everything(args.seed)
    model = MODELS[args.model]()
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.model]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batch_size = args.batch_size // processes  # per process
    per_process = math.ceil((TRAIN_SIZE[dataset] - args.val_size) / processes)
    steps = math.ceil(per_process / batch_size)
    steps = steps if args.max_batches is None else min(steps, args.max_batches)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=args.epochs * steps)
    if (
        args.resume and args.checkpoint.is_file()
    ):  # a checkpoint that does not fit is refused now, not after loading data
        state = load_checkpoint(args.checkpoint, model=model, optimizer=optimizer, restore_rng=False)
        saved = state["scheduler"]["total_steps"] if isinstance(state["scheduler"], dict) else None
        if saved != scheduler.total_steps:
            raise UsageError(
                f"checkpoint {str(args.checkpoint)!r} was made for a one-cycle schedule of {saved} batches, "
                f"but --epochs {args.epochs} with {steps} batches per epoch makes {scheduler.total_steps}: "
                "resume with the same --epochs, --batch-size, --val-size and --max-batches as the interrupted run"
            )

    train_loader, val_loader, test_loader = _loaders(args, dataset, batch_size)
    if device.type != "cpu" and isinstance(train_loader, TensorLoader):
        train_loader, val_loader, test_loader = (
            loader.to(device) for loader in (train_loader, val_loader, test_loader)
        )
    if main_process:
        n_params = sum(p.numel() for p in model.parameters())
        on = f"{processes} processes on {device.type}" if processes > 1 else device.type
        print(
            f"training {args.model} ({n_params:,} parameters) on {dataset}, {on}, "
            f"{args.epochs} epoch(s) of {steps} batches of {args.batch_size}"
            f"{f' ({batch_size} per process)' if processes > 1 else ''}, "
            f"validating on {args.val_size:,} training images held out",
            flush=True,
        )

    def report(entry: dict) -> None:
        print(format_metrics(entry, args.epochs), flush=True)

    # The process group (under torchrun) is started here, after every check and the data,
    # so a mistake in the command is reported once, by rank 0; it is ended here too.
    started_group = distributed.start(device)
    history = fit(
        model,
        train_loader,
        val_loader,
        torch.nn.CrossEntropyLoss(),
        optimizer,
        epochs=args.epochs,
        scheduler=scheduler,
        scheduler_interval="batch",
        device=device,
        max_batches=args.max_batches,
        progress=not args.no_progress,
        log_dir=args.log_dir,
        checkpoint_path=args.checkpoint,
        resume=args.resume,
        on_epoch_end=report if args.no_progress else None,
    )
    # The test split, evaluated once, after training: every rank evaluates its share.
    test_size = len(test_loader.dataset)
    if distributed.is_distributed():
        test_loader = distributed.shard_for_evaluation(test_loader)
    test = evaluate(model, test_loader, torch.nn.CrossEntropyLoss(), device=device, max_batches=args.max_batches)
    test = distributed.all_reduce_metrics(test)
    if started_group:
        distributed.stop()
    if not main_process:
        return 0
    if args.log_dir is not None:
        with tensorboard_writer(args.log_dir) as writer:
            log_metrics(writer, {"test/loss": test["loss"], "test/acc": test["acc"]}, step=len(history))
        print(f"TensorBoard logs in {args.log_dir} (view: tensorboard --logdir {args.log_dir})")
    if args.checkpoint is not None:
        print(f"checkpoint saved to {args.checkpoint}")
    part = "" if test["samples"] == test_size else f"; {test['samples']:,} of {test_size:,} test images, --max-batches"
    print(f"test accuracy: {test['acc']:.2%} (test loss {test['loss']:.4f}{part})")
    return 0


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
    from torchprimer import distributed
    from torchprimer.checkpoint import CheckpointError
    from torchprimer.data import DatasetNotFoundError

    parser = build_parser()
    if distributed.is_main_process():
        args = parser.parse_args(argv)
    else:  # under torchrun, rank 0 alone prints argparse's help and errors
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, DatasetNotFoundError, CheckpointError, ValueError, OSError) as error:
        if distributed.is_distributed():  # during training: the rank that failed says so
            print(f"torchprimer {args.command}: error on rank {distributed.rank()}: {error}", file=sys.stderr)
        elif distributed.is_main_process():  # before it: every rank found the same mistake
            print(f"torchprimer {args.command}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    except KeyboardInterrupt:
        hint = " (resume with --resume)" if getattr(args, "checkpoint", None) else ""
        if distributed.is_main_process():
            print(f"torchprimer {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
