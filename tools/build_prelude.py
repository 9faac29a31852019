"""What both editions' builds use, made once before they run side by side.

``nox`` builds the English and the Chinese editions at the same time (``build_site`` in
``noxfile.py``). Each build would otherwise fetch KaTeX if it were missing and run each
project notebook whose run is not kept, both builds racing to write the same files.
``python -m tools.build_prelude`` does both first, and does nothing when both are there.
"""

from __future__ import annotations

from pathlib import Path

from tools import i18n, katex, notebook_pages, settings

#: The project notebooks of the English edition, whose runs both editions show.
NOTEBOOKS = i18n.EN_DOCS / "notebooks"


def run_missing_notebooks() -> list[Path]:
    """Run every project notebook whose run is not kept yet (:func:`notebook_pages.executed`); return them."""
    missing = [path for path in sorted(NOTEBOOKS.glob("*.py")) if not notebook_pages.executed_file(path).is_file()]
    if missing:
        notebook_pages.prepare_data_root()
    for source in missing:
        notebook_pages.executed(source)
    return missing


def main() -> None:
    settings.apply_defaults()  # as the build does: e.g. the CIFAR-10 notebook's synthetic stand-in
    katex.ensure(i18n.EN_DOCS / "assets" / "katex")
    ran = run_missing_notebooks()
    names = ", ".join(path.name for path in ran)
    print(f"KaTeX {katex.VERSION} in place; project notebooks: " + (f"ran {names}" if ran else "every run kept"))


if __name__ == "__main__":
    main()
