# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # CIFAR-10 end to end
#
# Colour photos in ten classes, with the `torchprimer` package: load CIFAR-10, train the
# lesson's CNN and the improved `CifarCNN` side by side with `fit`, evaluate both on the
# test split, and look at per-class results. The CIFAR-10 tutorial chapter explains each
# step, including the four mistakes of the original lesson that this pipeline avoids.
#
# **Data switch.** With the environment variable `PRIMER_SYNTHETIC_CIFAR=1` the notebook
# runs on an explicit synthetic stand-in with CIFAR-10's shapes (3x32x32 images, 10
# classes); the site's own build does this, because it has no network. Without it, the
# real CIFAR-10 is downloaded into `TORCHPRIMER_DATA` (or `data/`) on first use. The first
# output line below says which one ran.
#
# **Scale.** 1,536 training images, three epochs, so that it runs in well under a minute
# on a laptop CPU. Set `TRAIN_IMAGES = None` and raise `EPOCHS` for a real run (a GPU helps).

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from torchprimer.data import cifar10, synthetic_cifar10
from torchprimer.metrics import confusion_matrix
from torchprimer.models import CifarCNN, CifarLessonCNN
from torchprimer.train import fit
from torchprimer.utils import seed_everything

SYNTHETIC = os.environ.get("PRIMER_SYNTHETIC_CIFAR") == "1"
ROOT = os.environ.get("TORCHPRIMER_DATA", "data")
TRAIN_IMAGES = 1_536  # None: all 50,000
TEST_IMAGES = 1_000   # None: all 10,000
EPOCHS = 3
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
seed_everything(0)

if SYNTHETIC:
    print("DATA: SYNTHETIC stand-in for CIFAR-10 (PRIMER_SYNTHETIC_CIFAR=1): random patterns "
          "with CIFAR-10's shapes, not photos. The accuracies below are not CIFAR-10 results.")
    data = synthetic_cifar10(4_000, seed=0)  # one set, so both splits share the class patterns
    train_set, test_set = Subset(data, range(3_000)), Subset(data, range(3_000, 4_000))
else:
    print("DATA: the real CIFAR-10, from", ROOT)
    train_set = cifar10(ROOT, train=True, download=True)
    test_set = cifar10(ROOT, train=False, download=True)


def first(dataset, count):
    """A fixed random `count` examples of `dataset` (all of them for None)."""
    if count is None or count >= len(dataset):
        return dataset
    return Subset(dataset, torch.randperm(len(dataset))[:count].tolist())


train_loader = DataLoader(first(train_set, TRAIN_IMAGES), batch_size=64, shuffle=True)
test_loader = DataLoader(first(test_set, TEST_IMAGES), batch_size=250)
images, labels = next(iter(train_loader))
print("batch:", tuple(images.shape), "| training batches per epoch:", len(train_loader))
assert images.shape[1:] == (3, 32, 32)

# %%
fig, axes = plt.subplots(1, 8, figsize=(7, 1.6))
for ax, image, label in zip(axes, images, labels):
    shown = (image - image.min()) / (image.max() - image.min())  # rescale to [0, 1] for display
    ax.imshow(shown.permute(1, 2, 0).numpy())
    ax.set_title(CLASSES[label], fontsize=7)
    ax.axis("off")
fig.suptitle("Training images" + (" (synthetic stand-in)" if SYNTHETIC else ""))
plt.show()

# %% [markdown]
# ## Two models, one recipe
#
# `CifarLessonCNN` is the lesson's `Sequential` network kept as written: three 5x5
# convolutions and two linear layers with no activation function in between.
# `CifarCNN` adds ReLU and batch normalization after every convolution and dropout
# before the classifier. Both train with SGD and momentum, and a `StepLR` schedule
# stepped once per epoch (`fit`'s default `scheduler_interval="epoch"`).

# %%
histories = {}
for name, make in (("lesson", CifarLessonCNN), ("improved", CifarCNN)):
    seed_everything(0)
    model = make()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    start = time.perf_counter()
    histories[name] = fit(model, train_loader, test_loader, nn.CrossEntropyLoss(), optimizer,
                          epochs=EPOCHS, scheduler=scheduler, device="cpu", progress=False)
    last = histories[name].last
    print(f"{name:>8} ({sum(p.numel() for p in model.parameters()):,} parameters): "
          f"{time.perf_counter() - start:.1f} s, train loss {last['train/loss']:.3f}, "
          f"test accuracy {last['val/acc']:.1%}, learning rates {histories[name].column('lr')}")
    if name == "improved":
        improved = model

assert histories["improved"].last["train/loss"] < histories["lesson"].last["train/loss"]

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3))
for name, history in histories.items():
    left.plot(history.column("epoch"), history.column("train/loss"), marker="o", label=name)
    right.plot(history.column("epoch"), history.column("val/acc"), marker="o", label=name)
left.set(title="Training loss", xlabel="epoch", xticks=range(1, EPOCHS + 1))
right.set(title="Test accuracy", xlabel="epoch", xticks=range(1, EPOCHS + 1))
left.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Per-class results of the improved model

# %%
improved.eval()
predictions, targets = [], []
with torch.no_grad():
    for images, labels in test_loader:
        predictions.append(improved(images).argmax(dim=1))
        targets.append(labels)
matrix = confusion_matrix(torch.cat(predictions), torch.cat(targets), num_classes=10)
per_class = matrix.diag() / matrix.sum(dim=1).clamp(min=1)

fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(CLASSES, per_class.tolist(), color="tab:blue")
ax.set(title="Test accuracy per class (improved model)", ylabel="accuracy", ylim=(0, 1))
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()
plt.show()
print(f"overall test accuracy: {matrix.diag().sum().item() / matrix.sum().item():.1%}")

# %% [markdown]
# ## Try next
#
# - Train on all the data (`TRAIN_IMAGES = None`, `TEST_IMAGES = None`) for 20 epochs with
#   `step_size=10`, on a GPU if you have one (`device="cuda"`).
# - `cifar10(ROOT, train=True, augment=True)` adds random crops and flips to the training
#   images: compare the gap between training loss and test accuracy with and without.
