"""Save and resume training: model, optimizer, scheduler, epoch, history and random state.

A checkpoint is written to a temporary file in the same folder and then renamed over the
target with ``os.replace``, which is atomic: a crash mid-write leaves the previous
checkpoint intact and no half-written file behind. It is read back with
``torch.load(..., weights_only=True)``, which refuses to run code hidden in a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchprimer.utils import get_rng_state, set_rng_state

FORMAT = "torchprimer-checkpoint"
VERSION = 1
_KEYS = ("model", "optimizer", "scheduler", "epoch", "history", "rng")


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not fit the objects it is loaded into."""


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    epoch: int,
    history: list[dict[str, Any]],
    generator: torch.Generator | None = None,
) -> Path:
    """Write everything needed to resume after ``epoch`` completed epochs to ``path``, atomically.

    Besides the state dicts it stores the random generators (Python, NumPy, PyTorch, and
    ``generator``, e.g. the one a data loader shuffles with), so a resumed run draws the
    same batches and dropout masks as an uninterrupted one. Returns the path written.
    """
    path = Path(path)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": [dict(entry) for entry in history],
        "rng": get_rng_state(),
        "generator": generator.get_state() if generator is not None else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def _remove_quietly(path: str) -> None:
    """Remove ``path`` if it exists (cleanup after a failed write)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    generator: torch.Generator | None = None,
    restore_rng: bool = True,
    map_location: str | torch.device | None = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by [`save_checkpoint`][torchprimer.checkpoint.save_checkpoint] into ``model`` (and the others given).

    Restores the random generators too unless ``restore_rng=False``. Returns the whole
    checkpoint dict; ``state["epoch"]`` and ``state["history"]`` say where training stopped.
    Raises ``FileNotFoundError`` if the file is missing and [`CheckpointError`][torchprimer.checkpoint.CheckpointError], naming
    the file, if it is not a torchprimer checkpoint or does not fit the given objects.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a damaged file can fail anywhere in the unpickler
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: expected a file written by torchprimer.save_checkpoint "
            f"(torch.save of a dict of state dicts), but loading failed: {str(error).splitlines()[0]}"
        ) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT or any(k not in state for k in _KEYS):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{str(path)!r} is not a torchprimer checkpoint: expected a dict with keys "
            f"{', '.join(_KEYS)} written by save_checkpoint, found {found}"
        )
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit {type(model).__name__}: {str(error).splitlines()[0]} "
            "(was it saved from another model?)\n" + str(error)
        ) from error
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if state[name] is None:
            raise CheckpointError(f"checkpoint {str(path)!r} holds no {name} state, but a {name} was given to load into")
        try:
            target.load_state_dict(state[name])
        except (ValueError, KeyError, RuntimeError) as error:
            raise CheckpointError(
                f"checkpoint {str(path)!r}: the saved {name} state does not fit {type(target).__name__}: {error}"
            ) from error
    if generator is not None and state.get("generator") is not None:
        generator.set_state(state["generator"])
    if restore_rng:
        set_rng_state(state["rng"])
    return state
