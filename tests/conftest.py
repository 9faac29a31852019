"""Shared fixtures and settings: scratch data roots, the ``mnist`` marker, the count of docs blocks run.

The project's environment defaults (``tools/settings.py``: the synthetic CIFAR-10
stand-in, sleeping OpenMP threads, ...) are applied here, before anything imports torch,
so plain ``pytest`` runs under the same settings as ``python -m nox -s tests``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import settings

settings.apply_defaults()

from tools import mnist_files  # noqa: E402  (after the defaults: it may import torchvision)

#: Blocks executed by tests/test_docs.py in this run, reported at the end.
DOCS_BLOCKS_RUN: dict[str, int] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reuse-page-results",
        action="store_true",
        help="do not run again a docs page whose cached result has the same key (page text, package, "
        "runner, versions, settings); its cached CPU time is checked against the budget",
    )
    parser.addoption(
        "--fresh-interpreter",
        action="store_true",
        help="also run each tutorial's full program alone in a fresh Python process (slow; "
        "the docs test already runs it in a fresh namespace)",
    )


#: The tests that wait for a notebook's Run All in its own Jupyter kernel (tests/test_notebooks_run.py).
RUN_ALL_TEST = "test_notebook_runs_top_to_bottom"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``mnist`` every test that uses the ``mnist_root`` fixture, so ``-m "not mnist"`` is a fast subset;
    order the notebook tests so the notebooks run while the other tests do.

    Docs pages that read MNIST are marked where they are parametrized (``tests/test_docs.py``).

    The notebooks run in kernels of their own, started by the first test of
    ``tests/test_notebooks_run.py``; each Run All test only waits for its notebook. So that
    module's other tests come first, its Run All tests last, and the rest of the suite
    runs while the kernels work: the machine's cores stay busy instead of one process
    waiting on the notebooks at the end.
    """
    for item in items:
        if "mnist_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mnist)
    notebook_module = [item for item in items if item.module.__name__ == "test_notebooks_run"]
    waits = [item for item in notebook_module if getattr(item, "originalname", "") == RUN_ALL_TEST]
    first = [item for item in notebook_module if item not in waits]
    others = [item for item in items if item not in notebook_module]
    items[:] = first + others + waits


def pytest_collection_finish(session: pytest.Session) -> None:
    """Find (or download once) the MNIST files before any selected test needs them.

    Without them, and without network, the run stops here with one message saying where
    the four files go, instead of failing every MNIST test one by one.
    """
    if session.config.option.collectonly or not any(item.get_closest_marker("mnist") for item in session.items):
        return
    try:
        mnist_files.raw_dir()
    except mnist_files.MnistFilesMissing as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="session")
def docs_blocks_run() -> dict[str, int]:
    """Record of the docs blocks run (page -> number of blocks), reported at the end."""
    return DOCS_BLOCKS_RUN


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch data root holding a private copy of the original MNIST files.

    torchvision unpacks the ``.gz`` files beside themselves, so they are copied first:
    the originals stay untouched.
    """
    root = tmp_path_factory.mktemp("data")
    mnist_files.copy_raw(mnist_files.raw_dir(), root)
    return root


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if DOCS_BLOCKS_RUN:
        blocks = sum(DOCS_BLOCKS_RUN.values())
        terminalreporter.write_sep("-", f"docs snippets: {blocks} python blocks ran on {len(DOCS_BLOCKS_RUN)} pages")
