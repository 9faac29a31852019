"""The built site in a real browser: what a reader sees, on every page.

Every page is opened once from a local server in headless Chromium (``conftest.py``:
the ``visits`` fixture). Each one must render its math with KaTeX (no raw TeX left in the
text), log no console error, show no broken image, and load nothing from outside the
machine; a screenshot of each is saved under ``test-artifacts/screenshots/`` (JPEG: its first
screen, the whole page where a check fails or with ``TORCHPRIMER_SCREENSHOTS=full``).
Every tutorial shows the "tested with" banner, and every page that offers a notebook
delivers a valid one. Then the interactive parts: the copy button, search, the language
switcher and the dark-mode toggle. Each runs on its page right after that page's visit, in
the same tab (``@interaction``, in ``conftest.py``), and each test reads its outcome.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from conftest import SCREENSHOTS, SITE, Runs, View, Visit, interaction, page_url, wait_for_search

from tools import notebooks

#: Where the search tests expect to find CrossEntropyLoss (English) and 交叉熵 (Chinese).
LOSS_CHAPTER = "tutorials/06-loss-functions/"
#: The longest the search tests wait for search to be ready (a hang guard, not a budget).
SEARCH_READY_MS = 90_000
#: The copy button of a code block (Material 9.7+ ``md-code__button``; older ``md-clipboard``).
COPY_BUTTON = "button.md-code__button[data-md-type=copy], button.md-clipboard"
BANNER = re.compile(
    r"Tested with torch \d+\.\d+\S* and torchvision \d+\.\d+\S* on \d{4}-\d{2}-\d{2}; "
    r"the code on this page ran in \d+\.\d s"
)
BANNER_ZH = re.compile(
    r"已在 torch \d+\.\d+\S* 和 torchvision \d+\.\d+\S* 下测试（\d{4}-\d{2}-\d{2}）；"
    r"本页代码在构建机器的 CPU 上运行了 \d+\.\d 秒"
)


def _normalized(code: str) -> str:
    """Code with trailing spaces and surrounding blank lines removed, for comparison."""
    return "\n".join(line.rstrip() for line in code.strip("\n").split("\n")).strip()


def test_site_is_built(site_dir: Path) -> None:
    assert (site_dir / "index.html").is_file()
    assert (site_dir / "search" / "search_index.json").is_file()


def test_page_renders_cleanly(site_page: str, page_visit: Visit) -> None:
    """Math rendered, no console error, no broken image, nothing fetched from outside."""
    problems = []
    if page_visit.blocked:
        problems.append(f"requests to other hosts (aborted): {page_visit.blocked}")
    if page_visit.errors:
        problems.append(f"console errors: {page_visit.errors}")
    if page_visit.broken_images:
        problems.append(f"images that did not load: {page_visit.broken_images}")
    if page_visit.math["unrendered"]:
        problems.append(f"formulas KaTeX did not render: {page_visit.math['unrendered']}")
    if page_visit.math["failed"]:
        problems.append(f"formulas KaTeX could not parse: {page_visit.math['failed']}")
    if page_visit.math["raw"]:
        problems.append(f"raw TeX left in the text: {page_visit.math['raw']}")
    assert not problems, f"{site_page}:\n  " + "\n  ".join(problems)


def test_some_page_has_math(site_dir: Path) -> None:
    """Guards the math check above against passing only because no page has math."""
    assert any('class="arithmatex"' in p.read_text(encoding="utf-8") for p in site_dir.rglob("*.html"))


def test_notebook_download(notebook_page: str, page_visit: Visit) -> None:
    """The button delivers a valid notebook whose code cells are the page's code."""
    name, text = page_visit.notebook_name, page_visit.notebook_text
    assert name.endswith(".ipynb"), f"{notebook_page}: the download is {name!r}, not a notebook"
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    setup = _normalized(notebooks.setup_cell().source)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code" and _normalized(cell.source) != setup]
    assert code, f"{notebook_page}: {name} has no code cells besides the Colab setup cell"
    if page_visit.first_block is not None:
        assert _normalized(code[0]) == _normalized(page_visit.first_block), (
            f"{notebook_page}: the first code cell of {name} is not the page's first block"
        )
    assert json.loads(text)["metadata"]["kernelspec"]["language"] == "python", notebook_page


def test_tutorial_shows_tested_with_banner(tutorial_page: str, page_visit: Visit) -> None:
    banner = page_visit.banner
    assert banner["count"] == 1, f"{tutorial_page} has {banner['count']} 'tested with' banners, not 1"
    assert banner["visible"], f"{tutorial_page}: the banner is hidden"
    expected = BANNER_ZH if tutorial_page.startswith("zh/") else BANNER
    assert expected.search(banner["text"]), f"{tutorial_page}: {banner['text']!r}"
    assert banner["download_visible"], f"{tutorial_page}: the banner's notebook download is hidden"


def _copy_page() -> str | None:
    """The first tutorial page of the built site with a Python block."""
    for page in sorted((SITE / "tutorials").rglob("*.html")):
        if 'class="language-python' in page.read_text(encoding="utf-8"):
            return page.relative_to(SITE).as_posix()
    return None


@interaction(_copy_page())
async def copy_button(view: View) -> None:
    block = view.tab.locator("article div.language-python pre").first
    expected = await block.locator("code").evaluate("element => element.textContent")
    await block.hover()
    button = block.locator(COPY_BUTTON)
    assert await button.count() == 1, f"{view.page}: the code block has no copy button"
    await button.click()
    copied = await view.tab.evaluate("() => navigator.clipboard.readText()")
    assert _normalized(copied) == _normalized(expected), view.page
    assert "import" in copied, view.page
    assert not view.errors, f"{view.page}: {view.errors}"


