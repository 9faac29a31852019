"""One MNIST epoch in one process against two DistributedDataParallel processes, on the CPU.

Both configurations train ``MnistCNN`` for one epoch of the preloaded MNIST training set
under the same recipe (Adam + one-cycle schedule, the same global batch of 128, the same
order of examples) and are launched the same way, by ``torchrun`` in a subprocess:

* 1 process with 2 threads (global batch 128 in one process);
* 2 processes with 1 thread each (64 examples per process per step; DDP averages the
  gradients, so each step uses the same 128 examples as the single process).

The epoch time is measured inside the job, from a barrier before the first batch to a
barrier after the last; the job time is the whole ``torchrun`` command, start-up and data
loading included. Rank 0 then tests the model on the test split. The configurations
alternate (1, 2, 2, 1, ...) so that a change in machine load hits both alike.

Run as a script with ``--worker`` (as ``torchrun`` does), this file is the training job.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import torch

NAME = "ddp_scaling"
TITLE = "One MNIST epoch: one process against two DDP processes on the CPU"

#: (processes, threads per process): the same two cores used two ways.
CONFIGS = ((1, 2), (2, 1))
GLOBAL_BATCH = 128  # examples per optimizer step, over all processes
MAX_LR = 6e-3  # peak learning rate of OneCycleLR, as in mnist_time_to_accuracy
SEED = 0
JOB_TIMEOUT_S = 1800


def run(root: Path, quick: bool, repetitions: int = 2) -> dict:
    """Time both configurations ``repetitions`` times each, interleaved; the result for the JSON file."""
    from torchprimer.data import preload_mnist

    if quick:
        repetitions = 1
    train = preload_mnist(root, train=True)
    test = preload_mnist(root, train=False)
    if quick:  # a smoke run: a slice of the data
        train.images, train.labels = train.images[:2048], train.labels[:2048]
        test.images, test.labels = test.images[:1000], test.labels[:1000]
    scratch = Path(tempfile.mkdtemp(prefix="torchprimer-bench-ddp-"))
    try:
        data = scratch / "mnist.pt"
        torch.save({"train_images": train.images, "train_labels": train.labels,
                    "test_images": test.images, "test_labels": test.labels}, data)  # fmt: skip
        measured: dict[tuple[int, int], list[dict]] = {config: [] for config in CONFIGS}
        for rep in range(repetitions):
            for config in CONFIGS if rep % 2 == 0 else CONFIGS[::-1]:
                measured[config].append(_launch(config, data, scratch / f"result-{rep}-{config[0]}.json"))
                print(f"  {config[0]} process(es) x {config[1]} thread(s): {measured[config][-1]}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    base = statistics.median(r["epoch_s"] for r in measured[CONFIGS[0]])
    rows = []
    for (processes, threads), results in measured.items():
        epoch_s = statistics.median(r["epoch_s"] for r in results)
        label = f"{processes} process{'es' if processes > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        rows.append({
            "config": label,
            "per_process_batch": GLOBAL_BATCH // processes,
            "epoch_s": round(epoch_s, 2),
            "job_s": round(statistics.median(r["job_s"] for r in results), 2),
            "ratio": round(epoch_s / base, 3),
            "test_acc": round(100 * results[-1]["test_acc"], 2),
        })  # fmt: skip
    return {
        "columns": [
            {"key": "config", "label": "Processes x threads"},
            {"key": "per_process_batch", "label": "Batch per process"},
            {"key": "epoch_s", "label": "Epoch time (s)"},
            {"key": "ratio", "label": "Epoch time / 1 process"},
            {"key": "job_s", "label": "Whole job (s)"},
            {"key": "test_acc", "label": "Test accuracy (%)"},
        ],
        "rows": rows,
        "notes": (
            f"MnistCNN, one epoch of {train.images.shape[0]:,} preloaded MNIST training images, Adam + OneCycleLR "
            f"(max_lr {MAX_LR:g}), global batch {GLOBAL_BATCH} split evenly over the processes, the same order of "
            f"examples in both; gloo backend, launched with torchrun --standalone. Epoch time: barrier to barrier "
            f"inside the job, median of {repetitions} interleaved run(s); whole job: the torchrun command, start-up "
            f"and data loading included. Test accuracy on {test.images.shape[0]:,} test images, after the last run. "
            f"Batch norm normalizes each process's own half batch, so the two models differ slightly."
        ),
    }


def _launch(config: tuple[int, int], data: Path, out: Path) -> dict:
    """Run one training job under torchrun; its epoch time, test accuracy and whole-job time."""
    processes, threads = config
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(Path(__file__).resolve()), "--worker", "--data", str(data), "--out", str(out),
               "--threads", str(threads)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    job = subprocess.run(command, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, env=env, check=False)
    job_s = time.perf_counter() - start
    if job.returncode != 0:
        raise RuntimeError(f"the {processes}-process job failed (exit code {job.returncode}):\n{job.stderr[-3000:]}")
    return {**json.loads(out.read_text(encoding="utf-8")), "job_s": round(job_s, 2)}


def worker(data: Path, out: Path, threads: int) -> None:
    """The training job, one copy per rank: train one epoch with DDP; rank 0 tests and writes ``out``."""
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    from torchprimer.models import MnistCNN

    torch.set_num_threads(threads)
    dist.init_process_group(backend="gloo", timeout=timedelta(seconds=300))
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if GLOBAL_BATCH % world_size:
        raise ValueError(f"the global batch {GLOBAL_BATCH} must split evenly over {world_size} processes")
    tensors = torch.load(data, weights_only=True)
    images, labels = tensors["train_images"], tensors["train_labels"]

    # Whole global batches only, so every rank takes the same number of steps. Rank r takes
    # positions r, r + world_size, ... of one shared order: step k's examples are then those
    # of a single process's step k, whatever the number of processes.
    usable = images.shape[0] // GLOBAL_BATCH * GLOBAL_BATCH
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(SEED))[:usable]
    mine = order[rank::world_size]
    per_rank = GLOBAL_BATCH // world_size

    torch.manual_seed(SEED)
    model = DistributedDataParallel(MnistCNN())
    optimizer = torch.optim.Adam(model.parameters(), lr=MAX_LR)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, total_steps=usable // GLOBAL_BATCH)
    loss_fn = nn.CrossEntropyLoss()

    model.train()
    dist.barrier()
    start = time.perf_counter()
    for first in range(0, mine.numel(), per_rank):
        index = mine[first : first + per_rank]
        loss = loss_fn(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    dist.barrier()
    epoch_s = time.perf_counter() - start

    if rank == 0:
        net = model.module
        net.eval()
        test_images, test_labels = tensors["test_images"], tensors["test_labels"]
        correct = 0
        with torch.no_grad():
            for first in range(0, test_images.shape[0], 1000):
                logits = net(test_images[first : first + 1000])
                correct += (logits.argmax(dim=1) == test_labels[first : first + 1000]).sum().item()
        result = {
            "epoch_s": round(epoch_s, 2),
            "test_acc": correct / test_images.shape[0],
            "steps": usable // GLOBAL_BATCH,
        }
        temporary = out.with_suffix(".tmp")
        temporary.write_text(json.dumps(result), encoding="utf-8")
        os.replace(temporary, out)  # never a half-written result
    dist.barrier()
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the training job that torchrun starts (``--worker``)."""
    parser = argparse.ArgumentParser(description="the training job of the ddp_scaling benchmark (started by torchrun)")
    parser.add_argument("--worker", action="store_true", help="run as one rank of the job")
    parser.add_argument("--data", type=Path, required=True, help="tensors saved by run()")
    parser.add_argument("--out", type=Path, required=True, help="JSON file rank 0 writes its measurements to")
    parser.add_argument("--threads", type=int, required=True, help="torch threads per process")
    args = parser.parse_args(argv)
    if not args.worker or "RANK" not in os.environ:
        parser.error(
            "this is the benchmark's training job, started by torchrun with --worker; "
            "to run the benchmark, use `python -m benchmarks.run ddp_scaling` from the repository root"
        )
    worker(args.data, args.out, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
