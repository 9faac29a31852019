"""The built site in a real browser: what a reader sees, on every page.

Every page is loaded from a local server in headless Chromium. Each one must render its
math with KaTeX (no raw TeX left in the text), log no console error, show no broken image,
and load nothing from outside the machine; a full-page screenshot of each is saved under
``test-artifacts/screenshots/``. Then the interactive parts: the copy button, search, the
dark-mode toggle, the notebook download and the "tested with" banner.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

pytest.register_assert_rewrite("builtsite")
pytest_plugins = ["builtsite"]

from builtsite import ARTIFACTS, SITE, page_url, site_pages  # noqa: E402

PAGES = site_pages() or ["(site not built)"]
TUTORIALS = [p for p in PAGES if p.startswith("tutorials/")] or ["(no tutorial pages)"]
WITH_NOTEBOOK = [
    p for p in site_pages() if 'class="md-button primer-download"' in (SITE / p).read_text(encoding="utf-8")
] or ["(no page offers a notebook)"]
SCREENSHOTS = ARTIFACTS / "screenshots"

#: Where the search test expects to find CrossEntropyLoss.
LOSS_CHAPTER = "tutorials/06-loss-functions/"
#: The copy button of a code block (Material 9.7+ ``md-code__button``; older ``md-clipboard``).
COPY_BUTTON = "button.md-code__button[data-md-type=copy], button.md-clipboard"

# Collects what the page says about its math once KaTeX has run.
MATH_STATE = r"""
() => {
  const spans = [...document.querySelectorAll('.arithmatex')];
  const unrendered = spans.filter(s => !s.querySelector('.katex')).map(s => s.textContent.trim().slice(0, 80));
  const failed = [...document.querySelectorAll('.katex-error')].map(e => e.title || e.textContent);
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, .katex, textarea').forEach(e => e.remove());
  const text = clone.textContent;
  const raw = [];
  // \( \) \[ \] $$, a TeX command, or $...$ inline math that never became KaTeX
  const patterns = [/\\\(/, /\\\)/, /\\\[/, /\\\]/, /\$\$/, /\\[a-zA-Z]{2,}/, /\$[^$\s\d][^$\n]{0,200}?[^$\s\\]\$/];
  for (const pattern of patterns) {
    const match = text.match(pattern);
    if (match) raw.push(text.slice(Math.max(0, match.index - 40), match.index + 40).replace(/\s+/g, ' '));
  }
  return {spans: spans.length, katex: document.querySelectorAll('.katex').length, unrendered, failed, raw};
}
"""

MATH_DONE = "() => [...document.querySelectorAll('.arithmatex')].every(s => s.querySelector('.katex'))"

# Loads lazy images now, so the screenshot and the broken-image check see every one.
LOAD_IMAGES = "() => document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })"
IMAGES_DONE = "() => [...document.images].every(i => i.complete)"
BROKEN_IMAGES = "() => [...document.images].filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'))"


def _require(page: str, placeholder_prefix: str = "(") -> None:
    if page.startswith(placeholder_prefix):
        pytest.fail(f"nothing to test: {page}", pytrace=False)


def _open(context, url: str):
    """Open ``url`` in a new tab that records console errors and uncaught exceptions."""
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.errors = []

    def on_console(message) -> None:
        # A request aborted for leaving the machine logs an error too; it is reported as a
        # blocked request (context.offline.blocked), not twice.
        if message.type == "error" and message.location.get("url") not in context.offline.blocked:
            tab.errors.append(f"{message.text} ({message.location.get('url')})")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    tab.goto(url, wait_until="load")
    tab.wait_for_load_state("networkidle")
    return tab


def _code_text(code) -> str:
    """The text of a highlighted ``<code>`` element, as a reader would copy it."""
    return code.evaluate("element => element.textContent")


def _normalized(code: str) -> str:
    """Code with trailing spaces and surrounding blank lines removed, for comparison."""
    return "\n".join(line.rstrip() for line in code.strip("\n").split("\n")).strip()


def _screenshot_name(page: str) -> str:
    return page.removesuffix(".html").replace("/", "__") + ".png"


def test_site_is_built(site_dir: Path) -> None:
    assert (site_dir / "index.html").is_file()
    assert (site_dir / "search" / "search_index.json").is_file()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_cleanly(page: str, context, site_url: str) -> None:
    """Math rendered, no console error, no broken image, nothing fetched from outside."""
    _require(page)
    tab = _open(context, page_url(site_url, page))
    try:
        tab.wait_for_function(MATH_DONE, timeout=10_000)
    except Exception:  # noqa: BLE001 - reported below with the unrendered formulas
        pass
    tab.evaluate(LOAD_IMAGES)
    tab.wait_for_function(IMAGES_DONE, timeout=10_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / _screenshot_name(page)), full_page=True)

    math = tab.evaluate(MATH_STATE)
    broken = tab.evaluate(BROKEN_IMAGES)
    problems = []
    if context.offline.blocked:
        problems.append(f"requests to other hosts (aborted): {context.offline.blocked}")
    if tab.errors:
        problems.append(f"console errors: {tab.errors}")
    if broken:
        problems.append(f"images that did not load: {broken}")
    if math["unrendered"]:
        problems.append(f"formulas KaTeX did not render: {math['unrendered']}")
    if math["failed"]:
        problems.append(f"formulas KaTeX could not parse: {math['failed']}")
    if math["raw"]:
        problems.append(f"raw TeX left in the text: {math['raw']}")
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_some_page_has_math(site_dir: Path) -> None:
    """Guards the math check above against passing only because no page has math."""
    assert any('class="arithmatex"' in (site_dir / p).read_text(encoding="utf-8") for p in site_pages())


def test_copy_button_copies_the_code(context, site_url: str, site_dir: Path) -> None:
    page = next((p for p in TUTORIALS if 'class="language-python' in (site_dir / p).read_text(encoding="utf-8")), None)
    assert page, "no tutorial page with a Python block to copy from"
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site_url)
    tab = _open(context, page_url(site_url, page))
    block = tab.locator("article div.language-python pre").first
    expected = _code_text(block.locator("code"))
    block.hover()
    button = block.locator(COPY_BUTTON)
    assert button.count() == 1, "the code block has no copy button"
    button.click()
    copied = tab.evaluate("() => navigator.clipboard.readText()")
    assert _normalized(copied) == _normalized(expected)
    assert "import" in copied
    assert not tab.errors


def test_search_finds_cross_entropy_loss(context, site_url: str) -> None:
    tab = _open(context, page_url(site_url, "index.html"))
    box = tab.locator("input.md-search__input")
    box.click()
    box.press_sequentially("CrossEntropyLoss", delay=20)
    results = tab.locator(".md-search-result__list a")
    results.first.wait_for(timeout=20_000)
    hrefs = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
    assert any(LOSS_CHAPTER in href for href in hrefs), (
        f"searching CrossEntropyLoss finds no result in {LOSS_CHAPTER}; results: {hrefs}"
    )
    assert not tab.errors


def test_dark_mode_toggle(context, site_url: str) -> None:
    tab = _open(context, page_url(site_url, "index.html"))

    def scheme() -> str:
        return tab.evaluate("() => document.body.getAttribute('data-md-color-scheme')")

    toggle = tab.locator("form[data-md-component=palette] label:not([hidden])")
    assert scheme() == "default"
    toggle.click()
    tab.wait_for_function("() => document.body.getAttribute('data-md-color-scheme') === 'slate'")
    tab.screenshot(path=str(SCREENSHOTS / "index-dark.png"))
    toggle.click()
    tab.wait_for_function("() => document.body.getAttribute('data-md-color-scheme') === 'default'")
    assert scheme() == "default"
    assert not tab.errors


@pytest.mark.parametrize("page", WITH_NOTEBOOK)
def test_notebook_download(page: str, context, site_url: str, tmp_path: Path) -> None:
    """The button delivers a valid notebook whose code cells are the page's code."""
    _require(page)
    tab = _open(context, page_url(site_url, page))
    with tab.expect_download() as download_info:
        tab.locator("a.primer-download").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".ipynb")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    notebook = nbformat.reads(target.read_text(encoding="utf-8"), as_version=4)
    nbformat.validate(notebook)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{download.suggested_filename} has no code cells"
    blocks = tab.locator("article div.language-python code")
    if blocks.count():
        first_block = _code_text(blocks.first)
        assert _normalized(code[0]) == _normalized(first_block), "the first code cell is not the page's first block"
    assert json.loads(target.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["language"] == "python"


@pytest.mark.parametrize("page", TUTORIALS)
def test_tutorial_shows_tested_with_banner(page: str, context, site_url: str) -> None:
    _require(page)
    tab = _open(context, page_url(site_url, page))
    banner = tab.locator("article .primer-tested")
    assert banner.count() == 1, f"{page} has no 'tested with' banner"
    assert banner.is_visible()
    text = banner.inner_text()
    assert re.search(
        r"Tested with torch \d+\.\d+\S* and torchvision \d+\.\d+\S* on \d{4}-\d{2}-\d{2}; "
        r"the code on this page ran in \d+\.\d s",
        text,
    ), text
    assert banner.locator("a.primer-download").is_visible()
