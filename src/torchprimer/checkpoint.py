"""Save and resume training: model, optimizer, scheduler, epoch, history and random state.

A checkpoint is written to a temporary file in the same folder and then renamed over the
target with ``os.replace``, which is atomic: a crash mid-write leaves the previous
checkpoint intact and no half-written file behind. It is read back with
``torch.load(..., weights_only=True)``, which refuses to run code hidden in a file.
"""

from __future__ import annotations

import os
import re
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
    same batches and dropout masks as an uninterrupted one. A model inside
    ``DistributedDataParallel`` is saved unwrapped (``model.module``), so the file loads
    into a plain model in a single process. Returns the path written.
    Raises ``IsADirectoryError``, before writing anything, if ``path`` is a folder.
    """
    model = _unwrapped(model)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"cannot save checkpoint: {str(path)!r} is a folder; "
            f"expected a file path such as {str(path / 'checkpoint.pt')!r}"
        )
    state = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        # Class names: a state dict loads silently into an optimizer or scheduler of another kind.
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "scheduler_class": type(scheduler).__name__ if scheduler is not None else None,
        "history": [dict(entry) for entry in history],
        "rng": get_rng_state(),
        "generator": generator.get_state() if generator is not None else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target, then renamed over it: a crash leaves the old file whole.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the checkpoint
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _unwrapped(model: nn.Module) -> nn.Module:
    """The model itself, taken out of its ``DistributedDataParallel`` wrapper if it has one."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _first_line(error: BaseException) -> str:
    """The first line of ``error``'s message without terminal colour codes, or its type name if empty."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _mismatch(current: dict[str, Any], saved: dict[str, Any], shown: int = 5) -> str:
    """What keeps ``saved`` from loading into a model whose state dict is ``current`` ("" if nothing)."""

    def listed(names: list[str]) -> str:
        return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")

    def size(shape: torch.Size) -> str:
        return "x".join(map(str, shape)) or "a scalar"

    problems = []
    missing = [key for key in current if key not in saved]
    unexpected = [key for key in saved if key not in current]
    resized = [
        f"{key} ({size(saved[key].shape)} in the file, {size(value.shape)} in the model)"
        for key, value in current.items()
        if key in saved
        and isinstance(saved[key], torch.Tensor)
        and isinstance(value, torch.Tensor)
        and saved[key].shape != value.shape
    ]
    if missing:
        problems.append(f"missing {listed(missing)}")
    if unexpected:
        problems.append(f"unexpected {listed(unexpected)}")
    if resized:
        problems.append(f"other sizes: {listed(resized)}")
    return "; ".join(problems)


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
    """Load a checkpoint written by [`save_checkpoint`][torchprimer.checkpoint.save_checkpoint] into ``model``.

    The optimizer, scheduler and generator, when given, are restored too.

    Restores the random generators too unless ``restore_rng=False``. Returns the whole
    checkpoint dict; ``state["epoch"]`` and ``state["history"]`` say where training stopped.
    Raises ``FileNotFoundError`` if the file is missing and
    [`CheckpointError`][torchprimer.checkpoint.CheckpointError], naming the file, if it is a
    folder, is not a torchprimer checkpoint, or does not fit the given objects (another
    model's weights, another kind of optimizer or scheduler).
    """
    model = _unwrapped(model)
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint {str(path)!r} is a folder: expected the path of a file written by save_checkpoint"
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a damaged file can fail anywhere in the unpickler
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: expected a file written by torchprimer.save_checkpoint "
            f"(torch.save of a dict of state dicts), but loading failed: {_first_line(error)}"
        ) from error
    well_formed = isinstance(state, dict) and state.get("format") == FORMAT and all(key in state for key in _KEYS)
    if not well_formed or not isinstance(state["model"], dict):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{str(path)!r} is not a torchprimer checkpoint: expected a dict with keys "
            f"{', '.join(_KEYS)} written by save_checkpoint, found {found}"
        )
    targets = {
        name: target for name, target in (("optimizer", optimizer), ("scheduler", scheduler)) if target is not None
    }
    for name, target in targets.items():  # checked before anything is loaded into the objects
        if state[name] is None:
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds no {name} state, but a {name} was given to load into"
            )
        saved_class = state.get(f"{name}_class")  # absent from files of older versions
        if saved_class is not None and saved_class != type(target).__name__:
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds {saved_class} {name} state, "
                f"but the {name} given to load it into is a {type(target).__name__}"
            )
    mismatch = _mismatch(model.state_dict(), state["model"])
    if mismatch:  # checked first: load_state_dict would copy the matching tensors before it raised
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit {type(model).__name__} "
            f"(was it saved from another model?): {mismatch}"
        )
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit {type(model).__name__}: {error}") from error
    for name, target in targets.items():
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
