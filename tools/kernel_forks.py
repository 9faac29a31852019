"""Jupyter kernels forked from one process that has already imported PyTorch.

Starting a Python kernel for a notebook's Run All costs about 4 CPU seconds before the
first cell runs, nearly all of it imports: torch, torchvision, matplotlib, and the
compiler machinery an optimizer loads when the first one is made. With a dozen and more
notebooks per test run, that is a minute of CPU spent importing the same modules.

A *fork server* pays it once. :func:`serve` imports those modules and waits on a Unix
socket; each kernel is a ``fork()`` of it, so it starts with the imports done and
nothing else: an empty namespace, no code of any notebook run, module state as it is
right after import. Jupyter starts kernels as commands, so the kernel's command is a
small client (:func:`launch`, standard library only) that asks the server for a fork
with its own arguments, environment and working folder, passes on the signals Jupyter
sends it (interrupt, terminate) and exits with the kernel's exit status. A forked kernel
ends by itself when its client is gone, so a killed client leaves nothing behind.

Use :func:`kernel_manager_class` as the ``kernel_manager_class`` of an
``nbclient.NotebookClient``; :class:`ForkServer` starts and stops the server. Both the
server and the client run this file as a script, so they need nothing but the standard
library (and the server the modules it preloads) and work from any folder.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: What a kernel imports anyway, imported once by the server. ``torch._dynamo`` is what
#: the first ``torch.optim`` optimizer loads; ``ipykernel.ipkernel`` is the kernel itself.
PRELOAD = (
    "torch",
    "torch._dynamo",
    "torchvision",
    "matplotlib.pyplot",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
)
#: Run as a script by path (server and client), so it works from any folder without this package.
SCRIPT = str(Path(__file__).resolve())
#: Printed by the server once its imports are done and its socket listens.
READY = "kernel fork server ready"
#: Seconds between a forked kernel's checks that its client is still running.
CLIENT_CHECK_S = 0.5


def _send(connection: socket.socket, message: dict) -> None:
    connection.sendall(json.dumps(message).encode() + b"\n")


def _forked_kernel(request: dict, listener: socket.socket, connections: list[socket.socket]) -> None:
    """In the child after ``fork()``: become a kernel with the request's arguments, environment and folder."""
    try:
        for sock in (listener, *connections):
            sock.close()
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)  # the server's own handling
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # as `python -m ipykernel_launcher` started there has it (not tools/)
        os.environ.clear()
        os.environ.update(request["env"])
        _reset_process_state(request["env"])
        _end_with_client(int(request["client"]))
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance(argv=request["argv"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0
    except BaseException:  # noqa: BLE001 - reported on the kernel's stderr, then the fork ends
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _reset_process_state(env: dict[str, str]) -> None:
    """What a new process would not share with its siblings: random seeds, the thread count."""
    import random

    import torch

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    threads = env.get("OMP_NUM_THREADS")
    if threads:
        torch.set_num_threads(int(threads))  # the server's thread pool size was read at its start


def _end_with_client(client: int) -> None:
    """End this kernel when ``client`` (the process Jupyter started and watches) is gone."""

    def watch() -> None:
        while True:
            time.sleep(CLIENT_CHECK_S)
            try:
                os.kill(client, 0)
            except ProcessLookupError:
                os._exit(1)

    threading.Thread(target=watch, name="client-watch", daemon=True).start()


def serve(path: str) -> None:
    """Import :data:`PRELOAD`, listen on the Unix socket ``path`` and fork a kernel per request.

    The server stays single-threaded (a fork copies only the calling thread): one
    selector loop accepts requests, reads them, forks, and reaps the kernels that ended,
    telling each one's client its exit status.
    """
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    waiting: dict[socket.socket, bytes] = {}  # connections whose request is not complete yet
    kernels: dict[int, socket.socket] = {}  # pid of a forked kernel -> its client's connection
    print(READY, flush=True)
    while True:
        for key, _ in selector.select(timeout=0.05):
            if key.fileobj is listener:
                connection, _ = listener.accept()
                waiting[connection] = b""
                selector.register(connection, selectors.EVENT_READ)
                continue
            connection = key.fileobj
            chunk = connection.recv(1 << 16)
            waiting[connection] = waiting.get(connection, b"") + chunk
            if not chunk or b"\n" in waiting[connection]:
                selector.unregister(connection)
                data = waiting.pop(connection)
                if not chunk and b"\n" not in data:
                    connection.close()  # the client left before asking
                    continue
                request = json.loads(data.split(b"\n", 1)[0])
                pid = os.fork()
                if pid == 0:
                    _forked_kernel(request, listener, [*waiting, *kernels.values(), connection])
                kernels[pid] = connection
                _send(connection, {"pid": pid})
        _reap(kernels)


def _reap(kernels: dict[int, socket.socket]) -> None:
    """Collect the kernels that ended and tell each one's client how."""
    while kernels:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = kernels.pop(pid, None)
        if connection is not None:
            try:
                _send(connection, {"exit": os.waitstatus_to_exitcode(status)})
            except OSError:
                pass  # the client is gone
            connection.close()


def launch(path: str, argv: list[str]) -> int:
    """The kernel command: ask the server at ``path`` for a kernel; return its exit status.

    Interrupt and terminate signals sent to this process go to the kernel.
    """
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    _send(connection, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd(), "client": os.getpid()})
    reader = connection.makefile("r")
    kernel = json.loads(reader.readline())["pid"]

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(kernel, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(signum, forward)
    line = reader.readline()
    return int(json.loads(line)["exit"]) if line else 1


def _end_with_starter() -> None:
    """In the server's process before it starts (Linux): be sent SIGTERM when the process that started it ends.

    A test run stopped without its clean-up (killed) then leaves no server behind; its
    kernels end with their clients, which end when the server is gone.
    """
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ForkServer:
    """The fork server as a subprocess: started with :meth:`start`, ended with :meth:`stop`.

    ``env`` is the environment the server imports under; give it the same settings the
    kernels get (thread counts, ``MPLBACKEND``, ...), since some are read at import.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="kernel-forks-")
        self.socket_path = str(Path(self._folder.name) / "server.sock")
        self._env = env
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        """Start the server and wait until it has imported :data:`PRELOAD` and listens."""
        self._process = subprocess.Popen(
            [sys.executable, SCRIPT, "serve", self.socket_path],
            env=self._env,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_end_with_starter,
        )
        deadline = time.monotonic() + timeout
        line = self._process.stdout.readline()
        if line.strip() != READY or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"the kernel fork server did not start (it printed {line!r}); see its error above")

    def kernel_argv(self) -> list[str]:
        """The command Jupyter runs to start a kernel (``{connection_file}`` filled in by Jupyter)."""
        return [sys.executable, SCRIPT, "launch", self.socket_path, "-f", "{connection_file}"]

    def stop(self) -> None:
        """End the server (its kernels end with their clients) and remove its socket."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._folder.cleanup()


def kernel_manager_class(server: ForkServer) -> type:
    """A Jupyter kernel manager class whose kernels are forks of ``server``."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    spec = KernelSpec(argv=server.kernel_argv(), display_name="Python 3", language="python", metadata={})

    class ForkedKernelManager(AsyncKernelManager):
        @property
        def kernel_spec(self) -> KernelSpec:
            return spec

    return ForkedKernelManager


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) == 2:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve(argv[1])
        return 0
    if argv[:1] == ["launch"] and len(argv) >= 2:
        return launch(argv[1], argv[2:])
    print("usage: python tools/kernel_forks.py serve SOCKET | launch SOCKET KERNEL-ARGS...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
