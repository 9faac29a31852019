"""Where the original MNIST files are, how to copy them, and fetching them once when absent.

Pages, notebooks, tests and benchmarks read MNIST from the four ``.gz`` files that
torchvision reads. They are looked up in this order:

1. the folder named by ``TORCHPRIMER_MNIST_RAW``, when set (it always wins);
2. ``../shared/data/MNIST/raw`` next to the repository;
3. the download cache ``${XDG_CACHE_HOME:-~/.cache}/torchprimer/MNIST/raw``, filled once
   by torchvision's own downloader, which checks each file's MD5 sum.

Every user copies the files into its own scratch data root first (:func:`copy_raw`),
because torchvision unpacks the archives beside themselves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tools import settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_RAW = ROOT.parent / "shared" / "data" / "MNIST" / "raw"

#: The four files torchvision's MNIST reads, with their MD5 sums (torchvision's own list).
FILES = (
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
)


class MnistFilesMissing(RuntimeError):
    """The MNIST files are nowhere on this machine and could not be downloaded."""


def cache_raw() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/torchprimer/MNIST/raw``: the one download folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torchprimer" / "MNIST" / "raw"


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds the four MNIST ``.gz`` files."""
    return all((folder / name).is_file() for name, _ in FILES)


def where_to_put_them() -> str:
    """The sentence that tells a reader where the four files go."""
    names = ", ".join(name for name, _ in FILES)
    return (
        f"MNIST files not found. Put the four files ({names}) in {cache_raw()} "
        f"(or in {SHARED_RAW}), or set TORCHPRIMER_MNIST_RAW to a folder holding them; "
        "with network access they are downloaded there once."
    )


def find_raw() -> Path | None:
    """The folder of the four files already on this machine, or None (nothing is downloaded).

    ``TORCHPRIMER_MNIST_RAW``, when set, is the only place looked at.
    """
    configured = settings.get("TORCHPRIMER_MNIST_RAW")
    if configured:
        return Path(configured) if Path(configured).is_dir() else None
    for folder in (SHARED_RAW, cache_raw()):
        if is_complete(folder):
            return folder
    return None


def download(target: Path) -> Path:
    """Download the four files into ``target`` with torchvision (MD5-checked); return it.

    The files land in a temporary sibling folder that is renamed into place only when all
    four arrived and passed their check, so an interrupted download leaves nothing behind.
    """
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import download_url

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".mnist-") as scratch:
        for name, md5 in FILES:
            errors = []
            for mirror in MNIST.mirrors:
                try:
                    download_url(mirror + name, root=scratch, filename=name, md5=md5)
                    break
                except Exception as error:  # noqa: BLE001 - the next mirror is tried, then all are reported
                    errors.append(f"{mirror}: {error}")
            else:
                raise MnistFilesMissing(f"{where_to_put_them()} Download of {name} failed: {'; '.join(errors)}")
        if not is_complete(target):
            shutil.rmtree(target, ignore_errors=True)
            Path(scratch).rename(target)
            Path(scratch).mkdir()  # for TemporaryDirectory's clean-up
    return target


def raw_dir(allow_download: bool = True) -> Path:
    """The folder of the four MNIST files, downloading them into :func:`cache_raw` when needed.

    Raises :class:`MnistFilesMissing` (with :func:`where_to_put_them`) when they are not on
    this machine and cannot be downloaded, or when ``TORCHPRIMER_MNIST_RAW`` names no folder.
    """
    found = find_raw()
    if found is not None:
        return found
    configured = settings.get("TORCHPRIMER_MNIST_RAW")
    if configured:
        raise MnistFilesMissing(
            f"TORCHPRIMER_MNIST_RAW is set to {configured}, which is not a folder. " + where_to_put_them()
        )
    if not allow_download:
        raise MnistFilesMissing(where_to_put_them())
    try:
        return download(cache_raw())
    except MnistFilesMissing:
        raise
    except Exception as error:  # noqa: BLE001 - no network, a proxy, a full disk: one clear message
        raise MnistFilesMissing(f"{where_to_put_them()} (download failed: {error})") from error


def copy_raw(raw: Path, data_root: Path) -> Path:
    """Copy the MNIST ``.gz`` files of ``raw`` into ``<data_root>/MNIST/raw``; return that folder.

    The copies and their folder are writable even when the originals are not:
    torchvision unpacks the archives beside themselves.
    """
    target = data_root / "MNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for file in raw.iterdir():
        if file.is_file():
            shutil.copyfile(file, target / file.name)  # contents only, not the read-only mode
    return target


def scratch_root(prefix: str = "torchprimer-mnist-") -> Path:
    """A new temporary data root holding a copy of the MNIST files (the caller removes it)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    copy_raw(raw_dir(), root)
    return root
