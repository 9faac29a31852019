"""Utilities: seeding makes draws repeat; device selection; RNG state round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from torchprimer.utils import get_rng_state, seed_everything, select_device, set_rng_state


def draws() -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_same_seed_same_draws() -> None:
    seed_everything(123)
    first = draws()
    seed_everything(123)
    assert draws() == first
    seed_everything(124)
    assert draws() != first


def test_rng_state_round_trip() -> None:
    seed_everything(5)
    state = get_rng_state()
    first = draws()
    draws()
    set_rng_state(state)
    assert draws() == first


def test_select_device_defaults_to_the_best_available_device() -> None:
    mps = getattr(torch.backends, "mps", None)
    expected = "cuda" if torch.cuda.is_available() else "mps" if mps is not None and mps.is_available() else "cpu"
    assert select_device() == torch.device(expected)
    assert select_device("cpu") == torch.device("cpu")


def test_select_device_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="choose one of cpu, cuda, mps"):
        select_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_select_device_rejects_an_unavailable_device() -> None:
    with pytest.raises(ValueError, match="not available on this machine"):
        select_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_select_device_accepts_an_index_only_within_the_device_count() -> None:
    count = torch.cuda.device_count()
    assert select_device(f"cuda:{count - 1}") == torch.device(f"cuda:{count - 1}")
    with pytest.raises(ValueError, match=f"this machine has CUDA devices cuda:0 to cuda:{count - 1}"):
        select_device(f"cuda:{count}")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rng_state_restores_from_copies_on_the_gpu() -> None:
    seed_everything(5)
    state = get_rng_state()
    first = draws(), torch.rand(3, device="cuda").tolist()
    moved = {**state, "torch": state["torch"].cuda(), "cuda": [s.cuda() for s in state["cuda"]]}  # map_location="cuda"
    set_rng_state(moved)
    assert (draws(), torch.rand(3, device="cuda").tolist()) == first
