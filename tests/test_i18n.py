"""The Chinese edition: every page translated, each running exactly the English page's code.

A Chinese page's ``python`` blocks must be the English page's program, block by block
(comments aside): ``tools/i18n.py`` compares their syntax trees, and the build then shows
the English page's tested run under the Chinese blocks (``tools/mkdocs_hooks.py``). These
tests check every page pair, and check that the comparison, the anchors, the language
switcher, the reuse of outputs and the search words do what they promise.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest

from tools import i18n, mkdocs_hooks, notebook_pages, snippets

ZH_PAGES = [i18n.ZH_DOCS / name for name in i18n.page_files(i18n.ZH_DOCS) if name not in i18n.ZH_ONLY]

ENGLISH = textwrap.dedent(
    """\
    ---
    time_budget: 20
    ---

    # 3. A page

    ## Step 1: add

    ```python
    # add two numbers
    total = 1 + 2
    print("total:", total)
    ```

    ## Step 2: check

    ```python
    assert total == 3
    ```
    """
)
CHINESE = textwrap.dedent(
    """\
    ---
    time_budget: 20
    ---

    # 3. 一个页面

    ## 第 1 步：相加

    ```python
    # 两数相加
    total = 1 + 2  # 结果是 3
    print("total:", total)
    ```

    ## 第 2 步：检查

    ```python
    assert total == 3
    ```
    """
)


def _pair(tmp_path: Path, english: str, chinese: str) -> tuple[Path, Path]:
    (tmp_path / "en").mkdir(exist_ok=True)
    (tmp_path / "zh").mkdir(exist_ok=True)
    en, zh = tmp_path / "en" / "page.md", tmp_path / "zh" / "page.md"
    en.write_text(english, encoding="utf-8")
    zh.write_text(chinese, encoding="utf-8")
    return en, zh


def test_every_english_page_has_a_chinese_page() -> None:
    assert not i18n.missing(), "\n".join(i18n.missing())


@pytest.mark.parametrize("page", ZH_PAGES, ids=[p.relative_to(i18n.ZH_DOCS).as_posix() for p in ZH_PAGES])
def test_chinese_page_runs_the_english_code(page: Path) -> None:
    """Block by block the same program, the same front matter and the same headings."""
    problems = i18n.compare(i18n.counterpart(page), page)
    assert not problems, "\n".join(problems)


def test_translated_comments_are_allowed(tmp_path: Path) -> None:
    en, zh = _pair(tmp_path, ENGLISH, CHINESE)
    assert i18n.compare(en, zh) == []


def test_changed_code_is_reported_with_page_and_block(tmp_path: Path) -> None:
    en, zh = _pair(tmp_path, ENGLISH, CHINESE.replace("total = 1 + 2", "total = 2 + 1"))
    problems = i18n.compare(en, zh)
    assert len(problems) == 1
    expected = r".*zh/page\.md:10: block 1 is not the program of the English block at .*en/page\.md:10 .*"
    assert re.fullmatch(expected, problems[0]), problems[0]


def test_a_changed_printed_string_is_a_different_program(tmp_path: Path) -> None:
    en, zh = _pair(tmp_path, ENGLISH, CHINESE.replace('print("total:", total)', 'print("总数：", total)'))
    assert "block 1 is not the program" in i18n.compare(en, zh)[0]


def test_a_missing_block_and_a_missing_heading_are_reported(tmp_path: Path) -> None:
    shortened = CHINESE[: CHINESE.index("## 第 2 步")]
    en, zh = _pair(tmp_path, ENGLISH, shortened)
    problems = i18n.compare(en, zh)
    assert any("1 code blocks, the English page has 2" in p for p in problems), problems
    assert any("headings differ" in p for p in problems), problems


def test_a_changed_time_budget_is_reported(tmp_path: Path) -> None:
    en, zh = _pair(tmp_path, ENGLISH, CHINESE.replace("time_budget: 20", "time_budget: 90"))
    assert any("front matter differs" in p for p in i18n.compare(en, zh))


def test_headings_in_code_are_not_headings() -> None:
    text = "# Title\n\n```python\n# a comment, not a heading\n```\n\n## Step 1\n"
    assert [(h.level, h.title) for h in i18n.headings(text)] == [(1, "Title"), (2, "Step 1")]


def test_chinese_headings_get_the_english_anchors() -> None:
    anchors = i18n.english_anchors(ENGLISH, ["toc", "pymdownx.superfences"], {})
    assert anchors == ["3-a-page", "step-1-add", "step-2-check"]
    anchored = i18n.with_english_anchors(CHINESE, anchors)
    assert "## 第 1 步：相加 {#step-1-add}" in anchored
    assert "# 3. 一个页面 {#3-a-page}" in anchored
    assert "# 两数相加\n" in anchored, "a comment inside code is left alone"


def test_notebook_code_cells_are_compared(tmp_path: Path) -> None:
    english = "# %% [markdown]\n# # Title\n\n# %%\nx = 1  # one\nprint(x)\n"
    en, zh = tmp_path / "en.py", tmp_path / "zh.py"
    en.write_text(english, encoding="utf-8")
    zh.write_text(english.replace("# # Title", "# # 标题").replace("# one", "# 一"), encoding="utf-8")
    assert i18n.compare(en, zh) == []
    zh.write_text(english.replace("x = 1", "x = 2"), encoding="utf-8")
    assert "block 1 is not the program" in i18n.compare(en, zh)[0]


def test_switcher_links_to_the_same_page_in_the_other_edition() -> None:
    english_site = [{"name": "English", "link": "./", "lang": "en"}, {"name": "中文", "link": "zh/", "lang": "zh"}]
    chinese_site = [{"name": "English", "link": "../", "lang": "en"}, {"name": "中文", "link": "./", "lang": "zh"}]
    page, url = "tutorials/06-loss-functions.md", "tutorials/06-loss-functions/"
    assert [a["href"] for a in i18n.alternates(page, url, english_site)] == [
        "../../tutorials/06-loss-functions/",
        "../../zh/tutorials/06-loss-functions/",
    ]
    assert [a["href"] for a in i18n.alternates(page, url, chinese_site)] == [
        "../../../tutorials/06-loss-functions/",
        "../../tutorials/06-loss-functions/",
    ]
    assert [a["href"] for a in i18n.alternates("index.md", "", chinese_site)] == ["../", "./"]
    # A page only the Chinese edition has leads to the English home.
    assert i18n.alternates("glossary.md", "glossary/", chinese_site)[0]["href"] == "../../"


def test_chinese_page_shows_the_english_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    en, zh = _pair(tmp_path, ENGLISH, CHINESE)
    blocks = [snippets.BlockResult("total: 3\n"), snippets.BlockResult("")]
    tested = snippets.PageResult(page="page.md", blocks=blocks, seconds=0.1)
    monkeypatch.setattr(i18n, "original", lambda path: en)
    monkeypatch.setattr(snippets, "load_result", lambda path: tested if path == en else None)
    assert mkdocs_hooks.page_result(zh, zh=True) is tested


def test_chinese_page_with_other_code_fails_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    en, zh = _pair(tmp_path, ENGLISH, CHINESE.replace("assert total == 3", "assert total == 4"))
    monkeypatch.setattr(i18n, "original", lambda path: en)
    with pytest.raises(RuntimeError, match=r"zh/page\.md:\d+: block 2 is not the program"):
        mkdocs_hooks.page_result(zh, zh=True)


def test_chinese_notebook_gets_the_english_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Chinese notebook is not run: its code cells get the English run's outputs."""
    english = "# %% [markdown]\n# # Title\n\n# %%\nprint(1 + 1)  # two\n"
    en = tmp_path / "en.py"
    en.write_text(english, encoding="utf-8")
    ran = jupytext.read(en)
    ran.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    ran.cells[1].execution_count = 1
    executed = tmp_path / "ran.ipynb"
    nbformat.write(ran, executed)
    zh = tmp_path / "docs-zh" / "notebooks" / "page.py"
    zh.parent.mkdir(parents=True)
    zh.write_text(english.replace("# # Title", "# # 标题").replace("# two", "# 二"), encoding="utf-8")
    monkeypatch.setattr(i18n, "ZH_DOCS", tmp_path / "docs-zh")
    monkeypatch.setattr(i18n, "original", lambda path: en)
    monkeypatch.setattr(notebook_pages, "executed", lambda path: executed)
    monkeypatch.setattr(notebook_pages, "CACHE", tmp_path / "cache")
    result = nbformat.read(notebook_pages.with_outputs(zh), as_version=4)
    assert result.cells[0].source == "# 标题"
    assert result.cells[1].source == "print(1 + 1)  # 二"
    assert result.cells[1].outputs[0]["text"] == "2\n"
    zh.write_text(english.replace("1 + 1", "1 + 2"), encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"page\.py:\d+: block 1 is not the program"):
        notebook_pages.with_outputs(zh)


