"""Find and run the code blocks of a documentation page.

Every ```python fence of a page runs, in order, in one namespace, the way a reader who
copies the blocks one after the other into a Python session would run them. The tests
run each page in a Jupyter kernel together with its notebook (``tools/page_kernel.py``);
:func:`run_page` runs it in this process, for the site build when a page has no tested
result yet (``mkdocs serve`` after an edit) and for the runner's own tests. Both use the
same loop (``tools/blocks.py``) and cache their results here under the same key, so the
output and the figures shown on a page are those of the code that ran.

Blocks are found with the same rule as mktestdocs (a line holding three backticks opens
or closes a block; the info string must be exactly ``python``), but with their line
numbers kept, so that a failure reads ``docs/<page>.md:<line>``. Each block is compiled
with the page as its file name and its first line at the page's line number, which makes
tracebacks point at the Markdown source itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

from tools import blocks, mnist_files, settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CACHE = ROOT / ".cache" / "pages"

#: The budget a page gets when its front matter names none, in CPU seconds (see time_budget).
DEFAULT_TIME_BUDGET = 60.0

#: The most threads PyTorch may use while a page runs. Budgets are counted in CPU time, which
#: does not grow when other programs share the machine; bounding the threads keeps that count
#: comparable between a 2-core laptop and a 64-core server.
PAGE_THREADS = 2

FENCE = "```"
#: The section whose first block must run alone (in a fresh namespace, see run_page).
FULL_PROGRAM = "The full program"
# An opening fence whose language is Python-like but that mktestdocs would not run.
_PYTHON_LIKE = re.compile(r"^\s*(`{3,}|~{3,})\s*\{?\.?(python|py|pycon|python3|py3)\b(?P<rest>.*)$")


@dataclass
class Block:
    """One runnable block: its dedented code and where it sits in the page."""

    code: str
    line: int  # 1-based line of the first code line (the line after the fence)
    end_line: int  # 1-based line of the closing fence
    indent: str  # indentation of the fence (blocks inside admonitions are indented)
    section: str = ""  # the ``## `` heading the block sits under ("" before the first one)


@dataclass
class BlockResult:
    """What one block printed and drew."""

    stdout: str
    figures: list[dict[str, str]] = field(default_factory=list)  # {"png": base64, "alt": text}


@dataclass
class PageResult:
    """The outcome of running every block of a page."""

    page: str
    blocks: list[BlockResult]
    seconds: float  # wall-clock time, shown to readers as "ran in ... s"
    cpu_seconds: float = math.nan  # CPU time of the page's code and its subprocesses, all threads
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d"))


class SnippetError(AssertionError):
    """A block of a page raised; the message names ``docs/<page>.md:<line>``."""


def front_matter(text: str) -> dict:
    """Return the YAML front matter of a Markdown page (empty when there is none)."""
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.DOTALL)
    return yaml.safe_load(match.group(1)) or {} if match else {}


def time_budget(text: str) -> float:
    """CPU seconds a page's code may use, from its ``time_budget`` front matter key.

    CPU time (of every thread, plus the subprocesses a page starts and waits for) is what
    the budget counts, not wall-clock time: another busy program on the machine slows a
    page down but does not add to its CPU time, so the check holds on a shared machine.
    """
    return float(front_matter(text).get("time_budget", DEFAULT_TIME_BUDGET))


def find_blocks(text: str) -> list[Block]:
    """Return the ```python blocks of ``text`` in order, with their line numbers."""
    blocks: list[Block] = []
    lines = text.split("\n")
    opening: int | None = None
    section = ""
    for number, line in enumerate(lines, start=1):
        if FENCE not in line:
            if opening is None and line.startswith("## "):
                section = line[3:].strip()
            continue
        if opening is None:
            opening = number
            continue
        fence = lines[opening - 1]
        if fence.lstrip() == FENCE + "python":
            body = "\n".join(lines[opening : number - 1])
            blocks.append(
                Block(
                    code=textwrap.dedent(body) + "\n",
                    line=opening + 1,
                    end_line=number,
                    indent=fence[: len(fence) - len(fence.lstrip())],
                    section=section,
                )
            )
        opening = None
    return blocks


_READS_MNIST = re.compile(r"\b(MNIST|mnist|preload_mnist|mnist_loaders)\(")


def reads_mnist(text: str) -> bool:
    """Whether a page's code loads the MNIST files (it then needs them in its data root)."""
    return any(code_reads_mnist(block.code) for block in find_blocks(text))


def code_reads_mnist(code: str) -> bool:
    """Whether Python ``code`` loads the MNIST files (``datasets.MNIST(...)``, ``preload_mnist(...)``, ...)."""
    return _READS_MNIST.search(code) is not None


def full_program(blocks: list[Block]) -> Block | None:
    """The first block under ``## The full program``, which must run alone; None without one."""
    return next((block for block in blocks if block.section == FULL_PROGRAM), None)


def suspicious_fences(text: str) -> list[tuple[int, str, str]]:
    """Fences that look like Python but would be skipped silently.

    Returns ``(line, fence, why)`` triples. ``py`` fences are allowed only with a reason:
    the same line must carry a title, e.g. ```` ```py title="not run: needs a GPU" ````.
    A ```` ```python ```` line that the block rule reads as the *end* of a block (a stray
    line holding three backticks above it flipped the count) is reported too, unless it is
    quoted inside a fence of four or more backticks, such as an example of Markdown.
    """
    found = []
    opened_at: int | None = None  # the line that opened the current block, by the mktestdocs rule
    quote: str | None = None  # the fence of an enclosing ````-block, where fences are examples
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        quoting = quote is not None
        if quote is None and re.match(r"^`{4,}(?!`)", stripped):
            quote = re.match(r"^`+", stripped).group(0)
        elif quote is not None and stripped == quote:
            quote = None
        match = _PYTHON_LIKE.match(line)
        if match and not quoting and quote is None:
            fence, lang, rest = match.group(1), match.group(2), match.group("rest")
            shown_with_reason = fence == FENCE and lang == "py" and "title=" in rest
            if opened_at is not None and FENCE in line:
                found.append((number, stripped, f"it closes the block opened at line {opened_at}, so it does not run"))
            elif not (line.lstrip() == FENCE + "python" or shown_with_reason):
                found.append((number, stripped, "it looks like Python but would not run"))
        if FENCE in line:
            opened_at = number if opened_at is None else None
    return found


@contextlib.contextmanager
def _page_sandbox(mnist_raw: Path | None):
    """Run inside a fresh scratch folder holding a private copy of the MNIST files.

    Pages use ``root="data"`` like a reader would; the copy lets torchvision find the
    files without touching the network or writing next to the shared originals.
    """
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="primer-page-") as scratch:
        if mnist_raw is not None and mnist_raw.is_dir():
            mnist_files.copy_raw(mnist_raw, Path(scratch) / "data")
        os.chdir(scratch)
        try:
            yield Path(scratch)
        finally:
            os.chdir(previous)


