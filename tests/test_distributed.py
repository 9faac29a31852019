"""fit and the command line under torchrun: real jobs of two CPU processes on tiny data.

One script serves every job; its first argument picks what it does. Each job writes what
its ranks ended with into a folder, which the tests compare with a single-process run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchprimer import distributed
from torchprimer.data import TensorLoader
from torchprimer.train import fit

TIMEOUT_S = 120
PER_RANK_BATCH = 8

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from torchprimer import distributed
    from torchprimer.data import TensorLoader
    from torchprimer.train import fit

    mode, out = sys.argv[1], Path(sys.argv[2])

    def tiny_data():
        generator = torch.Generator().manual_seed(0)
        return torch.randn(64, 8, generator=generator), torch.randint(0, 3, (64,), generator=generator)

    def tiny_model():
        # Batch norm only where no single-process run is compared: each rank normalizes
        # with the statistics of its own half of the batch.
        torch.manual_seed(0)
        norm = nn.BatchNorm1d(16) if mode == "dataloader" else nn.Identity()
        return nn.Sequential(nn.Linear(8, 16), norm, nn.ReLU(), nn.Linear(16, 3))

    x, y = tiny_data()
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    calls = []

    def failing_loss(logits, targets):
        calls.append(1)
        if distributed.rank() == 1 and len(calls) == 3:
            raise RuntimeError("rank 1 failed on purpose at its third batch")
        return loss_fn(logits, targets)

    if mode == "tensor":  # fit starts and ends the process group itself
        train, val = TensorLoader(x, y, batch_size=8), TensorLoader(x[:40], y[:40], batch_size=16)
        history = fit(model, train, val, loss_fn, optimizer, epochs=3, device="cpu", progress=False,
                      checkpoint_path=out / "tensor.pt", on_epoch_end=lambda entry: print("REPORT", entry["epoch"]))
        assert not distributed.is_distributed()
    elif mode == "dataloader":  # the program starts the group; fit leaves it running
        assert distributed.start(torch.device("cpu"))
        train = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(5))
        val = DataLoader(TensorDataset(x[:40], y[:40]), batch_size=16)
        history = fit(model, train, val, loss_fn, optimizer, epochs=2, device="cpu", progress=False)
        assert distributed.is_distributed()
        for epochs, resume in ((1, False), (2, True)):  # stopped after epoch 1, then resumed
            resumed_model = tiny_model()
            resumed_optimizer = torch.optim.SGD(resumed_model.parameters(), lr=0.1, momentum=0.9)
            resumed = fit(resumed_model, train, val, loss_fn, resumed_optimizer, epochs=epochs, device="cpu",
                          progress=False, checkpoint_path=out / "dataloader.pt", resume=resume)
        assert list(resumed) == list(history)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resumed_model.state_dict().values()))
        distributed.stop()
    else:  # "fail"
        train, val = TensorLoader(x, y, batch_size=8), TensorLoader(x, y, batch_size=16)
        fit(model, train, val, failing_loss, optimizer, epochs=1, device="cpu", progress=False)
        raise AssertionError("not reached")
    rank = int(__import__("os").environ["RANK"])
    torch.save({"state": model.state_dict(), "history": list(history)}, out / f"{mode}-rank{rank}.pt")
    """
)


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "job.py"
    path.write_text(SCRIPT)
    return path


def torchrun(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``args`` (a script or ``-m module``) on two CPU processes under torchrun."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCHPRIMER_DIST_TIMEOUT": "30"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=cwd, check=False)


