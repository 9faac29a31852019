"""Every internal link of the built site leads somewhere.

Each ``href`` and ``src`` of every HTML page that points inside the site must name a file
in ``site/``, and each ``#anchor`` an element id (or ``<a name>``) on the target page.
External links are listed but not fetched: the tests never use the network.
"""

from __future__ import annotations

import posixpath
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from conftest import SITE_PATH, require

LINK_ATTRIBUTES = {"href", "src"}
# Links that are not resources on this site (nor page anchors) and are never fetched.
NOT_CHECKED_SCHEMES = ("mailto:", "tel:", "javascript:", "data:", "blob:")


class _PageParser(HTMLParser):
    """Collects a page's links (with their line numbers) and its anchor targets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[int, str, str]] = []  # (line, tag, url)
        self.ids: set[str] = set()
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id",):
            if values.get(name):
                self.ids.add(values[name])
        if tag == "a" and values.get("name"):
            self.ids.add(values["name"])
        if tag == "base" and values.get("href"):
            self.base = values["href"]
        for name in LINK_ATTRIBUTES:
            url = values.get(name)
            if url is not None:
                self.links.append((self.getpos()[0], tag, url.strip()))
        if values.get("srcset"):
            for candidate in values["srcset"].split(","):
                if candidate.strip():
                    self.links.append((self.getpos()[0], tag, candidate.split()[0]))

    handle_startendtag = handle_starttag


@cache
def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _target_file(site: Path, page: str, path: str) -> Path:
    """The file a link's path part points at, seen from ``page`` (relative to the site)."""
    if path.startswith("/"):  # absolute: the site is served under SITE_PATH (site_url's path)
        if SITE_PATH and not (path == SITE_PATH or path.startswith(SITE_PATH + "/")):
            return site / ".." / "outside-the-site-path"
        resolved = posixpath.normpath(path[len(SITE_PATH) :].lstrip("/") or ".")
    else:
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    target = site / unquote(resolved) if resolved != "." else site
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target


def broken_links(site: Path, page: str) -> list[str]:
    """Describe every internal link of ``page`` whose file or anchor does not exist."""
    parser = _parse(site / page)
    problems = []
    for line, tag, url in parser.links:
        if not url or url.startswith(NOT_CHECKED_SCHEMES):
            continue
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            continue  # external: not fetched
        target = _target_file(site, page, parts.path) if parts.path else site / page
        if not target.resolve().is_relative_to(site.resolve()):
            problems.append(f"{page}:{line}: <{tag}> {url!r} points outside the site")
            continue
        if not target.is_file():
            problems.append(f"{page}:{line}: <{tag}> {url!r}: no file {target.relative_to(site)}")
            continue
        anchor = unquote(parts.fragment)
        if anchor and target.suffix == ".html" and anchor not in _parse(target).ids:
            problems.append(f"{page}:{line}: <{tag}> {url!r}: no id {anchor!r} on {target.relative_to(site)}")
    return problems


def test_internal_links_resolve(site_page: str, site_dir: Path) -> None:
    require(site_page)
    problems = broken_links(site_dir, site_page)
    assert not problems, "\n".join(problems)


def test_checker_finds_broken_links(tmp_path: Path) -> None:
    """The checker itself: a missing file, a missing anchor and a good link."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text('<h2 id="here">x</h2>', encoding="utf-8")
    (tmp_path / "index.html").write_text(
        '<a href="a/#here">ok</a><a href="a/#gone">bad anchor</a><img src="b.png">'
        '<a href="https://example.org/x">external</a><a href="#top">self</a><p id="top"></p>',
        encoding="utf-8",
    )
    problems = broken_links(tmp_path, "index.html")
    assert len(problems) == 2, problems
    assert "no id 'gone'" in problems[0]
    assert "no file b.png" in problems[1]
