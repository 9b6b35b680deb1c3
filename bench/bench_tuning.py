"""``train --tune`` on the demo cohort: the time of each tuned family, with the budget.

Run on its own (one family at a time, each timed over the tasks asked, the lines
printed as they finish, so a long run can be read while it goes)::

    python -m bench.bench_tuning                      # every default tunable family, every task
    python -m bench.bench_tuning --task response      # one task
    python -m bench.bench_tuning --task os_risk --family rsf
    python -m bench.bench_tuning --whole-run 30       # the whole tuned run, one budget

``--whole-run MINUTES`` times ``python -m crlm train --tune --tune-budget MINUTES`` (every
default tunable family on every default task, the budget split across the searches,
refits and predictions counted in it) as one process on a fresh demo: wall seconds,
CPU seconds (the steadier figure on a shared machine) and the share of the budget used.

Whole-run row (2026-12-01, the 1,500-patient demo, seed 20240601, 5 outer folds + refit,
2 shared cores at a load average of 10–13; ``/usr/bin/time -v python -m crlm train
--tune --tune-budget 30``)::

    budget min | models | wall s | CPU s | budget used | trials (all searches)
    30         | 60     | 1788.2 | 726.8 | 99 % (29.8 min) | 2,149 in 360 searches

(the searches 1,113 s of it, a median share of 2.6 s each; peak memory 0.7 GB).

Each line: family, task(s), models trained, seconds, the trials actually run per search
(min–max over the searches: below the asked number where the time cap stopped them),
and the 1-minute load average after it (the machine's other work slows every number).
The header names the machine, the date, the patients and the budget.

Under ``python -m bench.run --only tuning``: tuned against untuned training of six
families on the response and OS tasks (5 outer folds + refit each time; ``--quick``:
600 patients, fast sizes); the ratio is the price of tuning (below 1).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result, timed
from crlm import config, models
from crlm import store as st
from crlm.models import tuning
from crlm.models.tuning import tunable

SEED = 20240601
FAMILIES = ("logistic", "cart", "lightgbm", "cost_sensitive_rf", "elastic_net_cox",
            "lightgbm_cox")
TASKS = ("response", "os_risk")


def run(quick: bool) -> list[Result]:
    from crlm.ingest.demo import generate_cohort_frames

    n = 600 if quick else 1500
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = st.Store(tmp / "bench.duckdb")
        chunk = generate_cohort_frames(n, SEED)
        st.save_cohort(store, "demo", chunk.patients, chunk.features, kind="synthetic")

        def train(families):
            return models.train(store, tasks=list(TASKS), families=list(families), folds=5,
                                seed=SEED, artefact_dir=tmp / "art", progress=False,
                                fast=quick).table

        base, _ = timed(lambda: train(FAMILIES), repeat=1)
        ours, table = timed(lambda: train(tunable(FAMILIES)), repeat=1)
        store.close()
    trials, cap = tuning.budget(quick)
    return [Result(f"models: train --tune, {len(table)} models{' (fast)' if quick else ''}", n,
                   ours, base, "the same families untuned",
                   note=f"{', '.join(FAMILIES)} on {', '.join(TASKS)}; ≤ {trials} trials, "
                        f"≤ {cap:g} s per search; 2 cores shared")]


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def _trials(store, model_ids) -> str:
    """Trials run in the final search of each model, from its card ('7 of 12 trials')."""
    reg = st.load_models(store, cohort=config.DEMO_COHORT).set_index("model_id")
    used = []
    for mid in model_ids:
        card = ((reg.loc[mid, "metrics"] or {}).get("card") or {}).get("estimator") or {}
        text = card.get("search budget used (final fit)", "")
        if text:
            used.append(text.split(" trials")[0])
    return "; ".join(used) or "–"


def whole_run(patients: int, minutes: float, folds: int) -> int:
    """One tuned run of every default tunable family and task within ``minutes``."""
    import resource
    import subprocess

    from crlm.ingest.demo_images import write_demo_cohort

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        store = st.Store(db)
        write_demo_cohort(store, patients, config.DEFAULT_SEED, images=False)
        store.checkpoint()
        store.close()
        print(f"# train --tune --tune-budget {minutes:g} on the demo ({patients:,} patients), "
              f"{folds} outer folds + refit; {machine()}; "
              f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "crlm", "--db", str(db), "-q", "train", "--tune",
                        "--tune-budget", f"{minutes:g}", "--folds", str(folds)], check=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        store = st.Store(db)
        models_trained = len(st.load_models(store, cohort=config.DEMO_COHORT))
        store.close()
    print("budget min | models | wall s | CPU s | budget used | load", flush=True)
    print(f"{minutes:g} | {models_trained} | {wall:.1f} | {cpu:.1f} | "
          f"{wall / (minutes * 60):.0%} | {os.getloadavg()[0]:.1f}", flush=True)
    return 0 if wall <= minutes * 60 else 1


def main(argv: list[str] | None = None) -> int:
    from crlm.ingest.demo_images import write_demo_cohort
    from crlm.models.families import FAMILIES as ALL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=config.DEFAULT_DEMO_PATIENTS)
    parser.add_argument("--task", action="append", help="task (repeatable; default all)")
    parser.add_argument("--family", action="append",
                        help="untuned family name (repeatable; default every default one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--whole-run", type=float, default=None, metavar="MINUTES",
                        help="time one whole tuned run within this budget instead")
    args = parser.parse_args(argv)
    if args.whole_run is not None:
        return whole_run(args.patients, args.whole_run, args.folds)
    from crlm.models.tasks import TASKS as ALL_TASKS

    names = args.family or [n for n, f in ALL.items() if f.default]
    if args.task:  # only the families that serve one of the tasks asked
        names = [n for n in names if any(ALL[n].serves(ALL_TASKS[t]) for t in args.task)]
    families = tunable(names)
    trials, cap = tuning.budget(args.fast)
    print(f"# train --tune on the demo ({args.patients:,} patients, seed "
          f"{config.DEFAULT_SEED}), {args.folds} outer folds + refit; budget per search: "
          f"≤ {trials} trials × {tuning.INNER_FOLDS} inner folds, cap "
          f"{'none' if cap is None else f'{cap:g} s'}", flush=True)
    print(f"# {machine()}; {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; load "
          f"average {os.getloadavg()[0]:.1f}", flush=True)
    print("family | tasks | models | seconds | trials run (final searches) | load", flush=True)
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = st.Store(tmp / "bench.duckdb")
        write_demo_cohort(store, args.patients, config.DEFAULT_SEED, images=False)
        for family in families:
            t0 = time.perf_counter()
            report = models.train(store, cohort=config.DEMO_COHORT, tasks=args.task,
                                  families=[family], folds=args.folds, seed=config.DEFAULT_SEED,
                                  artefact_dir=tmp / "art", progress=False, fast=args.fast)
            seconds = time.perf_counter() - t0
            total += seconds
            ids = list(report.table["model"]) if len(report) else []
            tasks = ", ".join(i.split(".")[0] for i in ids) or "–"
            print(f"{family} | {tasks} | {len(ids)} | {seconds:.1f} | {_trials(store, ids)} | "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
        store.close()
    print(f"# total {total:.1f} s ({total / 60:.1f} min) for {len(families)} families; "
          f"{dt.datetime.now(dt.timezone.utc):%H:%M} UTC, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
