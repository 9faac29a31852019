"""Run a docs page and its downloadable notebook together, in one Jupyter kernel.

A page and its notebook run the same code up to the page's first exercise solution: the
notebook is the page's ```python blocks in order, except the blocks nested in
admonitions (solutions), which stay folded in its Markdown
(``tools/notebooks.from_markdown``). Two separate runs repeat that shared part, which
holds nearly all of a chapter's training. Here it runs once:

1. A kernel (forked from ``tools/kernel_forks``) runs the notebook's cells one by one,
   as Run All does. Each cell before the first solution is also a block of the page:
   what it printed is the block's output, and the figures it left open are saved as
   the page run saves them (``tools/blocks.figures``). "The full program" runs with the
   kernel's namespace emptied first (and refilled after), as the page runner runs it.
2. At the first solution, :func:`tools.blocks.fork_rest` copies the kernel (``fork()``):
   the copy runs the rest of the page, solutions included, with the page runner's loop,
   while the kernel goes on with the notebook's remaining cells.

The page's CPU time is the kernel's for the shared part plus the copy's for the rest
(subprocesses included); its wall time is the two parts' sum. A page failure names
``docs/<page>.md:<line>`` in either part, and so does a notebook failure.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from mkdocs.utils.meta import get_data
from nbclient import NotebookClient  # bound here: a test replaces nbclient.NotebookClient while runs start
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from tools import blocks, kernel_forks, notebook_pages, notebooks, settings, snippets

#: Seconds a run may take for each second of its page's time budget, plus a fixed allowance.
BUDGET_FACTOR = 4
STARTUP_SECONDS = 30
#: Budget of the project notebooks (``docs/notebooks/*.py``), which have no front matter.
PROJECT_NOTEBOOK_BUDGET = 60

#: The kernel-side helpers (standard library only), sent to the kernel as source.
HELPERS = Path(blocks.__file__)
#: The module name the helpers get inside the kernel; nothing enters the notebook's namespace.
HELPER_MODULE = "primer_blocks"
#: A frame of a cell in an IPython traceback: ``Cell In[7], line 3``.
_CELL_FRAME = re.compile(r"Cell In\[(\d+)\], line (\d+)")
#: The terminal colour codes in a kernel's traceback.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Outcome:
    """The page's run and the notebook's, from one kernel."""

    page: snippets.PageResult | None  # None when the page failed
    page_error: str | None  # ``docs/<page>.md:<line>: ...``
    notebook_seconds: float
    notebook_error: str | None


def build_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook the site offers for ``path`` (a page, or a project notebook ``.py``), made as the build makes it."""
    if path.suffix == ".py":
        return nbformat.reads(notebook_pages.to_ipynb(path), as_version=4)
    markdown, _ = get_data(path.read_text(encoding="utf-8"))  # the front matter split, as MkDocs does
    return nbformat.reads(notebooks.from_markdown(markdown, source=path.name), as_version=4)


def limit_seconds(path: Path) -> float:
    """How long the run of ``path`` may take: a few times its page's time budget (kernel start included)."""
    budget = snippets.time_budget(path.read_text(encoding="utf-8")) if path.suffix == ".md" else PROJECT_NOTEBOOK_BUDGET
    return BUDGET_FACTOR * budget + STARTUP_SECONDS


def kernel_env(threads: int) -> dict[str, str]:
    """The environment a kernel runs in: the project's defaults (tools/settings.py), ``threads`` CPU threads.

    No ``TORCHPRIMER_DATA``: a notebook then reads ``data/`` in its own folder, as a reader's would.
    """
    env = {key: value for key, value in os.environ.items() if key != notebook_pages.DATA_ENV}
    settings.apply_defaults(env)  # no network, so CIFAR-10 is the announced stand-in
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def _client(notebook: nbformat.NotebookNode, folder: Path, limit: float, server: kernel_forks.ForkServer):
    return NotebookClient(
        notebook,
        timeout=int(limit),  # per cell; the whole run is checked against the same limit by the caller
        kernel_name="python3",
        kernel_manager_class=kernel_forks.kernel_manager_class(server),
        allow_errors=False,
        resources={"metadata": {"path": str(folder)}},
    )


def run_notebook(
    notebook: nbformat.NotebookNode, folder: Path, limit: float, env: dict[str, str], server: kernel_forks.ForkServer
) -> float:
    """Run every cell of ``notebook`` (Run All) in a kernel forked from ``server``, in ``folder``; return the seconds.

    Raises nbclient's ``CellExecutionError`` for a cell that fails; ``notebook`` keeps the outputs.
    """
    start = time.perf_counter()
    _client(notebook, folder, limit, server).execute(env=env)
    return time.perf_counter() - start


