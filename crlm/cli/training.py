"""Commands that build models: ``demo`` (the synthetic cohort, then its models) and
``train`` (every family for every task on a cohort)."""
from __future__ import annotations

import argparse
import sys

from crlm import config
from crlm.cli.common import FOLDS, SEED, CliError, open_store, positive_int


def cmd_demo(args) -> int:
    from tqdm import tqdm

    from crlm.ingest.demo_images import write_demo_cohort

    path = config.db_path(args.db)
    if args.imaging and args.patients > config.DEMO_IMAGING_MAX_PATIENTS:
        print(f"note: baseline CT crops are rendered for demo cohorts of up to "
              f"{config.DEMO_IMAGING_MAX_PATIENTS:,} patients; this one is built without "
              "images, so without the CT models", file=sys.stderr)
        args.imaging = False
    with open_store(args) as store:
        total = args.patients
        with tqdm(total=total, unit="patients", desc="demo cohort", file=sys.stderr,
                  disable=args.quiet) as bar:
            n = write_demo_cohort(store, total, args.seed, images=args.imaging,
                                  on_chunk=bar.update)
        store.checkpoint()
        print(f"demo cohort: {n:,} patients written to {path}"
              + (" with their baseline CT lesion crops" if args.imaging else ""))
        if args.train:
            from crlm.models import FAMILIES

            # the default families; with images (not --fast) the anti-EGFR CT CNN and its
            # fusions too. The CT families of any cohort (attention-MIL, CT Cox, CT fusion)
            # are left to `train` (minutes each on a CPU).
            families = [n for n, f in FAMILIES.items() if f.default]
            if args.imaging and not args.fast:
                families += ["cnn", "fusion", "fusion_stacked"]
            train_and_report(store, config.DEMO_COHORT, None, families, args.folds,
                             args.seed, quiet=args.quiet, fast=args.fast)
            # the landmark tasks at the first restaging, with the sequence models and
            # their comparators (what the trajectory adds, on the Models page); with
            # images, the CNN-RNN over the serial CT too
            from crlm.models.sequence import DEMO_FAMILIES, LANDMARK_TASKS

            return train_and_report(store, config.DEMO_COHORT, list(LANDMARK_TASKS),
                                    [*DEMO_FAMILIES, *(["cnn_rnn"] if args.imaging else [])],
                                    args.folds, args.seed, quiet=args.quiet, fast=args.fast)
    return 0


