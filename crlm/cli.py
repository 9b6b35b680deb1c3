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

    from crlm.ingest.demo_images import write_demo_cohort

    path = config.db_path(args.db)
    if args.imaging and args.patients > config.DEMO_IMAGING_MAX_PATIENTS:
        print(f"note: baseline CT crops are rendered for demo cohorts of up to "
              f"{config.DEMO_IMAGING_MAX_PATIENTS:,} patients; this one is built without "
              "images, so without the CT models", file=sys.stderr)
        args.imaging = False
    with _open_store(args) as store:
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
            return _train(store, config.DEMO_COHORT, None, families, args.folds, args.seed,
                          quiet=args.quiet, fast=args.fast)
    return 0


# -- train -----------------------------------------------------------------------
def _train(store, cohort, tasks, families, folds, seed, *, quiet=False, fast=False) -> int:
    from crlm import models

    report = models.train(store, cohort=cohort, tasks=tasks, families=families, folds=folds,
                          seed=seed, progress=not quiet, fast=fast)
    if not quiet and len(report):
        print(report.table.to_string(index=False))
    if report.skipped:
        print(f"skipped {len(report.skipped)}:")
        for line in report.skipped_lines():
            print(f"  {line}")
    return 0


def cmd_train(args) -> int:
    families = args.family
    if args.tune:  # the tuned counterparts (nested CV) of the named or default families
        from crlm.models import FAMILIES
        from crlm.models.tuning import tunable

        names = families or [n for n, f in FAMILIES.items() if f.default]
        families = tunable(names)
        if not families:
            raise CliError("none of these families has a hyper-parameter search space")
    with _open_store(args, create=False) as store:
        return _train(store, args.cohort, args.task, families, args.folds, args.seed,
                      quiet=args.quiet, fast=args.fast)


def cmd_audit(args) -> int:
    import json

    from crlm.models.audit import audit_cohort
    from crlm.store import load_cohort_info

    with _open_store(args, create=False, retry_s=5.0) as store:
        if load_cohort_info(store, args.cohort) is None:
            raise CliError(f"no cohort {args.cohort!r} in {store.path}")
        report = audit_cohort(store, args.cohort, tasks=args.task, folds=args.folds)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0


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


# -- import / export ------------------------------------------------------------
def cmd_import(args) -> int:
    from crlm.ingest.importer import import_command

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {args.file}")
    with _open_store(args, retry_s=5.0) as store:
        return import_command(store, str(path), mapping=args.mapping, cohort=args.cohort,
                              dry_run=args.dry_run, actor="cli")


def cmd_import_measurements(args) -> int:
    from crlm.ingest.measurements_import import import_measurements_command

    if not Path(args.file).is_file():
        raise CliError(f"no such file: {args.file}")
    with _open_store(args, create=False, retry_s=5.0) as store:
        return import_measurements_command(store, args.file, cohort=args.cohort,
                                           mapping=args.mapping, dry_run=args.dry_run,
                                           actor="cli")


def cmd_import_images(args) -> int:
    from crlm.ingest.image_import import import_images_command

    if not Path(args.folder).is_dir():
        raise CliError(f"no such folder: {args.folder}")
    with _open_store(args, create=False, retry_s=5.0) as store:
        return import_images_command(store, args.folder, cohort=args.cohort,
                                     dry_run=args.dry_run, actor="cli", progress=not args.quiet)


def cmd_export(args) -> int:
    from crlm.ingest.export import ExportError, export_cohort

    with _open_store(args, create=False, retry_s=5.0) as store:
        try:
            result = export_cohort(store, args.cohort, args.file, args.format,
                                   overwrite=args.overwrite)
        except ExportError as exc:
            raise CliError(str(exc)) from None
    print(", ".join(f"{k}: {v}" for k, v in result.to_dict().items()))
    return 0


def cmd_export_analysis(args) -> int:
    from crlm.reports.r_export import ExportInputError
    from crlm.reports.r_export.inputs import export_from_store
    from crlm.store import CohortFilter, FilterError

    out = Path(args.out)
    if out.exists() and not args.overwrite and (out.is_file() or any(out.iterdir())):
        raise CliError(f"{out} exists: choose a new path or pass --overwrite")
    categories: dict[str, list[str]] = {}
    for item in args.filter or []:
        column, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--filter must be COLUMN=VALUE, got {item!r}")
        categories.setdefault(column.strip(), []).append(value.strip())
    try:
        filt = CohortFilter(cohort=args.cohort, categories=categories)
    except FilterError as exc:
        raise CliError(str(exc)) from None
    with _open_store(args, create=False, retry_s=5.0) as store:
        try:
            export = export_from_store(
                store, args.page, filt, endpoint=args.endpoint, split_by=args.split_by,
                task=args.task, model_id=args.model, threshold=args.threshold, horizon=args.horizon,
                prediction_split=args.predictions, model_ids=args.models, reference=args.reference,
                chosen=args.chosen, columns=args.columns)
        except ExportInputError as exc:
            raise CliError(str(exc)) from None
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(export.zip_bytes())
    else:
        export.write_to(out)
    print(f"{export.title}: {len(export.data):,} patients, {len(export.quantities):,} numbers "
          f"-> {out} (run: Rscript analysis.R)")
    return 0


