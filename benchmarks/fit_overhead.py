"""Cost of ``torchprimer.train.fit`` compared with a bare hand-written loop doing the same work.

Both train the same model from the same seed on the same preloaded MNIST slice for one
epoch and then evaluate on validation images held out of the training split. Repetitions
are interleaved (bare, fit, fit, bare, ...) so that a change in machine load hits both
alike; the ratio of the medians is the overhead of the package loop (the goal: at most 1.05).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import median
from torchprimer.data import TensorLoader, preload_mnist
from torchprimer.models import MnistCNN
from torchprimer.train import fit

NAME = "fit_overhead"
TITLE = "Overhead of fit over a bare training loop"


def bare_loop(model: nn.Module, train, val, loss_fn, optimizer) -> float:
    """The loop a tutorial writes by hand: train one epoch, then validate; returns the validation accuracy."""
    model.train()
    running = 0.0
    for images, labels in train:
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item()
    model.eval()
    correct, val_loss = 0, 0.0
    with torch.no_grad():
        for images, labels in val:
            logits = model(images)
            val_loss += loss_fn(logits, labels).item()
            correct += (logits.argmax(1) == labels).sum().item()
    return correct / sum(len(labels) for _, labels in val)


def with_fit(model: nn.Module, train, val, loss_fn, optimizer) -> float:
    return fit(model, train, val, loss_fn, optimizer, epochs=1, device="cpu", progress=False).last["val/acc"]


def run(root: Path, quick: bool, train_images: int = 15_360, repetitions: int = 5) -> dict:
    """Time both loops ``repetitions`` times each, interleaved; the result for the JSON file."""
    if quick:
        train_images, repetitions = 1024, 2
    full_train = preload_mnist(root, train=True, batch_size=128)
    times: dict[str, list[float]] = {"bare": [], "fit": []}
    for loop in (bare_loop, with_fit):  # untimed warm-up: the first pass in a process pays one-off setup costs
        warm = TensorLoader(full_train.images[:512], full_train.labels[:512], 128)
        model = MnistCNN()
        loop(model, warm, warm, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters()))
    accuracy: dict[str, float] = {}
    for rep in range(repetitions):
        order = ("bare", "fit") if rep % 2 == 0 else ("fit", "bare")
        for kind in order:
            torch.manual_seed(rep)
            train = TensorLoader(full_train.images[:train_images], full_train.labels[:train_images], 128, shuffle=True)
            val = TensorLoader(full_train.images[-2000:], full_train.labels[-2000:], 1000)  # never trained on
            model = MnistCNN()
            optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
            loop = bare_loop if kind == "bare" else with_fit
            start = time.perf_counter()
            accuracy[kind] = loop(model, train, val, nn.CrossEntropyLoss(), optimizer)
            times[kind].append(time.perf_counter() - start)
    bare = median(times["bare"])
    rows = [
        {
            "loop": label,
            "median_s": round(median(times[kind]), 3),
            "min_s": round(min(times[kind]), 3),
            "ratio": round(median(times[kind]) / bare, 3),
            "val_acc": round(100 * accuracy[kind], 2),
        }
        for kind, label in (("bare", "bare hand-written loop"), ("fit", "torchprimer fit"))
    ]
    for row in rows:
        print(f"  {row}", flush=True)
    return {
        "columns": [
            {"key": "loop", "label": "Loop"},
            {"key": "median_s", "label": "Median time (s)"},
            {"key": "min_s", "label": "Best time (s)"},
            {"key": "ratio", "label": "Time / bare loop"},
            {"key": "val_acc", "label": "Validation accuracy, last run (%)"},
        ],
        "rows": rows,
        "notes": (
            f"MnistCNN, Adam lr 3e-3, one epoch over {train_images:,} preloaded MNIST training images "
            "(batch 128), then 2,000 validation images held out of the training split (the last 2,000); "
            f"{repetitions} interleaved repetitions each, "
            "same seed per repetition for both loops, after one untimed warm-up pass of each. "
            "fit also counts training accuracy."
        ),
    }
