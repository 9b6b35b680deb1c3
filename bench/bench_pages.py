"""Page server time on a large cohort: what a board member waits for, new path beside old.

For each analysis page (Cohort, Models, Survival, Subgroups), under Streamlit's AppTest:

* **first open**: every cache dropped (``crlm.ui.loaders.release_stores`` plus
  Streamlit's data and resource caches), then the page opened: nothing of the cohort read;
* **first open, served**: the same, in a second session, after the server has made its
  whole-cohort reads (``crlm.analysis.prefetch``: what a server does when it starts and
  after each write to a cohort, before a user opens a page); the filter's own results are
  still all computed by the page;
* **new filter**: the sidebar's age range set to a range never drawn before in the
  process (nothing cached for it), median of ``REPEATS`` such changes, once the
  whole-cohort reads the first open left to the background are done (a page open on a
  running server).

The peak resident memory of each page's process (every run above, and the whole-cohort
reads) is reported beside its rows.

Each is timed as wall time and as the process's CPU time (``time.process_time``;
AppTest runs the script in the measuring process, DuckDB's threads included). CPU time
is what the load of a shared machine does not inflate.

Each (tree, page) pair runs in a fresh subprocess with the tree's own ``crlm`` first on
its path, so the old path (``--baseline-tree``, another checkout) is timed by the same
code, on a copy of the same store, alternating with the new path page by page.
Python modules the pages use are imported before the clock starts (a running server has
them loaded already).

The store of each size is built once: by the baseline tree's own command line when one
is given (the new code upgrades its copy's schema, untimed, before timing), else by this
tree's; ``--keep-stores DIR`` keeps built stores for later runs.

    python -m bench.bench_pages [--quick] [--sizes 100000,200000,500000]
                                [--baseline-tree /path/to/old/checkout] [--keep-stores DIR]
    python -m bench.run --only pages    # options from BENCH_PAGES_* environment variables
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [("cohort", "views/cohort.py"), ("models", "views/models.py"),
         ("survival", "views/survival.py"), ("subgroups", "views/subgroups.py")]
REPEATS = 3
GOALS = {"new": {100_000: 0.3, 1_000_000: 1.5}, "first": {1_000_000: 3.0},
         "served": {1_000_000: 3.0}}
KINDS = (("first", "first open"), ("served", "first open, served"), ("new", "new filter"))
PRELOAD = ("crlm.ui", "crlm.analysis", "crlm.figures", "crlm.stats", "crlm.store")
PRELOAD_LIBS = ("plotly.graph_objects", "plotly.express", "plotly.subplots", "scipy.stats",
                "sklearn.metrics", "lifelines", "numba")
TRAIN = [["--task", "response", "--family", "logistic", "--family", "fong_score",
          "--family", "tumour_burden_score", "--family", "cea_ng_ml"],
         ["--task", "os_risk", "--family", "cox"]]


# -- worker: runs inside the subprocess, with the measured tree's crlm --------------------
def _clock(fn) -> tuple[float, float]:
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def _preload() -> None:
    import pkgutil
    for name in PRELOAD_LIBS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    for package in PRELOAD:
        mod = importlib.import_module(package)
        for info in pkgutil.walk_packages(mod.__path__, package + "."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            try:
                importlib.import_module(info.name)
            except (Exception, SystemExit):  # a module needing an optional dependency
                pass


def _await_warm_kernels() -> None:
    """A server has loaded its compiled statistics long before a user opens a page: wait for
    the app's warm-up thread (a tree without one has nothing to wait for)."""
    try:
        from crlm.stats.warm import warm_in_background
    except ImportError:
        return
    warm_in_background().join()


def _drop_caches() -> None:
    import streamlit as st

    from crlm.ui import loaders
    loaders.release_stores()
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        from crlm.analysis.snapshot import clear_memos
    except ImportError:
        return
    clear_memos()
    try:
        from crlm.analysis import prefetch
    except ImportError:
        return
    prefetch.forget()


def _served(db: Path) -> bool:
    """Make the server's whole-cohort reads of the demo cohort now (False in a tree
    without them)."""
    try:
        from crlm.analysis.prefetch import warm_in_background
    except ImportError:
        return False
    from crlm.analysis.snapshot import snapshot
    warm_in_background(snapshot(db, "demo")).join()
    return True


