"""MkDocs hooks: show what each page's code printed and drew, and offer it as a notebook.

For every page with ```python blocks the build

* runs the page (or reuses the results the snippet tests cached for the same page text
  and package sources), then inserts after each block the text it printed and the
  figures it drew, so the page shows the output of the code that ran;
* adds a "tested with" line: torch and torchvision versions, date, and run time;
* writes the page as a Jupyter notebook next to it, with a download button;
* replaces each ``<!-- benchmark: NAME -->`` line by the table of that benchmark's
  measured results (``tools/benchmark_tables.py``).

The executed notebooks under ``docs/notebooks/`` get their data root, their ``.ipynb``
download and their CDN-free HTML from ``tools/notebook_pages.py``.

Before the build it also makes sure KaTeX is present (see ``tools/katex.py``).

The same hooks build the Chinese edition (``mkdocs.zh.yml``, pages in ``docs-zh/``). A
Chinese page runs nothing: its blocks are checked to be the English page's program
(``tools/i18n.py``) and get the English page's tested output, its headings get the
English anchors, and the static files (KaTeX, styles, scripts) come from ``docs/``. The
language switcher links each page to the same page in the other edition.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import posixpath
import re
import sys
from pathlib import Path


def _register_tools_package() -> None:
    """Make ``tools`` importable by name when MkDocs loads this file as a hook.

    MkDocs 1.6 loads a hook from its file path as a top-level module named after the path
    (``Hooks._load_hook``), so the package this file belongs to is not imported and the
    repository root is not on ``sys.path``. The package is loaded here from its folder,
    under its own name, exactly as ``import tools`` would load it.
    """
    if "tools" in sys.modules:
        return
    folder = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        "tools", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["tools"] = package
    spec.loader.exec_module(package)


_register_tools_package()

from tools import benchmark_tables, i18n, katex, notebook_pages, notebooks, settings, snippets  # noqa: E402

settings.apply_defaults()  # before the notebooks run: they read e.g. TORCHPRIMER_SYNTHETIC_CIFAR

# Notebooks to write after the build: site path of the .ipynb -> (page address, page Markdown).
_NOTEBOOKS: dict[str, tuple[str, str]] = {}

#: What the build writes on pages, per edition (``theme.language``).
LABELS = {
    "en": {
        "output": "Output",
        "tested": "Tested with torch {torch} and torchvision {torchvision} on {date}; "
        "the code on this page ran in {seconds:.1f} s on the build machine's CPU.",
        "download": "Download notebook",
        "colab": "Open in Colab",
    },
    "zh": {
        "output": "输出",
        "tested": "已在 torch {torch} 和 torchvision {torchvision} 下测试（{date}）；"
        "本页代码在构建机器的 CPU 上运行了 {seconds:.1f} 秒。",
        "download": "下载 Notebook",
        "colab": "在 Colab 中打开",
    },
}


def on_pre_build(config, **kwargs) -> None:
    """Fetch KaTeX into docs/assets/katex/ unless it is there already; teach jieba the glossary."""
    katex.ensure(i18n.EN_DOCS / "assets" / "katex")
    if i18n.is_zh(config):
        import jieba  # the search plugin's word splitter for Chinese (a docs dependency)

        for term in i18n.search_terms():
            jieba.add_word(term)
    _NOTEBOOKS.clear()
    notebook_pages.prepare_data_root()  # TORCHPRIMER_DATA for the executed notebooks


def on_files(files, config):
    """The Chinese edition serves the English edition's static files (KaTeX, styles, scripts)."""
    if not i18n.is_zh(config):
        return files
    from mkdocs.structure.files import File

    for name in i18n.shared_static_files():
        if files.get_file_from_path(name) is None:
            files.append(File(name, str(i18n.EN_DOCS), config.site_dir, config.use_directory_urls))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Insert outputs, figures, the tested-with line and the notebook button; then benchmark tables.

    A Chinese page first gets its English page's heading anchors, and last has the line
    breaks between Chinese characters removed (:func:`i18n.join_cjk_lines`).
    """
    if i18n.is_zh(config):
        english = i18n.original(Path(page.file.abs_src_path))
        if english is not None:
            text = english.read_text(encoding="utf-8")
            anchors = i18n.english_anchors(text, config.markdown_extensions, config.mdx_configs)
            markdown = i18n.with_english_anchors(markdown, anchors)
    markdown = _insert_outputs(markdown, page, config)
    if i18n.is_zh(config):
        markdown = i18n.join_cjk_lines(markdown)  # after the outputs: it changes line numbers
    return benchmark_tables.render_placeholders(markdown, page=f"{Path(config.docs_dir).name}/{page.file.src_uri}")


def page_result(path: Path, zh: bool) -> snippets.PageResult:
    """The tested run of the page at ``path``: cached by the snippet tests, else run now.

    A Chinese page is first checked to be its English page's program, block by block
    (:func:`i18n.compare`, which names the page and block that differ); it then shows the
    English page's run.
    """
    if zh:
        english = i18n.original(path)
        if english is None:
            raise RuntimeError(f"{path}: has python blocks but no English page to take them from")
        i18n.require_same_program(english, path)
        path = english
    result = snippets.load_result(path)
    if result is None:
        result = snippets.run_page(path)
        snippets.save_result(path, result)  # `mkdocs serve` rebuilds reuse it until the page changes
    return result


def _insert_outputs(markdown: str, page, config) -> str:
    """Place each block's output and figures under it; remember the page for its notebook."""
    path = Path(page.file.abs_src_path)
    source = path.read_text(encoding="utf-8")
    blocks = snippets.find_blocks(source)
    if not blocks:
        return markdown
    labels = LABELS[config.theme["language"]]
    result = page_result(path, zh=i18n.is_zh(config))
    dest_dir = posixpath.dirname(page.file.dest_uri)
    stem = Path(page.file.src_uri).stem
    extras = []
    for number, (block, output) in enumerate(zip(blocks, result.blocks), 1):
        extra = _render_output(block.indent, output.stdout, labels["output"])
        for index, figure in enumerate(output.figures, 1):
            name = f"{stem}-{number}-{index}.png"
            target = Path(config.site_dir) / dest_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(figure["png"]))
            extra += _render_figure(block.indent, name, figure["alt"])
        extras.append(extra)
    body = place_outputs(markdown, source, extras, page.file.src_uri)
    notebook_name = f"{stem}.ipynb"
    address = config.site_url + page.url if config.site_url else f"docs/{page.file.src_uri}"
    _NOTEBOOKS[posixpath.join(dest_dir, notebook_name)] = (address, markdown)
    site_path = i18n.site_prefix(config) + posixpath.join(dest_dir, notebook_name)  # from the site's root
    banner = _banner(result, notebook_name, site_path, labels)
    return _insert_after_title(body, banner)


