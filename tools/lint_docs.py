"""Lint the ```python blocks of docs/ with ruff, reporting the pages' own line numbers.

The blocks of one page run in one namespace, one after the other, so they are linted the
same way: concatenated in order, each at its own lines, so that a name defined in an
earlier block is not "undefined" in a later one. A finding is reported as
``docs/<page>.md:<line>: CODE message`` at the line of the page where the code sits.

Some rules do not fit code written as a sequence of small teaching steps and are left
out for the docs only (see :data:`DOCS_IGNORE`).

    python -m tools.lint_docs            # every page; exit status 1 when anything is found
    python -m tools.lint_docs docs/tutorials/02-gradient-descent.md
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools import i18n, snippets

#: Rules switched off for the docs blocks (the project's other rules apply).
DOCS_IGNORE = (
    "E402",  # imports where a step first needs them, not all at the top of the page
    "F811",  # a later step redefines a name on purpose (a better version of a function)
    "I001",  # each step imports what it needs, in the order the prose introduces it
    "B018",  # a bare expression can be a step's point (e.g. a shape shown in a notebook)
    "B007",  # `for step in range(n)` names what the loop counts, even when the body does not use it
)


@dataclass
class Finding:
    """One ruff finding, placed at a page line."""

    page: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.code} {self.message}"


def concatenate(blocks: list[snippets.Block]) -> tuple[str, list[int]]:
    """The blocks as one Python text, and for each of its lines (0-based) the page line it came from."""
    text_lines: list[str] = []
    page_lines: list[int] = []
    for block in blocks:
        code = block.code.rstrip("\n").split("\n")
        text_lines += code + [""]
        page_lines += list(range(block.line, block.line + len(code))) + [block.line + len(code)]
    return "\n".join(text_lines) + "\n", page_lines


def ruff_json(source: str, filename: str) -> list[dict]:
    """ruff's findings for ``source`` (read from stdin as ``filename``), as its JSON records."""
    command = [
        sys.executable,
        "-m",
        "ruff",
        "check",
        "--output-format",
        "json",
        "--no-fix",
        "--exit-zero",
        "--extend-ignore",
        ",".join(DOCS_IGNORE),
        "--stdin-filename",
        filename,
        "-",
    ]
    done = subprocess.run(command, input=source, capture_output=True, text=True, cwd=snippets.ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ruff failed on {filename}: {done.stderr.strip()}")
    return json.loads(done.stdout or "[]")


def lint_page(path: Path) -> list[Finding]:
    """Findings for the page at ``path`` (none when it has no ```python blocks)."""
    blocks = snippets.find_blocks(path.read_text(encoding="utf-8"))
    if not blocks:
        return []
    source, page_lines = concatenate(blocks)
    resolved = path.resolve()
    name = resolved.relative_to(snippets.ROOT).as_posix() if resolved.is_relative_to(snippets.ROOT) else str(path)
    findings = []
    for record in ruff_json(source, f"{name}.py"):
        row = record["location"]["row"]
        line = page_lines[row - 1] if 0 < row <= len(page_lines) else blocks[0].line
        findings.append(Finding(name, line, record["code"] or "E999", record["message"]))
    return sorted(findings, key=lambda f: (f.page, f.line, f.code))


def main(argv: list[str] | None = None) -> int:
    """Lint the pages named in ``argv`` (default: every page of both editions); print findings; 1 when any.

    The Chinese pages run the English code (``tools/i18n.py``) but their comments are
    their own, so they are linted too (line length counts a Chinese character as two).
    """
    paths = [Path(arg) for arg in argv] if argv else snippets.pages() + sorted(i18n.ZH_DOCS.rglob("*.md"))
    findings = [finding for path in paths for finding in lint_page(path)]
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} finding(s) in the docs' python blocks", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
