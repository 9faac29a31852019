"""The training loop: one epoch of training, one pass of evaluation, and ``fit`` around both.

``fit`` adds what every real run needs and nothing else: a progress bar, TensorBoard
logging, a learning-rate schedule, checkpoints with exact resume, and ``max_batches``, a
smoke switch that cuts every pass short to try the whole program in seconds.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from torchprimer.checkpoint import load_checkpoint, save_checkpoint
from torchprimer.tracking import log_metrics, tensorboard_writer
from torchprimer.utils import select_device

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: How many batches pass between two refreshes of the progress bar's loss.
POSTFIX_EVERY = 20


class History(list):
    """Per-epoch metrics of [`fit`][torchprimer.train.fit], a list of dicts with the keys of `History.KEYS`.

    ``acc`` values are fractions (0 to 1); they are NaN when targets are not class indices
    (regression). ``lr`` is the learning rate of the first parameter group when the
    epoch's training pass ended. ``history[-1]`` or ``history.last`` is the latest epoch.
    """

    KEYS = ("epoch", "train/loss", "train/acc", "val/loss", "val/acc", "lr")

    @property
    def last(self) -> dict[str, Any]:
        """The metrics of the latest epoch."""
        if not self:
            raise IndexError("History is empty: no epoch has finished")
        return self[-1]

    def best(self, key: str = "val/acc", mode: str | None = None) -> dict[str, Any]:
        """The epoch with the best ``key``: the highest for accuracies, the lowest for losses.

        ``mode`` ("max" or "min") overrides that guess for other keys. Epochs whose value is
        NaN (an accuracy of a regression model) are left out; if all are, it is an error.
        """
        values = self.column(key)
        mode = mode or ("min" if "loss" in key else "max")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        candidates = [entry for entry, value in zip(self, values) if not _is_nan(value)]
        if not candidates:
            raise ValueError(f"every epoch's {key!r} is NaN: there is no best epoch by it")
        pick = min if mode == "min" else max
        return pick(candidates, key=lambda entry: entry[key])

    def column(self, key: str) -> list[Any]:
        """All epochs' values of one metric, e.g. for a plot: ``history.column("val/loss")``."""
        if not self:
            raise IndexError("History is empty: no epoch has finished")
        if key not in self[0]:
            raise KeyError(f"unknown metric {key!r}; available: {', '.join(self[0])}")
        return [entry[key] for entry in self]


def _is_nan(value: Any) -> bool:
    """Whether ``value`` is a float NaN (a metric that does not apply)."""
    return isinstance(value, float) and math.isnan(value)


def _limit(loader: Batches, max_batches: int | None) -> tuple[Batches, int | None]:
    """The loader cut to ``max_batches`` batches, and its length when it is known."""
    total = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
    if max_batches is None:
        return loader, total
    if max_batches < 1:
        raise ValueError(f"max_batches must be a positive integer or None, got {max_batches}")
    return itertools.islice(loader, max_batches), max_batches if total is None else min(total, max_batches)


