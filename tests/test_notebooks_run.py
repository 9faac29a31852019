"""Every downloadable notebook runs from top to bottom ("Run All") in a fresh Jupyter kernel.

The notebooks are made the way the site build makes them: each page with ```python
blocks through ``tools/notebooks.from_markdown`` (after MkDocs' own front-matter split),
each project notebook ``docs/notebooks/*.py`` through ``tools/notebook_pages.to_ipynb``.
Each one then runs in a new kernel (over loopback) whose working folder holds only
``data/MNIST/raw`` with the original MNIST files, as a reader's fresh folder would.
The kernels are forks of one process that imported torch, torchvision, matplotlib and
ipykernel first (``tools/kernel_forks.py``): each starts with those imports done and an
empty namespace, in about a tenth of the CPU time a kernel started from scratch takes.
They run beside the docs pages, whose CPU budgets count the subprocesses this process
reaps while a page runs (``snippets.cpu_time``): a kernel is the fork server's child, not
this process's, so a kernel ending during a page is not charged to it; only its small
launcher (a stdlib-only Python, a few hundredths of a CPU second) is reaped here.

Two notebooks run at a time, each kernel with half the CPU threads. A project notebook's
run is kept for the site build (``notebook_pages.store_executed``), which then shows it
instead of running the notebook again. A notebook may take
a few times its page's ``time_budget`` (kernel start and a busy machine included); run
times are written to ``test-artifacts/notebook-run-times.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbclient
import nbformat
import pytest
from mkdocs.utils.meta import get_data
from nbclient import NotebookClient  # bound here: a test below replaces nbclient.NotebookClient

from tools import kernel_forks, notebook_pages, notebooks, settings, snippets

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
WORKERS = 2
#: Seconds a notebook may take for each second of its page's time budget, plus a fixed allowance.
BUDGET_FACTOR = 4
STARTUP_SECONDS = 30
#: Budget of the project notebooks, which have no front matter.
PROJECT_NOTEBOOK_BUDGET = 60
#: The terminal colour codes in a kernel's traceback.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _pages() -> list[Path]:
    return [page for page in snippets.pages() if snippets.find_blocks(page.read_text(encoding="utf-8"))]


def _project_notebooks() -> list[Path]:
    return sorted((ROOT / "docs" / "notebooks").glob("*.py"))


NOTEBOOK_SOURCES = {path.relative_to(ROOT).as_posix(): path for path in [*_pages(), *_project_notebooks()]}


def build_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook the site offers for ``path``, made the way the build makes it."""
    if path.suffix == ".py":
        return nbformat.reads(notebook_pages.to_ipynb(path), as_version=4)
    markdown, _ = get_data(path.read_text(encoding="utf-8"))  # the front matter split, as MkDocs does
    return nbformat.reads(notebooks.from_markdown(markdown, source=path.name), as_version=4)


def limit_seconds(path: Path) -> float:
    """How long the notebook of ``path`` may run: a few times its page's time budget."""
    budget = snippets.time_budget(path.read_text(encoding="utf-8")) if path.suffix == ".md" else PROJECT_NOTEBOOK_BUDGET
    return BUDGET_FACTOR * budget + STARTUP_SECONDS


def kernel_env(threads: int) -> dict[str, str]:
    """The environment a notebook's kernel runs in: the project's defaults, ``threads`` CPU threads."""
    env = {key: value for key, value in os.environ.items() if key != notebook_pages.DATA_ENV}
    # The project's defaults (tools/settings.py): no network, so CIFAR-10 is the announced stand-in.
    settings.apply_defaults(env)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def run_notebook(notebook: nbformat.NotebookNode, folder: Path, limit: float, env: dict[str, str], server) -> float:
    """Run every cell of ``notebook`` in a new kernel (forked from ``server``) in ``folder``; return the seconds."""
    client = NotebookClient(
        notebook,
        timeout=int(limit),  # per cell; the whole run is checked against the same limit below
        kernel_name="python3",
        kernel_manager_class=kernel_forks.kernel_manager_class(server),
        allow_errors=False,
        resources={"metadata": {"path": str(folder)}},
    )
    start = time.perf_counter()
    client.execute(env=env)
    return time.perf_counter() - start


