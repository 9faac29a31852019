"""MNIST epoch time: torchvision ``DataLoader`` with PIL transforms vs tensors preloaded in memory.

"Data only" iterates one epoch of batches without a model: the pure cost of producing
them. "Training" runs MnistCNN on a fixed number of batches from each source and scales
the time to a full epoch of 469 batches, so the difference the data path makes to
training shows up next to it.
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from torchprimer.data import mnist, preload_mnist
from torchprimer.models import MnistCNN
from torchprimer.train import train_one_epoch

NAME = "data_loading"
TITLE = "MNIST data loading: DataLoader + PIL vs preloaded tensors"


def _iterate(loader, batches: int | None) -> int:
    count = 0
    for _images, labels in itertools.islice(loader, batches):
        count += labels.shape[0]
    return count


def run(root: Path, quick: bool, train_batches: int = 150) -> dict:
    """Time both data paths; the result for the JSON file."""
    data_batches = 40 if quick else None  # None: a whole epoch
    train_batches = 10 if quick else train_batches
    rows = []
    for label in ("DataLoader + PIL ToTensor/Normalize", "preloaded tensors (preload_mnist)"):
        torch.manual_seed(0)
        start = time.perf_counter()
        if label.startswith("DataLoader"):
            loader = DataLoader(mnist(root, train=True), batch_size=128, shuffle=True, num_workers=0)
        else:
            loader = preload_mnist(root, train=True, batch_size=128)
        setup = time.perf_counter() - start
        per_epoch = len(loader)
        start = time.perf_counter()
        images = _iterate(loader, data_batches)
        data_s = (time.perf_counter() - start) * per_epoch / math.ceil(images / 128)
        model = MnistCNN()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        start = time.perf_counter()
        train_one_epoch(model, loader, nn.CrossEntropyLoss(), optimizer, max_batches=train_batches)
        train_s = (time.perf_counter() - start) * per_epoch / train_batches
        rows.append(
            {
                "loader": label,
                "setup_s": round(setup, 2),
                "data_epoch_s": round(data_s, 2),
                "train_epoch_s": round(train_s, 1),
            }
        )
        print(f"  {rows[-1]}", flush=True)
    for row in rows:
        row["speedup"] = round(rows[0]["train_epoch_s"] / row["train_epoch_s"], 2)
    return {
        "columns": [
            {"key": "loader", "label": "Data path"},
            {"key": "setup_s", "label": "Setup (s)"},
            {"key": "data_epoch_s", "label": "Data only, per epoch (s)"},
            {"key": "train_epoch_s", "label": "Training, per epoch (s)"},
            {"key": "speedup", "label": "Training speed-up"},
        ],
        "rows": rows,
        "notes": (
            "60,000 training images, batch 128, shuffled, num_workers=0 (the main process does the work). "
            + ("Data only: 40 batches scaled to an epoch. " if quick else "Data only: one full epoch. ")
            + f"Training: MnistCNN with Adam on {train_batches} batches, scaled to 469 batches (one epoch). "
            "Setup: opening the dataset; for preloaded tensors it includes converting all images once."
        ),
    }