class UnitProgress:
    """The terminal's progress bar of a training run: one step per (task, family) unit,
    the current unit's name, and with a run time budget the minutes used of it. As
    ``train``'s ``on_unit`` callback it also starts each unit on the run budget."""

    def __init__(self, enabled: bool, folds: int, run=None, file=None):
        self.enabled, self.folds, self.run = enabled, int(folds), run
        self.file = file if file is not None else sys.stderr
        self.bar = None

    def __call__(self, i: int, units: list[str]) -> None:
        if self.run is not None:
            if i == 0:
                from crlm.models.tuning import TUNED_SUFFIX

                self.run.plan({u: self.folds + 1 for u in units if u.endswith(TUNED_SUFFIX)})
            self.run.begin_unit(units[i])
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=len(units), desc="training", unit="model", file=self.file)
        self.bar.n = i
        self.bar.set_description_str(units[i], refresh=False)
        if self.run is not None:
            self.bar.set_postfix_str(f"budget {self.run.describe()}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.run is not None:
            self.run.end_unit()
        if self.bar is not None:
            self.bar.n = self.bar.total
            if self.run is not None:
                self.bar.set_postfix_str(f"budget {self.run.describe()}", refresh=False)
            self.bar.close()


def show_progress(quiet: bool, progress: bool | None) -> bool:
    """A bar unless ``-q``; on a terminal only, unless ``--progress``."""
    if quiet or progress is False:
        return False
    return bool(progress) or sys.stdout.isatty()


def train_and_report(store, cohort, tasks, families, folds, seed, *, quiet=False,
                     fast=False, progress=None, run=None) -> int:
    """Train (with a progress bar over the units, and within the run budget ``run`` of
    ``crlm.models.tuning_budget`` if given), then print the results table (unless quiet)
    and what was skipped."""
    from crlm import models
    from crlm.models.tuning_budget import use_run_budget

    bar = UnitProgress(show_progress(quiet, progress), folds, run)
    use_run_budget(run)
    try:
        report = models.train(store, cohort=cohort, tasks=tasks, families=families,
                              folds=folds, seed=seed, progress=False, fast=fast, on_unit=bar,
                              own_process=True)
    finally:
        bar.close()
        use_run_budget(None)
    if not quiet and len(report):
        print(report.table.to_string(index=False))
    if run is not None and not quiet:
        print(f"time budget of the tuned run: {run.elapsed() / 60:.1f} of "
              f"{run.seconds / 60:g} min used")
    if report.skipped:
        print(f"skipped {len(report.skipped)}:")
        for line in report.skipped_lines():
            print(f"  {line}")
    return 0


def cost_ratio(text: str) -> tuple[float, float]:
    """An argparse type: the cost ratio ``A:B`` or one number (``crlm.models.costs``)."""
    from crlm.models.costs import parse_cost_ratio

    try:
        return parse_cost_ratio(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_seconds(text: str, option: str = "--tune-timeout", unit: str = "s") -> float:
    """An argparse type: a time cap in seconds, above zero (``inf``: no cap)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} must be a number of "
                                         f"{'seconds' if unit == 's' else 'minutes'}, "
                                         f"got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{option} must be above 0 {unit}, got {text!r}")
    return value


def positive_minutes(text: str) -> float:
    """An argparse type: the run's time budget in minutes, above zero (``inf``: none)."""
    return positive_seconds(text, "--tune-budget", "min")


def apply_run_settings(args) -> None:
    """The cost ratio and the search budget asked for this run."""
    if getattr(args, "cost_ratio", None) is not None:
        from crlm.models.costs import use_cost_ratio

        use_cost_ratio(*args.cost_ratio)
    if getattr(args, "tune_trials", None) is not None or \
            getattr(args, "tune_timeout", None) is not None:
        from crlm.models.tuning import use_budget

        use_budget(args.tune_trials, args.tune_timeout)


def run_budget(args):
    """The time budget of a ``--tune`` run (None without ``--tune`` or with ``inf``); its
    clock starts now."""
    from crlm.models.tuning_budget import DEFAULT_BUDGET_MIN, RunBudget

    minutes = getattr(args, "tune_budget", None)
    if not getattr(args, "tune", False):
        if minutes is not None:
            raise CliError("--tune-budget applies to tuned training: add --tune")
        return None
    minutes = DEFAULT_BUDGET_MIN if minutes is None else minutes
    return None if minutes == float("inf") else RunBudget(minutes * 60.0)


def cmd_train(args) -> int:
    run = run_budget(args)
    apply_run_settings(args)
    families = args.family
    if args.tune:  # the tuned counterparts (nested CV) of the named or default families
        from crlm.models import FAMILIES
        from crlm.models.tuning import tunable

        names = families or [n for n, f in FAMILIES.items() if f.default]
        families = tunable(names)
        if not families:
            raise CliError("none of these families has a hyper-parameter search space")
    with open_store(args, create=False) as store:
        return train_and_report(store, args.cohort, args.task, families, args.folds, args.seed,
                                quiet=args.quiet, fast=args.fast, progress=args.progress,
                                run=run)


def register(sub) -> None:
    p = sub.add_parser("demo", help="build the synthetic demo cohort (and train its models)")
    p.add_argument("--patients", type=positive_int(10, 5_000_000, "--patients"),
                   default=config.DEFAULT_DEMO_PATIENTS)
    p.add_argument("--seed", type=SEED, default=config.DEFAULT_SEED)
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="only write the cohort, do not train models")
    p.add_argument("--folds", type=FOLDS, default=5)
    p.add_argument("--fast", action="store_true", help="smaller models (for tests)")
    p.add_argument("--no-imaging", dest="imaging", action="store_false",
                   help="no baseline CT crops, and so no CT CNN and fusion models (about a "
                        "minute and a half of the build; those are never trained with --fast)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train every model family for every task on a cohort")
    p.add_argument("--cohort", default=config.DEMO_COHORT)
    p.add_argument("--task", action="append", help="task to train (repeatable; default all)")
    p.add_argument("--family", action="append", help="model family (repeatable; default all)")
    p.add_argument("--folds", type=FOLDS, default=5)
    p.add_argument("--seed", type=SEED, default=config.DEFAULT_SEED)
    p.add_argument("--fast", action="store_true", help="smaller models (for tests)")
    p.add_argument("--tune", action=argparse.BooleanOptionalAction, default=False,
                   help="train the tuned counterparts (<family>_tuned) of the named or default "
                        "families: optuna search nested in the cross-validation, fixed budget "
                        "(see docs/models.md); --no-tune (the default) trains the untuned ones")
    p.add_argument("--tune-trials", type=positive_int(1, 1000, "--tune-trials"), default=None,
                   help="trials per search with --tune (default 12, 4 with --fast)")
    p.add_argument("--tune-timeout", type=positive_seconds, default=None, metavar="SECONDS",
                   help="time cap per search with --tune: no new trial after it (default 60 "
                        "s, 15 s with --fast; inf: none)")
    p.add_argument("--tune-budget", type=positive_minutes, default=None, metavar="MINUTES",
                   help="time budget of the whole tuned run, refits and predictions included, "
                        "split across its searches (default 30; inf: only the caps per "
                        "search)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar over the models (default: on a terminal, not with -q)")
    p.add_argument("--cost-ratio", type=cost_ratio, default=None, metavar="A:B",
                   help="cost of a missed responder : cost of an unnecessary treatment for the "
                        "cost-sensitive forest (default 1:2; one number R means R:1)")
    p.set_defaults(func=cmd_train)