def place_outputs(markdown: str, source: str, extras: list[list[str]], name: str) -> str:
    """Insert ``extras[i]`` (rendered lines) right under the closing fence of the page's i-th block.

    ``source`` is the page file as written and ``markdown`` the text MkDocs hands over, the
    same without its front matter; block line numbers come from ``source`` (with the same
    rule as the snippet runner) and are shifted by the difference. Blocks indented in
    admonitions or content tabs get output at their own indentation (rendered so by the
    caller), and fences quoted inside longer fences are not blocks. ``name`` is the page's
    path for the error raised when a closing fence is not where expected.
    """
    blocks = snippets.find_blocks(source)
    if len(extras) != len(blocks):
        raise ValueError(f"{name}: {len(blocks)} python blocks but {len(extras)} outputs")
    lines = markdown.split("\n")
    offset = len(source.split("\n")) - len(lines)  # the front matter's lines
    for block, extra in reversed(list(zip(blocks, extras))):
        at = block.end_line - offset
        if not 0 < at <= len(lines) or lines[at - 1].strip() != snippets.FENCE:
            raise RuntimeError(f"{name}:{block.end_line}: cannot place the block's output")
        lines[at:at] = extra
    return "\n".join(lines)


def on_pre_page(page, config, files):
    """Notebook pages reuse their executed HTML while nothing they depend on changed."""
    if notebook_pages.is_notebook(page) and "mkdocs-jupyter" in config.plugins:
        notebook_pages.cache_render(page, dict(config.plugins["mkdocs-jupyter"].config))
    return page


