"""Datasets for the tutorials: MNIST and CIFAR-10 from torchvision, a fast in-memory MNIST
loader, explicit synthetic stand-ins, and random subsets.

Missing files raise [`DatasetNotFoundError`][torchprimer.data.DatasetNotFoundError] with one message
that says which files to put in which folder, so a machine without network can still be set up by hand.
"""

from __future__ import annotations

import contextlib
import io
import math
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset, Subset, TensorDataset

if TYPE_CHECKING:
    from torchvision import datasets

# torchvision is imported by the functions that open its datasets, not here: importing it
# costs about as much as importing torch, and the training loop (which imports this module
# for TensorLoader) and every process of a torchrun job would pay it for nothing.

MNIST_MEAN = (0.1307,)
"""Mean of the MNIST training pixels after scaling to [0, 1], as a 1-tuple for ``Normalize``."""
MNIST_STD = (0.3081,)
"""Standard deviation of the MNIST training pixels after scaling to [0, 1]."""
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel (R, G, B) mean of the CIFAR-10 training pixels after scaling to [0, 1]."""
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel (R, G, B) standard deviation of the CIFAR-10 training pixels."""

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"

# What a failed download raises: torchvision wraps MNIST mirror failures in RuntimeError;
# urllib raises URLError (an OSError) for CIFAR-10.
_DOWNLOAD_ERRORS = (RuntimeError, OSError, urllib.error.URLError)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk (and were not, or could not be, downloaded)."""


def _mnist_missing(root: Path, reason: str) -> DatasetNotFoundError:
    raw = root / "MNIST" / "raw"
    return DatasetNotFoundError(
        f"MNIST not found under {str(root)!r} ({reason}). Put the four original files "
        f"{', '.join(MNIST_FILES)} in {str(raw)!r}, or pass download=True "
        f"(command line: --download, or torchprimer download mnist --root {root})."
    )


def _cifar10_missing(root: Path, reason: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"CIFAR-10 not found under {str(root)!r} ({reason}). Put {CIFAR10_ARCHIVE} "
        f"(from https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted folder {CIFAR10_FOLDER}/ "
        f"in {str(root)!r}, or pass download=True "
        f"(command line: --download, or torchprimer download cifar10 --root {root})."
    )


def _load_mnist(root: str | Path, train: bool, download: bool, transform) -> datasets.MNIST:
    """Open torchvision's MNIST, unpacking local ``.gz`` files without network when present."""
    from torchvision import datasets
    from torchvision.datasets.utils import check_integrity

    root = Path(root)
    raw = root / "MNIST" / "raw"
    unpacked = all((raw / name[: -len(".gz")]).is_file() for name in MNIST_FILES)
    packed = all((raw / name).is_file() for name in MNIST_FILES)
    if unpacked:
        return datasets.MNIST(str(root), train=train, download=False, transform=transform)
    if packed:
        if not download:  # torchvision would fetch a damaged archive again: check it here first
            damaged = [name for name, md5 in datasets.MNIST.resources if not check_integrity(str(raw / name), md5)]
            if damaged:
                raise _mnist_missing(root, f"damaged, the MD5 checksum does not match: {', '.join(damaged)}")
        # torchvision's download step verifies the local archives' MD5 and unpacks them;
        # it fetches nothing when they are intact. Its "Extracting ..." chatter is hidden.
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return datasets.MNIST(str(root), train=train, download=True, transform=transform)
        except _DOWNLOAD_ERRORS as error:
            raise _mnist_missing(
                root, f"the .gz files in {raw} are damaged and a fresh download failed: {error}"
            ) from error
    if not download:
        missing = [name for name in MNIST_FILES if not (raw / name).is_file()]
        reason = "download=False" if len(missing) == len(MNIST_FILES) else f"missing {', '.join(missing)}"
        raise _mnist_missing(root, reason)
    try:
        return datasets.MNIST(str(root), train=train, download=True, transform=transform)
    except _DOWNLOAD_ERRORS as error:
        raise _mnist_missing(root, f"download failed: {error}") from error


