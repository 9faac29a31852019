"""The Chinese edition: where its pages live and the proof that they run the English code.

Every page of ``docs/`` has a Chinese counterpart at the same path under ``docs-zh/``
(plus pages only the Chinese edition has, such as the glossary). A Chinese page is a
translation of the prose only: block by block, its ```python code must be the same
program as the English page's. :func:`compare` checks this on the parsed syntax trees,
which ignore comments and layout, so comments may be translated while code and printed
strings may not. Because the programs are the same, the Chinese build shows the
English page's tested run instead of running the page again
(``tools/mkdocs_hooks.py``).

Headings are paired the same way: a Chinese page has the English page's headings, in
the same order and at the same levels, and each Chinese heading gets the English
heading's anchor (:func:`with_english_anchors`), so links with ``#anchors`` and the
language switcher land on the same section in both languages.

Run ``python -m tools.i18n`` to check every page (or ``python -m tools.i18n PAGE ...``).
"""

from __future__ import annotations

import ast
import posixpath
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from tools import snippets

ROOT = snippets.ROOT
EN_DOCS = snippets.DOCS
ZH_DOCS = ROOT / "docs-zh"
#: Page files (relative to a docs folder) that only the Chinese edition has.
ZH_ONLY = frozenset({"glossary.md"})
#: What a translated page is made of: Markdown pages and percent-format notebooks.
PAGE_PATTERNS = ("*.md", "notebooks/*.py")

_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.*?)(?:\s*\{[^}]*\})?\s*$")
_FENCE_OPEN = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})")


@dataclass(frozen=True)
class Heading:
    """A Markdown heading outside code: its 1-based line, level and title."""

    line: int
    level: int
    title: str


def page_files(docs: Path) -> list[str]:
    """The pages of a docs folder, as paths relative to it (``tutorials/01-....md``)."""
    found = {p.relative_to(docs).as_posix() for pattern in PAGE_PATTERNS for p in docs.rglob(pattern)}
    return sorted(name for name in found if not name.startswith(("assets/", "javascripts/", "stylesheets/")))


def counterpart(path: Path) -> Path:
    """The same page in the other language (``docs/x.md`` <-> ``docs-zh/x.md``)."""
    path = path.resolve()
    if path.is_relative_to(ZH_DOCS):
        return EN_DOCS / path.relative_to(ZH_DOCS)
    return ZH_DOCS / path.relative_to(EN_DOCS)


def code_blocks(path: Path) -> list[snippets.Block]:
    """The runnable code of a page: its ```python blocks, or a notebook's code cells."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return notebook_cells(text)
    return snippets.find_blocks(text)


def notebook_cells(text: str) -> list[snippets.Block]:
    """The code cells of a percent-format notebook (``# %%`` starts a cell, ``# %% [markdown]`` prose)."""
    cells: list[snippets.Block] = []
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("# %%")] + [len(lines)]
    for start, end in zip(starts, starts[1:]):
        if "[markdown]" in lines[start]:
            continue
        code = "\n".join(lines[start + 1 : end]).strip("\n") + "\n"
        cells.append(snippets.Block(code=code, line=start + 2, end_line=end, indent=""))
    return cells


def program(code: str) -> str:
    """What a block computes, without comments or layout: its syntax tree, dumped."""
    return ast.dump(ast.parse(code), include_attributes=False)


def headings(text: str) -> list[Heading]:
    """The headings of a Markdown page, skipping those inside fenced code."""
    found: list[Heading] = []
    fence: str | None = None
    in_front_matter = text.startswith("---\n")
    for number, line in enumerate(text.split("\n"), start=1):
        if in_front_matter:
            in_front_matter = number == 1 or line != "---"
            continue
        opening = _FENCE_OPEN.match(line)
        if opening:
            mark = opening.group("fence")
            if fence is None:
                fence = mark
            elif mark.startswith(fence) and line.strip() == mark:
                fence = None
            continue
        match = _HEADING.match(line) if fence is None else None
        if match:
            found.append(Heading(number, len(match.group("hashes")), match.group("title")))
    return found


