"""Data: synthetic stand-ins, subsets, the tensor loader, real MNIST (short), missing-file errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import datasets

from torchprimer import data


def test_synthetic_stand_ins_have_the_real_shapes_and_repeat_with_the_seed() -> None:
    mnist = data.synthetic_mnist(20)
    cifar = data.synthetic_cifar10(8, seed=3)
    assert mnist.tensors[0].shape == (20, 1, 28, 28) and cifar.tensors[0].shape == (8, 3, 32, 32)
    assert mnist.tensors[1].dtype == torch.int64 and 0 <= mnist.tensors[1].min() and mnist.tensors[1].max() <= 9
    assert torch.equal(data.synthetic_mnist(20).tensors[0], mnist.tensors[0])
    assert not torch.equal(data.synthetic_mnist(20, seed=1).tensors[0], mnist.tensors[0])


def test_synthetic_rejects_empty() -> None:
    for make in (data.synthetic_mnist, data.synthetic_cifar10):
        for bad in (0, -3, 2.5, True):
            with pytest.raises(ValueError, match="num_samples must be a positive integer"):
                make(bad)


def test_synthetic_cifar10_shares_its_classes_across_seeds() -> None:
    first, second = data.synthetic_cifar10(400, seed=0), data.synthetic_cifar10(400, seed=1)
    assert torch.equal(data.synthetic_cifar10(400, seed=0).tensors[0], first.tensors[0])  # repeatable
    assert not torch.equal(first.tensors[0], second.tensors[0])
    # the mean colour of an image is its class colour up to sign, whatever the seed
    for dataset in (first, second):
        images, labels = dataset.tensors
        colours = images.mean(dim=(2, 3))  # (N, 3)
        for label in range(10):
            chosen = colours[labels == label]
            aligned = chosen * chosen[:, :1].sign()  # flip every row to the sign of the first channel
            assert aligned.std(dim=0).max() < 0.1  # noise of 1 per pixel averages out over 1,024 pixels
    assert set(first.tensors[1].tolist()) == set(range(10))


def _fit_linear(features: torch.Tensor, labels: torch.Tensor, steps: int = 200) -> nn.Linear:
    """Multinomial logistic regression fitted with Adam: the best a linear classifier does."""
    torch.manual_seed(0)
    classifier = nn.Linear(features.shape[1], 10)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=0.05)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(classifier(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return classifier


def _accuracy(classifier: nn.Linear, features: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (classifier(features).argmax(dim=1) == labels).float().mean().item()


def test_synthetic_cifar10_is_not_linearly_separable_but_is_learnable() -> None:
    train_images, train_labels = data.synthetic_cifar10(2_000, seed=0).tensors
    test_images, test_labels = data.synthetic_cifar10(1_000, seed=1).tensors
    # every class's mean image is close to zero: a class and its negative are equally likely
    for label in range(10):
        assert train_images[train_labels == label].mean(dim=0).abs().mean() < 0.2
    # a linear classifier on the mean colour (which carries all the class information) stays below 30 % ...
    train_colour, test_colour = train_images.mean(dim=(2, 3)), test_images.mean(dim=(2, 3))
    linear = _fit_linear(train_colour, train_labels)
    assert _accuracy(linear, test_colour, test_labels) < 0.3
    # ... while the same classifier on sign-free products of the colour (a fixed non-linear map) does well
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]

    def products(colour: torch.Tensor) -> torch.Tensor:
        return torch.stack([colour[:, i] * colour[:, j] for i, j in pairs], dim=1)

    quadratic = _fit_linear(products(train_colour), train_labels, steps=500)
    assert _accuracy(quadratic, products(test_colour), test_labels) > 0.8


def test_subset_is_random_without_replacement_and_seeded() -> None:
    dataset = data.synthetic_mnist(50)
    part = data.subset(dataset, 10, seed=1)
    assert len(part) == 10 and len(set(part.indices)) == 10
    assert part.indices == data.subset(dataset, 10, seed=1).indices
    assert part.indices != data.subset(dataset, 10, seed=2).indices
    for size in (0, 51):
        with pytest.raises(ValueError, match="between 1 and the dataset size 50"):
            data.subset(dataset, size)


def test_tensor_loader_batches_in_order_without_shuffle() -> None:
    images, labels = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    loader = data.TensorLoader(images, labels, batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(loader.dataset) == 10


def test_tensor_loader_shuffles_every_pass_and_follows_its_generator() -> None:
    images, labels = torch.arange(100.0).reshape(100, 1), torch.arange(100)
    loader = data.TensorLoader(images, labels, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert sorted(first.tolist()) == list(range(100)) and not torch.equal(first, second)
    again = data.TensorLoader(images, labels, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([y for _, y in again]), first)
    for x, y in loader:  # images stay paired with their labels
        assert torch.equal(x[:, 0].long(), y)


def test_tensor_loader_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="same length"):
        data.TensorLoader(torch.zeros(3, 1), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        data.TensorLoader(torch.zeros(3, 1), torch.zeros(3), batch_size=0)


def test_missing_mnist_says_which_files_go_where(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetNotFoundError) as caught:
        data.mnist(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in data.MNIST_FILES:
        assert name in message
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(data.DatasetNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        data.preload_mnist(tmp_path, train=False)


def test_missing_cifar10_names_the_archive_and_the_folder(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetNotFoundError) as caught:
        data.cifar10(tmp_path)
    message = str(caught.value)
    assert "cifar-10-python.tar.gz" in message and "cifar-10-batches-py/" in message and str(tmp_path) in message


def test_failed_download_becomes_dataset_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    monkeypatch.setattr(datasets.CIFAR10, "download", offline)
    with pytest.raises(data.DatasetNotFoundError, match="download failed: network is unreachable"):
        data.mnist(tmp_path, download=True)
    with pytest.raises(data.DatasetNotFoundError, match="download failed"):
        data.cifar10(tmp_path, download=True)


def test_damaged_archives_are_reported_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def network(*args, **kwargs):
        raise AssertionError("download=False must not touch the network")

    monkeypatch.setattr(datasets.MNIST, "download", network)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_FILES:
        (raw / name).write_bytes(b"an interrupted copy")
    with pytest.raises(data.DatasetNotFoundError, match="damaged, the MD5 checksum does not match: train-images-idx3"):
        data.mnist(tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        data.preload_mnist(tmp_path, train=False)
    monkeypatch.setattr(datasets.CIFAR10, "download", network)
    (tmp_path / data.CIFAR10_ARCHIVE).write_bytes(b"an interrupted copy")
    with pytest.raises(
        data.DatasetNotFoundError, match="cifar-10-python.tar.gz is damaged, the MD5 checksum does not match"
    ):
        data.cifar10(tmp_path)


def test_incomplete_mnist_folder_is_reported(mnist_root: Path, tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(mnist_root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz", raw)
    with pytest.raises(data.DatasetNotFoundError, match="train-images-idx3-ubyte.gz"):
        data.mnist(tmp_path)


def test_real_mnist_from_the_gz_files_and_the_preloaded_path_agree(mnist_root: Path) -> None:
    test_set = data.mnist(mnist_root, train=False)
    image, label = test_set[0]
    assert len(test_set) == 10_000 and image.shape == (1, 28, 28) and isinstance(label, int)
    loader = data.preload_mnist(mnist_root, train=False, batch_size=500)
    assert not loader.shuffle and len(loader) == 20
    assert torch.equal(loader.images[0], image) and loader.labels[0].item() == label
    assert abs(loader.images.mean().item()) < 0.1  # normalized: mean near 0
    assert data.preload_mnist(mnist_root, train=True).shuffle
    assert data.mnist(mnist_root, train=True, download=True)[0][0].shape == (1, 28, 28)  # no network: files are there


def test_corrupted_cifar10_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(data.DatasetNotFoundError, match="incomplete or corrupted"):
        data.cifar10(tmp_path, train=False)
