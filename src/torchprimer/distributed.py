"""Training on several processes: which rank am I, my shard of the data, sums over all ranks.

``torchrun --nproc_per_node=N program.py`` starts ``N`` copies of ``program.py``. Each copy
is a *rank*: it finds its number in the environment variables ``RANK`` (0 to N-1, over
all machines), ``LOCAL_RANK`` (on this machine) and ``WORLD_SIZE`` (N), which torchrun
sets. The ranks join a *process group*, the channel through which they exchange tensors.
In *data parallel* training every rank holds the same model, trains it on its own part
(*shard*) of every batch, and ``DistributedDataParallel`` averages the gradients over the
ranks before each optimizer step, so all copies stay identical.

[`fit`][torchprimer.train.fit] uses these helpers when it finds itself started by
torchrun; a program run the usual way (one process) never touches them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import (
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Subset,
)

from torchprimer.data import TensorLoader

#: Seconds a rank waits for the others (to join, or in an exchange) before it gives up
#: with an error, unless the environment variable ``TORCHPRIMER_DIST_TIMEOUT`` says otherwise.
DEFAULT_TIMEOUT_S = 60
TIMEOUT_VARIABLE = "TORCHPRIMER_DIST_TIMEOUT"
_TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (its rank variables are set).

    False as well when this PyTorch build has no ``torch.distributed``.
    """
    return dist.is_available() and all(name in os.environ for name in _TORCHRUN_VARIABLES)


def is_distributed() -> bool:
    """Whether a process group is running, i.e. several ranks train together."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of ranks training together; 1 in a single process."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1``; 0 in a single process."""
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """Whether this is rank 0, the one rank that prints, logs and saves checkpoints.

    Before the process group starts it reads ``RANK`` from the environment, so a program
    can decide who prints from its first line on.
    """
    if is_distributed():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def timeout() -> timedelta:
    """How long a rank waits for the others: ``TORCHPRIMER_DIST_TIMEOUT`` seconds, default 60."""
    text = os.environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_VARIABLE} must be a positive number of seconds, got {text!r}")
    return timedelta(seconds=seconds)


def device_for_rank(device: torch.device) -> torch.device:
    """The device this rank computes on: with CUDA, GPU number ``LOCAL_RANK``; otherwise ``device``.

    One GPU per rank is the rule of ``DistributedDataParallel``; CPU ranks share the CPU.
    """
    if device.type != "cuda" or not launched_by_torchrun():
        return device
    return torch.device("cuda", int(os.environ["LOCAL_RANK"]))


def threads_per_process() -> int:
    """CPU threads one rank should use: the cores this process may run on, split evenly over
    the ranks of this machine (``LOCAL_WORLD_SIZE``), at least 1.

    Two ranks with two threads each on a two-core machine would fight over the cores.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def start(device: torch.device) -> bool:
    """Join the process group if torchrun started this process and no group is running yet.

    Uses the ``nccl`` backend for CUDA devices and ``gloo`` for the CPU, and the
    [`timeout`][torchprimer.distributed.timeout], so a rank whose partners never come (or
    died) fails with an error instead of waiting forever. Returns True when this call
    started the group: the caller then owns it and ends it with [`stop`][torchprimer.distributed.stop].
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=timeout())
    return True