def compare(en: Path, zh: Path) -> list[str]:
    """What differs between an English page and its translation, each as ``page:line: problem``.

    Checked: the same number of code blocks, each the same program (comments aside); for
    Markdown pages, the same headings (count and levels, in order) and front matter.
    """
    shown, english = _shown(zh), _shown(en)
    problems: list[str] = []
    en_blocks, zh_blocks = code_blocks(en), code_blocks(zh)
    if len(en_blocks) != len(zh_blocks):
        problems.append(f"{shown}:1: {len(zh_blocks)} code blocks, the English page has {len(en_blocks)}")
    for number, (a, b) in enumerate(zip(en_blocks, zh_blocks), start=1):
        try:
            same = program(a.code) == program(b.code)
        except SyntaxError as error:
            problems.append(f"{shown}:{b.line}: block {number} does not parse: {error.msg}")
            continue
        if not same:
            problems.append(
                f"{shown}:{b.line}: block {number} is not the program of the English block at "
                f"{english}:{a.line} (only comments may differ)"
            )
    if en.suffix == ".md":
        en_text, zh_text = en.read_text(encoding="utf-8"), zh.read_text(encoding="utf-8")
        if snippets.front_matter(en_text) != snippets.front_matter(zh_text):
            problems.append(f"{shown}:1: front matter differs from the English page's")
        en_heads, zh_heads = headings(en_text), headings(zh_text)
        if [h.level for h in en_heads] != [h.level for h in zh_heads]:
            problems.append(
                f"{shown}:1: headings differ from the English page's: levels "
                f"{[h.level for h in zh_heads]} against {[h.level for h in en_heads]}"
            )
    return problems


def _shown(path: Path) -> str:
    """A page's path as messages name it: from the repository root when it is inside it."""
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def missing() -> list[str]:
    """English pages with no Chinese counterpart, and Chinese pages with no English original."""
    en, zh = set(page_files(EN_DOCS)), set(page_files(ZH_DOCS))
    gaps = [f"docs-zh/{name}: missing (translation of docs/{name})" for name in sorted(en - zh)]
    gaps += [f"docs-zh/{name}: no English page docs/{name}" for name in sorted(zh - en - ZH_ONLY)]
    return gaps


def with_english_anchors(zh_text: str, anchors: list[str]) -> str:
    """``zh_text`` with its n-th heading given ``anchors[n]``, the English page's n-th anchor.

    ``anchors`` come from rendering the English page (:func:`english_anchors`). Headings
    that already carry an ``{#id}`` keep it. A page whose heading count differs is left as
    it is (:func:`compare` reports it).
    """
    zh_heads = headings(zh_text)
    if len(zh_heads) != len(anchors):
        return zh_text
    lines = zh_text.split("\n")
    for anchor, head in zip(anchors, zh_heads):
        line = lines[head.line - 1]
        if not re.search(r"\{[^}]*#[^}]*\}\s*$", line):
            lines[head.line - 1] = f"{line.rstrip()} {{#{anchor}}}"
    return "\n".join(lines)


#: A Chinese character or full-width punctuation mark (CJK ideographs, CJK punctuation, full-width forms).
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef\u201c\u201d\u2018\u2019\u2026\u2014"
_CJK_LINE_BREAK = re.compile(rf"(?<=[{_CJK}])\n[ \t]*(?=[{_CJK}])")


def join_cjk_lines(markdown: str) -> str:
    """Join the lines of a paragraph where both sides of the break are Chinese.

    Markdown turns a line break inside a paragraph into a space, which a browser shows
    between two Chinese characters ("训练 需要") where Chinese has none. Pages are
    written with short lines for easy review, so the build joins them; code is left as
    it is (comments in fenced blocks keep their lines).
    """
    parts = re.split(r"(^[ \t]*(?:`{3,}|~{3,}).*?^[ \t]*(?:`{3,}|~{3,})[ \t]*$)", markdown, flags=re.M | re.S)
    return "".join(part if index % 2 else _CJK_LINE_BREAK.sub("", part) for index, part in enumerate(parts))


def english_anchors(en_text: str, extensions: list, extension_configs: dict) -> list[str]:
    """The anchors of an English page's headings, in order, as its build gives them.

    Only the extensions named in the configuration render it (those plugins add as
    objects, such as mkdocstrings', would register the page's API entries a second time).
    """
    import markdown

    extensions = [name for name in extensions if isinstance(name, str)]
    body = re.sub(r"^---\n.*?\n---\n", "", en_text, count=1, flags=re.DOTALL)
    md = markdown.Markdown(extensions=extensions, extension_configs=extension_configs)
    md.convert(body)

    def flatten(tokens: list[dict]) -> list[str]:
        return [anchor for t in tokens for anchor in [t["id"], *flatten(t["children"])]]

    return flatten(md.toc_tokens)


