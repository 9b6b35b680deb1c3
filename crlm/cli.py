"""``python -m crlm``: build the demo, import, train, score, DICOM tools, backups.

Every subcommand validates its arguments before it opens the store, prints one
clear line on failure and exits non-zero, and writes nothing when it fails.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

from crlm import config

log = logging.getLogger("crlm")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _positive_int(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be between {lo:,} and {hi:,}, got {value:,}")
        return value
    return parse


def _open_store(args, *, create: bool = True, retry_s: float = 0.0):
    from crlm.store import Store

    return Store(config.db_path(args.db), create=create, retry_s=retry_s)


# -- demo ------------------------------------------------------------------------
def cmd_demo(args) -> int:
    from tqdm import tqdm

    from crlm.ingest.demo import generate_cohort
    from crlm.store import append_features, append_patients, begin_cohort, finish_cohort

    path = config.db_path(args.db)
    with _open_store(args) as store:
        total = args.patients
        with store.transaction() as cur, tqdm(total=total, unit="patients", desc="demo cohort",
                                              file=sys.stderr, disable=args.quiet) as bar:
            begin_cohort(cur, config.DEMO_COHORT, kind="synthetic", seed=args.seed,
                         description=f"synthetic demo cohort, {total:,} patients, seed {args.seed}")
            for chunk in generate_cohort(total, args.seed):
                append_patients(cur, config.DEMO_COHORT, chunk.patients)
                append_features(cur, config.DEMO_COHORT, chunk.features)
                bar.update(len(chunk.patients))
            n = finish_cohort(cur, config.DEMO_COHORT)
        store.checkpoint()
        print(f"demo cohort: {n:,} patients written to {path}")
        if args.train:
            return _train(store, config.DEMO_COHORT, None, None, args.folds, args.seed,
                          quiet=args.quiet, fast=args.fast)
    return 0


# -- train -----------------------------------------------------------------------
def _train(store, cohort, tasks, families, folds, seed, *, quiet=False, fast=False) -> int:
    from crlm import models

    table = models.train(store, cohort=cohort, tasks=tasks, families=families, folds=folds,
                         seed=seed, progress=not quiet, fast=fast)
    if not quiet and table is not None and len(table):
        print(table.to_string(index=False))
    return 0


def cmd_train(args) -> int:
    with _open_store(args, create=False) as store:
        return _train(store, args.cohort, args.task, args.family, args.folds, args.seed,
                      quiet=args.quiet, fast=args.fast)


# -- DICOM -----------------------------------------------------------------------
def cmd_dicom_inspect(args) -> int:
    from crlm.ingest.dicom import commands

    print(commands.inspect_command(args.path))
    return 0


def cmd_dicom_deidentify(args) -> int:
    from crlm.ingest.dicom import commands

    print(commands.deidentify_command(args.input, args.output))
    return 0


def cmd_samples(args) -> int:
    from crlm.ingest.synthetic_ct import make_sample_cases

    out = Path(args.out or config.SAMPLES_DIR)
    written = make_sample_cases(out, n=args.n, seed=args.seed)
    print(f"wrote {len(written) if hasattr(written, '__len__') else args.n} sample CT case(s) to {out}")
    return 0


# -- parser ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crlm",
        description="CRLM Cohort Explorer command line: build the demo cohort, import, train, "
                    "score, DICOM tools, backups.",
    )
    parser.add_argument("--db", help=f"store file (default: $CRLM_DB or {config.DEFAULT_DB})")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="build the synthetic demo cohort (and train its models)")
    p.add_argument("--patients", type=_positive_int(10, 5_000_000, "--patients"),
                   default=config.DEFAULT_DEMO_PATIENTS)
    p.add_argument("--seed", type=_positive_int(0, 2**32 - 1, "--seed"), default=config.DEFAULT_SEED)
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="only write the cohort, do not train models")
    p.add_argument("--folds", type=_positive_int(2, 20, "--folds"), default=5)
    p.add_argument("--fast", action="store_true", help="smaller models (for tests)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train every model family for every task on a cohort")
    p.add_argument("--cohort", default=config.DEMO_COHORT)
    p.add_argument("--task", action="append", help="task to train (repeatable; default all)")
    p.add_argument("--family", action="append", help="model family (repeatable; default all)")
    p.add_argument("--folds", type=_positive_int(2, 20, "--folds"), default=5)
    p.add_argument("--seed", type=_positive_int(0, 2**32 - 1, "--seed"), default=config.DEFAULT_SEED)
    p.add_argument("--fast", action="store_true", help="smaller models (for tests)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("samples", help="write synthetic CT DICOM sample cases (zip + SEG) to try uploads")
    p.add_argument("--out", help=f"folder (default {config.SAMPLES_DIR})")
    p.add_argument("-n", type=_positive_int(1, 20, "-n"), default=3)
    p.add_argument("--seed", type=_positive_int(0, 2**32 - 1, "--seed"), default=config.DEFAULT_SEED)
    p.set_defaults(func=cmd_samples)

    p = sub.add_parser("dicom", help="DICOM tools: inspect a series, write de-identified copies")
    dsub = p.add_subparsers(dest="dicom_command", metavar="ACTION", required=True)
    q = dsub.add_parser("inspect", help="list the series in a folder or .zip, with problems")
    q.add_argument("path")
    q.set_defaults(func=cmd_dicom_inspect)
    q = dsub.add_parser("deidentify", help="write de-identified copies of every DICOM file under IN")
    q.add_argument("input", metavar="IN")
    q.add_argument("output", metavar="OUT")
    q.set_defaults(func=cmd_dicom_deidentify)
    return parser


def main(argv: list[str] | None = None) -> int:
    from crlm.store import StoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (CliError, StoreError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was committed by the interrupted step", file=sys.stderr)
        return 130
