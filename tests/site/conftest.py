"""Fixtures for the tests of the built site: the site folder, a local server, one browser,
and one visit of every page that all the per-page checks read.

These tests check ``site/`` as a reader gets it, so build it first
(``mkdocs build --strict --site-dir site``, which ``python -m nox -s tests`` does before
running them). ``TORCHPRIMER_SITE_DIR`` points them at another build folder.

The browser is a system Chromium driven by Playwright. It is looked up on this machine
(``TORCHPRIMER_CHROMIUM``, then the usual command names); when none is found and the tests
run as root where ``apt-get`` exists (a fresh CI machine), Debian's ``chromium`` package is
installed. Only where no browser can be had do the browser tests skip, and they say why.

Speed: one Chromium serves the whole run. Every page is opened once, as a first visit
(the browser's cache is off and storage is cleared between pages), and that one visit
records what every per-page test checks: console errors, requests leaving the machine,
math, images, the "tested with" banner, the notebook download and the files loaded; it
also saves a screenshot (``test-artifacts/screenshots/``: the first screen, or the whole
page where a check fails or ``TORCHPRIMER_SCREENSHOTS=full``) and its own timing per step
(``test-artifacts/site-visits.json``). ``PARALLEL_PAGES`` tabs visit the pages, each
keeping its tab from page to page (Playwright's async API on one event loop); the
interactive checks (``@interaction``) run in the tab that has just visited their page. Each visit waits for specific
conditions (math typeset, images and fonts loaded, search ready, no request in flight),
never for a fixed time. The tests then only read the records, and a failure names its page.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tools import settings

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(settings.get("TORCHPRIMER_SITE_DIR") or ROOT / "site").resolve()
ARTIFACTS = ROOT / "test-artifacts"


def _site_path() -> str:
    """The path part of ``site_url`` in mkdocs.yml (``/torchprimer`` for a project site, else ``""``).

    The site is served under it, as in production: pages such as ``404.html`` link their
    assets with absolute paths that start with it.
    """
    match = re.search(r"^site_url:\s*[\"']?(\S+?)[\"']?\s*$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    return urlsplit(match.group(1)).path.rstrip("/") if match else ""


#: Where the site lives on its server: the local server serves it under the same path.
SITE_PATH = _site_path()
SCREENSHOTS = ARTIFACTS / "screenshots"
#: ``top``: each page's first screen, whole pages only where a check fails; ``full``: every page whole.
SCREENSHOT_MODE = settings.get("TORCHPRIMER_SCREENSHOTS")
if SCREENSHOT_MODE not in ("top", "full"):
    raise pytest.UsageError(f"TORCHPRIMER_SCREENSHOTS must be top or full, not {SCREENSHOT_MODE!r}")

#: Tabs visiting pages at the same time, each in its own context of the one browser: one
#: per core, at least two. With each tab kept from page to page, two tabs visited every
#: page of the site faster than four or six on a 2-core machine (the browser alone then
#: fills both cores) and faster than one (which leaves a core idle while it waits).
PARALLEL_PAGES = max(2, os.cpu_count() or 2)
#: The longest any single wait of a visit may take, in milliseconds.
TIMEOUT_MS = 20_000

#: Where Chromium sends every request that is not for 127.0.0.1 (loopback never goes
#: through a proxy): a port on this machine where nothing listens, so such a request
#: fails at once, never leaving the machine, and is recorded (``Offline``).
DEAD_PROXY = "http://127.0.0.1:9"
#: Flags that let Chromium run headless in a container and keep it from calling home.
CHROMIUM_ARGS = [
    f"--proxy-server={DEAD_PROXY}",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

MISSING_SITE = (
    "The built site was not found at {site}. Build it first: "
    "`mkdocs build --strict --site-dir site` (or `python -m nox -s docs`); "
    "`python -m nox -s tests` builds it before running these tests."
)

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
# Loads lazy images now, so the screenshot, the broken-image check and the page budget see every one.
LOAD_IMAGES = "() => document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })"
IMAGES_DONE = "() => [...document.images].every(i => i.complete)"
FONTS_DONE = "() => document.fonts.ready.then(() => true)"
BROKEN_IMAGES = "() => [...document.images].filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'))"
# The "tested with" banner as a reader sees it: how many, visible or not, its text and its download link.
BANNER_STATE = r"""
() => {
  const shown = e => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  const banners = [...document.querySelectorAll('article .primer-tested')];
  const first = banners[0];
  return {
    count: banners.length,
    visible: shown(first),
    text: first ? first.innerText : '',
    download_visible: shown(first && first.querySelector('a.primer-download')),
  };
}
"""
# Material's search shows its "initializing" text (the argument) until its worker has fetched
# the index, loaded the language's scripts and built the index; only then has the page
# loaded every file a first visit loads.
SEARCH_READY = """
(initializing) => {
  const meta = document.querySelector('.md-search-result__meta');
  return !meta || meta.textContent.trim() !== initializing;
}
"""
#: Run after each visit, so the next page of the same tab starts as a first visit.
CLEAR_STORAGE = "() => { localStorage.clear(); sessionStorage.clear(); }"
FIRST_PYTHON_BLOCK = (
    "() => { const c = document.querySelector('article div.language-python code'); return c ? c.textContent : null; }"
)


def site_pages() -> list[str]:
    """Every HTML page of the built site, as paths relative to the site folder."""
    if not (SITE / "index.html").is_file():
        return []
    return sorted(path.relative_to(SITE).as_posix() for path in SITE.rglob("*.html"))


def page_url(base: str, page: str) -> str:
    """The URL a reader would use for ``page`` (``a/index.html`` is served as ``a/``)."""
    if page == "index.html":
        return base + "/"
    if page.endswith("/index.html"):
        return f"{base}/{page[: -len('index.html')]}"
    return f"{base}/{page}"


def _offers_notebook(page: str) -> bool:
    return 'class="md-button primer-download"' in (SITE / page).read_text(encoding="utf-8")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize by built page: ``site_page`` (every page), ``tutorial_page``, ``notebook_page``.

    An unbuilt site gives one placeholder id, whose test fails saying what is missing.
    """
    pages = site_pages()
    groups = {
        "site_page": pages,
        "tutorial_page": [p for p in pages if p.startswith(("tutorials/", "zh/tutorials/"))],
        "notebook_page": [p for p in pages if _offers_notebook(p)],
    }
    for name, values in groups.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values or [f"(no {name.replace('_', ' ')} in {SITE})"])