def measure_page(tree: Path, db: Path, page: str, ages: list[tuple[int, int]]) -> dict:
    """First open and new-filter times of one page (this process's crlm must be the tree's)."""
    from streamlit.testing.v1 import AppTest

    os.environ["CRLM_DB"] = str(db)
    os.environ["CRLM_DEMO_MODE"] = "1"
    _preload()

    def ok(at):
        if at.exception:
            raise RuntimeError(f"{page} failed: {at.exception}")

    at = AppTest.from_file(str(tree / "app.py"), default_timeout=1800).run()
    ok(at)
    _await_warm_kernels()
    _drop_caches()
    first = _clock(lambda: ok(at.switch_page(page).run()))
    _served(db)   # the reads the first open left to the background, before timing filters
    new = [_clock(lambda age=age: ok(at.slider(key="flt_age").set_value(age).run()))
           for age in ages]
    second = AppTest.from_file(str(tree / "app.py"), default_timeout=1800).run()
    ok(second)
    _drop_caches()
    served = _clock(lambda: ok(second.switch_page(page).run())) if _served(db) else None
    _drop_caches()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"first": first, "served": served,
            "new": [statistics.median(t[i] for t in new) for i in (0, 1)], "new_all": new,
            "peak_mb": peak_mb}


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--page", required=True)
    parser.add_argument("--ages", required=True, help="lo-hi,lo-hi,...")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    ages = [tuple(int(x) for x in a.split("-")) for a in args.ages.split(",")]
    args.out.write_text(json.dumps(measure_page(args.tree, args.db, args.page, ages)))
    return 0


