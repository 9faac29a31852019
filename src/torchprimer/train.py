"""The training loop of chapter 8: one epoch of training, one pass of evaluation, and ``fit``
around both.

``train_one_epoch`` and ``evaluate`` are the chapter's two functions with a few additions,
each named where it happens: a progress bar, ``max_batches`` (a smoke switch that cuts
every pass short to try a whole program in seconds), and an accuracy that is NaN for
targets that are not class indices (regression). ``fit`` adds what a real run needs: a
learning-rate schedule, TensorBoard logging, checkpoints with exact resume, and training
on several processes when the program is started by ``torchrun``.
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
from torch.utils.data import DataLoader
from tqdm import tqdm

from torchprimer import distributed
from torchprimer.checkpoint import load_checkpoint, save_checkpoint
from torchprimer.data import TensorLoader
from torchprimer.tracking import log_metrics, tensorboard_writer
from torchprimer.utils import select_device

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class History(list):
    """Per-epoch metrics of [`fit`][torchprimer.train.fit], a list of dicts with the keys of `History.KEYS`.

    ``acc`` values are fractions (0 to 1); they are NaN when targets are not class indices
    (regression). ``val/...`` are measured on the validation split given to ``fit``. ``lr``
    is the learning rate of the first parameter group when the epoch's training pass
    ended. ``history[-1]`` or ``history.last`` is the latest epoch.
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


def _check_max_batches(max_batches: int | None) -> None:
    """Refuse a ``max_batches`` that is neither None nor a positive integer."""
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be a positive integer or None, got {max_batches}")


def _first_batches(loader: Batches, max_batches: int | None) -> tuple[Batches, int | None]:
    """The loader, or only its first ``max_batches`` batches; and how many batches that is, if known."""
    try:
        total = len(loader)  # type: ignore[arg-type]
    except TypeError:  # a generator has no length
        total = None
    if max_batches is None:
        return loader, total
    return itertools.islice(loader, max_batches), max_batches if total is None else min(total, max_batches)


def _classifies(outputs: torch.Tensor, targets: torch.Tensor) -> bool:
    """Whether the batch is scores ``(N, C)`` against class indices ``(N,)``, so accuracy applies."""
    return outputs.ndim == 2 and targets.ndim == 1 and not targets.is_floating_point()


