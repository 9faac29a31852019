"""A page and its notebook in one kernel (``tools/page_kernel.py``): outputs, failures, CPU time.

Each test writes a small page and runs it the way the docs tests run every page: the
code before the first solution once for both, the rest of the page in a copy of the
kernel, the rest of the notebook in the kernel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import kernel_forks, page_kernel

LIMIT_S = 60
FENCE = "```"


def page(*parts: str) -> str:
    """A page whose ``parts`` are prose, or code (a part starting with ``>``: the rest is a block).

    A code part starting with ``>>`` is a solution: a block folded in a ``???`` admonition.
    """
    lines = ["# A page", ""]
    for part in parts:
        if part.startswith(">>"):
            body = "\n".join("    " + line for line in part[2:].strip().split("\n"))
            lines += ['??? success "Solution"', "", f"    {FENCE}python", body, f"    {FENCE}", ""]
        elif part.startswith(">"):
            lines += [f"{FENCE}python", part[1:].strip(), FENCE, ""]
        else:
            lines += [part, ""]
    return "\n".join(lines)


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.split("\n"), 1) if needle in line)


def assert_names_line(message: str | None, text: str, code: str, error: str) -> None:
    """``message`` names the line of ``text`` holding ``code`` as ``page.md:<line>: <error>``, and shows it."""
    assert message is not None
    assert f"page.md:{line_of(text, code)}: {error}" in message, message
    assert code in message


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return page_kernel.kernel_env(threads=1)


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[kernel_forks.ForkServer]:
    started = kernel_forks.ForkServer(env)
    started.start()
    yield started
    started.stop()


def run(tmp_path: Path, text: str, server: kernel_forks.ForkServer, env: dict[str, str]) -> page_kernel.Outcome:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    folder = tmp_path / "run"
    folder.mkdir()
    return page_kernel.run(path, folder, LIMIT_S, env, server)


BURN = "sum(i * i for i in range(3_000_000))"


def test_each_block_keeps_its_output_and_the_page_its_cpu_time(tmp_path: Path, server, env) -> None:
    text = page(
        f"> x = 1\n{BURN}\nprint('shared', x)",
        "## The full program",
        "> import matplotlib.pyplot as plt\ny = 2\nplt.figure()\nplt.title('a line')\nplt.plot([0, y])\n"
        "print('full', y)",
        "## Exercises",
        f">> z = x + y\n{BURN}\nprint('solution', z)",
        "> print('after', x, y)",
    )
    outcome = run(tmp_path, text, server, env)
    assert outcome.page_error is None and outcome.notebook_error is None
    result = outcome.page
    assert [block.stdout for block in result.blocks] == ["shared 1\n", "full 2\n", "solution 3\n", "after 1 2\n"]
    assert [figure["alt"] for figure in result.blocks[1].figures] == ["a line"]
    assert result.blocks[1].figures[0]["png"]  # saved as the page run saves it
    # Two CPU-bound loops, one before the first solution (the kernel's) and one after (its copy's).
    start = time.process_time()
    exec(BURN)  # noqa: S102 - the same loop, timed here
    one_loop = time.process_time() - start
    assert result.cpu_seconds > 1.5 * one_loop, (result.cpu_seconds, one_loop)
    assert result.page.endswith("page.md")


def test_the_full_program_runs_without_the_names_before_it(tmp_path: Path, server, env) -> None:
    text = page("> x = 1", "## The full program", "> print(x + 1)")
    outcome = run(tmp_path, text, server, env)
    assert outcome.page is None
    assert_names_line(outcome.page_error, text, "print(x + 1)", "NameError")
    assert outcome.notebook_error == outcome.page_error


def test_a_notebook_that_needs_a_solution_fails_while_the_page_runs(tmp_path: Path, server, env) -> None:
    """The notebook folds solutions into its Markdown: a later cell using a solution's name fails there."""
    text = page("> x = 1", ">> helper = x + 1", "> print(helper)")
    outcome = run(tmp_path, text, server, env)
    assert outcome.page_error is None
    assert [block.stdout for block in outcome.page.blocks] == ["", "", "2\n"]
    assert_names_line(outcome.notebook_error, text, "print(helper)", "NameError")


def test_a_failing_solution_names_its_page_line(tmp_path: Path, server, env) -> None:
    text = page("> x = 1", ">> y = x / 0", "> print(x)")
    outcome = run(tmp_path, text, server, env)
    assert outcome.page is None
    assert_names_line(outcome.page_error, text, "y = x / 0", "ZeroDivisionError")
    assert outcome.notebook_error is None  # the notebook has no solution cell


def test_a_function_from_an_earlier_cell_is_named_where_it_fails(tmp_path: Path, server, env) -> None:
    text = page("> def half(n):\n    return n / 0", "> half(4)")
    outcome = run(tmp_path, text, server, env)
    assert_names_line(outcome.page_error, text, "return n / 0", "ZeroDivisionError")


def test_the_kernel_namespace_gets_no_helper_names(tmp_path: Path, server, env) -> None:
    """The runner's requests leave the notebook's namespace as Run All would."""
    text = page(
        "> a = 1", "## The full program", "> b = 2", "> print(sorted(k for k in dir() if not k.startswith('_')))"
    )
    outcome = run(tmp_path, text, server, env)
    names = eval(outcome.page.blocks[2].stdout)  # noqa: S307 - the list the page printed
    ipython = {"In", "Out", "get_ipython", "exit", "quit", "open"}  # the kernel's own
    assert set(names) - ipython == {"a", "b", "subprocess", "sys"}  # the page's, and the setup cell's imports


def test_a_page_without_solutions_runs_in_the_kernel_alone(tmp_path: Path, server, env) -> None:
    text = page("> import os\nprint(os.getpid())")
    outcome = run(tmp_path, text, server, env)
    assert outcome.page_error is None and outcome.notebook_error is None
    assert int(outcome.page.blocks[0].stdout) != os.getpid()  # ran in the kernel, not here


def test_a_page_rest_that_runs_too_long_is_stopped(tmp_path: Path, server, env) -> None:
    path = tmp_path / "page.md"
    path.write_text(page("> x = 1", ">> import time\ntime.sleep(60)", "> print(x)"), encoding="utf-8")
    folder = tmp_path / "run"
    folder.mkdir()
    start = time.monotonic()
    outcome = page_kernel.run(path, folder, 3, env, server)
    assert time.monotonic() - start < 30
    assert "ran over 3 s" in outcome.page_error
    assert outcome.notebook_error is None
