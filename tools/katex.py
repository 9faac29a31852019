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
    """Unpack KaTeX ``VERSION`` into ``target`` unless that exact version is there.

    The files are staged in a sibling folder and renamed into place only once complete,
    so a failure half-way (network, disk, a package without an expected file) leaves the
    previous ``target`` as it was, never a half-written one that the stamp would accept.
    """
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
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".katex-") as scratch:
        process = subprocess.run(
            [npm, "pack", f"katex@{VERSION}", "--silent", "--pack-destination", scratch],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,  # a failure is reported below, with npm's message
        )
        archives = list(Path(scratch).glob("katex-*.tgz"))
        if process.returncode != 0 or len(archives) != 1:
            raise RuntimeError(
                f"`npm pack katex@{VERSION}` did not produce one katex-{VERSION}.tgz "
                f"(exit status {process.returncode}): {process.stderr.strip() or 'no message'}. "
                f"The build needs the registry, or the package's dist/ folder unpacked into {target}."
            )
        with tarfile.open(archives[0]) as tar:
            tar.extractall(scratch, filter="data")
        dist = Path(scratch) / "package" / "dist"
        absent = [name for name in (*FILES, "fonts") if not (dist / name).exists()]
        if absent:
            raise RuntimeError(f"the katex {VERSION} package lacks dist/{', dist/'.join(absent)}")
        staging = Path(scratch) / "staging"
        for name in FILES:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dist / name, staging / name)
        shutil.copytree(dist / "fonts", staging / "fonts")
        (staging / "VERSION").write_text(VERSION + "\n")
        # Swap by renames on one file system: the old folder goes only once the new one is complete.
        previous = Path(scratch) / "previous"
        if target.exists():
            target.rename(previous)
        staging.rename(target)
