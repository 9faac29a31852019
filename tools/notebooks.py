"""Turn a documentation page into a Jupyter notebook a reader can download and run.

Each ```python block becomes a code cell and the prose between blocks becomes Markdown
cells (jupytext's Markdown reader does the parsing). Blocks nested in admonitions, such
as exercise solutions, stay inside the Markdown so they do not give the answer away.
"""

from __future__ import annotations

import jupytext
import nbformat


def from_markdown(markdown: str, source: str) -> str:
    """Return the notebook (as ``.ipynb`` JSON text) for a page's Markdown body."""
    notebook = jupytext.reads(markdown, fmt="md")
    notebook.cells.insert(
        0,
        nbformat.v4.new_markdown_cell(
            f"*This notebook is generated from the PyTorch Primer page `{source}`.*"
        ),
    )
    return to_json(notebook)


def to_json(notebook: nbformat.NotebookNode) -> str:
    """``notebook`` as ``.ipynb`` JSON text for a plain Python 3 kernel, without jupytext's metadata."""
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.pop("jupytext", None)
    return nbformat.writes(notebook)
