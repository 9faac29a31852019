"""Every ```python block in docs/ runs, and no Python block is switched off by accident.

Each page runs top to bottom in one namespace (as a reader would run it) in a scratch
folder; a failure names ``docs/<page>.md:<line>`` and shows the failing line. Passing
results are cached so the site build shows this run's output without running it again.
"""

from __future__ import annotations

from pathlib import Path

import mktestdocs
import pytest

import snippets
from conftest import DOCS_BLOCKS_RUN

PAGES = snippets.pages()
IDS = [page.relative_to(snippets.ROOT).as_posix() for page in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_page_runs(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    if not snippets.find_blocks(text):
        pytest.skip("no python blocks on this page")
    result = snippets.run_page(page)
    DOCS_BLOCKS_RUN[result.page] = len(result.blocks)
    budget = snippets.time_budget(text)
    assert result.seconds <= budget, (
        f"{result.page} took {result.seconds:.1f} s, over its time budget of {budget:.0f} s "
        "(front matter `time_budget`): make the page's code faster or smaller"
    )
    snippets.save_result(page, result)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_no_python_block_is_skipped_silently(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    found = snippets.suspicious_fences(text)
    assert not found, "\n".join(
        f"{page.relative_to(snippets.ROOT)}:{line}: `{fence}` looks like Python but would not run; "
        "use ```python, or ```py title=\"not run: <reason>\" for code shown but not run"
        for line, fence in found
    )


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_blocks_match_mktestdocs(page: Path) -> None:
    """Our line-aware parser finds exactly the blocks mktestdocs would run."""
    text = page.read_text(encoding="utf-8")
    ours = [block.code for block in snippets.find_blocks(text)]
    theirs = mktestdocs.grab_code_blocks(text, lang="python")
    assert [code.strip() for code in ours] == [code.strip() for code in theirs]
