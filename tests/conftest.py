"""Shared fixtures and settings: scratch data roots, the ``mnist`` marker, the count of docs blocks run,
and the pages and notebooks run in Jupyter kernels (``kernel_runs``).

The project's environment defaults (``tools/settings.py``: the synthetic CIFAR-10
stand-in, sleeping OpenMP threads, ...) are applied here, before anything imports torch,
so plain ``pytest`` runs under the same settings as ``python -m nox -s tests``.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tools import settings

settings.apply_defaults()

from tools import kernel_forks, mnist_files, page_kernel, snippets  # noqa: E402  (after the defaults)

ROOT = Path(__file__).resolve().parent.parent

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


#: The tests that wait for a run in a Jupyter kernel: a docs page's (``tests/test_docs.py``)
#: and a notebook's Run All (``tests/test_notebooks_run.py``).
KERNEL_TESTS = ("test_page_runs", "test_notebook_runs_top_to_bottom")
#: Runs in kernels at the same time, each kernel with its share of the CPU threads.
KERNEL_WORKERS = 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``mnist`` every test that uses the ``mnist_root`` fixture, so ``-m "not mnist"`` is a fast subset;
    put the tests that wait for a kernel's run last.

    Docs pages that read MNIST are marked where they are parametrized (``tests/test_docs.py``).

    The pages and notebooks run in kernels started when the session's first test runs
    (``kernel_runs``); each of their tests only waits for its run. So those tests come
    last, and the rest of the suite runs while the kernels work.
    """
    for item in items:
        if "mnist_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mnist)
    waits = [item for item in items if getattr(item, "originalname", "") in KERNEL_TESTS]
    items[:] = [item for item in items if item not in waits] + waits


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


def _kernel_jobs(session: pytest.Session) -> list[Path]:
    """The pages and project notebooks the selected tests need run in a kernel, longest allowed first.

    A docs page runs once for both its tests (``tools/page_kernel.run``); with
    ``--reuse-page-results`` a page whose cached result still holds needs no run for its page test.
    """
    reuse = session.config.getoption("--reuse-page-results")
    jobs: set[Path] = set()
    for item in session.items:
        name = getattr(item, "originalname", "")
        if name == "test_page_runs":
            page = item.callspec.params["page"]
            if snippets.find_blocks(page.read_text(encoding="utf-8")) and not (reuse and snippets.load_result(page)):
                jobs.add(page)
        elif name == "test_notebook_runs_top_to_bottom":
            jobs.add(ROOT / item.callspec.params["name"])
    return sorted(jobs, key=lambda path: (-page_kernel.limit_seconds(path), path))


def _reads_mnist(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return snippets.reads_mnist(text) if path.suffix == ".md" else snippets.code_reads_mnist(text)


def _run(path: Path, folder: Path, env: dict[str, str], server: kernel_forks.ForkServer):
    """One kernel job: a page with its notebook, or a project notebook (returned with its run time)."""
    limit = page_kernel.limit_seconds(path)
    if path.suffix == ".md":
        return page_kernel.run(path, folder, limit, env, server)
    notebook = page_kernel.build_notebook(path)
    try:
        seconds = page_kernel.run_notebook(notebook, folder, limit, env, server)
    except Exception as error:  # noqa: BLE001 - reported by the notebook's test, with the notebook's outputs
        return notebook, error
    return notebook, seconds


@pytest.fixture(scope="session")
def kernel_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future]:
    """Start every run the selected tests wait for, on a pool of ``KERNEL_WORKERS``; map each path to its run.

    The kernels are forks of one process that imported torch, torchvision, matplotlib and
    ipykernel first (``tools/kernel_forks.py``). Each run gets its own folder, holding
    ``data/MNIST/raw`` with the MNIST files (links to the session's copy) when it reads
    them, as a reader's fresh folder would: torchvision writes the unpacked files beside
    the ``.gz`` files, never into them, so the copy is shared safely.
    """
    jobs = _kernel_jobs(request.session)
    if not jobs:
        return {}
    originals = []
    if any(_reads_mnist(path) for path in jobs):
        originals = sorted((request.getfixturevalue("mnist_root") / "MNIST" / "raw").glob("*.gz"))
    env = page_kernel.kernel_env(threads=max(1, (os.cpu_count() or 2) // KERNEL_WORKERS))
    server = kernel_forks.ForkServer(env)
    server.start()
    pool = ThreadPoolExecutor(max_workers=KERNEL_WORKERS)

    def finish() -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        server.stop()

    request.addfinalizer(finish)
    runs: dict[str, Future] = {}
    for path in jobs:
        folder = tmp_path_factory.mktemp(path.stem)
        target = folder / "data" / "MNIST" / "raw"
        target.mkdir(parents=True)
        for file in originals:
            try:
                os.link(file, target / file.name)
            except OSError:
                shutil.copyfile(file, target / file.name)
        runs[path.relative_to(ROOT).as_posix()] = pool.submit(_run, path, folder, env, server)
    return runs


@pytest.fixture(scope="session", autouse=True)
def _start_kernel_runs_early(request: pytest.FixtureRequest) -> None:
    """Start the kernels' runs when the session's first test runs, so they work while the quick tests run."""
    if any(getattr(item, "originalname", "") in KERNEL_TESTS for item in request.session.items):
        request.getfixturevalue("kernel_runs")