# -- users -----------------------------------------------------------------------
def _read_password(args) -> str | None:
    if getattr(args, "oidc", False):
        return None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass("Password (10 characters or more): ")
        if getpass.getpass("Password again: ") != password:
            raise CliError("the two passwords differ; nothing was changed")
    if not password:
        raise CliError("empty password; nothing was changed")
    return password


def _users(fn):
    def run(args) -> int:
        from crlm import auth

        try:
            return fn(auth, args) or 0
        except auth.UsersFileError as exc:
            raise CliError(str(exc)) from None
    return run


@_users
def cmd_users_add(auth, args):
    user = auth.add_user(args.users, args.name, args.role, _read_password(args))
    print(f"added {user['name']} ({user['role']}) to {auth.users_path(args.users)}")


@_users
def cmd_users_set_role(auth, args):
    user = auth.set_role(args.users, args.name, args.role)
    print(f"{user['name']} is now {user['role']}")


@_users
def cmd_users_passwd(auth, args):
    auth.set_password(args.users, args.name, _read_password(args))
    print(f"password changed for {auth.normalise_name(args.name)}")


@_users
def cmd_users_remove(auth, args):
    auth.remove_user(args.users, args.name)
    print(f"removed {auth.normalise_name(args.name)}")


@_users
def cmd_users_list(auth, args):
    users = auth.list_users(args.users)
    if not users:
        print(f"no users in {auth.users_path(args.users)}")
    for u in users:
        print(f"{u['name']}\t{u['role']}\t{'password' if u['password'] else 'single sign-on'}")


# -- backup / restore ------------------------------------------------------------
def cmd_backup(args) -> int:
    from crlm.store.backup import backup

    path = config.db_path(args.db)
    if not path.is_file():
        raise CliError(f"no store at {path}")
    manifest = backup(path, args.dest)
    tables = manifest.get("tables", {})
    print(f"backup of {path} written to {args.dest} ({len(tables)} tables)")
    return 0