def test_copy_button_copies_the_code(browser_runs: Runs) -> None:
    browser_runs.outcome("copy_button")


async def _search(view: View, query: str) -> list[str]:
    """Type ``query`` into the search box of the view's page and return the results' addresses."""
    # Type once search is ready (the visit waited for it; building the index of a whole
    # edition can take a busy machine many seconds). Material searches on each key released
    # in the box; text with no key of its own (Chinese, entered through an input method)
    # arrives whole, and the key that commits it is released after: the same here with
    # fill() and End. Typed before search was ready, the query was searched only where the
    # index happened to be built after the typing: a race, which a busy machine lost.
    await wait_for_search(view.tab, SITE / view.page, timeout_ms=SEARCH_READY_MS)
    box = view.tab.locator("input.md-search__input")
    await box.click()
    await box.fill(query)
    await box.press("End")
    results = view.tab.locator(".md-search-result__list a")
    await results.first.wait_for(timeout=20_000)
    hrefs = [await results.nth(i).get_attribute("href") or "" for i in range(await results.count())]
    await box.press("Escape")  # search closed, as the page's other interactions expect it
    assert not view.errors, view.errors
    return hrefs


@interaction("index.html")
async def english_search(view: View) -> list[str]:
    return await _search(view, "CrossEntropyLoss")


@interaction("zh/index.html")
async def chinese_search(view: View) -> list[str]:
    return await _search(view, "交叉熵")


def test_search_finds_cross_entropy_loss(browser_runs: Runs) -> None:
    hrefs = browser_runs.outcome("english_search")
    assert any(LOSS_CHAPTER in href and "/zh/" not in href for href in hrefs), (
        f"searching CrossEntropyLoss finds no result in {LOSS_CHAPTER}; results: {hrefs}"
    )


def test_chinese_search_finds_the_loss_chapter(browser_runs: Runs, site_url: str) -> None:
    """交叉熵 (cross-entropy) is one word of the Chinese index, found in the Chinese loss chapter."""
    hrefs = browser_runs.outcome("chinese_search")
    assert any(LOSS_CHAPTER in href for href in hrefs), (
        f"searching 交叉熵 on the Chinese edition finds no result in zh/{LOSS_CHAPTER}; results: {hrefs}"
    )
    assert all("/zh/" in href or not href.startswith(site_url) for href in hrefs), hrefs


def test_pages_declare_their_language(site_dir: Path) -> None:
    """``<html lang>`` is zh on every page of site/zh/ and en on every other page."""
    wrong = []
    for page in sorted(site_dir.rglob("*.html")):
        name = page.relative_to(site_dir).as_posix()
        match = re.search(r"<html[^>]*\blang=\"([^\"]+)\"", page.read_text(encoding="utf-8"))
        expected = "zh" if name.startswith("zh/") else "en"
        if match is None or match.group(1) != expected:
            wrong.append(f"{name}: lang={match.group(1) if match else None}, expected {expected}")
    assert not wrong, "\n".join(wrong)


SWITCHER_PAGE = "tutorials/06-loss-functions/index.html"


@interaction(SWITCHER_PAGE)
async def language_switcher(view: View) -> None:
    """From a chapter, 中文 opens the same chapter in Chinese, and English leads back to it."""
    tab, page = view.tab, view.page

    async def switch(name: str) -> None:
        await tab.locator("button[aria-label] + .md-select__inner, .md-select").first.hover()
        link = tab.locator(f"a.md-select__link:text-is('{name}')")
        await link.click()
        await tab.wait_for_load_state("load")

    await switch("中文")
    assert tab.url == page_url(view.site_url, "zh/" + page), tab.url
    assert await tab.evaluate("() => document.documentElement.lang") == "zh"
    assert await tab.locator("#step-3-the-shapes-cross-entropy-expects").count() == 1, (
        "the Chinese page lacks the English section anchor"
    )
    await switch("English")
    assert tab.url == page_url(view.site_url, page), tab.url
    assert await tab.evaluate("() => document.documentElement.lang") == "en"
    assert not view.errors, view.errors


def test_language_switcher_leads_to_the_same_page(browser_runs: Runs) -> None:
    browser_runs.outcome("language_switcher")


OUTSIDE = ["https://cdn.example.com/lib.js", "http://10.255.255.1/image.png"]


@interaction("index.html")
async def outside_requests(view: View) -> None:
    """Guards the no-outside-request check: a request by name or by address fails, and is listed."""
    fetched = await view.tab.evaluate(
        "async urls => Promise.all(urls.map(u => fetch(u).then(() => true, () => false)))", OUTSIDE
    )
    assert fetched == [False, False], f"a request left the machine: {dict(zip(OUTSIDE, fetched))}"
    assert sorted(view.context.offline.blocked) == sorted(OUTSIDE), view.context.offline.blocked


def test_requests_to_other_hosts_fail_and_are_recorded(browser_runs: Runs) -> None:
    browser_runs.outcome("outside_requests")


SCHEME = "() => document.body.getAttribute('data-md-color-scheme')"


@interaction("index.html")
async def dark_mode(view: View) -> None:
    tab = view.tab
    toggle = tab.locator("form[data-md-component=palette] label:not([hidden])")
    assert await tab.evaluate(SCHEME) == "default"
    await toggle.click()
    await tab.wait_for_function(f"() => ({SCHEME})() === 'slate'")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await tab.screenshot(path=str(SCREENSHOTS / "index-dark.png"))
    await toggle.click()
    await tab.wait_for_function(f"() => ({SCHEME})() === 'default'")
    assert await tab.evaluate(SCHEME) == "default"
    assert not view.errors, view.errors


def test_dark_mode_toggle(browser_runs: Runs) -> None:
    browser_runs.outcome("dark_mode")
