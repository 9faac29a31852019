"""The shape of the site: every page reachable, every chapter runnable and timed.

* every Markdown page under docs/ is in the nav of mkdocs.yml (and every nav entry exists);
* every tutorial is listed in the chapter table of the home page (docs/index.md);
* every tutorial page has at least one runnable ```python block;
* every page declares a time budget (front matter ``time_budget``) or gets the default,
  and a declared one is a sensible number (tests/test_docs.py enforces it);
* every tutorial follows the page shape of the contributing guide;
* the chapter template (templates/chapter.md) passes all of the above and runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import mktestdocs
import pytest
import yaml

from tools import i18n, snippets

ROOT = snippets.ROOT
DOCS = snippets.DOCS
TEMPLATE = ROOT / "templates" / "chapter.md"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))
#: The most a page may declare, in CPU seconds: with two threads busy that is about a minute
#: of waiting on a laptop, the most a reader should wait for a page's code.
MAX_TIME_BUDGET = 120.0

#: Sections every tutorial has, in this order (see docs/contributing.md).
SECTIONS = ["## The full program", "## What you built", "## Exercises", "## Further reading"]
LEAD_PARAGRAPHS = ["**Where we are going.**", "**Prerequisites.**", "**Time.**"]


class _Loader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring the ``!!python/name:`` and ``!ENV`` tags MkDocs allows."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


#: Each edition: its configuration and its pages (the Chinese one inherits the English one).
EDITIONS = {"en": ("mkdocs.yml", DOCS), "zh": ("mkdocs.zh.yml", i18n.ZH_DOCS)}


def nav_files(config_name: str = "mkdocs.yml") -> list[str]:
    """Every file named in the nav of the configuration ``config_name``, relative to its docs folder."""
    config = yaml.load((ROOT / config_name).read_text(encoding="utf-8"), Loader=_Loader)
    found: list[str] = []

    def walk(item) -> None:
        if isinstance(item, str):
            if "://" not in item:
                found.append(item)
        elif isinstance(item, list):
            for child in item:
                walk(child)
        elif isinstance(item, dict):
            for child in item.values():
                walk(child)

    walk(config.get("nav") or [])
    return found


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def shape_problems(text: str, *, number: str | None) -> list[str]:
    """How a tutorial page departs from the page shape (empty when it follows it).

    ``number`` is the chapter number the title must carry (None accepts any, or ``N``).
    """
    problems = []
    body = re.sub(r"^---\n.*?\n---\n", "", text, count=1, flags=re.DOTALL)
    title = re.search(r"^# (.+)$", body, flags=re.MULTILINE)
    if title is None:
        return ["no `# Title` line"]
    expected = re.escape(number) if number is not None else r"(\d+|N)"
    if not re.match(rf"{expected}\. \S", title.group(1)):
        problems.append(f"the title `# {title.group(1)}` does not start with `{number or 'N'}. `")
    lead = body[title.end() : body.find("\n## ")]
    for paragraph in LEAD_PARAGRAPHS:
        if paragraph not in lead:
            problems.append(f"no {paragraph} before the first section")
    positions = []
    for section in SECTIONS:
        match = re.search(rf"^{re.escape(section)}\s*$", body, flags=re.MULTILINE)
        if match is None:
            problems.append(f"no `{section}` section")
        else:
            positions.append(match.start())
    if positions != sorted(positions):
        problems.append(f"sections out of order; expected {SECTIONS}")
    steps = re.split(r"^(?=## )", body, flags=re.MULTILINE)
    for section in steps:
        if section.startswith("## Step") and not snippets.find_blocks(section):
            problems.append(f"`{section.splitlines()[0]}` has no runnable ```python block")
    exercises = body.split("## Exercises", 1)[-1].split("\n## ", 1)[0]
    if '??? success "Solution"' not in exercises:
        problems.append('no exercise with a collapsible `??? success "Solution"`')
    return problems


def budget_problems(text: str) -> list[str]:
    """A declared ``time_budget`` must be a positive number of seconds, at most the maximum."""
    try:
        matter = snippets.front_matter(text)
    except yaml.YAMLError as error:
        return [f"the front matter is not valid YAML: {error}"]
    if not isinstance(matter, dict):
        return ["the front matter is not a mapping of keys to values"]
    declared = matter.get("time_budget")
    if declared is None:
        return []  # the page gets snippets.DEFAULT_TIME_BUDGET
    if isinstance(declared, bool) or not isinstance(declared, (int, float)):
        return [f"time_budget must be a number of seconds, not {declared!r}"]
    if not 0 < declared <= MAX_TIME_BUDGET:
        return [f"time_budget {declared} is outside (0, {MAX_TIME_BUDGET:.0f}] seconds"]
    return []


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_page_is_in_the_nav(edition: str) -> None:
    config, docs = EDITIONS[edition]
    in_nav = set(nav_files(config))
    pages = {page.relative_to(docs).as_posix() for page in docs.rglob("*.md")}
    missing = sorted(pages - in_nav)
    assert not missing, (
        f"pages under {docs.name}/ that are not in the nav of {config} (readers cannot reach them): "
        + ", ".join(missing)
    )


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_tutorial_is_listed_on_the_home_page(edition: str) -> None:
    _, docs = EDITIONS[edition]
    home = (docs / "index.md").read_text(encoding="utf-8")
    tutorials = sorted((docs / "tutorials").glob("*.md"))
    unlisted = [_rel(page) for page in tutorials if f"](tutorials/{page.name})" not in home]
    assert not unlisted, (
        f"tutorials with no link in the chapter table of {docs.name}/index.md: {unlisted}; "
        "add a row `| [N. Title](tutorials/NN-name.md) | what the reader learns |`"
    )


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_nav_entry_exists(edition: str) -> None:
    config, docs = EDITIONS[edition]
    missing = [entry for entry in nav_files(config) if not (docs / entry).is_file()]
    assert not missing, f"nav entries of {config} with no file under {docs.name}/: {missing}"


def test_both_editions_list_the_same_pages_in_the_same_order() -> None:
    """The Chinese nav is the English one, plus the pages only the Chinese edition has."""
    english = nav_files("mkdocs.yml")
    chinese = [entry for entry in nav_files("mkdocs.zh.yml") if entry not in i18n.ZH_ONLY]
    assert chinese == english, f"mkdocs.zh.yml's nav differs from mkdocs.yml's: {chinese} against {english}"


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_chinese_chapter_keeps_the_number(page: Path) -> None:
    """A translated chapter's ``# N. ...`` title carries the English chapter's number."""
    chinese = i18n.counterpart(page)
    if not chinese.is_file():
        pytest.fail(f"{_rel(page)} has no Chinese page at {_rel(chinese)}")
    number = re.compile(r"^# (\d+)\. ", re.MULTILINE)
    english_number = number.search(page.read_text(encoding="utf-8"))
    chinese_number = number.search(chinese.read_text(encoding="utf-8"))
    assert chinese_number is not None, f"{_rel(chinese)}: the title does not start with `# N. `"
    assert chinese_number.group(1) == english_number.group(1), (
        f"{_rel(chinese)} is chapter {chinese_number.group(1)}, its English page chapter {english_number.group(1)}"
    )


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_has_runnable_code(page: Path) -> None:
    assert snippets.find_blocks(page.read_text(encoding="utf-8")), (
        f"{_rel(page)} has no ```python block: a tutorial page runs code"
    )


@pytest.mark.parametrize("page", snippets.pages(), ids=[_rel(p) for p in snippets.pages()])
def test_every_page_has_a_time_budget(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    problems = budget_problems(text)
    assert not problems, f"{_rel(page)}: " + "; ".join(problems)
    assert 0 < snippets.time_budget(text) <= MAX_TIME_BUDGET


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_follows_the_page_shape(page: Path) -> None:
    number = str(int(page.name.split("-", 1)[0])) if page.name[:2].isdigit() else None
    problems = shape_problems(page.read_text(encoding="utf-8"), number=number)
    assert not problems, f"{_rel(page)}:\n  " + "\n  ".join(problems)


def test_shape_check_catches_a_bad_page() -> None:
    bad = "---\ntime_budget: fast\n---\n\n# Tensors\n\n## Step 1: x\n\nNo code.\n\n## Exercises\n"
    problems = shape_problems(bad, number="1")
    assert any("title" in p for p in problems)
    assert any("Where we are going" in p for p in problems)
    assert any("Step 1" in p for p in problems)
    assert any("Further reading" in p for p in problems)
    assert budget_problems(bad) == ["time_budget must be a number of seconds, not 'fast'"]
    assert budget_problems("---\ntime_budget: 600\n---\n") != []


class TestTemplate:
    """The chapter template is a page that passes every page check, so copying it is safe."""

    text = TEMPLATE.read_text(encoding="utf-8") if TEMPLATE.is_file() else ""

    def test_exists(self) -> None:
        assert TEMPLATE.is_file(), "templates/chapter.md is missing"

    def test_follows_the_page_shape(self) -> None:
        assert shape_problems(self.text, number=None) == []

    def test_declares_a_time_budget(self) -> None:
        assert "time_budget" in snippets.front_matter(self.text)
        assert budget_problems(self.text) == []

    def test_fences(self) -> None:
        assert snippets.find_blocks(self.text)
        assert snippets.suspicious_fences(self.text) == []
        ours = [block.code.strip() for block in snippets.find_blocks(self.text)]
        theirs = [code.strip() for code in mktestdocs.grab_code_blocks(self.text, lang="python")]
        assert ours == theirs

    def test_runs_within_its_budget(self) -> None:
        result = snippets.run_page(TEMPLATE)
        assert result.cpu_seconds <= snippets.time_budget(self.text)