def cells_of_blocks(notebook: nbformat.NotebookNode, blocks: list[snippets.Block], name: str) -> dict[int, int]:
    """Index of the notebook cell of each page block that is one (those not nested in an admonition).

    The notebook's first code cell is the setup cell; every other code cell must be a
    top-level block of the page, in order.
    """
    code = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"][1:]
    top = [number for number, block in enumerate(blocks) if not block.indent]
    sources = [notebook.cells[index].source.strip() for index in code]
    if sources != [blocks[number].code.strip() for number in top]:
        raise RuntimeError(f"{name}: the notebook's code cells are not the page's top-level python blocks")
    return dict(zip(top, code))


class _Kernel:
    """Silent requests to the kernel of ``client``: code that adds nothing to its namespace or history."""

    def __init__(self, client: NotebookClient) -> None:
        self.client = client

    async def run(self, code: str, expression: str | None = None) -> object:
        """Run ``code`` and return the value of ``expression`` (a JSON-able value), if any."""
        expressions = {"value": f"__import__('json').dumps({expression})"} if expression else {}
        msg_id = self.client.kc.execute(code, silent=True, store_history=False, user_expressions=expressions)
        reply = await self.client.async_wait_for_reply(msg_id)
        content = reply["content"] if reply else {"status": "no reply"}
        if content["status"] != "ok":
            raise RuntimeError(f"the kernel could not run {code or expression!r}: {content.get('evalue', content)}")
        if expression is None:
            return None
        value = content["user_expressions"]["value"]
        if value["status"] != "ok":
            raise RuntimeError(f"the kernel could not evaluate {expression!r}: {value.get('evalue')}")
        return json.loads(ast.literal_eval(value["data"]["text/plain"]))  # the repr of the JSON text

    async def call(self, function: str, *args: object) -> object:
        """The JSON-able result of ``primer_blocks.<function>(*args)`` in the kernel."""
        arguments = ", ".join(repr(arg) for arg in args)
        return await self.run("", f"__import__('sys').modules[{HELPER_MODULE!r}].{function}({arguments})")

    async def install_helpers(self) -> None:
        """Load ``tools/blocks.py`` as the module ``primer_blocks`` of the kernel."""
        source = HELPERS.read_text(encoding="utf-8")
        module = f"__import__('types').ModuleType({HELPER_MODULE!r})"
        namespace = f"__import__('sys').modules.setdefault({HELPER_MODULE!r}, {module}).__dict__"
        await self.run(f"exec(compile({source!r}, {str(HELPERS)!r}, 'exec'), {namespace})")


def without_colours(text: str) -> str:
    """``text`` (a kernel's traceback) without its terminal colour codes."""
    return _ANSI.sub("", text)


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")


def failure(
    name: str, path: Path, page_blocks: list[snippets.Block], counts: dict[int, int], error: CellExecutionError
) -> str:
    """``docs/<page>.md:<line>: <error>`` for a cell that raised, with the line and the kernel's traceback.

    ``counts`` maps each cell's execution count to its block; the line is that of the last
    traceback frame in a cell of the page (a function defined in an earlier cell included).
    """
    trace = without_colours(str(error))
    line = None
    for count, offset in _CELL_FRAME.findall(trace):
        if int(count) in counts:
            line = page_blocks[counts[int(count)]].line + int(offset) - 1
    if line is None:
        return f"{name}: {error.ename}: {error.evalue}\n\n{trace}"
    return f"{name}:{line}: {error.ename}: {error.evalue}\n    {blocks.source_line(str(path), line)}\n\n{trace}"