def single_process(mode: str) -> tuple[nn.Module, list[dict]]:
    """The run of the script's ``mode`` in one process, with the global batch of both ranks."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=generator), torch.randint(0, 3, (64,), generator=generator)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Identity(), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    assert mode == "tensor"
    train, val = TensorLoader(x, y, batch_size=2 * PER_RANK_BATCH), TensorLoader(x[:40], y[:40], batch_size=16)
    history = fit(model, train, val, nn.CrossEntropyLoss(), optimizer, epochs=3, device="cpu", progress=False)
    return model, list(history)


def test_two_ranks_match_one_process_with_the_global_batch(script: Path, tmp_path: Path) -> None:
    result = torchrun(str(script), "tensor", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"tensor-rank{r}.pt", weights_only=True) for r in (0, 1)]
    for a, b in zip(ranks[0]["state"].values(), ranks[1]["state"].values()):
        assert torch.equal(a, b)  # identical weights on both ranks
    assert ranks[0]["history"] == ranks[1]["history"]  # metrics summed over the ranks: the same everywhere
    model, history = single_process("tensor")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(ranks[0]["state"][name], value, atol=1e-5, rtol=0)
    for two, one in zip(ranks[0]["history"], history):
        assert two.keys() == one.keys()
        for key in one:
            assert two[key] == pytest.approx(one[key], abs=1e-5), key
    assert result.stdout.count("REPORT") == 3  # rank 0 alone reports each epoch
    # The checkpoint holds the unwrapped model: it loads into a plain one in one process.
    saved = torch.load(tmp_path / "tensor.pt", weights_only=True)["model"]
    assert all(not key.startswith("module.") for key in saved)
    model.load_state_dict(saved)


def test_dataloader_shards_and_resume_under_torchrun(script: Path, tmp_path: Path) -> None:
    """DistributedSampler shards; a run stopped after epoch 1 and resumed equals a straight
    one exactly (asserted inside the job, on both ranks: a failed assert fails the job)."""
    result = torchrun(str(script), "dataloader", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"dataloader-rank{r}.pt", weights_only=True) for r in (0, 1)]
    # weights and batch norm statistics (copied from rank 0 after every epoch) alike
    assert all(torch.equal(a, b) for a, b in zip(ranks[0]["state"].values(), ranks[1]["state"].values()))
    assert ranks[0]["history"] == ranks[1]["history"] and len(ranks[0]["history"]) == 2


def test_a_failing_rank_ends_the_job_with_its_error(script: Path, tmp_path: Path) -> None:
    start = time.monotonic()
    result = torchrun(str(script), "fail", str(tmp_path))
    assert result.returncode != 0
    assert "rank 1 failed on purpose at its third batch" in result.stderr
    assert time.monotonic() - start < TIMEOUT_S  # ended, not hung (subprocess.run would have raised)
    assert not list(tmp_path.glob("fail-rank*.pt"))


def test_cli_under_torchrun_reports_once(mnist_root: Path, tmp_path: Path) -> None:
    command = [
        "-m",
        "torchprimer",
        "train",
        "mnist-mlp",
        "--root",
        str(mnist_root),
        "--max-batches",
        "3",
        "--val-size",
        "1000",
        "--no-progress",
        "--checkpoint",
        str(tmp_path / "mlp.pt"),
    ]
    result = torchrun(*command)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert sum(line.startswith("training mnist-mlp") for line in lines) == 1
    assert "2 processes on cpu" in lines[0]
    assert sum(line.startswith("epoch 1/1") for line in lines) == 1
    assert sum(line.startswith("test accuracy: ") for line in lines) == 1
    assert "; 6,000 of 10,000 test images, --max-batches" in lines[-1]  # 3 batches of 1,000 on each rank
    # A mistake found before training is reported once, by rank 0, and ends the job.
    result = torchrun(*[("mnist-cnn" if arg == "mnist-mlp" else arg) for arg in command], "--resume")
    assert result.returncode != 0
    assert result.stderr.count("does not fit MnistCNN (was it saved from another model?)") == 1


def test_helpers_in_a_single_process() -> None:
    assert not distributed.is_distributed() and distributed.world_size() == 1 and distributed.rank() == 0
    result = {"loss": 0.5, "acc": 0.25, "samples": 8}
    assert distributed.all_reduce_metrics(result) is result
    loader = DataLoader(TensorDataset(torch.zeros(4, 2), torch.zeros(4)), batch_size=2)
    with pytest.raises(TypeError, match="must be a torch DataLoader or a torchprimer TensorLoader"):
        distributed.shard_for_training([(torch.zeros(2), torch.zeros(2))], seed=0)  # type: ignore[arg-type]
    assert len(distributed.shard_for_training(loader, seed=0)) == 2  # one rank: all of it


def test_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert distributed.timeout().total_seconds() == distributed.DEFAULT_TIMEOUT_S
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "5")
    assert distributed.timeout().total_seconds() == 5
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "soon")
    with pytest.raises(ValueError, match="TORCHPRIMER_DIST_TIMEOUT must be a positive number of seconds, got 'soon'"):
        distributed.timeout()


def test_fit_refuses_a_loader_it_cannot_split_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)  # as torchrun would set them; no process group is joined
    model = nn.Linear(8, 3)
    batches = [(torch.randn(4, 8), torch.randint(0, 3, (4,)))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="the training loader must be a torch DataLoader or a torchprimer TensorLoader"):
        fit(model, batches, batches, nn.CrossEntropyLoss(), optimizer, epochs=1, device="cpu", progress=False)
    stream = DataLoader(TensorDataset(torch.randn(4, 8), torch.zeros(4)), batch_sampler=[[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="the validation DataLoader must read a map-style dataset with a batch_size"):
        fit(
            model,
            TensorLoader(torch.randn(4, 8), torch.zeros(4), 2),
            stream,
            nn.CrossEntropyLoss(),
            optimizer,
            epochs=1,
            device="cpu",
            progress=False,
        )
    assert not distributed.is_distributed()
