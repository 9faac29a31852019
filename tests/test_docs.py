"""Every ```python block in docs/ runs, and no Python block is switched off by accident.

Each page runs top to bottom in one namespace (as a reader would run it) in a scratch
folder holding ``data/``; a failure names ``docs/<page>.md:<line>`` and shows the failing
line. Passing results are cached so the site build shows this run's output without
running it again. A page runs in a Jupyter kernel together with its downloadable
notebook (``tools/page_kernel.py``: the code they share runs once), started for the
session by ``kernel_runs`` (``conftest.py``); the page's test waits for it.

"The full program" of a tutorial must run alone. The page runner already runs that block
in a fresh namespace, which catches a name it uses but does not define, at no extra cost.
Running it in a fresh Python process as well (its own imports, module state, working
folder) costs a torch import and a second run of the page's heaviest block, about a
minute for all pages on two cores: ``test_full_program_runs_in_a_fresh_interpreter``
does that only with ``pytest --fresh-interpreter`` (``python -m nox -s full-programs``).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import mktestdocs
import pytest

from tools import mnist_files, snippets

PAGES = snippets.pages()
IDS = [page.relative_to(snippets.ROOT).as_posix() for page in PAGES]
# Pages whose code reads the MNIST files carry the `mnist` marker: `pytest -m "not mnist"` skips them.
RUNS = [
    pytest.param(page, id=name, marks=[pytest.mark.mnist] if snippets.reads_mnist(page.read_text("utf-8")) else [])
    for page, name in zip(PAGES, IDS)
]
TUTORIALS = [page for page in PAGES if page.parent.name == "tutorials"]


@pytest.mark.parametrize("page", RUNS)
def test_page_runs(
    page: Path, docs_blocks_run: dict[str, int], kernel_runs: dict[str, Future], request: pytest.FixtureRequest
) -> None:
    text = page.read_text(encoding="utf-8")
    if not snippets.find_blocks(text):
        pytest.skip("no python blocks on this page")
    # With --reuse-page-results (the docs session), a page whose text, package, runner,
    # versions and settings are those of a passing run is not run again: its cached
    # result is that run's, and the budget is checked on it.
    cached = snippets.load_result(page) if request.config.getoption("--reuse-page-results") else None
    if cached is None:
        outcome = kernel_runs[snippets.page_name(page)].result()  # run with its notebook (tools/page_kernel.py)
        if outcome.page_error:
            pytest.fail(outcome.page_error, pytrace=False)
    result = cached or outcome.page
    docs_blocks_run[result.page] = len(result.blocks)
    budget = snippets.time_budget(text)
    assert result.cpu_seconds <= budget, (
        f"{result.page} used {result.cpu_seconds:.1f} s of CPU time, over its time budget of {budget:.0f} s "
        "(front matter `time_budget`, CPU seconds): make the page's code faster or smaller"
    )
    if cached is None:
        snippets.save_result(page, result)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_no_python_block_is_skipped_silently(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = snippets.suspicious_fences(text)
    assert not found, "\n".join(
        f"{page.relative_to(snippets.ROOT)}:{line}: `{fence}`: {why}; use ```python alone on its line "
        '(and check the fences above it), or ```py title="not run: <reason>" for code shown but not run'
        for line, fence, why in found
    )


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_blocks_match_mktestdocs(page: Path) -> None:
    """Our line-aware parser finds exactly the blocks mktestdocs would run."""
    text = page.read_text(encoding="utf-8")
    ours = [block.code for block in snippets.find_blocks(text)]
    theirs = mktestdocs.grab_code_blocks(text, lang="python")
    assert [code.strip() for code in ours] == [code.strip() for code in theirs]


def test_guard_reports_blocks_that_would_not_run() -> None:
    """The guard above can fail: each way of switching a block off by accident is reported."""
    text = "\n".join(
        [
            '```python title="x"',  # 1: has a title, so mktestdocs skips it
            "y = 2",
            "```",
            "~~~python",  # 4
            "z = 3",
            "~~~",
            '```py title="not run: needs a GPU"',  # 7: allowed, with its reason
            "w = 4",
            "```",
            "````markdown",  # 10: an example of Markdown, quoted
            "```pycon",
            "```",
            "````",
            "Prose that holds ``` flips the block count.",  # 14
            "```python",  # 15: read as the end of the block opened at line 14
            "x = 1",
            "```",
        ]
    )
    found = {line: why for line, _, why in snippets.suspicious_fences(text)}
    assert sorted(found) == [1, 4, 15]
    assert "opened at line 14" in found[15]
    assert [block.line for block in snippets.find_blocks(text)] == []


def test_blocks_keep_their_page_lines_and_indentation() -> None:
    """A block inside an admonition is found, dedented, and placed at its page line."""
    text = '# Page\n\n```python\na = 1\n```\n\n??? success "Solution"\n\n    ```python\n    b = a + 1\n    ```\n'
    first, second = snippets.find_blocks(text)
    assert (first.code, first.line, first.end_line, first.indent) == ("a = 1\n", 4, 5, "")
    assert (second.code, second.line, second.end_line, second.indent) == ("b = a + 1\n", 10, 11, "    ")


def test_time_budget_counts_cpu_time_not_waiting(tmp_path: Path) -> None:
    """Waiting (as on a machine busy with other programs) costs no budget; computing does,
    in subprocesses too."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport time\n\ntime.sleep(1.0)\n```\n\n"
        "```python\nimport subprocess\nimport sys\n\n"
        "subprocess.run([sys.executable, '-c', 'sum(range(30_000_000))'], check=True)\n```\n",
        encoding="utf-8",
    )
    result = snippets.run_page(page)
    assert result.cpu_seconds > 0.3  # the subprocess's work counts
    assert result.cpu_seconds < result.seconds - 0.8  # the second of sleep does not


