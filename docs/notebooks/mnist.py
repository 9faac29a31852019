# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # MNIST end to end
#
# A complete digit classifier with the `torchprimer` package: load MNIST, hold out a
# validation split of training images, train the small convolutional network `MnistCNN`
# with `fit` while watching the validation split, test it once on the 10,000 test images,
# and look at its mistakes. Every step is explained in the MNIST tutorial chapter; this notebook
# puts them together in one place you can run and change.
#
# **Scale.** So that the notebook runs in well under a minute on a laptop CPU, it trains
# on a random 8,000 of the 60,000 training images for two epochs, and validates on 2,000
# others. Set `TRAIN_IMAGES = None` below to train on all the images that are not held out
# for validation (several times longer).

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

import torchprimer
from torchprimer.data import TensorLoader, preload_mnist
from torchprimer.metrics import confusion_matrix
from torchprimer.models import MnistCNN
from torchprimer.train import evaluate, fit
from torchprimer.utils import seed_everything

ROOT = os.environ.get("TORCHPRIMER_DATA", "data")  # where MNIST is, or is downloaded to
TRAIN_IMAGES = 8_000  # None: every training image not held out for validation
VAL_IMAGES = 2_000  # training images held out to watch training and choose on
EPOCHS = 2
seed_everything(0)
print("torchprimer", torchprimer.__version__, "| torch", torch.__version__.split("+")[0])

# %% [markdown]
# ## Data
#
# `preload_mnist` reads a split once, applies the same `ToTensor` and `Normalize` as the
# torchvision transforms, and keeps the result in memory as tensors: each epoch then just
# slices tensors instead of converting 60,000 images again. `download=True` fetches the
# four files the first time if they are not in `ROOT`. A seeded random order of the
# training images gives the validation split (the first `VAL_IMAGES`) and the images to
# train on (the rest, or the next `TRAIN_IMAGES`). The test split is only used at the end.

# %%
start = time.perf_counter()
train_all = preload_mnist(ROOT, train=True, download=True, batch_size=128)
test_loader = preload_mnist(ROOT, train=False, download=True, batch_size=1_000)

order = torch.randperm(len(train_all.images), generator=torch.Generator().manual_seed(0))
val_indices = order[:VAL_IMAGES]
train_indices = order[VAL_IMAGES:][:TRAIN_IMAGES] if TRAIN_IMAGES else order[VAL_IMAGES:]
train_loader = TensorLoader(train_all.images[train_indices], train_all.labels[train_indices],
                            batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0))
val_loader = TensorLoader(train_all.images[val_indices], train_all.labels[val_indices], batch_size=1_000)
print(f"loaded in {time.perf_counter() - start:.1f} s")
print("training images:", tuple(train_loader.images.shape), "| validation images:",
      tuple(val_loader.images.shape), "| test images:", tuple(test_loader.images.shape))
assert len(train_all.images) == 60_000 and len(train_loader.images) == (TRAIN_IMAGES or 60_000 - VAL_IMAGES)
assert len(set(train_indices.tolist()) & set(val_indices.tolist())) == 0
assert train_loader.images.shape[1:] == (1, 28, 28) and test_loader.images.shape[0] == 10_000

# %%
fig, axes = plt.subplots(2, 8, figsize=(7, 2))
for ax, image, label in zip(axes.flat, train_loader.images, train_loader.labels):
    ax.imshow(image.squeeze(0).numpy(), cmap="gray")
    ax.set_title(int(label), fontsize=9)
    ax.axis("off")
fig.suptitle("Training images and their labels")
plt.show()

# %% [markdown]
# ## Model and training
#
# `MnistCNN`: two 5x5 convolution blocks (16 and 32 channels, batch norm, ReLU, max-pool)
# and one linear layer; it returns logits for `nn.CrossEntropyLoss`.
#
# The optimizer is Adam, driven by a one-cycle schedule (`OneCycleLR`), which is designed
# to be stepped after every batch, hence `scheduler_interval="batch"`. The schedule owns
# the learning rate: it overwrites Adam's `lr` as soon as it is created, starting at
# `max_lr / 25`, rising to `max_lr`, then falling far below the start. So Adam is created
# without an `lr` of its own. With `cycle_momentum=True` (the default, written out here)
# it also moves Adam's first `beta` (its momentum): down from 0.95 while the learning
# rate rises, and back up to 0.95 while it falls.

# %%
model = MnistCNN()
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))