#: Held while a page runs. The children's CPU time a page is charged with is that of every
#: subprocess this process reaped meanwhile, so a thread that runs its own CPU-heavy
#: subprocesses beside the pages waits for this lock before ending one. (The notebook
#: tests' Jupyter kernels need not: they are children of a fork server, not of this process.)
PAGE_RUNNING = threading.Lock()


#: CPU seconds used so far by this process (all threads) and its reaped subprocesses.
#: Subprocesses count once reaped; see :data:`PAGE_RUNNING` for those that are not a page's.
cpu_time = blocks.cpu_time


@contextlib.contextmanager
def _bounded_threads(limit: int = PAGE_THREADS):
    """Let PyTorch use at most ``limit`` threads inside the block (restored afterwards)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, min(limit, os.cpu_count() or 1)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_page(path: Path) -> PageResult:
    """Run every block of the page at ``path`` in one namespace; raise SnippetError on failure."""
    __tracebackhide__ = True  # pytest shows the page location, not this runner
    import matplotlib

    matplotlib.use("Agg")
    settings.apply_defaults()  # e.g. TORCHPRIMER_SYNTHETIC_CIFAR, whoever runs the page
    text = path.read_text(encoding="utf-8")
    name = page_name(path)
    raw = mnist_files.find_raw()
    if raw is None and reads_mnist(text):
        raw = mnist_files.raw_dir()  # downloads into the cache once, or says where the files go
    with PAGE_RUNNING, _page_sandbox(raw), _bounded_threads():
        start, cpu_start = time.perf_counter(), cpu_time()
        found = find_blocks(text)
        alone = full_program(found)
        results, error = blocks.run_blocks(
            [(block.code, block.line) for block in found],
            {"__name__": "__main__"},
            str(ROOT / name),
            name,
            str(ROOT),
            alone=found.index(alone) if alone is not None else None,
        )
        if error is not None:
            raise SnippetError(error)
        seconds, cpu_seconds = time.perf_counter() - start, cpu_time() - cpu_start
    return PageResult(page=name, blocks=[block_result(r) for r in results], seconds=seconds, cpu_seconds=cpu_seconds)


def page_name(path: Path) -> str:
    """The page's path from the repository root (``docs/tutorials/x.md``), or its absolute path outside it."""
    resolved = path.resolve()
    return resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else resolved.as_posix()


