"""Every downloadable notebook runs from top to bottom ("Run All") in a fresh Jupyter kernel.

The notebooks are made the way the site build makes them: each page with ```python
blocks through ``tools/notebooks.from_markdown`` (after MkDocs' own front-matter split),
each project notebook ``docs/notebooks/*.py`` through ``tools/notebook_pages.to_ipynb``
(``tools/page_kernel.build_notebook``). Each one runs in a new kernel whose working
folder holds ``data/MNIST/raw`` with the original MNIST files, as a reader's fresh folder
would. The runs are started for the session by ``kernel_runs`` (``conftest.py``), two at a
time, each kernel with half the CPU threads; the kernels are forks of one process that
imported torch, torchvision, matplotlib and ipykernel first (``tools/kernel_forks.py``).

A page's notebook runs together with the page itself (``tools/page_kernel.py``): the
cells before the page's first exercise solution are the page's blocks and run once for
both; from there the kernel goes on with the notebook's cells, without the solutions, as
Run All does. A project notebook's run is kept for the site build
(``notebook_pages.store_executed``), which then shows it instead of running the notebook
again. A notebook may take a few times its page's ``time_budget`` (kernel start and a
busy machine included); run times are written to ``test-artifacts/notebook-run-times.json``.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path

import jupytext
import nbclient
import nbformat
import pytest

from tools import notebook_pages, notebooks, page_kernel, snippets

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def _pages() -> list[Path]:
    return [page for page in snippets.pages() if snippets.find_blocks(page.read_text(encoding="utf-8"))]


def _project_notebooks() -> list[Path]:
    return sorted((ROOT / "docs" / "notebooks").glob("*.py"))


NOTEBOOK_SOURCES = {path.relative_to(ROOT).as_posix(): path for path in [*_pages(), *_project_notebooks()]}
build_notebook = page_kernel.build_notebook


@pytest.mark.parametrize("name", sorted(NOTEBOOK_SOURCES))
def test_notebook_runs_top_to_bottom(name: str, kernel_runs: dict[str, Future], mnist_root: Path) -> None:
    path = NOTEBOOK_SOURCES[name]
    outcome = kernel_runs[name].result()
    if path.suffix == ".md":  # run with its page (tools/page_kernel.py)
        if outcome.notebook_error:
            pytest.fail(f"the downloadable notebook fails under Run All: {outcome.notebook_error}", pytrace=False)
        seconds = outcome.notebook_seconds
    else:
        notebook, seconds = outcome
        if isinstance(seconds, nbclient.exceptions.CellExecutionError):
            message = page_kernel.without_colours(str(seconds))
            pytest.fail(
                f"{failing_location(path, notebook)}: the downloadable notebook fails under Run All:\n{message}",
                pytrace=False,
            )
        if isinstance(seconds, BaseException):
            raise seconds
    limit = page_kernel.limit_seconds(path)
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
