"""Models: output shapes, parameter counts, shape errors, and the linear model's gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchprimer.models import MODEL_DATASET, MODELS, CifarLessonCNN, ExamplesNet, LinearModel, MnistCNN, MnistMLP

INPUT = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
PARAMETERS = {
    "linear": 2,
    "mnist-mlp": 784 * 512 + 512 + 512 * 10 + 10,
    "mnist-cnn": 29_034,
    "mnist-examples-net": 1_199_882,
    "cifar-lesson": 145_578,
    "cifar-cnn": 357_034,
}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_output_shape_and_parameter_count(name: str) -> None:
    model = MODELS[name]()
    dataset = MODEL_DATASET[name]
    x = torch.randn(3, *INPUT[dataset]) if dataset else torch.randn(3, 1)
    out = model(x)
    assert out.shape == ((3, 10) if dataset else (3, 1))
    assert count(model) == PARAMETERS[name]


def test_registry_names_match_the_contract() -> None:
    assert set(MODELS) == {"linear", "mnist-mlp", "mnist-cnn", "mnist-examples-net", "cifar-lesson", "cifar-cnn"}
    assert set(MODEL_DATASET) == set(MODELS)


def test_examples_net_has_the_pytorch_examples_layers() -> None:
    net = ExamplesNet()
    assert (net.conv1.out_channels, net.conv2.out_channels) == (32, 64)
    assert (net.fc1.in_features, net.fc1.out_features, net.fc2.out_features) == (9216, 128, 10)


def test_cifar_lesson_cnn_is_the_lesson_sequential_without_activations() -> None:
    layers = CifarLessonCNN().layers
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == ["Conv2d", "MaxPool2d", "Conv2d", "MaxPool2d", "Conv2d", "MaxPool2d", "Flatten", "Linear", "Linear"]


def test_mlp_accepts_flat_input_too() -> None:
    model = MnistMLP(hidden=32)
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(model(x), model(x.flatten(1)))


def test_mnist_cnn_channels_are_configurable() -> None:
    assert MnistCNN(channels=(8, 16))(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(
    ("model", "bad", "expected"),
    [
        (MnistCNN(), torch.randn(2, 28, 28), "(N, 1, 28, 28)"),
        (MnistCNN(), torch.randn(2, 3, 28, 28), "(N, 1, 28, 28)"),
        (ExamplesNet(), torch.randn(2, 1, 32, 32), "(N, 1, 28, 28)"),
        (MnistMLP(), torch.randn(2, 100), "(N, 1, 28, 28) or (N, 784)"),
        (MnistMLP(), torch.randn(28, 28), "(N, 1, 28, 28) or (N, 784)"),
        (CifarLessonCNN(), torch.randn(2, 1, 28, 28), "(N, 3, 32, 32)"),
        (MODELS["cifar-cnn"](), torch.randn(3, 32, 32), "(N, 3, 32, 32)"),
        (LinearModel(3, 1), torch.randn(5, 2), "(N, 3)"),
    ],
)
def test_wrong_input_shape_names_the_expected_shape(model: nn.Module, bad: torch.Tensor, expected: str) -> None:
    with pytest.raises(ValueError, match=r"expects input of shape " + expected.replace("(", r"\(").replace(")", r"\)")):
        model(bad)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_wrong_dtype_or_a_non_tensor_names_what_is_expected(name: str) -> None:
    model = MODELS[name]()
    dataset = MODEL_DATASET[name]
    shape = (2, *INPUT[dataset]) if dataset else (2, 1)
    with pytest.raises(
        TypeError, match=r"expects input of dtype torch\.float32 like its weights, got torch\.uint8.*/ 255"
    ):
        model(torch.zeros(shape, dtype=torch.uint8))  # raw pixels
    with pytest.raises(TypeError, match=r"expects input of dtype torch\.float32 like its weights, got torch\.float64"):
        model(torch.zeros(shape, dtype=torch.float64))  # what torch.from_numpy gives for NumPy's default floats
    with pytest.raises(TypeError, match=r"expects a torch\.Tensor, got ndarray"):
        model(torch.zeros(shape).numpy())
    assert model.double()(torch.zeros(shape, dtype=torch.float64)).dtype == torch.float64  # follows the weights


def test_linear_model_gradients_match_the_hand_derived_formula() -> None:
    # Mean squared error L = mean((w x + b - y)^2) has dL/dw = 2 mean((ŷ - y) x), dL/db = 2 mean(ŷ - y).
    torch.manual_seed(0)
    model = LinearModel()
    x = torch.randn(16, 1)
    y = 3 * x - 1 + 0.1 * torch.randn(16, 1)
    prediction = model(x)
    loss = nn.functional.mse_loss(prediction, y)
    loss.backward()
    error = (prediction - y).detach()
    torch.testing.assert_close(model.linear.weight.grad, (2 * error * x).mean().reshape(1, 1))
    torch.testing.assert_close(model.linear.bias.grad, (2 * error).mean().reshape(1))


def test_linear_model_many_features_gradients_match_the_formula() -> None:
    torch.manual_seed(1)
    model = LinearModel(in_features=4, out_features=2)
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    prediction = model(x)
    nn.functional.mse_loss(prediction, y).backward()
    error = (prediction - y).detach() * 2 / y.numel()  # the mean runs over every element
    torch.testing.assert_close(model.linear.weight.grad, error.T @ x)
    torch.testing.assert_close(model.linear.bias.grad, error.sum(0))
