"""Data: synthetic stand-ins, subsets, the tensor loader, real MNIST (short), missing-file errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from torchprimer import data


def test_synthetic_stand_ins_have_the_real_shapes_and_repeat_with_the_seed() -> None:
    mnist = data.synthetic_mnist(20)
    cifar = data.synthetic_cifar10(8, seed=3)
    assert mnist.tensors[0].shape == (20, 1, 28, 28) and cifar.tensors[0].shape == (8, 3, 32, 32)
    assert mnist.tensors[1].dtype == torch.int64 and 0 <= mnist.tensors[1].min() and mnist.tensors[1].max() <= 9
    assert torch.equal(data.synthetic_mnist(20).tensors[0], mnist.tensors[0])
    assert not torch.equal(data.synthetic_mnist(20, seed=1).tensors[0], mnist.tensors[0])


def test_synthetic_rejects_empty() -> None:
    with pytest.raises(ValueError, match="num_samples"):
        data.synthetic_mnist(0)


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

    monkeypatch.setattr(data.datasets.MNIST, "download", offline)
    monkeypatch.setattr(data.datasets.CIFAR10, "download", offline)
    with pytest.raises(data.DatasetNotFoundError, match="download failed: network is unreachable"):
        data.mnist(tmp_path, download=True)
    with pytest.raises(data.DatasetNotFoundError, match="download failed"):
        data.cifar10(tmp_path, download=True)


def test_damaged_archives_are_reported_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def network(*args, **kwargs):
        raise AssertionError("download=False must not touch the network")

    monkeypatch.setattr(data.datasets.MNIST, "download", network)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_FILES:
        (raw / name).write_bytes(b"an interrupted copy")
    with pytest.raises(data.DatasetNotFoundError, match="damaged, the MD5 checksum does not match: train-images-idx3"):
        data.mnist(tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        data.preload_mnist(tmp_path, train=False)
    monkeypatch.setattr(data.datasets.CIFAR10, "download", network)
    (tmp_path / data.CIFAR10_ARCHIVE).write_bytes(b"an interrupted copy")
    with pytest.raises(data.DatasetNotFoundError, match="cifar-10-python.tar.gz is damaged, the MD5 checksum does not match"):
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
