"""Fixtures for the tests of the built site: the site folder, a local server, a browser.

Test modules here load them with ``pytest_plugins = ["builtsite"]``: a second ``conftest.py``
would shadow the module ``conftest`` that ``tests/test_docs.py`` imports from.

These tests check ``site/`` as a reader gets it, so build it first
(``mkdocs build --strict --site-dir site``, which ``python -m nox -s tests`` does before
running them). ``TORCHPRIMER_SITE_DIR`` points them at another build folder.

The browser is a system Chromium driven by Playwright. It is looked up on this machine
(``TORCHPRIMER_CHROMIUM``, then the usual command names); when none is found and the tests
run as root where ``apt-get`` exists (a fresh CI machine), Debian's ``chromium`` package is
installed. Only where no browser can be had do the browser tests skip, and they say why.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("TORCHPRIMER_SITE_DIR", ROOT / "site")).resolve()
ARTIFACTS = ROOT / "test-artifacts"

#: Flags that let Chromium run headless in a container and keep it from calling home.
CHROMIUM_ARGS = [
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


@pytest.fixture(scope="session")
def site_dir() -> Path:
    """The built site; fails (does not skip) when it has not been built."""
    if not (SITE / "index.html").is_file():
        pytest.fail(MISSING_SITE.format(site=SITE), pytrace=False)
    return SITE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serve files without logging every request to the terminal."""

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
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium() -> str | None:
    """Path of a Chromium on this machine, or None."""
    configured = os.environ.get("TORCHPRIMER_CHROMIUM")
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
    configured = os.environ.get("TORCHPRIMER_CHROMIUM")
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


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    """One headless Chromium for the whole run, with a fresh temporary profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives the browser a new, empty user-data-dir that is deleted on close.
        instance = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


class Offline:
    """Records every request that would leave the machine, and aborts it."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def route(self, route) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


@pytest.fixture
def context(browser, site_url: str):
    """A fresh browser context (light scheme, desktop size) in which nothing leaves 127.0.0.1.

    ``context.offline.blocked`` lists the requests that tried to.
    """
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900},
        color_scheme="light",
        accept_downloads=True,
        service_workers="block",
    )
    offline = Offline()
    ctx.route("**/*", offline.route)
    ctx.offline = offline
    try:
        yield ctx
    finally:
        ctx.close()
