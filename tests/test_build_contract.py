"""The build contract, checked without a browser or a full build.

* a page's cached results are keyed on everything that changes them: the page, the
  package sources, the pinned and installed versions, and the configured variables;
* a failing block is reported as ``page.md:line``;
* each block's output is placed under that block, also inside admonitions and content
  tabs, and fences quoted inside a longer fence are not blocks;
* a tutorial's full program runs in a namespace of its own;
* the downloadable notebook keeps exercise solutions folded, as the site does;
* the settings are listed once, with the project's prefix;
* the MNIST files are found, downloaded once into one cache, or reported in one message;
* the docs' python blocks are linted at their page lines.
"""

from __future__ import annotations

import json
import textwrap
import urllib.error
from pathlib import Path

import pytest

from tools import lint_docs, mkdocs_hooks, mnist_files, notebooks, settings, snippets


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository root with one package source file and a constraints file."""
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "core.py").write_text("X = 1\n")
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "constraints.txt").write_text("torch==2.5.1\n")
    (tmp_path / "page.md").write_text("# Page\n\n```python\nprint(1)\n```\n")
    monkeypatch.setattr(snippets, "ROOT", tmp_path)
    return tmp_path


def test_cache_key_changes_with_page_sources_versions_and_settings(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = fake_root / "page.md"
    monkeypatch.delenv("TORCHPRIMER_SYNTHETIC_CIFAR", raising=False)
    keys = [snippets.cache_key(page)]
    assert snippets.cache_key(page) == keys[0], "the key is not stable"

    page.write_text("# Page\n\n```python\nprint(2)\n```\n")
    keys.append(snippets.cache_key(page))
    (fake_root / "src" / "pkg" / "core.py").write_text("X = 2\n")
    keys.append(snippets.cache_key(page))
    (fake_root / "requirements" / "constraints.txt").write_text("torch==2.6.0\n")
    keys.append(snippets.cache_key(page))
    installed = snippets.metadata.version
    newer_torch = lambda name: installed(name) + (".changed" if name == "torch" else "")
    monkeypatch.setattr(snippets.metadata, "version", newer_torch)
    keys.append(snippets.cache_key(page))
    monkeypatch.setenv("TORCHPRIMER_SYNTHETIC_CIFAR", "0")
    keys.append(snippets.cache_key(page))
    assert len(set(keys)) == len(keys), keys

    monkeypatch.setenv("SOME_UNRELATED_VARIABLE", "x")
    assert snippets.cache_key(page) == keys[-1], "a variable outside tools/settings.py changed the key"


def test_cache_key_reads_the_default_of_an_unset_setting(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = fake_root / "page.md"
    monkeypatch.delenv("TORCHPRIMER_SYNTHETIC_CIFAR", raising=False)
    unset = snippets.cache_key(page)
    monkeypatch.setenv("TORCHPRIMER_SYNTHETIC_CIFAR", settings.BY_NAME["TORCHPRIMER_SYNTHETIC_CIFAR"].default)
    assert snippets.cache_key(page) == unset


def test_cache_variables_come_from_the_settings_list() -> None:
    assert snippets.CACHE_ENV == settings.output_affecting()
    assert "TORCHPRIMER_SYNTHETIC_CIFAR" in snippets.CACHE_ENV


def test_settings_have_the_prefix_and_one_default_each(monkeypatch: pytest.MonkeyPatch) -> None:
    third_party = {"OMP_WAIT_POLICY", "MPLBACKEND"}
    names = [setting.name for setting in settings.SETTINGS]
    assert len(names) == len(set(names))
    assert all(name.startswith(settings.PREFIX) or name in third_party for name in names), names
    environ = {"TORCHPRIMER_SYNTHETIC_CIFAR": "0"}
    settings.apply_defaults(environ)
    assert environ["TORCHPRIMER_SYNTHETIC_CIFAR"] == "0", "a value already set must win"
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
    with pytest.raises(KeyError, match="not a setting"):
        settings.get("PRIMER_SYNTHETIC_CIFAR")


def test_project_reads_no_variable_outside_the_settings_list() -> None:
    """Every TORCHPRIMER_ name in the code and the docs is one of tools/settings.py."""
    import re

    root = snippets.ROOT
    patterns = ("src/**/*.py", "tools/*.py", "tests/**/*.py", "benchmarks/*.py", "docs/**/*.md", "docs/**/*.py")
    files = [file for pattern in patterns for file in root.glob(pattern)]
    found = {
        name
        for file in files
        if file.name != "test_build_contract.py"
        for name in re.findall(r"\bTORCHPRIMER_[A-Z_]*[A-Z]\b", file.read_text(encoding="utf-8"))
    }
    assert found <= set(settings.BY_NAME), f"not in tools/settings.py: {sorted(found - set(settings.BY_NAME))}"
    old = sorted(
        str(file.relative_to(root))
        for file in files
        if file.name != "test_build_contract.py"
        and re.search(r"(?<!TORCH)PRIMER_SYNTHETIC_CIFAR", file.read_text(encoding="utf-8"))
    )
    assert not old, f"these files still read PRIMER_SYNTHETIC_CIFAR, now TORCHPRIMER_SYNTHETIC_CIFAR: {old}"


def test_failure_names_the_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n```python\nx = 1\n```\n\nText.\n\n```python\ny = 2\nz = x / 0\n```\n")
    with pytest.raises(snippets.SnippetError) as failure:
        snippets.run_page(page)
    message = str(failure.value)
    assert message.startswith(f"{page.resolve().as_posix()}:11: ZeroDivisionError"), message
    assert "z = x / 0" in message


def test_full_program_runs_in_a_fresh_namespace(tmp_path: Path) -> None:
    """A name the full program uses but does not define fails there, at its page line."""
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Step 1: x\n\n```python\nhidden = 3\n```\n\n## The full program\n\n```python\nprint(hidden)\n```\n"
    )
    with pytest.raises(snippets.SnippetError, match=r"page.md:12: NameError"):
        snippets.run_page(page)


def test_blocks_after_the_full_program_see_its_names_and_the_earlier_ones(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "## Step 1\n\n```python\nearlier = 1\n```\n\n## The full program\n\n```python\nfull = 2\n```\n\n"
        "## Exercises\n\n```python\nprint(earlier + full)\n```\n"
    )
    result = snippets.run_page(page)
    assert result.blocks[-1].stdout == "3\n"


SOURCE = textwrap.dedent("""\
    ---
    time_budget: 5
    ---
    # Page

    ```python
    a = 1
    ```

    !!! note "Inside an admonition"

        ```python
        b = 2
        ```

    === "First tab"

        ```python
        c = 3
        ```

    ````markdown
    ```python
    not_a_block = 4
    ```
    ````

    ??? success "Solution"

        ```python
        d = 5
        ```
    """)


def test_outputs_go_under_their_own_blocks() -> None:
    markdown = SOURCE.split("---\n", 2)[2]  # what MkDocs hands over: no front matter
    blocks = snippets.find_blocks(SOURCE)
    assert [block.code for block in blocks] == ["a = 1\n", "b = 2\n", "c = 3\n", "d = 5\n"]
    extras = [mkdocs_hooks._render_output(block.indent, f"out {n}\n") for n, block in enumerate(blocks, 1)]
    placed = mkdocs_hooks.place_outputs(markdown, SOURCE, extras, "docs/page.md").split("\n")
    for n, code in enumerate(["a = 1", "b = 2", "c = 3", "d = 5"], 1):
        at = next(i for i, line in enumerate(placed) if line.strip() == code)
        indent = placed[at][: len(placed[at]) - len(placed[at].lstrip())]
        assert placed[at + 1] == indent + "```", f"block {n} closes right after its code"
        assert placed[at + 3] == f'{indent}```text title="Output"', f"block {n}'s output follows it"
        assert placed[at + 4] == f"{indent}out {n}"
    assert placed.count('```text title="Output"') == 1  # only the top-level block's output is unindented
    quoted = placed.index("not_a_block = 4")
    assert "Output" not in placed[quoted + 1] + placed[quoted + 2], "a quoted example got output"


def test_misplaced_output_is_reported_with_the_page_line() -> None:
    markdown = SOURCE.split("---\n", 2)[2].replace("    b = 2\n    ```", "    b = 2\n    extra line\n    ```")
    with pytest.raises(RuntimeError, match=r"docs/page.md:\d+: cannot place"):
        mkdocs_hooks.place_outputs(markdown, SOURCE, [[]] * 4, "docs/page.md")


def test_notebook_keeps_solutions_folded() -> None:
    markdown = textwrap.dedent("""\
        # Page

        ```python
        x = 1
        ```

        ## Exercises

        1. Double it.

            ??? success "Solution"

                ```python
                y = 2 * x
                ```

        2. Shown open.

            ???+ tip "Hint"

                Multiply.
        """)
    notebook = json.loads(notebooks.from_markdown(markdown, source="docs/page.md"))
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert not any("y = 2 * x" in source for source in code), "the solution became a code cell"
    text = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    assert "??? success" not in text and "???+" not in text
    assert "    <details><summary>Solution</summary>" in text
    assert "    ```python\n    y = 2 * x\n    ```" in text, "the solution's code is kept, inside the element"
    assert "<details open><summary>Hint</summary>" in text


def test_mnist_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHPRIMER_MNIST_RAW", str(tmp_path))
    assert mnist_files.find_raw() == tmp_path
    monkeypatch.setenv("TORCHPRIMER_MNIST_RAW", str(tmp_path / "absent"))
    with pytest.raises(mnist_files.MnistFilesMissing, match="TORCHPRIMER_MNIST_RAW is set to"):
        mnist_files.raw_dir()


@pytest.fixture
def no_local_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No override, no shared copy, an empty cache under ``tmp_path``; returns the cache folder."""
    monkeypatch.delenv("TORCHPRIMER_MNIST_RAW", raising=False)
    monkeypatch.setattr(mnist_files, "SHARED_RAW", tmp_path / "shared" / "MNIST" / "raw")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "torchprimer" / "MNIST" / "raw"