def _result(total_loss: float, correct: torch.Tensor, seen: int, classified: bool) -> dict[str, float]:
    """The means of one pass from its sums; an error if the pass saw nothing."""
    if seen == 0:
        raise ValueError("the loader produced no batches")
    acc = correct.item() / seen if classified else math.nan
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
    """Train ``model`` on one pass over ``loader``; return the mean ``loss`` and ``acc`` of that pass.

    The loop of chapter 8, plus: batches are moved to ``device`` (the model must already
    be there; [`fit`][torchprimer.train.fit] moves it); ``scheduler``, if given, is stepped
    after every batch (schedules such as ``OneCycleLR`` are defined per step);
    ``max_batches`` stops the pass early; ``progress`` shows a bar labelled
    ``description``. ``loss_fn`` must average over the batch (the default of PyTorch
    losses). The result also holds ``samples``, the number of examples seen; ``acc`` is
    NaN when the targets are not class indices.
    """
    _check_max_batches(max_batches)
    batches, total = _first_batches(loader, max_batches)
    model.train()
    total_loss, seen = 0.0, 0
    # Correct predictions are counted as in chapter 8, but summed on the device and read
    # once at the end: an .item() per batch would make a GPU wait for every batch.
    correct, classified = torch.zeros((), dtype=torch.long, device=device), False
    bar = tqdm(batches, total=total, desc=description, leave=False, dynamic_ncols=True, disable=not progress)
    for step, (x, y) in enumerate(bar, 1):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.item() * len(y)  # a Python float: the graph can be freed
        seen += len(y)
        if _classifies(logits, y):
            correct += (logits.argmax(dim=1) == y).sum()
            classified = True
        if progress and step % 20 == 0:  # the bar shows the running loss, refreshed every 20 batches
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
    bar.close()
    return _result(total_loss, correct, seen, classified)


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
    under ``torch.no_grad()``; the model stays in eval mode. The result also holds
    ``samples``. Batches are moved to ``device``; the model must already be there.
    """
    _check_max_batches(max_batches)
    batches, _ = _first_batches(loader, max_batches)
    model.eval()
    total_loss, seen = 0.0, 0
    correct, classified = torch.zeros((), dtype=torch.long, device=device), False
    with torch.no_grad():
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * len(y)
            seen += len(y)
            if _classifies(logits, y):
                correct += (logits.argmax(dim=1) == y).sum()
                classified = True
    return _result(total_loss, correct, seen, classified)


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


def _shuffling_generator(loader: Batches) -> torch.Generator | None:
    """The generator a DataLoader or TensorLoader shuffles with, if it was given one."""
    if isinstance(loader, (DataLoader, TensorLoader)) and isinstance(loader.generator, torch.Generator):
        return loader.generator
    return None


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
    """Train for ``epochs`` epochs, validating on ``val_loader`` after each; return their metrics.

    The result is a [`History`][torchprimer.train.History], one dict of metrics per epoch.

    ``val_loader`` is a *validation* split: examples held out of the training data to
    compare epochs and settings on. It is never the test split, which is evaluated once,
    after all choices are made (with [`evaluate`][torchprimer.train.evaluate]).

    Under ``torchrun`` (several processes, see [`torchprimer.distributed`][torchprimer.distributed])
    the same call trains one model on all of them:

    - it joins the process group if the program has not (``gloo`` on CPU, ``nccl`` on
      CUDA, each rank on GPU ``LOCAL_RANK``); a group ``fit`` started it also ends when
      training finishes, a group the program started is left to the program. After an
      error the group is left as it is: the process ends, torchrun stops the other
      ranks, and no rank waits longer than the timeout of [`start`][torchprimer.distributed.start];
    - the model is wrapped in ``DistributedDataParallel``; each rank trains on its own
      shard of every epoch (``train_loader`` must be a ``DataLoader`` or a ``TensorLoader``;
      its batch size is per rank);
    - validation is sharded too, each example evaluated by one rank, after rank 0's
      batch norm statistics are copied to all; loss and accuracy of training and
      validation are summed over the ranks, so every rank returns the same history,
      equal to one process evaluating the whole split;
    - only rank 0 shows progress, prints, calls ``on_epoch_end``, logs to TensorBoard and
      writes checkpoints, which hold the unwrapped model and load in a single process.
      On resume every rank loads the file; exact resume assumes all ranks were seeded alike.

    Args:
        epochs: total number of epochs, counting those done before a resume.
        scheduler: a learning-rate scheduler, stepped once per epoch, or after every batch
            with ``scheduler_interval="batch"``. ``ReduceLROnPlateau`` gets ``val/loss``.
        device: where to train; ``None`` picks CUDA, MPS or CPU ([`select_device`][torchprimer.utils.select_device]).
            The model is moved there; batches are moved as they come.
        max_batches: cut every training and validation pass to this many batches (a smoke run).
        progress: show a progress bar per epoch and print one line of metrics per epoch
            (rank 0 only under torchrun).
        log_dir: if given, write every epoch's metrics to TensorBoard there.
        checkpoint_path: if given, save a checkpoint there after every epoch (atomically).
        resume: continue from ``checkpoint_path`` if that file exists: weights, optimizer,
            scheduler, history and random state are restored, so the result equals that of
            a run never interrupted. Starts from scratch when the file does not exist yet.
        on_epoch_end: called with each epoch's metrics dict after its checkpoint is saved,
            e.g. to print or plot it (on rank 0 only under torchrun).

    Raises:
        ValueError: for a bad argument, a ``ReduceLROnPlateau`` stepped per batch (it needs
            the epoch's validation loss), a checkpoint already past ``epochs``, or (under
            torchrun) a DataLoader that cannot be split between the ranks.
        TypeError: under torchrun, a loader that is neither a DataLoader nor a TensorLoader.
    """
    # Every argument is checked here, before any work.
    if epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if plateau and scheduler_interval == "batch":
        raise ValueError(
            "ReduceLROnPlateau steps on the validation loss, once per epoch: use scheduler_interval='epoch'"
        )
    _check_max_batches(max_batches)
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path to resume from")
    if distributed.launched_by_torchrun():  # each rank will train on its own part of the data
        distributed.check_shardable(train_loader, "training")
        distributed.check_shardable(val_loader, "validation")

    device = select_device() if device is None else torch.device(device)
    device = distributed.device_for_rank(device)
    started_group = distributed.start(device)
    history = _fit(
        model,
        train_loader,
        val_loader,
        loss_fn,
        optimizer,
        epochs=epochs,
        scheduler=scheduler,
        batch_scheduler=scheduler if scheduler_interval == "batch" else None,
        plateau=plateau,
        device=device,
        max_batches=max_batches,
        progress=progress,
        log_dir=log_dir,
        checkpoint_path=checkpoint_path,
        resume=resume,
        on_epoch_end=on_epoch_end,
    )
    # Only on success: after an error the process ends, and the group with it, while the
    # other ranks are stopped by torchrun (or fail at the timeout).
    if started_group:
        distributed.stop()
    return history


def _fit(
    model: nn.Module,
    train_loader: Batches,
    val_loader: Batches,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    scheduler: Any | None,
    batch_scheduler: Any | None,
    plateau: bool,
    device: torch.device,
    max_batches: int | None,
    progress: bool,
    log_dir: str | Path | None,
    checkpoint_path: str | Path | None,
    resume: bool,
    on_epoch_end: Callable[[dict[str, Any]], None] | None,
) -> History:
    """The loop of [`fit`][torchprimer.train.fit], its arguments already checked."""
    parallel = distributed.is_distributed()
    main = distributed.is_main_process()  # the one process that shows, logs and saves
    if isinstance(model, nn.parallel.DistributedDataParallel):  # wrapped already: fit wraps it itself
        model = model.module
    model.to(device)
    generator = _shuffling_generator(train_loader)  # saved with the checkpoint too
    if parallel:  # agreed on before a resume replaces the random state
        seed = generator.initial_seed() if generator is not None else torch.initial_seed()
        seed = distributed.shared_seed(seed % 2**63)

    history = History()
    if resume and Path(checkpoint_path).exists():  # type: ignore[arg-type]
        state = load_checkpoint(
            checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler, generator=generator
        )  # type: ignore[arg-type]
        history = History(state["history"][: state["epoch"]])
        if len(history) > epochs:
            raise ValueError(
                f"checkpoint {str(checkpoint_path)!r} has already trained {len(history)} epochs, "
                f"more than epochs={epochs}: "
                "pass the total number of epochs, counting those done before the resume"
            )

    trained = model  # what the training pass runs: the model, or its DistributedDataParallel wrapper
    if parallel:
        train_loader = distributed.shard_for_training(train_loader, seed)  # type: ignore[arg-type]
        val_loader = distributed.shard_for_evaluation(val_loader)  # type: ignore[arg-type]
        trained = distributed.wrap(model, device)

    writing = log_dir is not None and main
    with tensorboard_writer(log_dir) if writing else contextlib.nullcontext() as writer:  # type: ignore[arg-type]
        for epoch in range(len(history) + 1, epochs + 1):
            if parallel:
                distributed.set_epoch(train_loader, epoch)  # type: ignore[arg-type]
            train = train_one_epoch(
                trained,
                train_loader,
                loss_fn,
                optimizer,
                device=device,
                scheduler=batch_scheduler,
                max_batches=max_batches,
                progress=progress and main,
                description=f"epoch {epoch}/{epochs}",
            )
            lr = optimizer.param_groups[0]["lr"]
            distributed.sync_buffers(model)  # these three lines do nothing in a single process
            train = distributed.all_reduce_metrics(train)
            val = distributed.all_reduce_metrics(
                evaluate(model, val_loader, loss_fn, device=device, max_batches=max_batches)
            )
            if scheduler is not None and batch_scheduler is None:
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
            if not main:
                continue
            if writer is not None:
                log_metrics(writer, entry, step=epoch)
                writer.flush()
            if checkpoint_path is not None:
                save_checkpoint(
                    checkpoint_path,
                    model=model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    epoch=epoch,
                    history=history,
                    generator=generator,
                )
            if progress:
                tqdm.write(format_metrics(entry, epochs))
            if on_epoch_end is not None:
                on_epoch_end(entry)
    return history