def on_page_context(context, page, config, nav):
    """The language switcher's links: this page in each edition (``overrides/partials/alternate.html``)."""
    context["primer_alternates"] = i18n.alternates(page.file.src_uri, page.url, config.extra["alternate"])
    return context


def on_post_page(output: str, page, config) -> str:
    """Notebook pages: no CDN script, and the notebook offered as .ipynb (tools/notebook_pages.py)."""
    return notebook_pages.finish_page(output, page, config.site_dir, i18n.site_prefix(config), config.theme["language"])


def on_post_build(config, **kwargs) -> None:
    """Write each page's notebook next to its HTML."""
    for dest, (address, markdown) in _NOTEBOOKS.items():
        target = Path(config.site_dir) / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(notebooks.from_markdown(markdown, source=address), encoding="utf-8")


def _render_output(indent: str, stdout: str, title: str = "Output") -> list[str]:
    """What a block printed, as a ``text`` block titled ``title`` (none when it printed nothing)."""
    if not stdout.strip():
        return []
    # A fence longer than any run of backticks in the output, so printed backticks cannot close it.
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", stdout)), default=0))
    body = [indent + line if line else "" for line in stdout.rstrip("\n").split("\n")]
    return ["", f'{indent}{fence}text title="{title}"', *body, f"{indent}{fence}"]


def _render_figure(indent: str, name: str, alt: str) -> list[str]:
    """An ``<img>`` of the figure file ``name``, with ``alt`` as its alternative text."""
    alt = html.escape(alt, quote=True)
    return ["", f'{indent}<figure class="primer-figure"><img src="{name}" alt="{alt}" loading="lazy"></figure>', ""]


def _banner(result: snippets.PageResult, notebook_name: str, notebook_path: str, labels: dict[str, str]) -> str:
    """The "tested with" line (versions, date, run time), the notebook download and "Open in Colab".

    ``notebook_path`` is the notebook's path from the site root; the site is published
    to a branch of the repository, where Colab opens it (:func:`notebooks.colab_url`).
    The Colab link is a plain link: nothing is requested from Colab until it is clicked.
    ``labels`` are the edition's words (:data:`LABELS`).
    """
    versions = snippets.tested_versions()  # those in the result's cache key: the versions it ran with
    tested = labels["tested"].format(
        torch=versions["torch"].split("+")[0],
        torchvision=versions["torchvision"].split("+")[0],
        date=result.date,
        seconds=result.seconds,
    )
    return (
        '<div class="primer-tested" markdown>\n'
        f"<span>{tested}</span>\n"
        f'<a class="md-button primer-download" href="{notebook_name}" download>{labels["download"]}</a>\n'
        f'<a class="md-button primer-colab" href="{notebooks.colab_url(notebook_path)}" '
        f'target="_blank" rel="noopener">{labels["colab"]}</a>\n'
        "</div>\n"
    )


def _insert_after_title(markdown: str, banner: str) -> str:
    """Place the banner under the page's first ``# Title`` (or at the top without one)."""
    match = re.search(r"^# .*\n", markdown, flags=re.MULTILINE)
    if match is None:
        return banner + "\n" + markdown
    return markdown[: match.end()] + "\n" + banner + "\n" + markdown[match.end() :]
