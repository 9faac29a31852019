"""Render the benchmarks' measured results into the pages that cite them.

A page asks for a benchmark's table with a line of its own::

    <!-- benchmark: mnist_time_to_accuracy -->

At build time (``on_page_markdown`` in ``tools/mkdocs_hooks.py``) that line becomes a
Markdown table made from ``benchmarks/results/<name>.json``, followed by the machine, the
versions and the date of the measurement. The numbers a page shows are therefore always
the ones the benchmark last measured, never typed by hand. A results file that is missing
or malformed stops the build with a message that says which page asked for what, and how
to produce it.

The JSON schema, written by ``benchmarks/common.py``::

    {"benchmark", "title", "date", "machine": {"cpu", "cores"}, "versions": {...},
     "columns": [{"key", "label"}], "rows": [{...}], "notes"}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tools import settings

ROOT = Path(__file__).resolve().parent.parent

#: A placeholder line: ``<!-- benchmark: NAME -->`` alone on its line (indentation allowed).
PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)<!--\s*benchmark:\s*(?P<name>[A-Za-z0-9_.-]+)\s*-->[ \t]*$", re.MULTILINE)

REQUIRED_KEYS = ("benchmark", "title", "date", "machine", "versions", "columns", "rows", "notes")


class BenchmarkResultsError(RuntimeError):
    """A page asks for benchmark results that are missing or not in the expected schema."""


def results_dir() -> Path:
    """Where results are read from: ``TORCHPRIMER_BENCHMARK_RESULTS`` or ``benchmarks/results/``."""
    configured = settings.get("TORCHPRIMER_BENCHMARK_RESULTS")
    return Path(configured) if configured else ROOT / "benchmarks" / "results"


def load_result(name: str, directory: Path | None = None, page: str = "a page") -> dict[str, Any]:
    """Read and check ``<directory>/<name>.json``; raise :class:`BenchmarkResultsError` if unusable."""
    directory = results_dir() if directory is None else directory
    path = directory / f"{name}.json"
    if not path.is_file():
        raise BenchmarkResultsError(
            f"{page} shows the results of benchmark {name!r}, but {path} does not exist. "
            f"Produce it with `python -m nox -s bench -- {name}` (or `python -m benchmarks.run {name}`), "
            "or remove the `<!-- benchmark: ... -->` line from the page."
        )
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BenchmarkResultsError(f"{path} (asked for by {page}) is not valid JSON: {error}") from error
    missing = [key for key in REQUIRED_KEYS if key not in result] if isinstance(result, dict) else list(REQUIRED_KEYS)
    if missing:
        raise BenchmarkResultsError(f"{path} (asked for by {page}) lacks the keys {', '.join(missing)}")
    if result["benchmark"] != name:
        raise BenchmarkResultsError(f"{path} holds benchmark {result['benchmark']!r}, not {name!r}")
    for key, kind in (("machine", dict), ("versions", dict), ("columns", list), ("rows", list)):
        if not isinstance(result[key], kind):
            expected = "an object" if kind is dict else "a list"
            raise BenchmarkResultsError(f"{path}: {key!r} must be {expected}, not {type(result[key]).__name__}")
    columns = result["columns"]
    if not columns or not all(isinstance(c, dict) and {"key", "label"} <= c.keys() for c in columns):
        raise BenchmarkResultsError(f"{path}: every entry of 'columns' needs a 'key' and a 'label'")
    if not result["rows"]:
        raise BenchmarkResultsError(f"{path} has no rows: the benchmark measured nothing")
    for number, row in enumerate(result["rows"], 1):
        if not isinstance(row, dict):
            raise BenchmarkResultsError(f"{path}: row {number} must be an object of column keys to values")
        absent = [c["key"] for c in columns if c["key"] not in row]
        if absent:
            raise BenchmarkResultsError(f"{path}: row {number} lacks the columns {', '.join(absent)}")
    return result


def format_value(value: Any) -> str:
    """One table cell: yes/no for booleans, thousands separators for numbers, six significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:,g}"  # NaN: not measured
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(result: dict[str, Any], indent: str = "") -> str:
    """The Markdown for one benchmark: its table, then where, when and with what it was measured."""
    columns = result["columns"]
    lines = [
        "| " + " | ".join(format_value(c["label"]) for c in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in result["rows"]:
        lines.append("| " + " | ".join(format_value(row[c["key"]]) for c in columns) + " |")
    machine = result["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in result["versions"].items())
    caption = (
        f"*{result['title']}*: measured on {result['date']} on {machine.get('cpu', 'an unnamed CPU')} "
        f"({machine.get('cores', '?')} cores) with {versions or 'unrecorded versions'}."
    )
    body = ["", *lines, "", caption]
    if result["notes"]:
        body += ["", str(result["notes"])]
    body.append("")
    return "\n".join(indent + line if line else "" for line in body)


def render_placeholders(markdown: str, page: str = "a page", directory: Path | None = None) -> str:
    """Replace every ``<!-- benchmark: NAME -->`` line of ``markdown`` by that benchmark's table."""

    def replace(match: re.Match[str]) -> str:
        result = load_result(match.group("name"), directory, page)
        return render(result, match.group("indent"))

    return PLACEHOLDER.sub(replace, markdown)