def mnist(root: str | Path, train: bool = True, download: bool = False) -> datasets.MNIST:
    """The MNIST digits as torchvision's dataset, each image a normalized ``(1, 28, 28)`` float tensor.

    ``root`` is the folder holding ``MNIST/raw/``. If only the four original ``.gz`` files
    are there they are checked (MD5) and unpacked in place (no network). ``download=True``
    fetches missing or damaged files; otherwise, or when the download fails,
    [`DatasetNotFoundError`][torchprimer.data.DatasetNotFoundError] says what to put where.
    """
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
    return _load_mnist(root, train, download, transform)


def cifar10(root: str | Path, train: bool = True, download: bool = False, augment: bool = False) -> datasets.CIFAR10:
    """CIFAR-10 as torchvision's dataset, each image a normalized ``(3, 32, 32)`` float tensor.

    ``augment=True`` adds the usual training augmentation (random crop with 4 pixels of
    padding, random horizontal flip); use it for the training split only. ``root`` holds
    ``cifar-10-batches-py/`` or the ``cifar-10-python.tar.gz`` archive, which is checked
    (MD5) and unpacked without network.
    """
    from torchvision import datasets, transforms
    from torchvision.datasets.utils import check_integrity

    root = Path(root)
    steps: list = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []
    transform = transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    if (root / CIFAR10_FOLDER).is_dir():
        try:
            return datasets.CIFAR10(str(root), train=train, download=False, transform=transform)
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted."
            if not download and not (root / CIFAR10_ARCHIVE).is_file():
                raise _cifar10_missing(root, f"{root / CIFAR10_FOLDER} is incomplete or corrupted") from error
    elif not download and not (root / CIFAR10_ARCHIVE).is_file():
        raise _cifar10_missing(root, "download=False")
    if not download and not check_integrity(str(root / CIFAR10_ARCHIVE), datasets.CIFAR10.tgz_md5):
        # torchvision would fetch a damaged archive again: refuse here, without network
        raise _cifar10_missing(root, f"{CIFAR10_ARCHIVE} is damaged, the MD5 checksum does not match")
    try:
        return datasets.CIFAR10(str(root), train=train, download=True, transform=transform)
    except _DOWNLOAD_ERRORS as error:
        raise _cifar10_missing(root, f"download failed: {error}") from error


