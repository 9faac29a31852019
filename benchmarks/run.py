"""Run the benchmarks and write their results to benchmarks/results/<name>.json.

    python -m benchmarks.run                       # all of them, full size (a few minutes)
    python -m benchmarks.run --quick               # smoke run: tiny sizes, results to a temp folder
    python -m benchmarks.run mnist_time_to_accuracy --max-lr 8e-3 --epochs 1.3   # try a recipe

Run from the repository root: the benchmarks import the build helpers as ``tools``.

Timings mean something only on an otherwise idle machine; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import common, data_loading, ddp_scaling, fit_overhead, mnist_time_to_accuracy

BENCHMARKS = {module.NAME: module for module in (mnist_time_to_accuracy, fit_overhead, data_loading, ddp_scaling)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run with tiny sizes; results go to a temp folder")
    parser.add_argument(
        "--root", type=Path, help="data root holding MNIST/raw/ (default: a scratch copy of the originals)"
    )
    parser.add_argument(
        "--out", type=Path, help="results folder (default: benchmarks/results, or a temp folder with --quick)"
    )
    parser.add_argument("--note", default="", help="a sentence appended to every result's notes (e.g. the conditions)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    recipe = mnist_time_to_accuracy.Recipe()
    group = parser.add_argument_group("time-to-accuracy recipe")
    group.add_argument("--batch-size", type=int, default=recipe.batch_size)
    group.add_argument("--max-lr", type=float, default=recipe.max_lr)
    group.add_argument("--epochs", type=float, default=recipe.epochs)
    group.add_argument("--first-eval", type=float, default=recipe.first_eval)
    group.add_argument("--channels", type=int, nargs=2, default=(16, 32), metavar=("C1", "C2"))
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: choose from {', '.join(BENCHMARKS)}")

    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or (Path(tempfile.mkdtemp(prefix="torchprimer-bench-results-")) if args.quick else common.RESULTS)
    root = common.mnist_root(args.root)
    try:
        run_all(args, root, out)
    finally:
        if args.root is None:  # the scratch copy made by mnist_root
            shutil.rmtree(root, ignore_errors=True)
    return 0


def run_all(args: argparse.Namespace, root: Path, out: Path) -> None:
    """Run the benchmarks named in ``args`` (all by default) and write their result files."""
    print(
        f"machine: {common.cpu_model()}, {common.cores()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; data root {root}",
        flush=True,
    )
    for name in args.names or list(BENCHMARKS):
        module = BENCHMARKS[name]
        print(f"{name}{' (quick)' if args.quick else ''}:", flush=True)
        start = time.perf_counter()
        if module is mnist_time_to_accuracy:
            recipe = mnist_time_to_accuracy.Recipe(
                batch_size=args.batch_size, max_lr=args.max_lr, epochs=args.epochs, first_eval=args.first_eval
            )
            result = module.run(root, args.quick, recipe=recipe, channels=tuple(args.channels))
        else:
            result = module.run(root, args.quick)
        notes = result["notes"] + (f" torch threads: {torch.get_num_threads()}.")
        if args.quick:
            notes += " QUICK SMOKE RUN: sizes cut down, numbers not meaningful."
        if args.note:
            notes += " " + args.note
        path = common.write_result(out, name, module.TITLE, result["columns"], result["rows"], notes)
        print(f"  wrote {path} ({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
