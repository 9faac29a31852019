"""Time the README's commands, so that a change to the build or the tests can be compared.

    python -m benchmarks.readme_commands                 # warm: `nox -s tests` and `nox -s docs`, here
    python -m benchmarks.readme_commands --cold          # also cold: each in a fresh clone, new environment
    python -m benchmarks.readme_commands --only docs     # one of them
    python -m benchmarks.readme_commands --command list="python -m nox -l" --out /tmp/x   # a tiny smoke run
    python -m nox -s bench-readme -- --cold              # the same through nox

The commands are read from the README's code block, exactly as a reader would type them
(``python -m pip install -r requirements/nox.txt && python -m nox -s tests``). *Warm*
runs them in this checkout after one untimed run that fills every cache (environments,
page results, executed notebooks, KaTeX); *cold* clones the repository's last commit into
a temporary folder and runs them there, where nothing exists yet (pip and uv still use
their download caches; the MNIST files are read from this machine's copy).

The figures go to ``benchmarks/results/readme_commands.json`` in the benchmarks' schema.
They mean something only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common
from tools import mnist_files

NAME = "readme_commands"
TITLE = "Time of the README commands"
README = common.ROOT / "README.md"


def readme_commands(readme: Path = README) -> dict[str, str]:
    """``{"tests": ..., "docs": ...}``: the README's command lines that run a nox session."""
    found = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = re.search(r"python -m nox -s (?P<session>[\w-]+)\s*$", line)
        if match and line.startswith("python -m pip install"):
            found[match.group("session")] = line.strip()
    if not found:
        raise SystemExit(f"{readme}: no line `python -m pip install ... && python -m nox -s SESSION` found")
    return found


def clone(target: Path) -> Path:
    """A fresh clone of this repository's last commit in ``target`` (uncommitted changes are not in it)."""
    subprocess.run(["git", "clone", "--quiet", str(common.ROOT), str(target)], check=True)
    return target


def time_command(command: str, cwd: Path, env: dict[str, str], log: Path) -> dict:
    """Run ``command`` in a shell in ``cwd``; its wall time, exit status and output (to ``log``)."""
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as output:
        done = subprocess.run(command, shell=True, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    return {"seconds": round(time.perf_counter() - start, 1), "exit_status": done.returncode}


def reader_environment() -> dict[str, str]:
    """This environment without the virtual environment this script may run in (``nox -s bench-readme``).

    The README's ``python`` is the one a reader has on their PATH, not the session's.
    """
    env = dict(os.environ)
    venv = env.pop("VIRTUAL_ENV", None)
    if venv:
        bin_dir = str(Path(venv) / ("Scripts" if os.name == "nt" else "bin"))
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != bin_dir)
    return env


def _keep_other_rows(previous: Path, rows: list[dict]) -> list[dict]:
    """``rows``, then the rows of ``previous`` for the commands and modes not timed now.

    With ``--only docs`` the record keeps the last ``tests`` figures, each with the date
    it was measured, instead of losing them.
    """
    if not previous.is_file():
        return rows
    timed = {(row["command"], row["mode"]) for row in rows}
    kept = [
        row
        for row in json.loads(previous.read_text(encoding="utf-8"))["rows"]
        if (row["command"], row["mode"]) not in timed
    ]
    return rows + [{**row, "date": row.get("date", "")} for row in kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also time each command in a fresh clone")
    parser.add_argument("--only", nargs="*", metavar="SESSION", help="only these README commands (tests, docs)")
    parser.add_argument(
        "--command", action="append", default=[], metavar="NAME=SHELL", help="time this command instead (repeatable)"
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed run before the warm one")
    parser.add_argument("--out", type=Path, default=common.RESULTS, help="results folder (default: benchmarks/results)")
    parser.add_argument("--note", default="", help="a sentence added to the notes (e.g. the conditions)")
    args = parser.parse_args(argv)

    if args.command:
        commands = dict(item.split("=", 1) for item in args.command)
    else:
        commands = readme_commands()
        if args.only:
            unknown = set(args.only) - set(commands)
            if unknown:
                parser.error(f"no README command for {sorted(unknown)}; there are: {', '.join(commands)}")
            commands = {name: commands[name] for name in args.only}

    env = reader_environment()
    raw = mnist_files.find_raw()
    if raw is not None:
        env.setdefault("TORCHPRIMER_MNIST_RAW", str(raw))  # a clone has no ../shared next to it
    logs = Path(tempfile.mkdtemp(prefix="torchprimer-readme-commands-"))
    rows = []
    for name, command in commands.items():
        if not args.no_warmup:
            print(f"{name}: warm-up run (not timed) ...", flush=True)
            time_command(command, common.ROOT, env, logs / f"{name}-warmup.log")
        print(f"{name}: warm run ...", flush=True)
        warm = time_command(command, common.ROOT, env, logs / f"{name}-warm.log")
        rows.append({"command": name, "mode": "warm", **warm, "date": time.strftime("%Y-%m-%d %H:%M")})
        print(f"  {warm['seconds']} s, exit status {warm['exit_status']}", flush=True)
        if args.cold:
            with tempfile.TemporaryDirectory(prefix="torchprimer-cold-") as scratch:
                checkout = clone(Path(scratch) / "repo")
                print(f"{name}: cold run in {checkout} ...", flush=True)
                cold = time_command(command, checkout, env, logs / f"{name}-cold.log")
            rows.append({"command": name, "mode": "cold", **cold, "date": time.strftime("%Y-%m-%d %H:%M")})
            print(f"  {cold['seconds']} s, exit status {cold['exit_status']}", flush=True)
    rows = _keep_other_rows(args.out / f"{NAME}.json", rows)
    columns = [
        {"key": "command", "label": "README command"},
        {"key": "mode", "label": "run"},
        {"key": "seconds", "label": "wall time (s)"},
        {"key": "exit_status", "label": "exit status"},
        {"key": "date", "label": "measured"},
    ]
    notes = (
        "Wall time of each command as the README writes it. Warm: in the working checkout, after one untimed run; "
        "cold: in a fresh clone of the last commit, with pip's and uv's download caches. "
        f"Commands: {commands}."
    )
    if args.note:
        notes += " " + args.note
    path = common.write_result(args.out, NAME, TITLE, columns, rows, notes)
    print(f"wrote {path}; logs in {logs}")
    failed = [row for row in rows if row["exit_status"] != 0]
    if failed:
        print(f"failed: {failed} (see the logs)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