def block_result(outcome: dict) -> BlockResult:
    """A block's ``{"stdout", "figures"}`` as :func:`tools.blocks.run_blocks` returns it."""
    return BlockResult(stdout=outcome["stdout"], figures=outcome["figures"])


def _source_fingerprint() -> str:
    """A hash of the package sources, this runner and the pinned versions: a change re-runs pages."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    runner = ("snippets.py", "blocks.py", "page_kernel.py", "settings.py", "mnist_files.py")
    files = sorted((ROOT / "src").rglob("*.py")) + [here / name for name in runner]
    constraints = ROOT / "requirements" / "constraints.txt"
    if constraints.is_file():
        files.append(constraints)
    for file in files:
        label = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else file.name
        digest.update(label.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


#: Environment variables that change what a page computes (CIFAR-10 pages run on a
#: synthetic stand-in when it is "1"), so their values are part of the cache key. Derived
#: from ``tools/settings.py``, the one list of the project's variables.
CACHE_ENV = settings.output_affecting()


#: The packages whose versions a page's run depends on, named in its cache key and its banner.
TESTED_PACKAGES = ("torch", "torchvision")


def tested_versions() -> dict[str, str]:
    """The installed versions of :data:`TESTED_PACKAGES` (e.g. ``{"torch": "2.5.1+cpu", ...}``).

    Read from the packages' metadata: importing torch and torchvision to ask them costs a
    process about four CPU seconds (torchvision imports torch's compiler stack).
    """
    return {name: metadata.version(name) for name in TESTED_PACKAGES}


def cache_key(path: Path) -> str:
    """Key under which a page's results are cached.

    It changes with the page's text, the package sources, this runner, the pinned versions
    (``requirements/constraints.txt``), the installed torch and torchvision, and the
    environment variables of :data:`CACHE_ENV` (the versions: :func:`tested_versions`).
    """
    digest = hashlib.sha256(path.read_bytes())
    digest.update(_source_fingerprint().encode())
    digest.update(" ".join(f"{name} {version}" for name, version in tested_versions().items()).encode())
    for name in CACHE_ENV:
        digest.update(f"\0{name}={settings.get(name) or ''}".encode())
    return digest.hexdigest()[:32]


def _cache_file(path: Path, key: str = "*") -> Path:
    """``.cache/pages/<page>.<key>.json``, e.g. ``docs--tutorials--01-x.md.<key>.json``."""
    resolved = path.resolve()
    name = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else resolved.name
    return CACHE / f"{name.replace('/', '--')}.{key}.json"


def save_result(path: Path, result: PageResult) -> None:
    """Cache a page's results so that the site build shows them without running it again.

    The page's older results (from an earlier text or package) are removed.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    payload = {
        "page": result.page,
        "seconds": result.seconds,
        "cpu_seconds": result.cpu_seconds,
        "date": result.date,
        "blocks": [{"stdout": b.stdout, "figures": b.figures} for b in result.blocks],
    }
    target = _cache_file(path, cache_key(path))
    for stale in CACHE.glob(_cache_file(path).name):
        stale.unlink()
    partial = target.with_suffix(".tmp")
    partial.write_text(json.dumps(payload), encoding="utf-8")
    partial.replace(target)


def load_result(path: Path) -> PageResult | None:
    """Return a page's cached results, or None when the page or the package changed since."""
    target = _cache_file(path, cache_key(path))
    if not target.is_file():
        return None
    payload = json.loads(target.read_text(encoding="utf-8"))
    blocks = [BlockResult(stdout=b["stdout"], figures=b["figures"]) for b in payload["blocks"]]
    return PageResult(payload["page"], blocks, payload["seconds"], payload["cpu_seconds"], payload["date"])


def pages() -> list[Path]:
    """Every Markdown page under docs/, in a stable order."""
    return sorted(DOCS.rglob("*.md"))
