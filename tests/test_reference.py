"""The API reference covers the package, and links every entry to its chapter.

A public name is one listed in a module's ``__all__`` or, in a module without one, a
function or class defined there whose name does not start with an underscore (modules
whose name starts with one are private). Each needs a ``::: torchprimer.<module>.<name>``
entry on a page under docs/reference/, followed by a line
"Introduced in [N. Title](../tutorials/NN-name.md)" with the title and file of the
chapter that teaches what it does, or, for what no chapter builds by hand (the command
line), "Introduced in [Title](../how-to/name.md)", the guide that shows it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass

import pytest

import torchprimer
from tools import snippets

ROOT = snippets.ROOT
REFERENCE = ROOT / "docs" / "reference"
DOCS = ROOT / "docs"

_DIRECTIVE = re.compile(r"^::: *(?P<target>[\w.]+) *$")
_INTRODUCED = re.compile(r"Introduced in \[(?P<title>[^\]]+)\]\(\.\./(?P<file>(?:tutorials|how-to)/[\w.-]+\.md)\)")


@dataclass
class Entry:
    """One ``:::`` entry of a reference page and the chapter link that follows it."""

    page: str
    line: int
    target: str
    chapter: str | None  # path under docs/ (tutorials/... or how-to/...), from the "Introduced in" line
    title: str | None  # the link's text, which must be the chapter's title


def public_modules() -> list[str]:
    """Every module of the package whose dotted name has no part starting with ``_``."""
    names = ["torchprimer"]
    for info in pkgutil.walk_packages(torchprimer.__path__, prefix="torchprimer."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def public_names(module_name: str) -> list[str]:
    """The public names of a module, qualified: ``__all__``, or its own functions and classes."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        names = list(module.__all__)
    else:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (inspect.isfunction(value) or inspect.isclass(value))
            and value.__module__ == module_name
        ]
    return [f"{module_name}.{name}" for name in names]


def resolve(target: str):
    """Import the object a dotted name points at (module, or attribute of a module)."""
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            value = getattr(value, attribute)
        return value
    raise ModuleNotFoundError(target)


def reference_entries() -> list[Entry]:
    """Every ``:::`` entry of the reference pages, with the chapter it links to."""
    entries = []
    for page in sorted(REFERENCE.glob("*.md")):
        lines = page.read_text(encoding="utf-8").split("\n")
        starts = [(n, m.group("target")) for n, line in enumerate(lines) if (m := _DIRECTIVE.match(line))]
        for index, (start, target) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
            following = "\n".join(lines[start + 1 : end])
            following = re.split(r"^#{1,6} ", following, flags=re.MULTILINE)[0]
            link = _INTRODUCED.search(following)
            entries.append(
                Entry(
                    page.relative_to(ROOT).as_posix(),
                    start + 1,
                    target,
                    link.group("file") if link else None,
                    link.group("title") if link else None,
                )
            )
    return entries


ENTRIES = reference_entries()


def _where(entry: Entry) -> str:
    return f"{entry.page}:{entry.line}: `::: {entry.target}`"


def test_public_names_are_found() -> None:
    """The discovery itself: modules, ``__all__``, and functions defined in a module."""
    modules = public_modules()
    assert {"torchprimer.train", "torchprimer.data", "torchprimer.models"} <= set(modules)
    assert not any("._" in name for name in modules)
    assert "torchprimer.train.fit" in public_names("torchprimer.train")
    assert "torchprimer.models.MODELS" in public_names("torchprimer.models")
    # imported names belong to the module that defines them
    assert "torchprimer.checkpoint.get_rng_state" not in public_names("torchprimer.checkpoint")


def test_reference_pages_exist() -> None:
    assert (REFERENCE / "index.md").is_file()
    assert ENTRIES, "no `::: torchprimer...` entries under docs/reference/"


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_name_is_documented(module_name: str) -> None:
    documented_objects = []
    documented_names = set()
    for entry in ENTRIES:
        documented_names.add(entry.target)
        try:
            documented_objects.append(resolve(entry.target))
        except (ImportError, AttributeError):
            pass  # reported by test_every_entry_resolves
    missing = [
        name
        for name in public_names(module_name)
        if name not in documented_names and not any(resolve(name) is value for value in documented_objects)
    ]
    assert not missing, (
        f"public names with no entry in docs/reference/: {missing}; add a `::: <name>` line "
        "and an 'Introduced in [chapter](../tutorials/....md)' line under it"
    )


@pytest.mark.parametrize("module_name", [m for m in public_modules() if public_names(m)])
def test_every_module_has_a_page(module_name: str) -> None:
    wanted = [resolve(name) for name in public_names(module_name)]
    pages = set()
    for entry in ENTRIES:
        try:
            value = resolve(entry.target)
        except (ImportError, AttributeError):
            continue
        if entry.target == module_name or any(value is item for item in wanted):
            pages.add(entry.page)
    assert pages, f"no reference page documents {module_name}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.target for e in ENTRIES])
def test_every_entry_resolves(entry: Entry) -> None:
    try:
        resolve(entry.target)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{_where(entry)} names nothing importable: {error}")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.target for e in ENTRIES])
def test_every_entry_links_its_chapter(entry: Entry) -> None:
    try:
        value = resolve(entry.target)
    except (ImportError, AttributeError):
        pytest.skip("reported by test_every_entry_resolves")
    if inspect.ismodule(value):
        return  # a module's own entry shows its docstring; its members carry the links
    assert entry.chapter, f"{_where(entry)} has no 'Introduced in [N. Title](../tutorials/NN-name.md)' line under it"
    chapter = DOCS / entry.chapter
    assert chapter.is_file(), f"{_where(entry)} links to {entry.chapter}, which does not exist"
    text = chapter.read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", text, flags=re.MULTILINE)
    assert title and entry.title == title.group(1).strip(), (
        f"{_where(entry)}: the link text {entry.title!r} is not the chapter's title "
        f"{title.group(1).strip() if title else None!r}"
    )