def test_mnist_is_downloaded_once_into_the_cache(no_local_mnist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.utils

    calls = []

    def fake_download(url: str, root: str, filename: str, md5: str) -> None:
        calls.append(url)
        (Path(root) / filename).write_bytes(b"fake " + md5.encode())

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download)
    assert mnist_files.cache_raw() == no_local_mnist
    assert mnist_files.raw_dir() == no_local_mnist
    assert len(calls) == 4 and mnist_files.is_complete(no_local_mnist)
    assert mnist_files.raw_dir() == no_local_mnist and len(calls) == 4, "downloaded a second time"
    assert [p.name for p in no_local_mnist.parent.iterdir()] == ["raw"], "a temporary folder was left behind"


def test_offline_without_mnist_says_where_to_put_the_files(
    no_local_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.utils

    def offline(url: str, root: str, filename: str, md5: str) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    with pytest.raises(mnist_files.MnistFilesMissing) as missing:
        mnist_files.raw_dir()
    message = str(missing.value)
    assert str(no_local_mnist) in message and "train-images-idx3-ubyte.gz" in message
    assert "TORCHPRIMER_MNIST_RAW" in message
    assert not no_local_mnist.exists(), "a half-written cache folder was left behind"


def test_docs_lint_reports_page_lines_and_shares_the_namespace(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nimport os\nvalue = 1\n```\n\nText.\n\n"
        "```python\nprint(value + missing)\nos.getcwd()\n```\n"
    )
    findings = lint_docs.lint_page(page)
    assert [(f.line, f.code) for f in findings] == [(11, "F821")], [str(f) for f in findings]
    assert str(findings[0]).endswith(":11: F821 Undefined name `missing`")