# -- driver ---------------------------------------------------------------------------------
def _python(tree: Path, code: str, *args: str, log: Path | None = None) -> None:
    """Run ``code`` in a subprocess whose ``crlm`` is the tree's."""
    prelude = f"import sys; sys.path.insert(0, {str(tree)!r}); "
    out = open(log, "a") if log else subprocess.DEVNULL
    try:
        subprocess.run([sys.executable, "-c", prelude + code, *args], cwd=tree, check=True,
                       stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    finally:
        if log:
            out.close()


def _commit(tree: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "tree"


def build_store(tree: Path, path: Path, n: int, log: Path) -> None:
    """The demo cohort (no imaging, no default training) with the fast response models and
    an overall-survival Cox model, written by the tree's own command line."""
    steps = [["demo", "--patients", str(n), "--seed", "7", "--no-train", "--no-imaging"],
             *(["train", "--folds", "3", "--fast", *t] for t in TRAIN)]
    for step in steps:
        _python(tree, "from crlm.cli import main; sys.exit(main(sys.argv[1:]))",
                "--db", str(path), "-q", *step, log=log)


def _store(builder: Path, n: int, keep: Path | None, tmp: Path) -> Path:
    folder = keep or tmp
    folder.mkdir(parents=True, exist_ok=True)
    tag = "this" if builder == ROOT else _commit(builder)  # this tree's commits move on
    path = folder / f"pages-{n}-{tag}.duckdb"
    if not path.exists():
        partial = path.with_suffix(".building")
        partial.unlink(missing_ok=True)
        print(f"building the {n:,}-patient store with {builder} ...", file=sys.stderr, flush=True)
        build_store(builder, partial, n, tmp / "build.log")
        partial.rename(path)
    return path


def _copy(src: Path, dst: Path, tree: Path) -> Path:
    shutil.copyfile(src, dst)
    # open read-write once: the tree's code upgrades an older schema before any timing
    _python(tree, "from crlm.store import Store; Store(sys.argv[1], create=False).close()",
            str(dst))
    return dst


def _run_page(tree: Path, db: Path, page: str, ages, tmp: Path) -> dict:
    out = tmp / "page.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--tree", str(tree),
           "--db", str(db), "--page", page, "--out", str(out),
           "--ages", ",".join(f"{lo}-{hi}" for lo, hi in ages)]
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{page} under {tree} failed:\n{tail}")
    return json.loads(out.read_text())


def measure(sizes: list[int], baseline: Path | None, keep: Path | None) -> dict:
    """{n: {page: {"new": {...}, "old": {...} or None}}}, plus the load average per size."""
    trees = [("new", ROOT)] + ([("old", baseline)] if baseline else [])
    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for n in sizes:
            built = _store(baseline or ROOT, n, keep, tmp)
            dbs = {label: _copy(built, tmp / f"{label}.duckdb", tree) for label, tree in trees}
            load0 = os.getloadavg()[0]
            rows = {}
            for k, (name, page) in enumerate(PAGES):
                ages = [(20 + 3 * k + i, 95 - 3 * k - i) for i in range(REPEATS)]
                rows[name] = {}
                for label, tree in trees:
                    t = rows[name][label] = _run_page(tree, dbs[label], page, ages, tmp)
                    served = (f", served {t['served'][0]:.2f} s" if t.get("served") else "")
                    print(f"{n:,} {name} ({label} path): first open {t['first'][0]:.2f} s"
                          f"{served}, new filter {t['new'][0]:.2f} s wall", file=sys.stderr,
                          flush=True)
            for db in dbs.values():
                db.unlink()
            results[n] = {"pages": rows, "load": (load0, os.getloadavg()[0])}
    return results


def extrapolate(points: dict[int, float], to: int) -> float:
    """Least-squares line through (n, seconds), evaluated at ``to``."""
    xs, ys = list(points), list(points.values())
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my + slope * (to - mx)


def _goal(kind: str, n: int) -> str:
    goal = GOALS[kind].get(n)
    return f"goal < {goal} s" if goal else ""


def to_results(measured: dict, baseline: Path | None) -> list:
    from bench.common import Result

    out = []
    old_name = f"old path ({baseline})" if baseline else "no old path measured"
    for n, block in measured.items():
        load = "load avg {:.1f}->{:.1f}".format(*block["load"])
        for page, timing in block["pages"].items():
            for kind, label in KINDS:
                if not timing["new"].get(kind):
                    continue
                for i, clock in enumerate(("wall", "CPU")):
                    old = timing.get("old")
                    if old is not None and not old.get(kind):
                        old = None
                    note = "; ".join(x for x in (_goal(kind, n) if clock == "wall" else "", load)
                                     if x)
                    out.append(Result(f"page {page}: {label} ({clock})", n,
                                      timing["new"][kind][i],
                                      old[kind][i] if old else None, old_name,
                                      peak_mb=timing["new"].get("peak_mb"), note=note))
    sizes = sorted(measured)
    if len(sizes) >= 2 and 1_000_000 not in measured:
        for page in measured[sizes[0]]["pages"]:
            for kind, label in (("first", "first open"), ("new", "new filter")):
                for i, clock in enumerate(("wall", "CPU")):
                    fits = {side: extrapolate({n: measured[n]["pages"][page][side][kind][i]
                                               for n in sizes}, 1_000_000)
                            for side in ("new", "old")
                            if all(measured[n]["pages"][page].get(side) for n in sizes)}
                    note = (f"extrapolated: least-squares line in n through "
                            f"{', '.join(f'{n:,}' for n in sizes)}")
                    if clock == "wall" and GOALS[kind].get(1_000_000):
                        note += f"; {_goal(kind, 1_000_000)}"
                    out.append(Result(f"page {page}: {label} ({clock}), fit", 1_000_000,
                                      fits["new"], fits.get("old"), old_name, note=note))
    return out


def _options(quick: bool) -> tuple[list[int], Path | None, Path | None]:
    sizes = os.environ.get("BENCH_PAGES_SIZES")
    baseline = os.environ.get("BENCH_PAGES_BASELINE_TREE")
    keep = os.environ.get("BENCH_PAGES_KEEP_STORES")
    parsed = [int(s) for s in sizes.split(",")] if sizes else [20_000 if quick else 100_000]
    return (parsed, Path(baseline).resolve() if baseline else None,
            Path(keep).resolve() if keep else None)


def run(quick: bool) -> list:
    sizes, baseline, keep = _options(quick)
    measured = measure(sizes, baseline, keep)
    if os.environ.get("BENCH_PAGES_JSON"):
        Path(os.environ["BENCH_PAGES_JSON"]).write_text(json.dumps(measured, indent=1))
    return to_results(measured, baseline)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(argv[1:])
    parser = argparse.ArgumentParser(description="page server times, new path beside old")
    parser.add_argument("--quick", action="store_true", help="20,000 patients")
    parser.add_argument("--sizes", help="comma-separated cohort sizes (default 100000)")
    parser.add_argument("--baseline-tree", help="another checkout to time as the old path")
    parser.add_argument("--keep-stores", help="folder keeping each size's built store")
    parser.add_argument("--json", help="also write the raw timings here")
    args = parser.parse_args(argv)
    for name, value in (("SIZES", args.sizes), ("BASELINE_TREE", args.baseline_tree),
                        ("KEEP_STORES", args.keep_stores), ("JSON", args.json)):
        if value:
            os.environ[f"BENCH_PAGES_{name}"] = value
    from bench.run import main as run_main
    return run_main(["--only", "bench_pages", *(["--quick"] if args.quick else [])])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()))
    sys.exit(main())