optimizer = torch.optim.Adam(model.parameters())  # no lr: OneCycleLR sets it at every step
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=6e-3, total_steps=EPOCHS * len(train_loader), cycle_momentum=True
)
print(f"first learning rate: {optimizer.param_groups[0]['lr']:.2e} (max_lr / 25), "
      f"Adam's beta1: {optimizer.param_groups[0]['betas'][0]}")
assert abs(optimizer.param_groups[0]["lr"] - 6e-3 / 25) < 1e-12
assert optimizer.param_groups[0]["betas"][0] == 0.95

start = time.perf_counter()
history = fit(
    model, train_loader, val_loader, nn.CrossEntropyLoss(), optimizer,
    epochs=EPOCHS, scheduler=scheduler, scheduler_interval="batch",
    device="cpu", progress=False,
)
print(f"trained in {time.perf_counter() - start:.1f} s")
for entry in history:
    print(f"epoch {entry['epoch']}: train loss {entry['train/loss']:.4f}, "
          f"val loss {entry['val/loss']:.4f}, val accuracy {entry['val/acc']:.2%}, lr {entry['lr']:.1e}")
assert history.last["val/acc"] > 0.95
assert history.last["lr"] < 6e-3 / 25  # annealed below where it started
assert abs(optimizer.param_groups[0]["betas"][0] - 0.95) < 1e-3  # beta1 back where it started

# %% [markdown]
# ## Test, once
#
# Training is over and nothing will be changed any more, so the test split is evaluated,
# once: `evaluate` gives its loss and accuracy, and the logits of the same model give the
# predictions for the confusion matrix, which counts, for each true digit (row), how often
# each digit was predicted (column). The diagonal holds the correct answers.

# %%
test = evaluate(model, test_loader, nn.CrossEntropyLoss(), device="cpu")
print(f"test accuracy: {test['acc']:.2%} (test loss {test['loss']:.4f})")
with torch.no_grad():  # evaluate() left the model in evaluation mode
    logits = torch.cat([model(images) for images, _ in test_loader])
predictions = logits.argmax(dim=1)
matrix = confusion_matrix(predictions, test_loader.labels, num_classes=10)
assert abs(matrix.diag().sum().item() / 10_000 - test["acc"]) < 1e-6

fig, ax = plt.subplots(figsize=(5, 4.5))
ax.imshow(matrix.log1p().numpy(), cmap="Blues")
for true in range(10):
    for guess in range(10):
        if matrix[true, guess]:
            ax.text(guess, true, int(matrix[true, guess]), ha="center", va="center", fontsize=7,
                    color="white" if true == guess else "black")
ax.set(title="Confusion matrix (test set)", xlabel="predicted", ylabel="true",
       xticks=range(10), yticks=range(10))
plt.show()

per_digit = matrix.diag() / matrix.sum(dim=1)
print("accuracy per digit:", {digit: f"{value:.1%}" for digit, value in enumerate(per_digit.tolist())})

# %% [markdown]
# The mistakes, with the probability the model gave its wrong answer (softmax of the
# logits, applied after the model):

# %%
probabilities = logits.softmax(dim=1)
wrong = (predictions != test_loader.labels).nonzero().flatten()
fig, axes = plt.subplots(2, 8, figsize=(7, 2.8))
for ax, index in zip(axes.flat, wrong[:16]):
    ax.imshow(test_loader.images[index].squeeze(0).numpy(), cmap="gray")
    ax.set_title(f"{int(test_loader.labels[index])} as {int(predictions[index])}\n"
                 f"p={probabilities[index].max():.2f}", fontsize=7)
    ax.axis("off")
fig.suptitle("Misclassified test digits: true as predicted")
fig.tight_layout()
plt.show()
print(len(wrong), "of 10,000 test images misclassified")

# %% [markdown]
# ## Training curves

# %%
epochs = history.column("epoch")
fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3))
left.plot(epochs, history.column("train/loss"), marker="o", label="train")
left.plot(epochs, history.column("val/loss"), marker="o", label="validation")
left.set(title="Loss", xlabel="epoch", xticks=epochs)
left.legend()
right.plot(epochs, history.column("val/acc"), marker="o", color="tab:green")
right.set(title="Validation accuracy", xlabel="epoch", xticks=epochs)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Try next
#
# - Set `TRAIN_IMAGES = None` to train on the whole set, and compare with the full-scale
#   results in the benchmark table of the MNIST chapter.
# - Swap in `torchprimer.models.MnistMLP()` and compare the two models on the validation
#   split (not on the test split: it is for the one you keep).
# - Pass `log_dir="runs/mnist"` to `fit` and watch the curves with `tensorboard --logdir runs`.
