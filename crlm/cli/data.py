"""Commands that bring data in: ``samples`` (synthetic CT cases), ``dicom`` (inspect,
de-identify), ``import`` (a cohort table), ``import-measurements`` and ``import-images``."""
from __future__ import annotations

from pathlib import Path

from crlm import config
from crlm.cli.common import SEED, CliError, open_store, positive_int


def cmd_samples(args) -> int:
    from crlm.ingest.synthetic_ct import make_sample_cases

    out = Path(args.out or config.SAMPLES_DIR)
    written = make_sample_cases(out, n=args.n, seed=args.seed)
    print(f"wrote {len(written) if hasattr(written, '__len__') else args.n} sample CT case(s) to {out}")
    return 0


def cmd_dicom_inspect(args) -> int:
    from crlm.ingest.dicom import commands

    print(commands.inspect_command(args.path))
    return 0


def cmd_dicom_deidentify(args) -> int:
    from crlm.ingest.dicom import commands

    print(commands.deidentify_command(args.input, args.output))
    return 0


def cmd_import(args) -> int:
    from crlm.ingest.importer import import_command

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {args.file}")
    with open_store(args, retry_s=5.0) as store:
        return import_command(store, str(path), mapping=args.mapping, cohort=args.cohort,
                              dry_run=args.dry_run, actor="cli")


def cmd_import_measurements(args) -> int:
    from crlm.ingest.measurements_import import import_measurements_command

    if not Path(args.file).is_file():
        raise CliError(f"no such file: {args.file}")
    with open_store(args, create=False, retry_s=5.0) as store:
        return import_measurements_command(store, args.file, cohort=args.cohort,
                                           mapping=args.mapping, dry_run=args.dry_run,
                                           actor="cli")


def cmd_import_images(args) -> int:
    from crlm.ingest.image_import import import_images_command

    if not Path(args.folder).is_dir():
        raise CliError(f"no such folder: {args.folder}")
    with open_store(args, create=False, retry_s=5.0) as store:
        return import_images_command(store, args.folder, cohort=args.cohort,
                                     dry_run=args.dry_run, actor="cli", progress=not args.quiet)


def register(sub) -> None:
    p = sub.add_parser("samples", help="write synthetic CT DICOM sample cases (zip + SEG) to try uploads")
    p.add_argument("--out", help=f"folder (default {config.SAMPLES_DIR})")
    p.add_argument("-n", type=positive_int(1, 20, "-n"), default=3)
    p.add_argument("--seed", type=SEED, default=config.DEFAULT_SEED)
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
