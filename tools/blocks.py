"""Run a page's code blocks in a namespace, keeping what each printed and drew.

The one loop that executes a page's blocks, used where the page's code runs: in the
test or build process (``tools/snippets.py``) and inside a notebook's Jupyter kernel
(``tools/page_kernel.py``, which sends this file's source to the kernel). So it needs
nothing but the standard library, and matplotlib only where a page draws.

Each block is compiled with the page as its file name and its first line at the page's
line number, so a traceback points at the Markdown source, and a failure reads
``docs/<page>.md:<line>``. "The full program" block may run in a namespace of its own
(``alone``), where a name it uses without defining fails.

The second half serves a notebook kernel that runs a page: the CPU time its code used,
emptying and restoring the kernel's namespace around the full program, and
:func:`fork_rest`, which continues the page in a copy of the kernel while the kernel
goes on with the notebook.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import resource
import signal
import sys
import time
import traceback
import warnings


def alt_text(figure) -> str:
    """Describe a figure by its titles, for readers who cannot see it."""
    titles = [figure._suptitle.get_text()] if figure._suptitle is not None else []
    titles += [axes.get_title() for axes in figure.axes if axes.get_title()]
    return "; ".join(titles) or "Figure drawn by the code above"


def figures() -> list[dict[str, str]]:
    """Save and close every open matplotlib figure; return them as base64 PNGs with alt text."""
    if "matplotlib.pyplot" not in sys.modules:
        return []
    plt = sys.modules["matplotlib.pyplot"]
    images = []
    for number in plt.get_fignums():
        buffer = io.BytesIO()
        plt.figure(number).savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        png = base64.b64encode(buffer.getvalue()).decode("ascii")
        images.append({"png": png, "alt": alt_text(plt.figure(number))})
    plt.close("all")
    return images


def source_line(path: str, line: int) -> str:
    """Line number ``line`` of the file at ``path``, stripped ("" past its end)."""
    with open(path, encoding="utf-8") as file:
        lines = file.read().split("\n")
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def describe_failure(path: str, name: str, block_line: int, error: BaseException, printed: str, root: str) -> str:
    """Name the page (``name``) and the line that failed, show that line and the traceback.

    ``path`` is the file name the blocks were compiled with; ``root`` is removed from the
    paths in the traceback.
    """
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == path]
    line = frames[-1].lineno if frames else getattr(error, "lineno", None) or block_line
    shown = source_line(path, line)
    trace = "".join(traceback.format_exception(error)).replace(root.rstrip(os.sep) + os.sep, "")
    message = f"{name}:{line}: {type(error).__name__}: {error}\n    {shown}\n\n{trace}"
    if printed:
        message += f"\nThe block printed before failing:\n{printed}"
    return message


def run_blocks(
    blocks: list[tuple[str, int]], namespace: dict, path: str, name: str, root: str, alone: int | None = None
) -> tuple[list[dict], str | None]:
    """Run ``blocks`` (``(code, first line)`` pairs) in order in ``namespace``.

    Returns each block's ``{"stdout": ..., "figures": [...]}`` up to the first failure,
    and that failure's description (None when every block ran). Block number ``alone``
    runs in a fresh namespace, whose names the blocks after it then see too.
    """
    results: list[dict] = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
        for index, (code, line) in enumerate(blocks):
            stdout = io.StringIO()
            scope = {"__name__": "__main__"} if index == alone else namespace
            try:
                compiled = compile("\n" * (line - 1) + code, path, "exec")
                with contextlib.redirect_stdout(stdout):
                    exec(compiled, scope)
                if scope is not namespace:
                    namespace.update(scope)
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # noqa: BLE001 - described with the page location
                figures()
                return results, describe_failure(path, name, line, error, stdout.getvalue(), root)
            results.append({"stdout": stdout.getvalue(), "figures": figures()})
    return results, None


def cpu_time() -> float:
    """CPU seconds used so far by this process (all threads) and its reaped subprocesses."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


# --- inside a notebook kernel -------------------------------------------------------------

_SET_ASIDE: dict = {}


def _user_names(shell) -> list[str]:
    """The names the notebook's code defined (not IPython's own, not ``_``-prefixed caches)."""
    hidden = shell.user_ns_hidden
    return [key for key in shell.user_ns if key not in hidden and not key.startswith("_")]


def _shell():
    """The kernel's IPython shell."""
    from IPython import get_ipython

    return get_ipython()


def set_namespace_aside() -> None:
    """Empty the kernel's namespace of the notebook's names, keeping them for :func:`restore_namespace`."""
    shell = _shell()
    _SET_ASIDE.clear()
    for key in _user_names(shell):
        _SET_ASIDE[key] = shell.user_ns.pop(key)


def restore_namespace() -> None:
    """Put back the names set aside that the last cell did not define again (its own win)."""
    shell = _shell()
    for key, value in _SET_ASIDE.items():
        shell.user_ns.setdefault(key, value)
    _SET_ASIDE.clear()


def fork_rest(spec: str) -> int:
    """Continue the page in a copy of this kernel; return the copy's process id.

    ``spec`` is a JSON file naming the blocks still to run (``blocks``, ``alone``), the
    page (``path``, ``name``, ``root``) and where to write the outcome (``result``). The
    copy (``fork()``) has the kernel's namespace as it is now; it runs the blocks there
    with its output kept away from the kernel's, writes ``{"blocks", "error", "seconds",
    "cpu_seconds"}`` and ends. The kernel goes on with the notebook meanwhile.
    """
    with open(spec, encoding="utf-8") as file:
        job = json.load(file)
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _end_with_parent()
        # The kernel's threads (its messaging) are not in the copy: nothing here may
        # write to the kernel's streams, so file descriptors 1 and 2 go nowhere.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        sys.stderr = io.StringIO()
        start, cpu_start = time.perf_counter(), cpu_time()
        namespace = _shell().user_ns  # this copy's own namespace
        blocks = [(block["code"], block["line"]) for block in job["blocks"]]
        results, error = run_blocks(blocks, namespace, job["path"], job["name"], job["root"], job["alone"])
        outcome = {
            "blocks": results,
            "error": error,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": cpu_time() - cpu_start,
        }
        partial = job["result"] + ".tmp"
        with open(partial, "w", encoding="utf-8") as file:
            json.dump(outcome, file)
        os.replace(partial, job["result"])
        code = 0
    finally:
        os._exit(code)


def _end_with_parent() -> None:
    """Have the kernel's end kill this copy too (Linux), so a page stopped midway leaves nothing running."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def wait(pid: int, limit: float) -> int | None:
    """Wait for the copy :func:`fork_rest` made; return its exit status (None: killed after ``limit`` seconds)."""
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.02)
