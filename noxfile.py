"""Task runner: tests, the documentation site, a local preview and the benchmarks.

    python -m nox -s tests   # lint, unit tests, every docs snippet, site build, browser tests
    python -m nox -s docs    # every docs snippet, then both editions built strictly into site/
    python -m nox -s snippets -- 02-gradient   # only the snippets of matching pages
    python -m nox -s lint    # ruff on the code and on every ```python block of docs/
    python -m nox -s serve   # preview on http://127.0.0.1:8000 (`-- zh`: the Chinese edition)
    python -m nox -s bench   # benchmarks, results in benchmarks/results/
    python -m nox -s full-programs   # each tutorial's full program alone in a fresh interpreter
    python -m nox -s bench-readme    # time the README commands into benchmarks/results/

Environments are made with uv and kept between runs; a session reinstalls only when
pyproject.toml or the pinned constraints change, so a warm run starts in about a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nox
import nox.command

ROOT = Path(__file__).parent
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def _settings():
    """``tools/settings.py``, the one list of the project's environment variables and defaults.

    Loaded from its file: nox runs this file with its own interpreter, where the project's
    ``tools`` package is not importable (and ``settings.py`` imports nothing from it).
    """
    spec = importlib.util.spec_from_file_location("torchprimer_settings", ROOT / "tools" / "settings.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

ENV = {
    # Compile bytecode once at install; otherwise every `import torch` recompiles.
    "UV_COMPILE_BYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "NO_MKDOCS_2_WARNING": "1",
    # The project's own defaults (synthetic CIFAR-10 stand-in, sleeping OpenMP threads,
    # ...), from tools/settings.py, unless the caller set them; the tests and the build
    # apply the same ones themselves.
    **{name: os.environ.get(name, value) for name, value in _settings().defaults().items()},
}

#: What `lint` checks with ruff (the docs blocks are linted by tools/lint_docs.py).
LINTED = ["src", "tests", "tools", "benchmarks", "noxfile.py"]


def install(session: nox.Session, extras: str) -> None:
    """Install the package with ``extras`` under the pinned constraints, once per change."""
    digest = hashlib.sha256()
    for file in (ROOT / "pyproject.toml", CONSTRAINTS):
        digest.update(file.read_bytes())
    digest.update(extras.encode())
    stamp = Path(session.virtualenv.location) / f".installed-{digest.hexdigest()[:16]}"
    if stamp.exists() and not session.posargs[:1] == ["--reinstall"]:
        return
    for old in Path(session.virtualenv.location).glob(".installed-*"):
        old.unlink()
    session.install("-c", str(CONSTRAINTS), "-e", f".[{extras}]", env=ENV)
    stamp.touch()


#: Where the Chinese edition is built while the English one builds into site/ (which the
#: English build empties first); it is moved to site/zh/ once both are done.
ZH_STAGING = ROOT / ".cache" / "site-zh"


@contextlib.contextmanager
def beside(session: nox.Session, command: list[str], why: str, ok: tuple[int, ...] = (0,)) -> Iterator[None]:
    """Run ``command`` in the background while the ``with`` block runs.

    Its output is kept and printed once the block is done (so it is not interleaved with
    the block's), and the session fails if its exit code is not in ``ok``. When the block
    fails, the command is stopped: the session ends with the block's error, without waiting.
    """
    shown = " ".join(command)
    session.log(f"{shown}  ({why})")
    env = {**os.environ, **ENV, "PATH": os.pathsep.join([session.bin, os.environ.get("PATH", "")])}
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield
        except BaseException:
            process.send_signal(signal.SIGINT)  # as Ctrl-C: pytest ends its fixtures' processes
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            session.log(f"stopped `{shown}`: the commands beside it failed")
            raise
        code = process.wait()
        log.seek(0)
        session.log(f"output of `{shown}`:")
        print(log.read(), end="", flush=True)
    if code not in ok:
        session.error(f"`{shown}` failed with exit code {code} (its output is above)")


def build_site(session: nox.Session) -> None:
    """Build both editions, English into site/ and Chinese into site/zh/, with warnings as errors.

    The two builds run at the same time, one per core (each is a single process). What
    both use and would otherwise both make, KaTeX and the project notebooks' runs, is made
    first where missing (``python -m tools.build_prelude``). The Chinese build's log is
    printed after the English one's, so the two are not interleaved.
    """
    session.run("python", "-m", "tools.build_prelude", env=ENV)
    shutil.rmtree(ZH_STAGING, ignore_errors=True)
    chinese = ["mkdocs", "build", "--strict", "--config-file", "mkdocs.zh.yml", "--site-dir", str(ZH_STAGING)]
    with beside(session, chinese, "the Chinese edition, beside the English one; moved to site/zh/ afterwards"):
        session.run("mkdocs", "build", "--strict", "--config-file", "mkdocs.yml", "--site-dir", "site", env=ENV)
    shutil.move(ZH_STAGING, ROOT / "site" / "zh")


def run_lint(session: nox.Session) -> None:
    """ruff check and ruff format --check on the code, ruff on every docs block, the translations.

    All four run even when one fails, so one run lists every finding.
    """
    failed = []
    commands = (
        ["ruff", "check", *LINTED],
        ["ruff", "format", "--check", *LINTED],
        ["python", "-m", "tools.lint_docs"],
        ["python", "-m", "tools.i18n"],  # each Chinese page runs its English page's code
    )
    for command in commands:
        try:
            session.run(*command, env=ENV)
        except nox.command.CommandFailed:
            failed.append(" ".join(command[:3]))
    if failed:
        session.error(f"lint found problems: {', '.join(failed)} (see above)")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Lint and format check with ruff; every ```python block of docs/ too, at its page line.

    Needs only ruff and PyYAML (the docs linter imports tools/snippets.py, not torch), at
    their pinned versions, so this environment installs in seconds.
    """
    session.install("-c", str(CONSTRAINTS), "ruff", "pyyaml", env=ENV)
    run_lint(session)


#: The tests whose results the site build shows: the docs pages' runs and the project
#: notebooks' runs. The build waits for them; the other unit tests run beside.
BUILD_INPUTS = ["tests/test_docs.py", "tests/test_notebooks_run.py"]


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Lint; the docs snippets and notebooks, then the site build, then its browser tests; the unit tests beside.

    The unit tests that the build does not wait for run in a second pytest process from
    the start, beside lint and the docs tests: both cores stay busy, and they are done
    (on two cores) about when the site is built, so the browser tests get the machine to
    themselves. (At a lower CPU priority they ran on beside the browser tests and the whole
    took longer: 150 s against 133 s.) Their report is printed at the end. Arguments
    after ``--`` go to every pytest run (a run that then selects no test is not a failure).
    """
    install(session, "test,docs")
    args = [a for a in session.posargs if a != "--reinstall"]
    ok = (0, 5) if args else (0,)  # 5: pytest selected no test
    others = ["pytest", "--ignore=tests/site", *(f"--ignore={path}" for path in BUILD_INPUTS), *args]
    why = "the unit tests, beside lint, the docs tests and the build"
    with beside(session, others, why, ok):
        run_lint(session)
        session.run("pytest", *BUILD_INPUTS, *args, env=ENV, success_codes=list(ok))
        build_site(session)
        if (ROOT / "tests" / "site").is_dir():
            session.run("pytest", "tests/site", *args, env=ENV, success_codes=list(ok))


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Run every docs snippet (results are cached for the build), then build the site.

    A page whose cached result has the same key (its text, the package, the runner, the
    versions and the settings) passed with exactly these inputs and is not run again.
    """
    install(session, "test,docs")
    session.run("pytest", "tests/test_docs.py", "--reuse-page-results", env=ENV)
    build_site(session)
    session.log(f"Site written to {ROOT / 'site'}; open site/index.html or run `nox -s serve`.")


@nox.session(python="3.11")
def snippets(session: nox.Session) -> None:
    """Run the snippets of the pages whose name matches: `nox -s snippets -- 02-gradient`."""
    install(session, "test,docs")
    args = [a for a in session.posargs if a != "--reinstall"]
    if not args:
        session.error("name a page: `python -m nox -s snippets -- 02-gradient` (a pytest -k expression)")
    session.run("pytest", "tests/test_docs.py", "-k", " or ".join(args), env=ENV)


@nox.session(python="3.11")
def serve(session: nox.Session) -> None:
    """Preview one edition on http://127.0.0.1:8000, rebuilding on every change.

    `nox -s serve` serves the English pages, `nox -s serve -- zh` the Chinese ones (the
    language switcher then leads outside the preview: build with `nox -s docs` to follow it).
    """
    install(session, "test,docs")
    config = "mkdocs.zh.yml" if "zh" in session.posargs else "mkdocs.yml"
    session.run("mkdocs", "serve", "--config-file", config, "--dev-addr", "127.0.0.1:8000", env=ENV)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run the benchmarks; results go to benchmarks/results/*.json for the docs to render."""
    install(session, "test,docs")
    session.run("python", "-m", "benchmarks.run", *session.posargs, env={**ENV, **os.environ})


@nox.session(name="full-programs", python="3.11")
def full_programs(session: nox.Session) -> None:
    """Each tutorial's full program alone in a fresh Python process (slower than the tests' check).

    The docs tests run "The full program" in a fresh namespace, which catches names it
    uses without defining; this runs it as a reader would, in a new interpreter.
    """
    install(session, "test,docs")
    session.run("pytest", "tests/test_docs.py", "--fresh-interpreter", "-k", "fresh_interpreter", env=ENV)


@nox.session(name="bench-readme", python="3.11")
def bench_readme(session: nox.Session) -> None:
    """Time the README commands (warm; `-- --cold` adds a fresh clone) into benchmarks/results/.

    The timed commands run with the reader's `python` (this session's environment is
    taken off their PATH): they are `python -m nox -s tests` and `-s docs` themselves.
    """
    install(session, "test,docs")
    args = [a for a in session.posargs if a != "--reinstall"]
    session.run("python", "-m", "benchmarks.readme_commands", *args, env=ENV)


# Printed by `tests-latest` before its tests, so a failing weekly job names what it ran on.
_LATEST_VERSIONS = (
    "from importlib.metadata import version\n"
    "names = ['torch', 'torchvision', 'numpy', 'mkdocs', 'mkdocs-material', 'mkdocs-jupyter',\n"
    "         'mkdocstrings', 'pymdown-extensions', 'jupytext', 'nbclient', 'matplotlib', 'pytest']\n"
    "print('newest releases under test:', ', '.join(f'{n} {version(n)}' for n in names))\n"
)


@nox.session(name="tests-latest", python="3.11")
def tests_latest(session: nox.Session) -> None:
    """Every unit test and docs page against the newest releases, without our pins.

    The weekly CI job runs this: torch, torchvision and the docs stack are installed at
    their newest versions into this session's own environment (no constraints file), so
    an upstream release that breaks a page fails a test naming ``page.md:line`` before a
    reader meets it. The browser tests are left to the pinned ``tests`` session.
    """
    session.install("--upgrade", "-e", ".[test,docs]", env=ENV)
    session.run("python", "-c", _LATEST_VERSIONS, env=ENV)
    session.run("pytest", "--ignore=tests/site", *session.posargs, env=ENV)