def require(page: str) -> None:
    """Fail, naming what is missing, for the placeholder of an unbuilt site."""
    if page.startswith("("):
        pytest.fail(f"nothing to test: {page}. " + MISSING_SITE.format(site=SITE), pytrace=False)


@pytest.fixture(scope="session")
def site_dir() -> Path:
    """The built site; fails (does not skip) when it has not been built."""
    if not (SITE / "index.html").is_file():
        pytest.fail(MISSING_SITE.format(site=SITE), pytrace=False)
    return SITE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serve the site under ``SITE_PATH``, without logging every request to the terminal.

    Every response says ``Cache-Control: no-store``: the browser keeps nothing, so every
    visit fetches every file it uses, as a reader's first visit does.
    """

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def translate_path(self, path: str) -> str:
        if not (path == SITE_PATH or path.startswith(SITE_PATH + "/")):
            return str(Path(self.directory) / "no such file outside the site path")
        return super().translate_path(path[len(SITE_PATH) :] or "/")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass


@pytest.fixture(scope="session")
def site_url(site_dir: Path) -> Iterator[str]:
    """Serve the built site on 127.0.0.1 (a free port) from a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{SITE_PATH}"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium() -> str | None:
    """Path of a Chromium on this machine, or None."""
    configured = settings.get("TORCHPRIMER_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def install_chromium() -> str:
    """Install Debian's ``chromium`` with apt-get; return why not when that is not possible."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not running as root, so it cannot be installed here"
    if shutil.which("apt-get") is None:
        return "apt-get is not available to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            return f"`{' '.join(command)}` failed: " + " | ".join(tail)
    return ""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """A Chromium to drive: found on this machine, or installed with apt-get when possible."""
    configured = settings.get("TORCHPRIMER_CHROMIUM")
    if configured and not Path(configured).is_file():
        pytest.skip(f"TORCHPRIMER_CHROMIUM is set to {configured}, which is not a file")
    path = find_chromium()
    if path is None:
        reason = install_chromium()
        path = find_chromium()
        if path is None:
            pytest.skip(
                "No Chromium found for the browser tests "
                f"(looked for {', '.join(CHROMIUM_NAMES)} and $TORCHPRIMER_CHROMIUM) and "
                f"{reason or 'installing it did not provide one'}. Install it with "
                "`apt-get install chromium` or set TORCHPRIMER_CHROMIUM to a Chrome/Chromium binary."
            )
    return path


class Browser:
    """One headless Chromium for the whole run, driven through Playwright's async API.

    Its event loop runs only inside :meth:`run`, which the (synchronous) tests call with a
    coroutine; between calls nothing is pending.
    """

    def __init__(self, chromium_path: str) -> None:
        from playwright.async_api import async_playwright

        self.loop = asyncio.new_event_loop()
        self._playwright = self.run(async_playwright().start())
        # launch() gives the browser a new, empty user-data-dir that is deleted on close.
        self.browser = self.run(
            self._playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        )

    def run(self, coroutine):
        """Run ``coroutine`` on the browser's event loop; return its result."""
        return self.loop.run_until_complete(coroutine)

    async def new_context(self, **options):
        """A fresh context (light scheme, desktop size) in which nothing leaves 127.0.0.1.

        ``context.offline.blocked`` lists the requests that tried to.
        """
        context = await self.browser.new_context(
            viewport={"width": 1280, "height": 900},
            color_scheme="light",
            accept_downloads=True,
            service_workers="block",
            **options,
        )
        offline = Offline()
        context.on("requestfailed", offline.failed)
        context.offline = offline
        return context

    def close(self) -> None:
        self.run(self.browser.close())
        self.run(self._playwright.stop())
        self.loop.close()


class Offline:
    """Records every request that tried to leave the machine.

    Chromium sends each such request to ``DEAD_PROXY``, where it fails; this lists them.
    """

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def failed(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
            self.blocked.append(request.url)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """The one browser of the run."""
    instance = Browser(chromium_path)
    try:
        yield instance
    finally:
        instance.close()


@dataclass
class Visit:
    """What one visit of a page found; every per-page test reads its part."""

    page: str
    failure: str = ""  # the visit itself broke (a timeout, a crash): every test of the page fails with it
    blocked: list[str] = field(default_factory=list)  # requests to other hosts, aborted
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    broken_images: list[str] = field(default_factory=list)
    math: dict = field(default_factory=dict)  # MATH_STATE
    banner: dict = field(default_factory=dict)  # BANNER_STATE
    files: list[Path] = field(default_factory=list)  # site files loaded, each once, in order
    first_block: str | None = None  # text of the page's first Python block
    notebook_name: str = ""  # the download's suggested file name, when the page offers one
    notebook_text: str = ""
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, in test-artifacts/site-visits.json

    def has_problems(self) -> bool:
        """Whether a rendering check of the page fails (its tests say which): it is then shot whole."""
        math = self.math or {}
        found = (self.errors, self.broken_images, self.blocked, *(math.get(k) for k in ("unrendered", "failed", "raw")))
        return any(found)

    def lap(self, name: str, since: float) -> float:
        """Record the seconds of step ``name`` begun at ``since``; return now."""
        now = time.perf_counter()
        self.phases[name] = round(now - since, 2)
        return now


async def _screenshot(tab, page: str, whole: bool) -> None:
    """Save a JPEG of the page under ``test-artifacts/screenshots/``: its first screen, or all of it.

    A whole long page costs the browser about a quarter of the visit, so by default only
    pages with a problem are taken whole (``TORCHPRIMER_SCREENSHOTS=full`` takes every
    page whole). JPEG, because encoding a long page as PNG costs more than the rest of a visit.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (page.removesuffix(".html").replace("/", "__") + ".jpg")
    await tab.screenshot(path=str(path), full_page=whole, type="jpeg", quality=70)


def search_initializing(page_file: Path) -> str:
    """The text the page's search shows until it is ready, as the built HTML has it ("" without search)."""
    match = re.search(r'class="md-search-result__meta">([^<]*)<', page_file.read_text(encoding="utf-8"))
    return match.group(1).strip() if match else ""


async def wait_for_search(tab, page_file: Path, timeout_ms: int) -> None:
    """Wait until the search of the page built from ``page_file`` is ready (its index built)."""
    await tab.wait_for_function(SEARCH_READY, arg=search_initializing(page_file), timeout=timeout_ms)


async def _settle(tab, in_flight: set, page_file: Path) -> None:
    """Wait until math is typeset, every image and font is loaded, search is ready and no request is in flight."""
    try:
        await tab.wait_for_function(MATH_DONE, timeout=10_000)
    except Exception:  # noqa: BLE001 - reported by the math check with the unrendered formulas
        pass
    await tab.evaluate(LOAD_IMAGES)
    await tab.wait_for_function(IMAGES_DONE, timeout=10_000)
    await tab.evaluate(FONTS_DONE)
    await wait_for_search(tab, page_file, timeout_ms=10_000)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while in_flight and time.monotonic() < deadline:  # e.g. the sitemap, fetched after load
        await asyncio.sleep(0.02)


def _site_file(address: str, site: Path) -> Path | None:
    """The file of ``site`` a request fetched, or None for anything else."""
    parts = urlsplit(address)
    if parts.hostname != "127.0.0.1" or not parts.path.startswith(SITE_PATH + "/"):
        return None
    path = site / unquote(parts.path[len(SITE_PATH) :]).lstrip("/")
    if path.is_dir():
        path = path / "index.html"
    return path if path.is_file() else None


class Tab:
    """One browser tab that visits pages one after another, each as a reader's first visit.

    A new browser context per page would start a new renderer process per page, which cost
    about as much CPU as the page itself. The tab is kept instead, and each visit still
    starts from nothing a page could reuse: routing every request (``Offline``) turns the
    browser's cache off, so every file is fetched again, and local and session storage are
    cleared after each visit. A visit that breaks gets the next page a new context.
    """

    def __init__(self, browser: Browser, base: str) -> None:
        self.browser = browser
        self.base = base
        self.context = None
        self.tab = None
        self.record: Visit | None = None  # the visit under way: the tab's events are written into it
        self.in_flight: set = set()
        self.fetched: list[str] = []

    async def open(self) -> None:
        """A new context and tab whose events go to the current visit's record."""
        self.context = await self.browser.new_context()
        # For the copy button's check, which reads what it copied (nothing else uses the clipboard).
        await self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.base)
        self.context.on("request", lambda request: self.in_flight.add(request))
        self.context.on("requestfailed", lambda request: self.in_flight.discard(request))
        self.context.on("requestfinished", self._finished)
        self.tab = await self.context.new_page()
        self.tab.set_default_timeout(TIMEOUT_MS)
        self.tab.on("console", self._console)
        self.tab.on("pageerror", lambda error: self.record.errors.append(f"uncaught: {error}"))

    def _finished(self, request) -> None:
        self.in_flight.discard(request)
        self.fetched.append(request.url)

    def _console(self, message) -> None:
        # A request aborted for leaving the machine logs an error too; it is reported as a
        # blocked request, not twice.
        if message.type == "error" and message.location.get("url") not in self.context.offline.blocked:
            self.record.errors.append(f"{message.text} ({message.location.get('url')})")

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()
        self.context = self.tab = None

    async def visit(self, site: Path, page: str, downloads: Path, outcomes: dict[str, object]) -> Visit:
        """Open ``page`` and record everything the per-page tests check; then run its interactions.

        Each interaction registered for the page (:func:`interaction`) runs in this tab
        right after the visit, and what it returned or raised goes into ``outcomes``.
        """
        record = self.record = Visit(page)
        start = lap = time.perf_counter()
        if self.tab is None:
            await self.open()
        self.in_flight.clear()
        self.fetched.clear()
        self.context.offline.blocked.clear()
        tab = self.tab
        try:
            await tab.goto(page_url(self.base, page), wait_until="load")
            lap = record.lap("load", start)
            await _settle(tab, self.in_flight, site / page)
            lap = record.lap("settle", lap)
            record.math = await tab.evaluate(MATH_STATE)
            record.broken_images = await tab.evaluate(BROKEN_IMAGES)
            record.banner = await tab.evaluate(BANNER_STATE)
            record.first_block = await tab.evaluate(FIRST_PYTHON_BLOCK)
            record.files = list(dict.fromkeys(f for f in (_site_file(a, site) for a in self.fetched) if f is not None))
            if await tab.locator("a.primer-download").count():
                async with tab.expect_download() as download_info:
                    await tab.locator("a.primer-download").first.click()
                download = await download_info.value
                record.notebook_name = download.suggested_filename
                target = downloads / f"{page.replace('/', '__')}--{download.suggested_filename}"
                await download.save_as(target)
                record.notebook_text = target.read_text(encoding="utf-8")
            lap = record.lap("checks and download", lap)
            record.blocked = list(self.context.offline.blocked)
            await _screenshot(tab, page, whole=SCREENSHOT_MODE == "full" or record.has_problems())
            lap = record.lap("screenshot", lap)
        except Exception as error:  # noqa: BLE001 - the page's tests report it, naming the page
            record.failure = f"{type(error).__name__}: {error}"
            record.blocked = list(self.context.offline.blocked)
            await self.close()  # the next page starts in a new context
        for name, function in INTERACTIONS.get(page, []):
            outcomes[name] = await self.interact(page, name, function, record)
        if INTERACTIONS.get(page):
            record.lap("interactions", lap)
        if self.tab is not None:
            await self.tab.evaluate(CLEAR_STORAGE)
        record.seconds = time.perf_counter() - start
        return record

    async def interact(self, page: str, name: str, function: Callable, visit: Visit) -> object:
        """Run interaction ``name`` on ``page`` as the visit left it; return what it returned or raised."""
        if visit.failure:
            return AssertionError(f"{name} did not run: the visit of {page} failed: {visit.failure}")
        self.record = Visit(page)  # the console errors of the interaction, apart from the visit's
        self.context.offline.blocked.clear()
        view = View(page=page, tab=self.tab, context=self.context, site_url=self.base, errors=self.record.errors)
        try:
            return await function(view)
        except Exception as error:  # noqa: BLE001 - raised again by the interaction's own test
            await self.close()  # a tab left in an unknown state: the next page starts in a new context
            return error
        finally:
            self.record = visit


@dataclass
class View:
    """What an interaction works with: the tab, on its page as the visit left it."""

    page: str  # the site page, e.g. ``index.html``
    tab: object  # the Playwright page
    context: object  # its browser context (``context.offline.blocked``: requests that tried to leave)
    site_url: str
    errors: list[str]  # console errors and uncaught exceptions since the interaction began


async def visit_all(browser: Browser, base: str, site: Path, pages: list[str], downloads: Path) -> Runs:
    """Visit ``pages`` on ``PARALLEL_PAGES`` tabs, each taking the next page when it is done."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for page in pages:
        queue.put_nowait(page)
    records: dict[str, Visit] = {}
    outcomes: dict[str, object] = {}

    async def worker() -> None:
        tab = Tab(browser, base)
        try:
            while not queue.empty():
                page = queue.get_nowait()
                records[page] = await tab.visit(site, page, downloads, outcomes)
        finally:
            await tab.close()

    await asyncio.gather(*(worker() for _ in range(PARALLEL_PAGES)))
    return Runs({page: records[page] for page in pages}, outcomes)


#: The interactive checks (copy button, search, language switcher, ...), registered by the
#: test modules with :func:`interaction`, by the page they start on. Each is a coroutine
#: function taking a :class:`View`; it runs in the tab that has just visited its page, so
#: it costs no page load of its own, and its test then reads its outcome.
INTERACTIONS: dict[str | None, list[tuple[str, Callable[[View], Awaitable]]]] = {}


def interaction(page: str | None) -> Callable:
    """Register the decorated function to run on ``page`` right after its visit; its test reads
    ``browser_runs.outcome(name)``. ``None`` (no such page in the build) never runs: its test fails."""

    def register(function: Callable[[View], Awaitable]) -> Callable[[View], Awaitable]:
        INTERACTIONS.setdefault(page, []).append((function.__name__, function))
        return function

    return register


@dataclass
class Runs:
    """What the browser did in the run: every page's visit and every interaction's outcome."""

    visits: dict[str, Visit]
    outcomes: dict[str, object]  # interaction name -> what it returned, or the exception it raised

    def outcome(self, name: str) -> object:
        """What interaction ``name`` returned; re-raises what it raised (a failed assert fails the test)."""
        if name not in self.outcomes:
            pages = [page for page, found in INTERACTIONS.items() for n, _ in found if n == name]
            raise AssertionError(f"{name} did not run: its page {pages} is not in the built site")
        value = self.outcomes[name]
        if isinstance(value, BaseException):
            raise value
        return value


@pytest.fixture(scope="session")
def browser_runs(browser: Browser, site_url: str, site_dir: Path) -> Iterator[Runs]:
    """One visit of every page of the site and every interaction, made once for the whole run."""
    start = time.perf_counter()
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # no screenshot of a page that no longer exists

    with tempfile.TemporaryDirectory(prefix="torchprimer-site-downloads-") as downloads:
        runs = browser.run(visit_all(browser, site_url, site_dir, site_pages(), Path(downloads)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "site-visits.json").write_text(
        json.dumps(
            {
                "parallel_pages": PARALLEL_PAGES,
                "seconds": round(time.perf_counter() - start, 1),
                "pages": {page: {"seconds": round(r.seconds, 2), **r.phases} for page, r in runs.visits.items()},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    yield runs


@pytest.fixture(scope="session")
def visits(browser_runs: Runs) -> dict[str, Visit]:
    """Every page's visit, by page."""
    return browser_runs.visits


@pytest.fixture
def page_visit(request: pytest.FixtureRequest, visits: dict[str, Visit]) -> Visit:
    """The visit of the page this test is parametrized with; fails when the visit itself broke."""
    names = [name for name in ("site_page", "tutorial_page", "notebook_page") if name in request.fixturenames]
    page = request.getfixturevalue(names[0])
    require(page)
    record = visits[page]
    if record.failure:
        pytest.fail(f"{page}: the visit failed: {record.failure}", pytrace=False)
    return record
