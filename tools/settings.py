"""Every environment variable the project reads: its name, its default and what it does.

This is the one place where a default is set. The snippet runner, the MkDocs hooks, the
tests, the benchmarks and the task runner all read them through :func:`get` (or apply
the defaults with :func:`apply_defaults`), and the cache key of a page's results covers
every variable marked ``changes_output`` (``tools/snippets.py``), so no list is kept twice.

Every name starts with ``TORCHPRIMER_``, except the few set for third-party programs
(``OMP_WAIT_POLICY``, ``MPLBACKEND``), which are listed here too so that plain ``pytest``
and the ``nox`` sessions run under the same settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PREFIX = "TORCHPRIMER_"


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default (``None``: unset) and what it changes."""

    name: str
    default: str | None
    help: str
    changes_output: bool = False  # part of the cache key of a page's results


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "TORCHPRIMER_SYNTHETIC_CIFAR",
        "1",
        "1: the CIFAR-10 page and notebook run on a synthetic stand-in with the real shapes "
        "(CIFAR-10 cannot be downloaded offline); 0: they load the real CIFAR-10.",
        changes_output=True,
    ),
    Setting(
        "TORCHPRIMER_MNIST_RAW",
        None,
        "A folder holding the four MNIST .gz files; default: ../shared/data/MNIST/raw, "
        "then the download cache (tools/mnist_files.py).",
    ),
    Setting("TORCHPRIMER_DATA", None, "Data root the executed notebooks read; the build sets a scratch copy."),
    Setting("TORCHPRIMER_SITE_DIR", None, "Built site the browser tests check; default: site/."),
    Setting("TORCHPRIMER_CHROMIUM", None, "Chromium binary for the browser tests; default: found on PATH."),
    Setting(
        "TORCHPRIMER_SCREENSHOTS",
        "top",
        "Screenshots the browser tests save: top (the first screen of each page, the whole page "
        "where a check fails) or full (every page whole; about a quarter slower).",
    ),
    Setting("TORCHPRIMER_BENCHMARK_RESULTS", None, "Folder of benchmark results the pages render."),
    Setting("TORCHPRIMER_DIST_TIMEOUT", None, "Seconds a torchrun process waits for the others (torchprimer)."),
    Setting(
        "OMP_WAIT_POLICY",
        "PASSIVE",
        "Idle OpenMP threads sleep instead of spinning, so a machine shared with other busy "
        "programs slows pages less. Read when torch loads, so it is applied before that.",
    ),
    Setting("MPLBACKEND", "Agg", "matplotlib draws to files, never to a window."),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def get(name: str) -> str | None:
    """The value of the variable ``name``: the environment's, else its default here."""
    if name not in BY_NAME:
        raise KeyError(f"{name} is not a setting of this project; known: {', '.join(BY_NAME)}")
    value = os.environ.get(name)
    return value if value is not None else BY_NAME[name].default


def defaults() -> dict[str, str]:
    """The variables that have a default, with it (for a subprocess's environment)."""
    return {setting.name: setting.default for setting in SETTINGS if setting.default is not None}


def apply_defaults(environ: os._Environ | dict[str, str] | None = None) -> None:
    """Set every variable that has a default and is not set yet (a value already set wins)."""
    target = os.environ if environ is None else environ
    for name, value in defaults().items():
        target.setdefault(name, value)


def output_affecting() -> tuple[str, ...]:
    """Names of the variables that change what a page computes (part of its cache key)."""
    return tuple(setting.name for setting in SETTINGS if setting.changes_output)