class _PageRun:
    """One page and its notebook in one kernel: the shared cells, the page's rest in a fork, the notebook's rest."""

    def __init__(self, path: Path, folder: Path, limit: float, server: kernel_forks.ForkServer) -> None:
        self.path = path
        self.limit = limit
        self.name = snippets.page_name(path)
        self.blocks = snippets.find_blocks(path.read_text(encoding="utf-8"))
        self.notebook = build_notebook(path)
        self.cells = cells_of_blocks(self.notebook, self.blocks, self.name)  # block number -> cell index
        alone = snippets.full_program(self.blocks)
        self.alone = self.blocks.index(alone) if alone is not None else None
        #: Blocks before the first one nested in an admonition (a solution): the page's and the notebook's.
        self.shared = next((number for number, block in enumerate(self.blocks) if block.indent), len(self.blocks))
        self.client = _client(self.notebook, folder, limit, server)
        self.kernel = _Kernel(self.client)
        self.counts: dict[int, int] = {}  # a cell's execution count -> its block number

    async def _execute(self, number: int) -> nbformat.NotebookNode:
        """Run the cell of block ``number``; a failure raises :class:`_Failed` naming the page line."""
        cell = self.notebook.cells[self.cells[number]]
        try:
            await self.client.async_execute_cell(cell, self.cells[number])
        except CellExecutionError as error:
            self.counts[cell.execution_count] = number
            raise _Failed(failure(self.name, self.path, self.blocks, self.counts, error)) from None
        except (CellTimeoutError, DeadKernelError) as error:
            block = self.blocks[number]
            raise _Failed(f"{self.name}:{block.line}: the block did not finish: {error}") from None
        self.counts[cell.execution_count] = number
        return cell

    async def shared_part(self) -> tuple[list[dict], float, float]:
        """Run the shared cells as page blocks: each one's output, and the part's seconds and CPU seconds."""
        outputs = []
        start, cpu_start = time.perf_counter(), await self.kernel.call("cpu_time")
        for number in range(self.shared):
            if number == self.alone:  # the full program runs without the names defined before it
                await self.kernel.call("set_namespace_aside")
            cell = await self._execute(number)
            if number == self.alone:
                await self.kernel.call("restore_namespace")
            outputs.append({"stdout": _stdout(cell), "figures": await self.kernel.call("figures")})
        return outputs, time.perf_counter() - start, await self.kernel.call("cpu_time") - cpu_start

    async def fork_rest(self, scratch: Path) -> tuple[int, Path]:
        """Start the page's rest in a copy of the kernel; return its process id and the file it writes."""
        spec, result = scratch / "rest.json", scratch / "result.json"
        job = {
            "blocks": [{"code": block.code, "line": block.line} for block in self.blocks[self.shared :]],
            "alone": self.alone - self.shared if self.alone is not None and self.alone >= self.shared else None,
            "path": str(snippets.ROOT / self.name),
            "name": self.name,
            "root": str(snippets.ROOT),
            "result": str(result),
        }
        spec.write_text(json.dumps(job), encoding="utf-8")
        return await self.kernel.call("fork_rest", str(spec)), result

    async def notebook_rest(self) -> None:
        """Run the notebook's cells after the shared ones (the page's blocks that are not solutions)."""
        for number in range(self.shared, len(self.blocks)):
            if number in self.cells:
                await self._execute(number)

    async def page_rest(self, child: int, result: Path) -> dict:
        """Wait for the copy running the page's rest; return what it wrote."""
        status = await self.kernel.call("wait", child, self.limit)
        if status is None:
            raise _Failed(f"{self.name}: the page's blocks after its first solution ran over {self.limit:.0f} s")
        if status != 0:
            raise _Failed(f"{self.name}: the run of the page after its first solution ended with exit status {status}")
        rest = json.loads(result.read_text(encoding="utf-8"))
        if rest["error"]:
            raise _Failed(rest["error"])
        return rest

    async def run(self, env: dict[str, str]) -> Outcome:
        page = page_error = notebook_error = None
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="primer-page-rest-") as scratch:
            async with self.client.async_setup_kernel(env=env):
                await self.kernel.install_helpers()
                setup = next(index for index, cell in enumerate(self.notebook.cells) if cell.cell_type == "code")
                await self.client.async_execute_cell(self.notebook.cells[setup], setup)
                try:
                    outputs, seconds, cpu_seconds = await self.shared_part()
                except _Failed as failed:  # the page and the notebook alike
                    return Outcome(None, str(failed), time.perf_counter() - start, str(failed))
                child = await self.fork_rest(Path(scratch)) if self.shared < len(self.blocks) else None
                try:
                    await self.notebook_rest()
                except _Failed as failed:
                    notebook_error = str(failed)
                notebook_seconds = time.perf_counter() - start
                rest = {"blocks": [], "seconds": 0.0, "cpu_seconds": 0.0}
                try:
                    rest = await self.page_rest(*child) if child is not None else rest
                except _Failed as failed:
                    page_error = str(failed)
        if page_error is None:
            page = snippets.PageResult(
                page=self.name,
                blocks=[snippets.block_result(outcome) for outcome in outputs + rest["blocks"]],
                seconds=seconds + rest["seconds"],
                cpu_seconds=cpu_seconds + rest["cpu_seconds"],
            )
        return Outcome(page, page_error, notebook_seconds, notebook_error)


class _Failed(Exception):
    """A page or notebook failure, its message naming the page line."""


def run(path: Path, folder: Path, limit: float, env: dict[str, str], server: kernel_forks.ForkServer) -> Outcome:
    """Run the page at ``path`` and its notebook in one kernel forked from ``server``, in ``folder``.

    ``env`` is the kernel's environment; ``limit`` the seconds any one cell may take.
    """
    return asyncio.run(_PageRun(path, folder, limit, server).run(env))
