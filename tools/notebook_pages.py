"""Build-time support for the executed notebooks under ``docs/notebooks/``.

mkdocs-jupyter runs each percent-format ``.py`` notebook and renders it as a page. This
module does the three things it does not:

* **data**: the notebook kernels run in the build's working directory, with no network.
  :func:`prepare_data_root` makes a scratch data root holding a private copy of the
  original MNIST files and exports it as ``TORCHPRIMER_DATA``, which the notebooks read
  (``os.environ.get("TORCHPRIMER_DATA", "data")``); nothing is written into ``docs/`` or
  next to the shared originals.
* **download**: mkdocs-jupyter copies the ``.py`` source next to the page
  (``include_source``); :func:`finish_page` also writes the notebook as ``.ipynb``
  (converted with jupytext, with the Colab-only install cell first) and adds a button
  for each, and an "Open in Colab" link to that ``.ipynb`` in the published branch.
* **no CDN**: nbconvert puts on every notebook page a MathJax ``<script>`` and a Mermaid
  loader that import from a CDN; the notebooks contain no math and no diagrams, and
  :func:`finish_page` removes both so a page never loads anything from outside the site.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
from pathlib import Path

import jupytext

from tools import i18n, mnist_files, notebooks, snippets

#: Environment variable naming the data root the notebooks read.
DATA_ENV = "TORCHPRIMER_DATA"

_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)
# nbconvert's loader for Mermaid diagrams imports Mermaid from a CDN; the notebooks draw none.
_MERMAID = re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>', re.DOTALL)
# A figure nbconvert embedded in the page as base64 (written out as a PNG file instead).
_EMBEDDED_PNG = re.compile(r'<img alt="[^"]*"(?P<attrs>[^>]*?) src="data:image/png;base64,(?P<data>[A-Za-z0-9+/=\s]+)"')
_SCRATCH: dict[str, Path] = {}

#: Executed notebooks' HTML, reused by the next build while nothing they depend on changed.
CACHE = snippets.ROOT / ".cache" / "notebooks"


def is_notebook(page) -> bool:
    """Whether ``page`` is one of the executed notebooks (``docs/notebooks/*.py``)."""
    src = page.file.src_uri
    return src.startswith("notebooks/") and src.endswith(".py")


def prepare_data_root() -> Path:
    """Export ``TORCHPRIMER_DATA``: a scratch folder with a copy of the MNIST raw files.

    A value already set by the caller is kept (a reader pointing the build at their own
    data). The folder is made once per build process and removed when it exits.
    """
    if os.environ.get(DATA_ENV) and "root" not in _SCRATCH:
        return Path(os.environ[DATA_ENV])
    if "root" not in _SCRATCH:
        root = Path(tempfile.mkdtemp(prefix="primer-notebook-data-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        try:
            mnist_files.copy_raw(mnist_files.raw_dir(), root)
        except mnist_files.MnistFilesMissing:
            pass  # only the MNIST notebook needs them; it then fails naming the files
        _SCRATCH["root"] = root
    os.environ[DATA_ENV] = str(_SCRATCH["root"])
    return _SCRATCH["root"]


def to_ipynb(source: Path) -> str:
    """The percent-format notebook ``source`` as ``.ipynb`` JSON text (no outputs: run it yourself).

    Its first code cell installs ``torchprimer`` when it runs in Colab (:func:`notebooks.setup_cell`).
    """
    return notebooks.to_json(notebooks.with_setup_cell(jupytext.read(source)))


#: The words of a notebook page's button bar, per edition (``theme.language``).
LABELS = {
    "en": {
        "ran": "This notebook ran from top to bottom, in a fresh kernel, with the code and versions of this build; "
        "the output below is its own.",
        "ipynb": "Download notebook (.ipynb)",
        "py": "Download source (.py)",
        "colab": "Open in Colab",
    },
    "zh": {
        "ran": "这个 Notebook 以本次构建的代码和版本，在全新的内核中从头到尾运行了一遍；下面的输出就是那次运行的结果。",
        "ipynb": "下载 Notebook（.ipynb）",
        "py": "下载源文件（.py）",
        "colab": "在 Colab 中打开",
    },
}


def finish_page(html: str, page, site_dir: str, site_prefix: str = "", language: str = "en") -> str:
    """For a notebook page: drop the CDN MathJax loader, write the ``.ipynb``, add download and Colab buttons.

    ``site_prefix`` is the edition's folder in the published site (``""`` or ``"zh/"``),
    which the Colab link needs; ``language`` picks the buttons' words.
    """
    if not is_notebook(page):
        return html
    html = _MERMAID.sub("", _MATHJAX.sub("", html))
    source = Path(page.file.abs_src_path)
    target_dir = Path(page.file.abs_dest_path).parent  # where include_source copies the .py
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / f"{source.stem}.ipynb").write_text(to_ipynb(source), encoding="utf-8")
    html = _figures_to_files(html, target_dir, source.stem)
    # The notebook's path from the site root, which is also its path in the published branch.
    site_path = site_prefix + posixpath.join(posixpath.dirname(page.file.dest_uri), f"{source.stem}.ipynb")
    labels = LABELS[language]
    buttons = (
        '<div class="primer-tested">'
        f"<span>{labels['ran']}</span>"
        f'<a class="md-button primer-download" href="{source.stem}.ipynb" download>{labels["ipynb"]}</a>'
        f'<a class="md-button" href="{source.name}" download>{labels["py"]}</a>'
        f'<a class="md-button primer-colab" href="{notebooks.colab_url(site_path)}" target="_blank" '
        f'rel="noopener">{labels["colab"]}</a>'
        "</div>"
    )
    match = re.search(r"</h1>", html)
    if match is None:
        raise RuntimeError(f"{page.file.src_uri}: the notebook needs a '# Title' in its first cell")
    return html[: match.end()] + buttons + html[match.end() :]


def _figures_to_files(html: str, target_dir: Path, stem: str) -> str:
    """Write each embedded PNG next to the page and point its ``<img>`` at the file.

    The pages stay small, images load like those of the other pages, and the HTML holds
    no long base64 runs (in which a search for URLs such as "cdn" finds false matches).
    """
    count = 0

    def write(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        name = f"{stem}-figure-{count}.png"
        (target_dir / name).write_bytes(base64.b64decode("".join(match.group("data").split())))
        return f'<img alt="Figure drawn by the code cell above"{match.group("attrs")} loading="lazy" src="{name}"'

    return _EMBEDDED_PNG.sub(write, html)


def cache_key(source: Path, plugin_config: dict) -> str:
    """Key of a notebook's executed HTML: its text, the package, the versions and the settings.

    Like a page's key (:func:`snippets.cache_key`), it changes with the notebook's text,
    the package sources and the snippet runner, the pinned versions, the installed torch
    and torchvision, and the variables of ``tools/settings.py`` that change what code
    computes; and with the versions of mkdocs-jupyter and nbconvert and the plugin's
    options, which shape the HTML.
    """
    from importlib.metadata import version

    digest = hashlib.sha256(snippets.cache_key(source).encode())
    english = i18n.original(source)
    if english is not None:  # a translation shows the English notebook's run
        digest.update(snippets.cache_key(english).encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(f"mkdocs-jupyter {version('mkdocs-jupyter')} nbconvert {version('nbconvert')}".encode())
    digest.update(json.dumps(plugin_config, sort_keys=True, default=repr).encode())
    return digest.hexdigest()[:32]


def _toc_tokens(items) -> list[dict]:
    """A rendered table of contents back as the tokens ``mkdocs.structure.toc.get_toc`` reads."""
    return [
        {"level": item.level, "id": item.id, "name": item.title, "children": _toc_tokens(item.children)}
        for item in items
    ]


def cache_render(page, plugin_config: dict) -> None:
    """Let a notebook page reuse its executed HTML from ``.cache/notebooks/`` when its key matches.

    mkdocs-jupyter executes every notebook at every build (its own cache keys on the
    notebook's text alone, so a change in ``src/`` would show stale output, and it is off).
    This wraps the ``render`` it gave the page: on a miss the notebook runs as before and
    its HTML, table of contents and title are stored; on a hit they are read back.
    """
    from mkdocs.structure.toc import get_toc

    source = Path(page.file.abs_src_path)
    english = i18n.original(source)
    edition = "zh-" if i18n.is_translation(source) else ""
    target = CACHE / f"{edition}{source.stem}.{cache_key(source, plugin_config)}.json"
    render_executed = page.render

    def execute(config, files) -> None:
        """mkdocs-jupyter's render (``execute: false``) of the notebook with its outputs filled in."""
        page.file.abs_src_path = str(with_outputs(source))
        try:
            render_executed(config, files)
        finally:
            page.file.abs_src_path = str(source)
        if english is not None:
            page.content, page.toc = with_english_heading_ids(page.content, page.toc, english)

    def render(config, files) -> None:
        if target.is_file():
            cached = json.loads(target.read_text(encoding="utf-8"))
            page.content, page.toc = cached["content"], get_toc(cached["toc"])
            if cached["title"] is not None:
                page.title = cached["title"]
            return
        execute(config, files)
        CACHE.mkdir(parents=True, exist_ok=True)
        for stale in CACHE.glob(f"{edition}{source.stem}.*.json"):
            stale.unlink()
        payload = {"content": page.content, "toc": _toc_tokens(page.toc), "title": page.title}
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(payload), encoding="utf-8")
        partial.replace(target)  # whole or absent, never half-written

    page.render = render


def executed_file(source: Path) -> Path:
    """Where the run of the English notebook ``source`` is kept: ``.cache/notebooks/`` under its page key."""
    return CACHE / f"{source.stem}.{snippets.cache_key(source)}.ipynb"


def executed(source: Path) -> Path:
    """The English notebook ``source`` run from top to bottom: an ``.ipynb`` with its outputs.

    The run is kept under the page key (:func:`executed_file`, :func:`snippets.cache_key`),
    so each notebook runs once per change, for both editions. The test suite's Run All of
    the notebook stores its run there (:func:`store_executed`), so the build after the tests
    shows that run. Otherwise it runs here, in a fresh Jupyter kernel in the build's
    working folder (with ``TORCHPRIMER_DATA`` from :func:`prepare_data_root`), and a
    raising cell fails the build naming the cell.
    """
    import nbclient

    target = executed_file(source)
    if target.is_file():
        return target
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3", allow_errors=False)
    try:
        client.execute(cwd=os.getcwd())
    except nbclient.exceptions.CellExecutionError as error:
        raise RuntimeError(f"{source}: a cell raised while the notebook ran:\n{error}") from None
    return store_executed(source, notebook)


def store_executed(source: Path, notebook) -> Path:
    """Keep ``notebook``, a run of ``source`` from top to bottom, as the run the site shows.

    ``notebook`` holds ``source``'s cells with their outputs (the downloadable notebook's
    Colab setup cell removed: the page does not show it). The notebook's older runs are removed.
    """
    import nbformat

    target = executed_file(source)
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.glob(f"{source.stem}.*.ipynb"):
        stale.unlink()
    partial = target.with_suffix(".tmp")
    nbformat.write(notebook, partial)
    partial.replace(target)  # whole or absent, never half-written
    return target


def with_outputs(source: Path) -> Path:
    """The notebook ``source`` as an ``.ipynb`` holding the outputs of its tested run.

    An English notebook is run (:func:`executed`). A Chinese one is not: it is checked
    to hold the English notebook's code, cell by cell (:func:`i18n.compare`), and its
    code cells get the English cells' outputs; its prose lines are joined like the
    Chinese pages' (:func:`i18n.join_cjk_lines`).
    """
    import nbformat

    english = i18n.original(source)
    if english is None:
        return executed(source)
    i18n.require_same_program(english, source)
    ran = nbformat.read(executed(english), as_version=4)
    notebook = jupytext.read(source)
    for cell, tested in zip(_code_cells(notebook), _code_cells(ran), strict=True):
        cell.outputs, cell.execution_count = tested.outputs, tested.execution_count
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = i18n.join_cjk_lines(cell.source)  # no spaces between Chinese characters
    target = CACHE / f"zh-{source.stem}.{snippets.cache_key(source)}.{snippets.cache_key(english)[:8]}.ipynb"
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.glob(f"zh-{source.stem}.*.ipynb"):
        stale.unlink()
    partial = target.with_suffix(".tmp")
    nbformat.write(notebook, partial)
    partial.replace(target)
    return target


_HEADING = re.compile(r'<h(?P<level>[1-6]) id="[^"]*">(?P<title>.*?)<a class="anchor-link" href="#[^"]*">')


def with_english_heading_ids(content: str, toc, english: Path):
    """A Chinese notebook page's HTML and table of contents with the English notebook's anchors.

    mkdocs-jupyter makes a heading's id from its text with the non-ASCII letters dropped,
    so Chinese headings get empty or numbered ids that their table of contents does not
    match. The n-th heading gets the English notebook's n-th anchor instead, as the
    Markdown pages do (:func:`i18n.with_english_anchors`), so links work in both editions.
    """
    from mkdocs.structure.toc import get_toc

    prose = "\n\n".join(cell.source for cell in jupytext.read(english).cells if cell.cell_type == "markdown")
    anchors = iter(i18n.english_anchors(prose, ["toc"], {}))

    def renamed(match: re.Match[str]) -> str:
        anchor = next(anchors, None)
        if anchor is None:
            raise RuntimeError(f"{english}: the Chinese notebook has more headings than the English one")
        return f'<h{match.group("level")} id="{anchor}">{match.group("title")}<a class="anchor-link" href="#{anchor}">'

    content = _HEADING.sub(renamed, content)
    ids = iter(re.findall(r'<h[1-6] id="([^"]*)">', content))

    def retarget(tokens: list[dict]) -> list[dict]:
        return [dict(token, id=next(ids, token["id"]), children=retarget(token["children"])) for token in tokens]

    return content, get_toc(retarget(_toc_tokens(toc)))


def _code_cells(notebook) -> list:
    """The code cells of a notebook, in order."""
    return [cell for cell in notebook.cells if cell.cell_type == "code"]
