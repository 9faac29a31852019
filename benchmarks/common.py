"""Shared parts of the benchmarks: machine description, scratch MNIST copy, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torchvision

from tools import mnist_files

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's marketing name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the whole host)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def mnist_root(root: Path | None) -> Path:
    """A data root holding ``MNIST/raw/``: ``root`` as given, or a scratch copy of the original files.

    The originals are found (or downloaded once) by ``tools/mnist_files.py``, the same
    files the pages and tests read; they are copied because torchvision unpacks the
    ``.gz`` files beside themselves.
    """
    if root is not None:
        return root
    try:
        return mnist_files.scratch_root(prefix="torchprimer-bench-")
    except mnist_files.MnistFilesMissing as error:
        raise SystemExit(f"{error} Or pass --root DIR (holding MNIST/raw/).") from None


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    """Wall-clock seconds of ``fn(*args, **kwargs)``, and its result."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def write_result(
    out: Path, name: str, title: str, columns: list[dict[str, str]], rows: list[dict[str, Any]], notes: str
) -> Path:
    """Write ``<out>/<name>.json`` in the schema the docs render, atomically (temp file + rename)."""
    result = {
        "benchmark": name,
        "title": title,
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpu": cpu_model(), "cores": cores()},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        },
        "columns": columns,
        "rows": rows,
        "notes": notes,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(result, file, indent=2)
            file.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