def _count_hits(correct: torch.Tensor | None, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
    """``correct`` plus the batch's correct arg-max predictions, summed on the device (no sync).

    Only scores ``(N, C)`` against class indices ``(N,)`` count; otherwise ``correct`` is
    returned as it is (``None`` throughout a regression run, hence a NaN accuracy).
    """
    if outputs.ndim != 2 or targets.ndim != 1 or targets.is_floating_point():
        return correct
    hits = (outputs.argmax(dim=1) == targets).sum()
    return hits if correct is None else correct + hits


def _result(total_loss: float, correct: torch.Tensor | None, seen: int) -> dict[str, float]:
    if seen == 0:
        raise ValueError("the loader produced no batches")
    acc = correct.item() / seen if correct is not None else math.nan
    return {"loss": total_loss / seen, "acc": acc, "samples": seen}


def train_one_epoch(
    model: nn.Module,
    loader: Batches,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    *,
    device: str | torch.device = "cpu",
    scheduler: Any | None = None,
    max_batches: int | None = None,
    progress: bool = False,
    description: str = "train",
) -> dict[str, float]:
    """Train ``model`` on one pass over ``loader``; return the mean ``loss`` and ``acc`` over it.

    ``scheduler``, if given, is stepped after every batch (schedules such as ``OneCycleLR``
    are defined per step). ``loss_fn`` must average over the batch (the default of PyTorch
    losses). The running loss is read with one ``.item()`` per batch; correct predictions
    are summed on the device and read once at the end. ``acc`` is NaN for non-class targets.
    The result also holds ``samples``, the number of examples seen. Batches are moved to
    ``device``; the model must already be there ([`fit`][torchprimer.train.fit] moves it).
    """
    model.train()
    batches, total = _limit(loader, max_batches)
    bar = tqdm(batches, total=total, desc=description, leave=False, dynamic_ncols=True) if progress else None
    total_loss, correct, seen = 0.0, None, 0
    for step, (inputs, targets) in enumerate(bar if bar is not None else batches, 1):
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = targets.shape[0]
        total_loss += loss.item() * n
        seen += n
        correct = _count_hits(correct, outputs, targets)
        if bar is not None and step % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
    if bar is not None:
        bar.close()
    return _result(total_loss, correct, seen)


def evaluate(
    model: nn.Module,
    loader: Batches,
    loss_fn: LossFn,
    *,
    device: str | torch.device = "cpu",
    max_batches: int | None = None,
) -> dict[str, float]:
    """Mean ``loss`` and ``acc`` of ``model`` over ``loader``, without training it.

    Sets ``model.eval()`` (dropout off, batch norm uses its running statistics) and runs
    under ``torch.no_grad()``; the model stays in eval mode. The result also holds ``samples``.
    Batches are moved to ``device``; the model must already be there.
    """
    model.eval()
    batches, _ = _limit(loader, max_batches)
    total_loss, correct, seen = 0.0, None, 0
    with torch.no_grad():
        for inputs, targets in batches:
            inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            outputs = model(inputs)
            n = targets.shape[0]
            total_loss += loss_fn(outputs, targets).item() * n
            seen += n
            correct = _count_hits(correct, outputs, targets)
    return _result(total_loss, correct, seen)


def format_metrics(entry: dict[str, Any], epochs: int | None = None) -> str:
    """One line for an epoch of [`History`][torchprimer.train.History]: ``epoch 2/5  train/loss 0.1234  ...``."""
    parts = [f"epoch {entry['epoch']}" + (f"/{epochs}" if epochs else "")]
    for key in History.KEYS[1:]:
        value = entry.get(key)
        if value is None or _is_nan(value):
            continue
        if key.endswith("acc"):
            parts.append(f"{key} {value:.2%}")
        else:
            parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    return "  ".join(parts)


def fit(
    model: nn.Module,
    train_loader: Batches,
    val_loader: Batches,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    scheduler: Any | None = None,
    scheduler_interval: str = "epoch",
    device: str | torch.device | None = None,
    max_batches: int | None = None,
    progress: bool = True,
    log_dir: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> History:
    """Train for ``epochs`` epochs, evaluating on ``val_loader`` after each; return the [`History`][torchprimer.train.History].

    Args:
        epochs: total number of epochs, counting those done before a resume.
        scheduler: a learning-rate scheduler, stepped once per epoch, or after every batch
            with ``scheduler_interval="batch"``. ``ReduceLROnPlateau`` gets ``val/loss``.
        device: where to train; ``None`` picks CUDA, MPS or CPU ([`select_device`][torchprimer.utils.select_device]).
            The model is moved there; batches are moved as they come.
        max_batches: cut every training and validation pass to this many batches (a smoke run).
        progress: show a progress bar per epoch and print one line of metrics per epoch.
        log_dir: if given, write every epoch's metrics to TensorBoard there.
        checkpoint_path: if given, save a checkpoint there after every epoch (atomically).
        resume: continue from ``checkpoint_path`` if that file exists: weights, optimizer,
            scheduler, history and random state are restored, so the result equals that of
            a run never interrupted. Starts from scratch when the file does not exist yet.
        on_epoch_end: called with each epoch's metrics dict after its checkpoint is saved,
            e.g. to print or plot it.

    Raises:
        ValueError: for a bad argument, a ``ReduceLROnPlateau`` stepped per batch (it needs
            the epoch's validation loss), or a checkpoint already past ``epochs``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path to resume from")
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be a positive integer or None, got {max_batches}")
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if plateau and scheduler_interval == "batch":
        raise ValueError("ReduceLROnPlateau steps on the validation loss, once per epoch: use scheduler_interval='epoch'")
    device = select_device() if device is None else torch.device(device)
    model.to(device)
    # The loader's own shuffling generator, if it has one, is saved with the checkpoint too.
    generator = getattr(train_loader, "generator", None)
    generator = generator if isinstance(generator, torch.Generator) else None

    history = History()
    if resume and Path(checkpoint_path).exists():  # type: ignore[arg-type]
        state = load_checkpoint(
            checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler, generator=generator  # type: ignore[arg-type]
        )
        history = History(state["history"][: state["epoch"]])  # optimizer state lands on its parameters' device
        if len(history) > epochs:
            raise ValueError(
                f"checkpoint {str(checkpoint_path)!r} has already trained {len(history)} epochs, more than epochs={epochs}: "
                "pass the total number of epochs, counting those done before the resume"
            )
    batch_scheduler = scheduler if scheduler_interval == "batch" else None

    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(tensorboard_writer(log_dir)) if log_dir is not None else None
        for epoch in range(len(history) + 1, epochs + 1):
            train = train_one_epoch(
                model, train_loader, loss_fn, optimizer, device=device, scheduler=batch_scheduler,
                max_batches=max_batches, progress=progress, description=f"epoch {epoch}/{epochs}",
            )  # fmt: skip
            lr = optimizer.param_groups[0]["lr"]
            val = evaluate(model, val_loader, loss_fn, device=device, max_batches=max_batches)
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step(val["loss"]) if plateau else scheduler.step()
            entry = {
                "epoch": epoch,
                "train/loss": train["loss"],
                "train/acc": train["acc"],
                "val/loss": val["loss"],
                "val/acc": val["acc"],
                "lr": float(lr),
            }
            history.append(entry)
            if writer is not None:
                log_metrics(writer, entry, step=epoch)
                writer.flush()
            if checkpoint_path is not None:
                save_checkpoint(
                    checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                    epoch=epoch, history=history, generator=generator,
                )  # fmt: skip
            if progress:
                tqdm.write(format_metrics(entry, epochs))
            if on_epoch_end is not None:
                on_epoch_end(entry)
    return history