def stop() -> None:
    """Leave the process group started by [`start`][torchprimer.distributed.start] (no-op if none runs)."""
    if is_distributed():
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` inside ``DistributedDataParallel``, which averages gradients over the ranks.

    Wrapping copies rank 0's weights to every rank, so all start alike. The wrapper's
    ``.module`` is ``model`` itself: save and evaluate that one.
    """
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shared_seed(seed: int) -> int:
    """Rank 0's ``seed``, sent to every rank, so all ranks shuffle with the same seed."""
    if not is_distributed():
        return seed
    value = torch.tensor([seed], dtype=torch.int64, device=_exchange_device())
    dist.broadcast(value, src=0)
    return int(value.item())


class TensorShard:
    """This rank's part of a [`TensorLoader`][torchprimer.data.TensorLoader], a new part every epoch.

    Each epoch the ranks draw the same order of all examples (a permutation from a
    generator seeded with ``seed + epoch``, or the stored order when the loader does not
    shuffle) and rank ``r`` takes positions ``r, r + world_size, r + 2 * world_size, ...``:
    the parts do not overlap and together cover the data. When the examples do not split
    evenly, the order is padded with its first few examples so that every rank gets as many
    batches (a rank with one batch more would wait forever for the others' gradients).
    Batches hold ``loader.batch_size`` examples per rank.
    """

    def __init__(self, loader: TensorLoader, seed: int) -> None:
        self.loader = loader
        self.seed = seed
        self.epoch = 0
        self.per_rank = math.ceil(loader.images.shape[0] / world_size())

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next pass uses (call it before every epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches per pass on this rank."""
        return math.ceil(self.per_rank / self.loader.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.loader.images.shape[0]
        if self.loader.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(n)
        padding = self.per_rank * world_size() - n  # fewer than world_size examples
        if padding:
            order = torch.cat([order, order.repeat(math.ceil(padding / n))[:padding]])
        mine = order[rank() :: world_size()].to(self.loader.images.device)
        for start in range(0, self.per_rank, self.loader.batch_size):
            index = mine[start : start + self.loader.batch_size]
            yield self.loader.images[index], self.loader.labels[index]


def check_shardable(loader: Any, role: str) -> None:
    """Refuse a loader that cannot be split between ranks, naming what is expected.

    Raises ``TypeError`` unless ``loader`` is a ``DataLoader`` or a
    [`TensorLoader`][torchprimer.data.TensorLoader], and ``ValueError`` for a
    ``DataLoader`` without a plain ``batch_size`` or over an ``IterableDataset``.
    ``role`` ("training", "validation") names the loader in the message.
    """
    if isinstance(loader, TensorLoader):
        return
    if not isinstance(loader, DataLoader):
        raise TypeError(
            f"under torchrun, the {role} loader must be a torch DataLoader or a torchprimer TensorLoader "
            f"so it can be split between the ranks, got {type(loader).__name__}"
        )
    if isinstance(loader.dataset, IterableDataset) or loader.batch_size is None:
        raise ValueError(
            f"under torchrun, the {role} DataLoader must read a map-style dataset with a batch_size "
            "(no IterableDataset, no batch_sampler), so it can be split between the ranks"
        )


def _like(loader: DataLoader, dataset: Any, sampler: Any = None) -> DataLoader:
    """A DataLoader with the settings of ``loader`` over ``dataset`` (and ``sampler``)."""
    return DataLoader(
        dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        worker_init_fn=loader.worker_init_fn,
        persistent_workers=loader.persistent_workers,
    )


def shard_for_training(loader: DataLoader | TensorLoader, seed: int) -> DataLoader | TensorShard:
    """This rank's part of the training data; call [`set_epoch`][torchprimer.distributed.set_epoch] before every epoch.

    A ``DataLoader`` is rebuilt around a ``DistributedSampler`` (which shuffles, with
    ``seed + epoch``, if the original loader shuffled); a ``DataLoader`` that already has a
    ``DistributedSampler`` is kept as it is. A ``TensorLoader`` becomes a
    [`TensorShard`][torchprimer.distributed.TensorShard]. Use the same ``seed`` on every rank
    ([`shared_seed`][torchprimer.distributed.shared_seed]).
    """
    check_shardable(loader, "training")
    if isinstance(loader, TensorLoader):
        return TensorShard(loader, seed)
    if isinstance(loader.sampler, DistributedSampler):
        return loader
    sampler = DistributedSampler(
        loader.dataset,
        num_replicas=world_size(),
        rank=rank(),
        shuffle=isinstance(loader.sampler, RandomSampler),
        seed=seed,
    )
    return _like(loader, loader.dataset, sampler)


def set_epoch(shard: DataLoader | TensorShard, epoch: int) -> None:
    """Make the next pass over ``shard`` use ``epoch``'s order.

    ``shard`` comes from [`shard_for_training`][torchprimer.distributed.shard_for_training].

    Without it every epoch would repeat the first epoch's order.
    """
    if isinstance(shard, TensorShard):
        shard.set_epoch(epoch)
    elif isinstance(shard.sampler, DistributedSampler):
        shard.sampler.set_epoch(epoch)


def shard_for_evaluation(loader: DataLoader | TensorLoader) -> DataLoader | TensorLoader:
    """This rank's part of the evaluation data: examples ``rank, rank + world_size, ...``, in order.

    The parts do not overlap and cover every example exactly once (no padding), so the
    metrics summed over the ranks ([`all_reduce_metrics`][torchprimer.distributed.all_reduce_metrics])
    are those of one process evaluating everything. Ranks may get a batch more or less:
    evaluation exchanges nothing until its end, so that is harmless.
    """
    check_shardable(loader, "validation")
    if isinstance(loader, TensorLoader):
        step = slice(rank(), None, world_size())
        return TensorLoader(loader.images[step], loader.labels[step], loader.batch_size)
    if isinstance(loader.sampler, DistributedSampler):
        return loader
    return _like(loader, Subset(loader.dataset, range(rank(), len(loader.dataset), world_size())))


def _exchange_device() -> torch.device:
    """Where tensors sent between ranks must be: the current GPU with nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_metrics(result: dict[str, float]) -> dict[str, float]:
    """Combine one pass's ``loss``, ``acc`` and ``samples`` of every rank into those of all data.

    Each rank sends its sums (``loss * samples``, correct predictions, ``samples``); every
    rank gets the totals back, so all report the same numbers. In a single process the
    result is returned unchanged. An accuracy that is NaN on any rank (regression) stays NaN.
    """
    if not is_distributed():
        return result
    n = result["samples"]
    no_acc = math.isnan(result["acc"])
    correct = 0.0 if no_acc else round(result["acc"] * n)
    sums = torch.tensor([result["loss"] * n, correct, n, float(no_acc)], dtype=torch.float64, device=_exchange_device())
    dist.all_reduce(sums)
    loss_sum, correct, seen, without_acc = sums.tolist()
    return {"loss": loss_sum / seen, "acc": math.nan if without_acc else correct / seen, "samples": int(seen)}


def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (batch norm's running statistics) to every rank.

    Gradients keep the weights identical, but each rank updates its running statistics
    with its own batches; after this call every rank evaluates, and rank 0 saves, the same
    model. A no-op in a single process.
    """
    if not is_distributed():
        return
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)
