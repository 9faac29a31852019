"""Bring KaTeX into the site from the npm registry at build time.

The site renders math offline, so KaTeX's script, style sheet and fonts are served from
the site itself. They are fetched with ``npm pack`` (which checks the registry's integrity
hash) into ``docs/assets/katex/``, a folder git ignores: third-party files are never
committed, and no page ever loads them from a CDN.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.16.22"
FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")


def ensure(target: Path) -> None:
    """Unpack KaTeX ``VERSION`` into ``target`` unless that exact version is there."""
    stamp = target / "VERSION"
    if stamp.is_file() and stamp.read_text().strip() == VERSION:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "Building the site needs KaTeX from the npm registry, but `npm` was not found. "
            "Install Node.js and npm (e.g. `apt-get install npm`), or unpack the `katex` "
            f"{VERSION} package's dist/ folder into {target}."
        )
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [npm, "pack", f"katex@{VERSION}", "--silent", "--pack-destination", scratch],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (archive,) = Path(scratch).glob("katex-*.tgz")
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        dist = Path(scratch) / "package" / "dist"
        staging = Path(scratch) / "staging"
        for name in FILES:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dist / name, staging / name)
        shutil.copytree(dist / "fonts", staging / "fonts")
        (staging / "VERSION").write_text(VERSION + "\n")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, target)