def is_zh(config) -> bool:
    """Whether an MkDocs ``config`` builds the Chinese edition (its pages come from ``docs-zh/``)."""
    return Path(config["docs_dir"]).resolve() == ZH_DOCS


def site_prefix(config) -> str:
    """Where an edition sits in the published site: ``""`` for English, ``"zh/"`` for Chinese."""
    return "zh/" if is_zh(config) else ""


def shared_static_files() -> list[str]:
    """Files of ``docs/`` that both editions serve: everything that is not a page (KaTeX, CSS, JS)."""
    pages = set(page_files(EN_DOCS))
    return sorted(
        p.relative_to(EN_DOCS).as_posix()
        for p in EN_DOCS.rglob("*")
        if p.is_file() and p.relative_to(EN_DOCS).as_posix() not in pages and p.suffix != ".md"
    )


def is_translation(path: Path) -> bool:
    """Whether ``path`` is a page of the Chinese edition (under ``docs-zh/``)."""
    return path.resolve().is_relative_to(ZH_DOCS)


def original(path: Path) -> Path | None:
    """The English page a Chinese page translates; None for an English page or a Chinese-only one."""
    if not is_translation(path):
        return None
    english = counterpart(path)
    return english if english.is_file() else None


def require_same_program(english: Path, chinese: Path) -> None:
    """Raise ``RuntimeError`` listing every difference :func:`compare` finds (the build stops on it)."""
    problems = compare(english, chinese)
    if problems:
        raise RuntimeError(f"{_shown(chinese)} does not run its English page's code:\n" + "\n".join(problems))


def alternates(src_uri: str, page_url: str, alternate: list[dict]) -> list[dict[str, str]]:
    """The language switcher's links from one page: the same page in each edition, else its home.

    ``alternate`` is ``extra.alternate`` of the configuration (each ``link`` the edition's
    root, relative to this edition's root: ``./``, ``zh/``, ``../``); ``src_uri`` and
    ``page_url`` are the page's source path and URL within its edition. The links are
    relative, so the site works under any address and on a local server.
    """
    up = "../" * len([part for part in page_url.split("/")[:-1] if part])  # to this edition's root
    links = []
    for alt in alternate:
        docs = ZH_DOCS if alt["lang"] == "zh" else EN_DOCS
        exists = (docs / src_uri).is_file()
        target = posixpath.normpath(posixpath.join(up or ".", alt["link"], page_url if exists else ""))
        links.append({"name": alt["name"], "lang": alt["lang"], "href": target + "/" if target != "." else "./"})
    return links


GLOSSARY = ZH_DOCS / "glossary.md"


def glossary() -> list[tuple[str, str, str]]:
    """The glossary's rows: (English, 中文, link to the chapter that explains it, or "")."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").split("\n"):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) < 2 or cells[0] in ("English", "---"):
            continue
        link = re.search(r"\]\(([^)]+)\)", cells[2]) if len(cells) > 2 else None
        rows.append((cells[0], cells[1], link.group(1) if link else ""))
    return rows


def search_terms() -> list[str]:
    """The Chinese terms of the glossary as single words (``学习率调度器``, ``交叉熵`` ...).

    The search index of the Chinese edition is cut into words by jieba, which splits
    ``交叉熵`` into ``交叉`` and ``熵``, so a reader searching for the term would find
    nothing. The build adds these terms to jieba's dictionary (``tools/mkdocs_hooks.py``).
    """
    terms = set()
    for _, chinese, _ in glossary():
        for part in re.split(r"[/、,，]", re.sub(r"[（(][^）)]*[）)]", "", chinese)):
            part = part.strip().strip("`")
            if part and re.search(r"[\u4e00-\u9fff]", part):
                terms.add(part)
    return sorted(terms)


def main(argv: list[str]) -> int:
    """Check the given Chinese pages (default: all) against their English originals."""
    if argv:
        pairs = [(counterpart(Path(a)), Path(a).resolve()) for a in argv]
        problems = []
    else:
        problems = missing()
        pairs = [(EN_DOCS / n, ZH_DOCS / n) for n in page_files(ZH_DOCS) if (EN_DOCS / n).is_file()]
    for en, zh in pairs:
        problems += compare(en, zh)
    for problem in problems:
        print(problem)
    print(f"{len(pairs)} pages compared, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
