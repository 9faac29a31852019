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
# Colour photos in ten classes, with the `torchprimer` package: load CIFAR-10, hold out a
# validation split of training images, train three versions of the lesson's CNN side by
# side with `fit` (as written, with ReLU, and with ReLU and batch normalization), choose
# one on the validation split, test it once, and look at its per-class results. The
# CIFAR-10 tutorial chapter explains each step, including the mistakes of the original
# lesson that this pipeline avoids.
#
# **Data switch.** With the environment variable `TORCHPRIMER_SYNTHETIC_CIFAR=1` the
# notebook runs on an explicit synthetic stand-in with CIFAR-10's shapes (3x32x32 images,
# 10 classes); the site's own build does this, because it has no network. Each stand-in
# class is one colour, shown multiplied by a random sign plus noise, so no model that is
# linear in its input can separate the classes (`torchprimer.data.synthetic_cifar10`
# explains it). Without the variable, the real CIFAR-10 is downloaded into
# `TORCHPRIMER_DATA` (or `data/`) on first use. The first output line below says which
# one ran.
#
# **Scale.** 512 training images, 256 validation images, four epochs, so that it runs in
# well under a minute on a laptop CPU. Set `TRAIN_IMAGES = None` and raise `EPOCHS` for a
# real run (a GPU helps).

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset, random_split

from torchprimer.data import cifar10, synthetic_cifar10
from torchprimer.metrics import confusion_matrix
from torchprimer.models import CifarLessonCNN
from torchprimer.train import evaluate, fit
from torchprimer.utils import seed_everything

SYNTHETIC = os.environ.get("TORCHPRIMER_SYNTHETIC_CIFAR") == "1"
ROOT = os.environ.get("TORCHPRIMER_DATA", "data")
TRAIN_IMAGES = 512  # None: every training image not held out for validation
VAL_IMAGES = 256    # training images held out to compare the models on
TEST_IMAGES = 1_000  # None: all 10,000
EPOCHS = 4
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
seed_everything(0)

if SYNTHETIC:
    print("DATA: SYNTHETIC stand-in for CIFAR-10 (TORCHPRIMER_SYNTHETIC_CIFAR=1): signed class "
          "colours plus noise, not photos. The accuracies below are not CIFAR-10 results.")
    train_set = synthetic_cifar10(3_000, seed=0)
    test_set = synthetic_cifar10(1_000, seed=1)  # another draw of the same ten classes
else:
    print("DATA: the real CIFAR-10, from", ROOT)
    train_set = cifar10(ROOT, train=True, download=True)
    test_set = cifar10(ROOT, train=False, download=True)

split_generator = torch.Generator().manual_seed(0)
train_count = len(train_set) - VAL_IMAGES if TRAIN_IMAGES is None else TRAIN_IMAGES
used = torch.randperm(len(train_set), generator=split_generator)[: train_count + VAL_IMAGES]
train_part, val_part = random_split(Subset(train_set, used.tolist()), [train_count, VAL_IMAGES],
                                    generator=split_generator)
test_count = len(test_set) if TEST_IMAGES is None else TEST_IMAGES
test_part = Subset(test_set, torch.randperm(len(test_set), generator=split_generator)[:test_count].tolist())

train_loader = DataLoader(train_part, batch_size=64, shuffle=True,
                          generator=torch.Generator().manual_seed(0))
val_loader = DataLoader(val_part, batch_size=256)
test_loader = DataLoader(test_part, batch_size=250)  # used once, at the end
images, labels = next(iter(train_loader))
print("batch:", tuple(images.shape), "| training batches per epoch:", len(train_loader),
      "| validation images:", len(val_part), "| test images:", len(test_part))
assert images.shape[1:] == (3, 32, 32)
assert set(train_part.indices).isdisjoint(val_part.indices)

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
# ## Three versions, one recipe
#
# `CifarLessonCNN` is the lesson's `Sequential` network kept as written: three 5x5
# convolutions, each followed by a max pool, and two linear layers, with no activation
# function anywhere. The two repairs keep its shape: one adds a ReLU after each
# convolution and between the linear layers, the other also adds batch normalization
# after each convolution. All three train with Adam and a `StepLR` schedule that divides
# the learning rate by ten after epoch 3, stepped once per epoch (`fit`'s default
# `scheduler_interval="epoch"`), and are validated after every epoch.