def cmd_restore(args) -> int:
    from crlm.store.backup import restore

    target = args.target or args.db
    if not target:
        raise CliError("restore needs --db NEW_STORE_PATH (a file that does not exist yet)")
    restore(args.src, target)
    print(f"restored {args.src} into {target}; every table matches the manifest")
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
    p.add_argument("--no-imaging", dest="imaging", action="store_false",
                   help="no baseline CT crops, and so no CT CNN and fusion models (about a "
                        "minute and a half of the build; those are never trained with --fast)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train every model family for every task on a cohort")
    p.add_argument("--cohort", default=config.DEMO_COHORT)
    p.add_argument("--task", action="append", help="task to train (repeatable; default all)")
    p.add_argument("--family", action="append", help="model family (repeatable; default all)")
    p.add_argument("--folds", type=_positive_int(2, 20, "--folds"), default=5)
    p.add_argument("--seed", type=_positive_int(0, 2**32 - 1, "--seed"), default=config.DEFAULT_SEED)
    p.add_argument("--fast", action="store_true", help="smaller models (for tests)")
    p.add_argument("--tune", action=argparse.BooleanOptionalAction, default=False,
                   help="train the tuned counterparts (<family>_tuned) of the named or default "
                        "families: optuna search nested in the cross-validation, fixed budget "
                        "(see docs/models.md); --no-tune (the default) trains the untuned ones")
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

    p = sub.add_parser("import", help="import a centre's cohort table (CSV, TSV, Parquet, Excel)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--mapping", help="mapping file (YAML/TOML) or built-in name, e.g. tcia-crlm "
                                     "(default: recognised from the header, else exact names)")
    p.add_argument("--cohort", help="cohort name (default: from the file name)")
    p.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("import-measurements", help="import a cohort's serial measurements "
                                                    "(CEA, target-lesion sums; long format)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--cohort", required=True, help="the cohort whose patients were measured")
    p.add_argument("--mapping", help="mapping file (YAML): id, time, kind, value and unit "
                                     "columns (default: patient_id, day, kind, value, unit)")
    p.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p.set_defaults(func=cmd_import_measurements)

    p = sub.add_parser("import-images", help="import a cohort's CT + DICOM SEG folder tree "
                                              "(one folder per patient, the TCIA layout)")
    p.add_argument("folder", metavar="DIR")
    p.add_argument("--cohort", required=True,
                   help="the cohort whose clinical table was imported (patients are matched "
                        "by folder name with its pseudonym key)")
    p.add_argument("--dry-run", action="store_true", help="read and report; write nothing")
    p.set_defaults(func=cmd_import_images)

    p = sub.add_parser("audit", help="leakage audit: per task, the inputs with their decision "
                                      "time and any suspiciously predictive, duplicated or "
                                      "label-derived column")
    p.add_argument("--cohort", default=config.DEMO_COHORT)
    p.add_argument("--task", action="append", help="task to audit (repeatable; default all)")
    p.add_argument("--folds", type=_positive_int(2, 20, "--folds"), default=5)
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("export", help="export a cohort's patients table (CSV, Parquet, Excel)")
    p.add_argument("cohort", metavar="COHORT")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=["csv", "parquet", "xlsx"],
                   help="default: from the file name")
    p.add_argument("--overwrite", action="store_true",
                   help="replace FILE if it exists (default: refuse)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("export-analysis", help="a page's analysis as data + an R script that "
                                               "recomputes every number (survival, pROC)")
    p.add_argument("page", choices=["survival", "models", "table1", "subgroups"])
    p.add_argument("out", metavar="OUT", help="a .zip file, or a folder for the files")
    p.add_argument("--cohort", default=config.DEMO_COHORT)
    p.add_argument("--filter", action="append", metavar="COLUMN=VALUE",
                   help="sidebar filter, repeatable (e.g. ras_status=mutant)")
    p.add_argument("--endpoint", choices=["OS", "PFS"], default="OS", help="survival: endpoint")
    p.add_argument("--split-by", help="survival, table1: 'predicted responder' (the Survival "
                                     "page's default), 'none' (Table 1's) or a patient column")
    p.add_argument("--task", help="prediction task (default: response)")
    p.add_argument("--model", help="the model whose predicted responders split (default: best "
                                   "out-of-fold AUC)")
    p.add_argument("--threshold", type=float, help="its threshold (default: stored)")
    p.add_argument("--horizon", type=float, default=36.0, help="survival: RMST horizon, months")
    p.add_argument("--predictions", choices=["out-of-fold", "external"], default="out-of-fold",
                   help="models: which predictions")
    p.add_argument("--models", nargs="+", metavar="MODEL_ID", help="models: default all current")
    p.add_argument("--reference", metavar="MODEL_ID", help="models: DeLong reference (default Fong)")
    p.add_argument("--chosen", metavar="MODEL_ID",
                   help="models: calibration and decision curve (default: best out-of-fold AUC)")
    p.add_argument("--columns", nargs="+", metavar="COLUMN",
                   help="subgroups: subgroup variables (default: all the page offers)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_export_analysis)

    p = sub.add_parser("users", help="local users and roles: add, set-role, passwd, remove, list")
    p.add_argument("--users", help="users file (default: $CRLM_USERS or data/users.toml)")
    usub = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    q = usub.add_parser("add", help="add a user (asks for the password twice)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--role", required=True, choices=["viewer", "clinician", "admin"])
    q.add_argument("--oidc", action="store_true",
                   help="single sign-on user (an e-mail address): no password")
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    q.set_defaults(func=cmd_users_add)
    q = usub.add_parser("set-role", help="change a user's role")
    q.add_argument("name", metavar="NAME")
    q.add_argument("role", choices=["viewer", "clinician", "admin"])
    q.set_defaults(func=cmd_users_set_role)
    q = usub.add_parser("passwd", help="set a user's password")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    q.set_defaults(func=cmd_users_passwd)
    q = usub.add_parser("remove", help="remove a user (signed out at once)")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(func=cmd_users_remove)
    q = usub.add_parser("list", help="list users and roles (never the hashes)")
    q.set_defaults(func=cmd_users_list)

    p = sub.add_parser("backup", help="back up the store to a new or empty folder")
    p.add_argument("dest", metavar="DEST")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup folder into a NEW store file (--db)")
    p.add_argument("src", metavar="SRC")
    p.add_argument("--db", dest="target", metavar="NEW_DB",
                   help="the new store file to write (must not exist)")
    p.set_defaults(func=cmd_restore)
    _accept_db_after_command(sub)
    return parser


def _accept_db_after_command(sub) -> None:
    """``--db`` also after the sub-command (``crlm import FILE --db X``). It is added with a
    suppressed default, so it sets ``args.db`` only when given there and otherwise leaves the
    value given before the sub-command. ``restore`` keeps its own ``--db`` (the new file)."""
    for name, command in sub.choices.items():
        if any("--db" in action.option_strings for action in command._actions):
            continue
        command.add_argument("--db", default=argparse.SUPPRESS,
                             help="store file (as before the sub-command)")


def main(argv: list[str] | None = None) -> int:
    from crlm.privacy import install_log_filter
    from crlm.store import StoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_filter()
    try:
        return int(args.func(args) or 0)
    except (CliError, StoreError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was committed by the interrupted step", file=sys.stderr)
        return 130
