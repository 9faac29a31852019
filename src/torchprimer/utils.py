"""Reproducibility and device helpers: seed every random generator, pick where to compute."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

DEVICE_TYPES = ("cpu", "cuda", "mps")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``.

    Weight initialization, shuffling and dropout all draw from these generators, so the
    same seed gives the same run on the same machine and library versions.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(preferred: str | None = None) -> torch.device:
    """Return the device to compute on: ``preferred`` if given and available, else the best one.

    Without a preference the order is CUDA, then Apple's MPS, then the CPU. Asking for a
    device this machine does not have raises ``ValueError`` saying what is available,
    rather than failing later at the first ``.to(device)``.
    """
    available = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (["mps"] if _mps_available() else [])
    if preferred is None:
        return torch.device("cuda" if "cuda" in available else "mps" if "mps" in available else "cpu")
    kind = preferred.split(":", 1)[0]
    if kind not in DEVICE_TYPES:
        raise ValueError(f"unknown device {preferred!r}: choose one of {', '.join(DEVICE_TYPES)}")
    if kind not in available:
        raise ValueError(f"device {preferred!r} is not available on this machine; available: {', '.join(available)}")
    device = torch.device(preferred)
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.index is not None and device.type == "cuda" and device.index >= count:
        raise ValueError(
            f"device {preferred!r} is not available: this machine has CUDA devices cuda:0 to cuda:{count - 1}"
        )
    return device


def get_rng_state() -> dict[str, Any]:
    """Snapshot the state of Python's, NumPy's and PyTorch's random generators.

    Plain lists, tuples and tensors only, so a checkpoint holding it loads with
    ``torch.load(..., weights_only=True)``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states taken by [`get_rng_state`][torchprimer.utils.get_rng_state].

    The states may come back on any device (``torch.load`` with a ``map_location``); they
    are moved to the CPU, where PyTorch expects them. CUDA states are restored only when
    this machine has as many GPUs as the one that saved them.
    """
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([cuda_state.cpu() for cuda_state in state["cuda"]])