def test_glossary_terms_are_searched_as_words() -> None:
    """jieba alone cuts 交叉熵 in two; with the glossary's terms it keeps it whole."""
    import jieba

    terms = i18n.search_terms()
    assert {"交叉熵", "学习率调度器", "反向传播"} <= set(terms)
    tokenizer = jieba.Tokenizer()
    assert "交叉熵" not in tokenizer.lcut("交叉熵损失")
    for term in terms:
        tokenizer.add_word(term)
    assert tokenizer.lcut("交叉熵损失") == ["交叉熵", "损失"]


GLOSSARY_TERMS = [row for row in i18n.glossary() if row[2]]  # the fixed phrases of the pages link nowhere


@pytest.mark.parametrize("row", GLOSSARY_TERMS, ids=[row[0] for row in GLOSSARY_TERMS])
def test_glossary_links_where_the_term_is_explained(row: tuple[str, str, str]) -> None:
    """The English page a glossary row links to uses the English term."""
    english, _, link = row
    text = (i18n.EN_DOCS / link).read_text(encoding="utf-8").lower()
    words = [w.strip() for w in re.split(r"[,/()]", english) if w.strip()]
    absent = [w for w in words if w.lower() not in text]
    assert not absent, f"docs-zh/glossary.md: {english!r} links to {link}, which does not mention {absent}"


def test_chinese_edition_serves_the_english_static_files() -> None:
    """Styles, scripts and KaTeX (once a build fetched it into docs/assets/) are shared, pages are not."""
    shared = set(i18n.shared_static_files())
    assert {"stylesheets/primer.css", "javascripts/katex-init.js"} <= shared
    fetched = {p.relative_to(i18n.EN_DOCS).as_posix() for p in (i18n.EN_DOCS / "assets").rglob("*") if p.is_file()}
    assert fetched <= shared
    assert not any(name.endswith(".md") or name.startswith("notebooks/") for name in shared)


def test_line_breaks_between_chinese_characters_are_joined() -> None:
    text = (
        "训练需要\n一个数字，\n`loss` 是\n它。\n\n"
        "```python\n# 注释\n# 第二行\nx = 1\n```\n\n"
        '!!! note "提示"\n    第一行\n    第二行\n'
    )
    joined = i18n.join_cjk_lines(text)
    assert joined.startswith("训练需要一个数字，\n`loss` 是它。\n"), joined
    assert "# 注释\n# 第二行\n" in joined, "code keeps its lines"
    assert "    第一行第二行\n" in joined, "an admonition's lines are joined without its indentation"
