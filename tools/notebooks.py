"""Turn a documentation page into a Jupyter notebook a reader can download and run.

Each ```python block becomes a code cell and the prose between blocks becomes Markdown
cells (jupytext's Markdown reader does the parsing). Blocks nested in admonitions, such
as exercise solutions, stay inside the Markdown so they do not give the answer away, and
a collapsible admonition (``??? success "Solution"``), folded on the site, becomes a
folded ``<details>`` element in the notebook, so the answer stays hidden until clicked
(``???+``, open on the site, stays open).

Two more rules make a notebook safe to "Run All":

* A shell block (```bash, ```sh, ...) shows a command to type in a terminal, such as a
  TensorBoard server or a long training run. jupytext would make it a ``%%bash`` cell
  that blocks or runs for minutes; here it stays a Markdown cell showing the command.
* The first code cell installs the companion package ``torchprimer`` from the
  repository, and only when the notebook runs in Google Colab (which has PyTorch
  already). Anywhere else it does nothing: the reader installed the package to get here.

The repository's address is written once, as ``repo_url`` in ``mkdocs.yml``; the
install line and the "Open in Colab" links are derived from it (:func:`repository`).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import jupytext
import nbformat

MKDOCS_YML = Path(__file__).resolve().parent.parent / "mkdocs.yml"

#: The branch the site is published to (``mkdocs gh-deploy``); Colab opens notebooks there.
PUBLISHED_BRANCH = "gh-pages"

_REPO_URL = re.compile(r"^repo_url:\s*[\"']?(?P<url>https://github\.com/[\w.-]+/[\w.-]+?)/?[\"']?\s*(#.*)?$", re.M)
# A collapsible admonition's first line: `??? success "Solution"` (`???+`: shown open).
_COLLAPSIBLE = re.compile(r'^(?P<indent>[ ]*)\?\?\?(?P<open>\+?)[ ]+(?P<kind>[\w-]+)(?:[ ]+"(?P<title>[^"]*)")?[ ]*$')
# A cell jupytext made from a non-Python fence: "%%bash", "%%sh", ... on its first line.
_CELL_MAGIC = re.compile(r"^%%(?P<language>\w+)[^\n]*\n?")


def repository(mkdocs_yml: Path = MKDOCS_YML) -> tuple[str, str]:
    """``(owner, name)`` of the GitHub repository named by ``repo_url`` in ``mkdocs.yml``."""
    match = _REPO_URL.search(mkdocs_yml.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(
            f"{mkdocs_yml}: expected a line `repo_url: https://github.com/OWNER/REPO`, "
            "from which the notebooks' install line and Colab links are made"
        )
    owner, name = match.group("url").removeprefix("https://github.com/").split("/")
    return owner, name


def install_requirement() -> str:
    """The pip requirement that installs ``torchprimer`` straight from the repository."""
    owner, name = repository()
    return f"torchprimer @ git+https://github.com/{owner}/{name}"


def colab_url(site_path: str) -> str:
    """The address that opens the notebook at ``site_path`` (relative to the site root) in Colab.

    Colab opens notebooks from a GitHub repository path; the published site lives on the
    :data:`PUBLISHED_BRANCH` branch, so the site path is also the path in that branch.
    """
    if not site_path.endswith(".ipynb") or site_path.startswith("/"):
        raise ValueError(f"expected the site-relative path of an .ipynb file, got {site_path!r}")
    owner, name = repository()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{PUBLISHED_BRANCH}/{site_path}"


def setup_cell() -> nbformat.NotebookNode:
    """The first code cell: in Colab, install ``torchprimer``; anywhere else, do nothing."""
    source = (
        "# In Google Colab only: install the companion package torchprimer from its repository.\n"
        "# Colab already has PyTorch, so nothing else is installed; elsewhere this cell does nothing.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "--quiet", "{install_requirement()}"], check=True\n'
        "    )\n"
    )
    return nbformat.v4.new_code_cell(source)


def from_markdown(markdown: str, source: str) -> str:
    """Return the notebook (as ``.ipynb`` JSON text) for a page's Markdown body."""
    notebook = jupytext.reads(markdown, fmt="md")
    notebook.cells = [_collapse_admonitions(_shell_to_markdown(cell)) for cell in notebook.cells]
    notebook.cells[0:0] = [
        nbformat.v4.new_markdown_cell(f"*This notebook is generated from the PyTorch Primer page `{source}`.*"),
        setup_cell(),
    ]
    return to_json(notebook)


def with_setup_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` with :func:`setup_cell` placed before its first code cell."""
    first_code = next((i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"), len(notebook.cells))
    notebook.cells.insert(first_code, setup_cell())
    return notebook


def without_setup_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` without the cell :func:`with_setup_cell` placed (it must be there)."""
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    if notebook.cells[first_code].source != setup_cell().source:
        raise ValueError("the notebook's first code cell is not the setup cell")
    del notebook.cells[first_code]
    return notebook


def to_json(notebook: nbformat.NotebookNode) -> str:
    """``notebook`` as ``.ipynb`` JSON text for a plain Python 3 kernel, without jupytext's metadata."""
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.pop("jupytext", None)
    return nbformat.writes(notebook)


def collapsible_to_details(markdown: str) -> str:
    """Markdown with each ``???`` admonition turned into a ``<details>`` element (folded like on the site).

    The admonition's body (the lines indented under it) loses one level of indentation
    and sits between blank lines, so Jupyter renders it as Markdown inside the element.
    """
    lines = markdown.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = _COLLAPSIBLE.match(lines[index])
        if match is None:
            out.append(lines[index])
            index += 1
            continue
        indent = match.group("indent")
        body_indent = indent + "    "
        end = index + 1
        while end < len(lines) and (lines[end].startswith(body_indent) or not lines[end].strip()):
            end += 1
        while end > index + 1 and not lines[end - 1].strip():
            end -= 1  # trailing blank lines belong after the element
        title = html.escape(match.group("title") or match.group("kind").capitalize())
        body = [indent + line[len(body_indent) :] if line.strip() else "" for line in lines[index + 1 : end]]
        while body and not body[0]:
            body.pop(0)
        opened = " open" if match.group("open") else ""
        out += [f"{indent}<details{opened}><summary>{title}</summary>", "", *body, "", f"{indent}</details>"]
        index = end
    return "\n".join(out)


def _collapse_admonitions(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A Markdown cell with its collapsible admonitions folded (:func:`collapsible_to_details`)."""
    if cell.cell_type == "markdown":
        cell.source = collapsible_to_details(cell.source)
    return cell


def _shell_to_markdown(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A ``%%bash``-style cell (a shell block of the page) as a Markdown cell showing the command."""
    match = _CELL_MAGIC.match(cell.source) if cell.cell_type == "code" else None
    if match is None:
        return cell
    command = cell.source[match.end() :].rstrip("\n")
    return nbformat.v4.new_markdown_cell(
        f"Run this in a terminal, not in the notebook:\n\n```{match.group('language')}\n{command}\n```"
    )