class TensorLoader:
    """Batches straight from tensors already in memory: a lean stand-in for ``DataLoader``.

    Where a ``DataLoader`` converts every image from PIL and collates it, this one indexes
    two tensors, one batch at a time: about 1.5x faster per MNIST epoch on a small CPU.
    With ``shuffle=True`` each pass draws a new order from ``generator`` (the global
    PyTorch generator when ``None``, so ``torch.manual_seed`` fixes it).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images and labels must have the same length, got {images.shape[0]} and {labels.shape[0]}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        """Number of batches per pass (the last one may be smaller)."""
        return math.ceil(self.images.shape[0] / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.images.shape[0]
        if not self.shuffle:
            for start in range(0, n, self.batch_size):
                yield self.images[start : start + self.batch_size], self.labels[start : start + self.batch_size]
            return
        order = torch.randperm(n, generator=self.generator, device="cpu").to(self.images.device)
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.images[index], self.labels[index]

    @property
    def dataset(self) -> TensorDataset:
        """The data as a ``TensorDataset`` (what ``DataLoader.dataset`` gives), e.g. for ``len()``."""
        return TensorDataset(self.images, self.labels)

    def to(self, device: str | torch.device) -> TensorLoader:
        """A loader over copies of the tensors on ``device``: a GPU then never waits for host copies."""
        return TensorLoader(
            self.images.to(device), self.labels.to(device), self.batch_size, self.shuffle, self.generator
        )


def preload_mnist(
    root: str | Path,
    train: bool = True,
    download: bool = False,
    batch_size: int = 128,
    shuffle: bool | None = None,
) -> TensorLoader:
    """An MNIST split as normalized float tensors in memory, in a [`TensorLoader`][torchprimer.data.TensorLoader].

    The values equal those of [`mnist`][torchprimer.data.mnist] (``ToTensor`` then ``Normalize``), computed once
    for the whole split instead of per image per epoch. ``shuffle`` defaults to ``train``.
    Memory: 60,000 x 784 floats, about 190 MB for the training split.
    """
    raw = _load_mnist(root, train, download, transform=None)
    images = raw.data.unsqueeze(1).float().div_(255)  # (N, 1, 28, 28), in [0, 1] like ToTensor
    images.sub_(MNIST_MEAN[0]).div_(MNIST_STD[0])  # like Normalize
    return TensorLoader(images, raw.targets.clone(), batch_size, shuffle=train if shuffle is None else shuffle)


def _synthetic(num_samples: int, shape: tuple[int, ...], seed: int, *, signed_colours: bool = False) -> TensorDataset:
    """Ten classes of random-looking, yet learnable, images; see the two public stand-ins.

    By default each class is a template image drawn from ``seed``, and an example is its
    template plus noise. With ``signed_colours``, each class is one colour (a value per
    channel, drawn from a fixed seed shared by every call) filling the whole image, and an
    example is its class colour times a random sign, plus noise.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    generator = torch.Generator().manual_seed(seed)
    if not signed_colours:
        templates = torch.randn((10, *shape), generator=generator)
        labels = torch.randint(0, 10, (num_samples,), generator=generator)
        images = templates[labels] + torch.randn((num_samples, *shape), generator=generator)
        return TensorDataset(images, labels)
    colour_generator = torch.Generator().manual_seed(10)  # the same ten colours for every seed
    colours = torch.randn((10, shape[0], 1, 1), generator=colour_generator)
    labels = torch.randint(0, 10, (num_samples,), generator=generator)
    signs = torch.randint(0, 2, (num_samples, 1, 1, 1), generator=generator) * 2.0 - 1.0
    noise = torch.randn((num_samples, *shape), generator=generator)
    images = signs * colours[labels] + noise  # the colour is broadcast over every pixel
    return TensorDataset(images, labels)


def synthetic_mnist(num_samples: int, seed: int = 0) -> TensorDataset:
    """A stand-in for MNIST with its shapes: ``(num_samples, 1, 28, 28)`` floats, labels 0-9.

    Not digits: each class is a fixed random pattern plus noise, so models can learn it.
    For tests and for trying code without the real files; never a silent replacement.
    """
    return _synthetic(num_samples, (1, 28, 28), seed)


def synthetic_cifar10(num_samples: int, seed: int = 0) -> TensorDataset:
    """A stand-in for CIFAR-10 with its shapes: ``(num_samples, 3, 32, 32)`` floats, labels 0-9.

    Not photos. Each class is one colour (three channel values, drawn once from a fixed
    seed, so every call shares them) that fills the whole image; each example shows its
    class colour multiplied by a random sign, +1 or -1, plus noise of standard deviation 1
    on every pixel. ``seed`` draws the labels, signs and noise, so two calls with different
    seeds are independent samples of the same ten classes.

    Why the sign: a class and its negative are equally likely, so the mean image of every
    class is zero and a linear classifier cannot tell the classes apart (one fitted to the
    mean colours stays below 30 % accuracy). A network needs a non-linearity that treats
    ``x`` and ``-x`` alike, which ReLU layers can build. Max pooling alone helps little:
    the colour is the same across each pooling window, so the maximum of colour plus noise
    is the colour plus a noise term. The stand-in thus shows what an activation function
    adds, which a linearly separable stand-in would hide. For tests and offline pages;
    never a silent replacement for CIFAR-10.
    """
    return _synthetic(num_samples, (3, 32, 32), seed, signed_colours=True)


def subset(dataset: Dataset, num_samples: int, seed: int = 0) -> Subset:
    """``num_samples`` examples of ``dataset`` drawn at random without replacement (fixed by ``seed``).

    A quick way to train on a slice while trying things out.
    """
    size = len(dataset)  # type: ignore[arg-type]
    if not 1 <= num_samples <= size:
        raise ValueError(f"num_samples must be between 1 and the dataset size {size}, got {num_samples}")
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(size, generator=generator)[:num_samples].tolist()
    return Subset(dataset, indices)
