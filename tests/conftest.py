"""Shared fixtures: scratch data roots and the count of docs blocks that ran."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Idle OpenMP threads sleep instead of spinning: on a machine shared with other busy
# programs, spinning threads steal the cores the working ones need (pages ran 1.5x slower).
# Read once, when torch loads, so it is set before anything imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(ROOT / "tools"))

import snippets  # noqa: E402  (tools/snippets.py)

#: Blocks executed by tests/test_docs.py in this run, reported at the end.
DOCS_BLOCKS_RUN: dict[str, int] = {}


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch data root holding a private copy of the original MNIST files.

    torchvision unpacks the ``.gz`` files beside themselves, so they are copied first:
    the shared originals stay untouched. Skips when the files are not on this machine.
    """
    raw = snippets.mnist_raw_dir()
    if raw is None:
        pytest.skip("MNIST files not found: set TORCHPRIMER_MNIST_RAW to a folder of the four .gz files")
    root = tmp_path_factory.mktemp("data")
    snippets.copy_mnist_raw(raw, root)
    return root


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if DOCS_BLOCKS_RUN:
        blocks = sum(DOCS_BLOCKS_RUN.values())
        terminalreporter.write_sep(
            "-", f"docs snippets: {blocks} python blocks ran on {len(DOCS_BLOCKS_RUN)} pages"
        )