# %%
def repaired_cnn(batch_norm: bool) -> nn.Sequential:
    """The lesson's layers with a ReLU after every convolution and hidden linear layer."""
    def block(in_channels: int, out_channels: int) -> list[nn.Module]:
        norm = [nn.BatchNorm2d(out_channels)] if batch_norm else []
        return [nn.Conv2d(in_channels, out_channels, 5, padding=2), *norm, nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(3, 32), *block(32, 32), *block(32, 64), nn.Flatten(),
                         nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10))


versions = {
    "lesson (no activation)": CifarLessonCNN,
    "with ReLU": lambda: repaired_cnn(batch_norm=False),
    "with ReLU and batch norm": lambda: repaired_cnn(batch_norm=True),
}
histories, models = {}, {}
for name, make in versions.items():
    seed_everything(0)
    model = make()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.1)
    start = time.perf_counter()
    histories[name] = fit(model, train_loader, val_loader, nn.CrossEntropyLoss(), optimizer,
                          epochs=EPOCHS, scheduler=scheduler, device="cpu", progress=False)
    models[name] = model
    print(f"{name}: trained in {time.perf_counter() - start:.1f} s, "
          f"learning rate per epoch {histories[name].column('lr')}")

print()
print(f"{'model':<26}{'parameters':>11}{'train loss':>12}{'val loss':>10}{'val accuracy':>14}")
for name, history in histories.items():
    size = sum(p.numel() for p in models[name].parameters())
    last = history.last
    print(f"{name:<26}{size:>11,}{last['train/loss']:>12.3f}{last['val/loss']:>10.3f}{last['val/acc']:>14.1%}")

lesson_acc = histories["lesson (no activation)"].last["val/acc"]
if SYNTHETIC:  # on the stand-in, a non-linearity is what separates the classes
    assert histories["with ReLU"].last["val/acc"] > lesson_acc + 0.1
    assert histories["with ReLU and batch norm"].last["val/acc"] > lesson_acc + 0.1

# %% [markdown]
# The table puts the three versions side by side, each on the same validation images:
# the training loss (averaged over the last epoch, while the model trained) says how well
# a version fits the images it learns from; the validation loss and accuracy say how it
# does on held-out images. The two are different quantities, so the curves below draw
# them on separate axes. On the stand-in, the versions with ReLU are far ahead at this
# small scale; with more training images the lesson network narrows the gap (its max
# pools, the zero padding at the image borders and the noise give it a little
# non-linearity to work with), so the comparison is clearest here, with few images.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3))
for name, history in histories.items():
    left.plot(history.column("epoch"), history.column("train/loss"), marker="o", label=name)
    right.plot(history.column("epoch"), history.column("val/acc"), marker="o", label=name)
left.set(title="Training loss", xlabel="epoch", xticks=range(1, EPOCHS + 1))
right.set(title="Validation accuracy", xlabel="epoch", xticks=range(1, EPOCHS + 1), ylim=(0, 1))
left.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Choose on validation, test once
#
# The version with the best validation accuracy is kept, and only that one is evaluated
# on the test split, once. Its per-class results come from the same test images.

# %%
best = max(histories, key=lambda name: histories[name].last["val/acc"])
chosen = models[best]
test = evaluate(chosen, test_loader, nn.CrossEntropyLoss(), device="cpu")
print(f"chosen on validation: {best}")
print(f"test accuracy: {test['acc']:.1%} (test loss {test['loss']:.3f}) on {test['samples']} images")
if SYNTHETIC:
    assert best != "lesson (no activation)"

predictions, targets = [], []
with torch.no_grad():  # evaluate() left the model in evaluation mode
    for images, labels in test_loader:
        predictions.append(chosen(images).argmax(dim=1))
        targets.append(labels)
matrix = confusion_matrix(torch.cat(predictions), torch.cat(targets), num_classes=10)
per_class = matrix.diag() / matrix.sum(dim=1).clamp(min=1)
assert abs(matrix.diag().sum().item() / matrix.sum().item() - test["acc"]) < 1e-6

fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(CLASSES, per_class.tolist(), color="tab:blue")
ax.set(title=f"Test accuracy per class ({best})", ylabel="accuracy", ylim=(0, 1))
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Try next
#
# - Train on all the data (`TRAIN_IMAGES = None`, `TEST_IMAGES = None`) for 20 epochs with
#   `step_size=10`, on a GPU if you have one (`device="cuda"`).
# - Add `torchprimer.models.CifarCNN` (3x3 convolutions, more channels, dropout) to
#   `versions` and compare it on the validation split.
# - `cifar10(ROOT, train=True, augment=True)` adds random crops and flips to the training
#   images: compare the training accuracy (`train/acc`) with the validation accuracy
#   (`val/acc`) with and without it.
