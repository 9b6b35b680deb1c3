"""Run every benchmark and print one table: ours vs a same-process baseline.

    python -m bench.run            # full sizes
    python -m bench.run --quick    # small sizes, for a smoke run
    python -m bench.run --only stats
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from bench.common import Result
from crlm.process import tune_process


def _modules(only: str | None):
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("bench_") and (only is None or only in info.name):
            yield importlib.import_module(f"bench.{info.name}")


def _fmt(x: float | None, spec: str) -> str:
    return "" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", help="run only modules whose name contains this")
    args = parser.parse_args(argv)
    tune_process()   # the settings the product's processes run with (crlm.process)
    rows: list[Result] = []
    for mod in _modules(args.only):
        print(f"# {mod.__name__} ...", file=sys.stderr, flush=True)
        rows.extend(mod.run(quick=args.quick))
    header = f"{'benchmark':<44} {'n':>9} {'ours s':>9} {'baseline s':>11} {'ratio':>8} {'peak MB':>8}  baseline / note"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.benchmark:<44} {r.n:>9} {r.ours_s:>9.4f} {_fmt(r.baseline_s, '11.4f'):>11} "
            f"{_fmt(r.ratio, '7.1f') + ('x' if r.ratio else ''):>8} {_fmt(r.peak_mb, '8.1f'):>8}  "
            f"{r.baseline}{' | ' + r.note if r.note else ''}"
        )
    print("\nratio = baseline time / our time (higher is faster than the baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
