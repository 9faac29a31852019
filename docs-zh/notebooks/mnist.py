# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # MNIST 端到端实战
#
# 用 `torchprimer` 软件包搭建一个完整的手写数字分类器：加载 MNIST，从训练图像中留出一部分作为验证集，
# 用 `fit` 训练小型卷积网络 `MnistCNN` 并同时观察验证集上的表现，在 10,000 张测试图像上只测试一次，
# 再看看它犯了哪些错误。MNIST 那一章教程会逐一讲解每个步骤；本 notebook 把它们集中在一处，
# 方便你运行和修改。
#
# **规模。** 为了让本 notebook 在笔记本电脑的 CPU 上远不到一分钟就能跑完，它从 60,000 张训练图像中
# 随机取 8,000 张训练两轮（epoch），并在另外 2,000 张上验证。把下面的 `TRAIN_IMAGES` 设为 `None`，
# 就会在所有未留作验证的图像上训练（耗时会长好几倍）。

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

ROOT = os.environ.get("TORCHPRIMER_DATA", "data")  # MNIST 所在的位置，或要下载到的位置
TRAIN_IMAGES = 8_000  # None：使用所有未留作验证的训练图像
VAL_IMAGES = 2_000  # 留出的训练图像，用来监控训练并据此做选择
EPOCHS = 2
seed_everything(0)
print("torchprimer", torchprimer.__version__, "| torch", torch.__version__.split("+")[0])

# %% [markdown]
# ## 数据
#
# `preload_mnist` 把训练集或测试集读取一次，应用与 torchvision 变换相同的 `ToTensor` 和 `Normalize`，
# 并把结果以张量形式保存在内存中：这样每一轮只需对张量做切片，而不必再把 60,000 张图像重新转换一遍。
# 如果 `ROOT` 中没有这四个文件，`download=True` 会在第一次使用时下载它们。用设定了随机种子的随机顺序
# 排列训练图像，就得到验证集（前 `VAL_IMAGES` 张）和用于训练的图像（其余的图像，或接下来的
# `TRAIN_IMAGES` 张）。测试集只在最后使用。

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
# ## 模型与训练
#
# `MnistCNN`：两个 5x5 卷积块（分别有 16 和 32 个通道，带批量归一化、ReLU 和最大池化），
# 再加一个线性层；它返回供 `nn.CrossEntropyLoss` 使用的 logits。
#
# 优化器是 Adam，由单周期（one-cycle）学习率调度（`OneCycleLR`）驱动。这种调度的设计是每个批量之后
# 更新一次，所以要设置 `scheduler_interval="batch"`。学习率由调度器掌管：它一创建就会覆盖 Adam 的 `lr`，
# 从 `max_lr / 25` 开始，升到 `max_lr`，再降到远低于起始值的水平。因此创建 Adam 时不给它指定自己的 `lr`。
# 设置 `cycle_momentum=True`（这是默认值，这里把它写了出来）时，调度器还会调整 Adam 的第一个 `beta`
# （即它的动量）：学习率上升时从 0.95 往下降，学习率下降时再回升到 0.95。

# %%
model = MnistCNN()
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))

optimizer = torch.optim.Adam(model.parameters())  # 不设 lr：OneCycleLR 会在每一步设置它
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
assert history.last["lr"] < 6e-3 / 25  # 退火到了起始值以下
assert abs(optimizer.param_groups[0]["betas"][0] - 0.95) < 1e-3  # beta1 回到了起始值

# %% [markdown]
# ## 测试，只测一次
#
# 训练已经结束，之后不会再做任何改动，所以现在在测试集上评估，只评估一次：`evaluate` 给出测试损失和
# 准确率，同一个模型输出的 logits 则给出用于混淆矩阵的预测结果。混淆矩阵统计的是：对每个真实数字（行），
# 各个数字（列）分别被预测了多少次。对角线上是预测正确的数量。

# %%
test = evaluate(model, test_loader, nn.CrossEntropyLoss(), device="cpu")
print(f"test accuracy: {test['acc']:.2%} (test loss {test['loss']:.4f})")
with torch.no_grad():  # evaluate() 已让模型处于评估模式
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
# 下面是模型犯的错误，以及模型给它的错误答案分配的概率（在模型之后对 logits 应用 softmax 得到）：

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
# ## 训练曲线

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
# ## 接下来可以试试
#
# - 设置 `TRAIN_IMAGES = None`，在整个训练集上训练，并与 MNIST 那一章基准测试表格中的完整规模结果
#   进行比较。
# - 换用 `torchprimer.models.MnistMLP()`，在验证集上比较这两个模型（不要在测试集上比较：
#   测试集是留给你最终保留的那个模型的）。
# - 给 `fit` 传入 `log_dir="runs/mnist"`，然后用 `tensorboard --logdir runs` 查看训练曲线。
