# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # CIFAR-10 端到端实战
#
# 用 `torchprimer` 软件包处理十个类别的彩色照片：加载 CIFAR-10，从训练图像中留出一部分作为验证集，
# 用 `fit` 并排训练课程中 CNN 的三个版本（原样照写的版本、加上 ReLU 的版本、同时加上 ReLU 和
# 批量归一化的版本），在验证集上选出其中一个，在测试集上只测试一次，并查看它在每个类别上的结果。
# CIFAR-10 那一章教程会逐步讲解每一步，包括这条流程所避开的原课程中的错误。
#
# **数据开关。** 设置环境变量 `TORCHPRIMER_SYNTHETIC_CIFAR=1` 后，本 notebook 会在一个明确标注的
# 合成替代数据上运行，它的形状与 CIFAR-10 相同（3x32x32 的图像，10 个类别）；本站自己的构建就是这样
# 做的，因为构建环境没有网络。替代数据中的每个类别是一种颜色，乘以一个随机符号后再加上噪声，因此任何
# 对输入呈线性的模型都无法区分这些类别（`torchprimer.data.synthetic_cifar10` 中有解释）。不设置这个
# 变量时，真实的 CIFAR-10 会在第一次使用时下载到 `TORCHPRIMER_DATA`（或 `data/`）中。下面输出的第一行
# 会说明运行的是哪一种数据。
#
# **规模。** 512 张训练图像、256 张验证图像、4 轮（epoch），这样在笔记本电脑的 CPU 上远不到一分钟
# 就能跑完。要正式训练，请设置 `TRAIN_IMAGES = None` 并调大 `EPOCHS`（有 GPU 会更好）。

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
TRAIN_IMAGES = 512  # None：使用所有未留作验证集的训练图像
VAL_IMAGES = 256    # 留出来用于比较各模型的训练图像
TEST_IMAGES = 1_000  # None：全部 10,000 张
EPOCHS = 4
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
seed_everything(0)

if SYNTHETIC:
    print("DATA: SYNTHETIC stand-in for CIFAR-10 (TORCHPRIMER_SYNTHETIC_CIFAR=1): signed class "
          "colours plus noise, not photos. The accuracies below are not CIFAR-10 results.")
    train_set = synthetic_cifar10(3_000, seed=0)
    test_set = synthetic_cifar10(1_000, seed=1)  # 同样十个类别的另一次抽样
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
test_loader = DataLoader(test_part, batch_size=250)  # 只在最后使用一次
images, labels = next(iter(train_loader))
print("batch:", tuple(images.shape), "| training batches per epoch:", len(train_loader),
      "| validation images:", len(val_part), "| test images:", len(test_part))
assert images.shape[1:] == (3, 32, 32)
assert set(train_part.indices).isdisjoint(val_part.indices)

# %%
fig, axes = plt.subplots(1, 8, figsize=(7, 1.6))
for ax, image, label in zip(axes, images, labels):
    shown = (image - image.min()) / (image.max() - image.min())  # 缩放到 [0, 1] 以便显示
    ax.imshow(shown.permute(1, 2, 0).numpy())
    ax.set_title(CLASSES[label], fontsize=7)
    ax.axis("off")
fig.suptitle("Training images" + (" (synthetic stand-in)" if SYNTHETIC else ""))
plt.show()

# %% [markdown]
# ## 三个版本，同一套训练方法
#
# `CifarLessonCNN` 是课程中原样保留的 `Sequential` 网络：三个 5x5 卷积，每个后面跟一个最大池化，
# 再加两个线性层，其中没有任何激活函数。两个修复版本保持它的结构不变：一个在每个卷积之后以及两个
# 线性层之间加上 ReLU，另一个还在每个卷积之后加上批量归一化。三个版本都用 Adam 和 `StepLR` 学习率
# 调度来训练，学习率在第 3 轮之后除以十，调度器每轮更新一次（即 `fit` 的默认设置
# `scheduler_interval="epoch"`），并且每轮结束后都在验证集上评估。

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
if SYNTHETIC:  # 在替代数据上，正是非线性让各类别得以区分
    assert histories["with ReLU"].last["val/acc"] > lesson_acc + 0.1
    assert histories["with ReLU and batch norm"].last["val/acc"] > lesson_acc + 0.1

# %% [markdown]
# 上表把三个版本并排列出，它们都在同一批验证图像上评估：训练损失（在最后一轮训练过程中求平均）
# 反映一个版本对它所学习的图像拟合得有多好；验证损失和准确率则反映它在留出的图像上表现如何。两者是
# 不同的量，所以下面的曲线把它们画在不同的坐标轴上。在替代数据上，以这么小的规模，带 ReLU 的版本
# 遥遥领先；训练图像更多时，课程中的网络会缩小差距（它的最大池化、图像边缘的零填充以及噪声给了它
# 一点可以利用的非线性），所以像这里这样图像较少时，对比最为明显。

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
# ## 在验证集上选择，只测试一次
#
# 保留验证准确率最高的版本，并且只在测试集上对它评估一次。它在每个类别上的结果也来自同一批测试图像。

# %%
best = max(histories, key=lambda name: histories[name].last["val/acc"])
chosen = models[best]
test = evaluate(chosen, test_loader, nn.CrossEntropyLoss(), device="cpu")
print(f"chosen on validation: {best}")
print(f"test accuracy: {test['acc']:.1%} (test loss {test['loss']:.3f}) on {test['samples']} images")
if SYNTHETIC:
    assert best != "lesson (no activation)"

predictions, targets = [], []
with torch.no_grad():  # evaluate() 已让模型处于评估模式
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
# ## 接下来可以试试
#
# - 用全部数据（`TRAIN_IMAGES = None`、`TEST_IMAGES = None`）训练 20 轮，并设置 `step_size=10`；
#   如果有 GPU，就在 GPU 上训练（`device="cuda"`）。
# - 把 `torchprimer.models.CifarCNN`（3x3 卷积、更多通道、Dropout）加入 `versions`，在验证集上
#   与其他版本比较。
# - `cifar10(ROOT, train=True, augment=True)` 会给训练图像加上随机裁剪和翻转：比较使用和不使用它时
#   训练准确率（`train/acc`）与验证准确率（`val/acc`）的差别。