@pytest.fixture(scope="session")
def notebook_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mnist_root: Path
) -> dict[str, tuple[nbformat.NotebookNode, Future]]:
    """Start every selected notebook on a two-worker pool; each test waits for its own.

    Each notebook gets its own folder whose ``data/MNIST/raw`` links the ``.gz`` files of
    the session's MNIST copy (``mnist_root``): torchvision writes the unpacked files
    beside them, never into them, so the copy is made once and shared safely.
    """
    selected = [
        item.callspec.params["name"]
        for item in request.session.items
        if item.originalname == "test_notebook_runs_top_to_bottom"
    ]
    originals = sorted((mnist_root / "MNIST" / "raw").glob("*.gz"))
    env = kernel_env(threads=max(1, (os.cpu_count() or 2) // WORKERS))
    server = kernel_forks.ForkServer(env)
    server.start()
    pool = ThreadPoolExecutor(max_workers=WORKERS)

    def finish() -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        server.stop()

    request.addfinalizer(finish)
    runs: dict[str, tuple[nbformat.NotebookNode, Future]] = {}
    for name in selected:
        path = NOTEBOOK_SOURCES[name]
        folder = tmp_path_factory.mktemp(path.stem)
        target = folder / "data" / "MNIST" / "raw"
        target.mkdir(parents=True)
        for file in originals:
            try:
                os.link(file, target / file.name)
            except OSError:
                shutil.copyfile(file, target / file.name)
        notebook = build_notebook(path)
        runs[name] = (notebook, pool.submit(run_notebook, notebook, folder, limit_seconds(path), env, server))
    return runs


@pytest.fixture(scope="session", autouse=True)
def _start_notebooks_early(request: pytest.FixtureRequest) -> None:
    """Start the selected notebooks when this module's first test runs.

    ``conftest.py`` puts this module's quick tests first and its Run All tests last, so
    the kernels work while the rest of the suite runs. The fixture is looked up only when
    a Run All test is selected, so the quick tests need no MNIST files (``-m "not mnist"``).
    """
    if any(getattr(item, "originalname", "") == "test_notebook_runs_top_to_bottom" for item in request.session.items):
        request.getfixturevalue("notebook_runs")


@pytest.mark.parametrize("name", sorted(NOTEBOOK_SOURCES))
def test_notebook_runs_top_to_bottom(name: str, notebook_runs: dict[str, tuple[nbformat.NotebookNode, Future]]) -> None:
    path = NOTEBOOK_SOURCES[name]
    notebook, run = notebook_runs[name]
    try:
        seconds = run.result()
    except nbclient.exceptions.CellExecutionError as error:
        message = _ANSI.sub("", str(error))
        pytest.fail(
            f"{failing_location(path, notebook)}: the downloadable notebook fails under Run All:\n{message}",
            pytrace=False,
        )
    limit = limit_seconds(path)
    _record(name, seconds)
    assert seconds <= limit, f"{name}: Run All took {seconds:.0f} s, more than {limit:.0f} s"
    if path.suffix == ".py":  # a project notebook: the site build shows this run, without running it again
        notebook_pages.store_executed(path, notebooks.without_setup_cell(notebook))


@pytest.mark.parametrize("name", sorted(NOTEBOOK_SOURCES))
def test_notebook_starts_with_the_colab_install_cell(name: str) -> None:
    notebook = build_notebook(NOTEBOOK_SOURCES[name])
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{name}: the notebook has no code cell"
    first = code[0]
    assert 'if "google.colab" in sys.modules:' in first, f"{name}: the first code cell must install only in Colab"
    owner, repo = notebooks.repository()
    assert f"torchprimer @ git+https://github.com/{owner}/{repo}" in first
    assert "torch==" not in first and "torchvision" not in first, "Colab has PyTorch: the setup cell must not pin it"


@pytest.mark.parametrize("name", sorted(NOTEBOOK_SOURCES))
def test_notebook_has_no_shell_cells(name: str) -> None:
    """Shell commands shown on a page stay Markdown: a server or a long run would block Run All."""
    notebook = build_notebook(NOTEBOOK_SOURCES[name])
    for cell in notebook.cells:
        if cell.cell_type == "code":
            # `%matplotlib inline` only picks the figure backend; any other magic or `!` line may run a command.
            lines = cell.source.splitlines()
            magic = [line for line in lines if line.startswith(("!", "%")) and not line.startswith("%matplotlib ")]
            assert not magic, f"{name}: shell or magic lines in a code cell: {magic}"


def test_a_stored_run_is_what_the_build_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Run All test stores a project notebook's run; the build then shows it and runs nothing."""
    monkeypatch.setattr(notebook_pages, "CACHE", tmp_path)
    source = _project_notebooks()[0]
    ran = notebooks.with_setup_cell(jupytext.read(source))
    for cell in ran.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="from the tested run\n")]

    def no_kernel(*args, **kwargs):
        raise AssertionError("the build ran the notebook again")

    # The name the build looks up; the Run All runs in the background use the class bound at import.
    monkeypatch.setattr(nbclient, "NotebookClient", no_kernel)
    notebook_pages.store_executed(source, notebooks.without_setup_cell(ran))
    shown = nbformat.read(notebook_pages.executed(source), as_version=4)
    code = [cell for cell in shown.cells if cell.cell_type == "code"]
    assert [cell.source for cell in code] == [c.source for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert all(cell.outputs[0]["text"] == "from the tested run\n" for cell in code)
    with pytest.raises(ValueError, match="not the setup cell"):
        notebooks.without_setup_cell(jupytext.read(source))


def test_shell_blocks_become_markdown_cells() -> None:
    markdown = "# A page\n\n```bash\ntensorboard --logdir runs\n```\n\n```python\nx = 1\n```\n"
    notebook = nbformat.reads(notebooks.from_markdown(markdown, source="page.md"), as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code[1:] == ["x = 1"]
    assert any(
        "```bash\ntensorboard --logdir runs\n```" in cell.source
        for cell in notebook.cells
        if cell.cell_type == "markdown"
    )


def test_colab_url_points_at_the_published_branch() -> None:
    owner, repo = notebooks.repository()
    url = notebooks.colab_url("tutorials/11-mnist/11-mnist.ipynb")
    assert (
        url
        == f"https://colab.research.google.com/github/{owner}/{repo}/blob/gh-pages/tutorials/11-mnist/11-mnist.ipynb"
    )
    with pytest.raises(ValueError, match="site-relative path of an .ipynb"):
        notebooks.colab_url("/tutorials/11-mnist/")


def test_repository_needs_a_github_repo_url(tmp_path: Path) -> None:
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: x\nrepo_url: https://gitlab.com/a/b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repo_url: https://github.com/OWNER/REPO"):
        notebooks.repository(config)
    config.write_text("site_name: x\nrepo_url: https://github.com/owner/name/\n", encoding="utf-8")
    assert notebooks.repository(config) == ("owner", "name")


def failing_location(path: Path, notebook: nbformat.NotebookNode) -> str:
    """``page.md:line`` of the block whose cell raised (the page itself when it cannot be found)."""
    name = path.relative_to(ROOT).as_posix()
    failed = [
        cell for cell in notebook.cells if any(out.get("output_type") == "error" for out in cell.get("outputs", []))
    ]
    if not failed:
        return name
    first_line = next((line for line in failed[0].source.splitlines() if line.strip()), "")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if first_line and line.strip() == first_line.strip():
            return f"{name}:{number}"
    return name


def _record(name: str, seconds: float) -> None:
    """Add one run time to ``test-artifacts/notebook-run-times.json``."""
    ARTIFACTS.mkdir(exist_ok=True)
    file = ARTIFACTS / "notebook-run-times.json"
    times = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    times[name] = round(seconds, 1)
    file.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n", encoding="utf-8")
