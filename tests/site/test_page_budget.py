"""What each page costs a reader to download, against a stated budget.

Each page is opened in a browser with its cache off, as a first visit (in the one visit
of every page that ``conftest.py`` makes), and every file it loads until its search is
ready is recorded: the HTML, style sheets, scripts, the search index and the language
scripts of search, images (lazy ones included, as a reader scrolling the whole page
loads them) and the fonts KaTeX actually uses. A file's cost is
its size as a server sends it: text (HTML, CSS, JS, JSON, SVG) gzip-compressed at level
6, already compressed formats (PNG, WOFF2, ...) as they are. The totals go to
``test-artifacts/page-budget.json``; a page over ``PAGE_BUDGET_KB`` fails the test.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

from conftest import ARTIFACTS, Visit

#: Most a page may cost on a first visit, compressed, in KiB (1 KiB = 1024 bytes). What
#: every page loads (theme CSS and JS, KaTeX's script, the search index) is about 300 KiB
#: of it, the search index growing with the site: 139 KiB for the English edition, 189 KiB
#: for the Chinese one (jieba's word breaks are zero-width spaces in its text). The rest is
#: the page's own HTML, figures and the KaTeX fonts its math uses. The heaviest pages cost
#: about 570 KiB (English) and 625 KiB (Chinese).
PAGE_BUDGET_KB = 768
COMPRESSED_BY_SERVER = {".html", ".css", ".js", ".json", ".svg", ".xml", ".txt", ".map", ".ipynb"}
REPORT = ARTIFACTS / "page-budget.json"


@cache
def transfer_size(path: Path) -> int:
    """Bytes a server sends for ``path``: gzip level 6 for text, as-is for the rest."""
    data = path.read_bytes()
    if path.suffix in COMPRESSED_BY_SERVER:
        return len(gzip.compress(data, compresslevel=6, mtime=0))
    return len(data)


KINDS = {
    ".html": "html",
    ".css": "css",
    ".js": "js",
    ".json": "search index",
    ".woff2": "fonts",
    ".woff": "fonts",
    ".ttf": "fonts",
    ".png": "images",
    ".jpg": "images",
    ".jpeg": "images",
    ".svg": "images",
    ".gif": "images",
    ".webp": "images",
    ".ico": "images",
}


def _kind(path: Path) -> str:
    return KINDS.get(path.suffix, "other")


def test_pages_fit_the_budget(visits: dict[str, Visit]) -> None:
    report: dict[str, dict] = {}
    failed = {page: record.failure for page, record in visits.items() if record.failure}
    assert not failed, f"pages whose visit failed: {failed}"
    for page, record in visits.items():
        files = record.files
        by_kind: dict[str, int] = {}
        for path in files:
            by_kind[_kind(path)] = by_kind.get(_kind(path), 0) + transfer_size(path)
        total = sum(by_kind.values())
        report[page] = {
            "total_kb": round(total / 1024, 1),
            "files": len(files),
            "by_kind_kb": {kind: round(size / 1024, 1) for kind, size in sorted(by_kind.items())},
            "uncompressed_kb": round(sum(p.stat().st_size for p in files) / 1024, 1),
        }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "budget_kb": PAGE_BUDGET_KB,
                "measure": "first visit, empty cache; text gzip level 6, binary files as they are",
                "pages": report,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    over = {page: numbers["total_kb"] for page, numbers in report.items() if numbers["total_kb"] > PAGE_BUDGET_KB}
    assert not over, f"pages over the {PAGE_BUDGET_KB} KiB budget (see {REPORT}): {over}"
    assert report, "no pages measured"


def test_every_visit_loads_what_a_first_visit_loads(visits: dict[str, Visit], site_dir: Path) -> None:
    """Every page's visit fetched the theme's script and style and its edition's search index.

    The tabs are reused from page to page; a file served from a cache would be missing from
    the pages visited later, and their budget would be too small.
    """
    missing = {}
    for page, record in visits.items():
        if record.failure:
            continue  # reported by the budget test
        edition = site_dir / "zh" if page.startswith("zh/") else site_dir
        names = {path.name for path in record.files}
        expected = {"search_index.json", *(f.name for f in (site_dir / "assets").rglob("bundle.*.min.js"))}
        expected |= {f.name for f in (site_dir / "assets" / "stylesheets").glob("main.*.min.css")}
        lacking = sorted(expected - names)
        if (edition / "search" / "search_index.json") not in record.files:
            lacking.append(f"{edition.relative_to(site_dir.parent)}/search/search_index.json")
        if lacking:
            missing[page] = lacking
    assert not missing, f"visits that did not fetch every shared file (a cache served them?): {missing}"


def test_transfer_size_compresses_text_only(tmp_path: Path) -> None:
    text = tmp_path / "a.css"
    text.write_text("body { color: red; }\n" * 200)
    image = tmp_path / "a.png"
    image.write_bytes(bytes(range(256)) * 4)
    assert transfer_size(text) < text.stat().st_size / 10
    assert transfer_size(image) == image.stat().st_size