def test_a_subprocess_ended_beside_a_page_is_not_charged_to_it(tmp_path: Path) -> None:
    """A subprocess that is not the page's, reaped by another thread, waits for the page to be done.

    A thread reaps a CPU-burning subprocess while the page sleeps, holding
    ``snippets.PAGE_RUNNING``, as a thread of this process that ends its own
    subprocesses beside the pages must; without the lock, the burner's CPU time would be
    charged to the page.
    """
    started = tmp_path / "started"
    burner = subprocess.Popen([sys.executable, "-c", "sum(range(40_000_000))"])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def reap() -> None:
        while not started.exists():  # the page's code is running, so it holds the lock
            time.sleep(0.01)
        with snippets.PAGE_RUNNING:
            burner.wait()

    page = tmp_path / "page.md"
    page.write_text(
        f"```python\nimport time\nfrom pathlib import Path\n\nPath({str(started)!r}).touch()\ntime.sleep(2.0)\n```\n",
        encoding="utf-8",
    )
    reaper = threading.Thread(target=reap)
    reaper.start()
    result = snippets.run_page(page)
    reaper.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    burned = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert burned > 0.3, f"the burner used only {burned:.2f} s of CPU: the check would prove nothing"
    assert result.cpu_seconds < 0.2, f"the page was charged {result.cpu_seconds:.2f} s of another process's CPU"


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_full_program_runs_in_a_fresh_interpreter(page: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The tutorial's full program runs alone: a new Python process, a scratch folder with data/."""
    if not request.config.getoption("--fresh-interpreter"):
        pytest.skip("runs with `pytest --fresh-interpreter` (the docs test runs it in a fresh namespace)")
    text = page.read_text(encoding="utf-8")
    block = snippets.full_program(snippets.find_blocks(text))
    assert block is not None, f"{page.relative_to(snippets.ROOT)} has no block under ## {snippets.FULL_PROGRAM}"
    if snippets.code_reads_mnist(block.code):
        mnist_files.copy_raw(mnist_files.raw_dir(), tmp_path / "data")
    script = tmp_path / "full_program.py"
    script.write_text("\n" * (block.line - 1) + block.code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{page.relative_to(snippets.ROOT)}:{block.line}: the full program fails alone "
        f"(line numbers below are the page's):\n{done.stderr[-3000:]}"
    )
