"""Commands that report on or export a cohort: ``audit`` (leakage audit), ``export`` (the
patients table) and ``export-analysis`` (a page's analysis as data + an R script)."""
from __future__ import annotations

from pathlib import Path

from crlm import config
from crlm.cli.common import FOLDS, CliError, open_store


def cmd_audit(args) -> int:
    import json

    from crlm.models.audit import audit_cohort
    from crlm.store import load_cohort_info

    with open_store(args, create=False, retry_s=5.0) as store:
        if load_cohort_info(store, args.cohort) is None:
            raise CliError(f"no cohort {args.cohort!r} in {store.path}")
        report = audit_cohort(store, args.cohort, tasks=args.task, folds=args.folds)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0


def cmd_export(args) -> int:
    from crlm.ingest.export import ExportError, export_cohort

    with open_store(args, create=False, retry_s=5.0) as store:
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
    with open_store(args, create=False, retry_s=5.0) as store:
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


def register(sub) -> None:
    p = sub.add_parser("audit", help="leakage audit: per task, the inputs with their decision "
                                      "time and any suspiciously predictive, duplicated or "
                                      "label-derived column")
    p.add_argument("--cohort", default=config.DEMO_COHORT)
    p.add_argument("--task", action="append", help="task to audit (repeatable; default all)")
    p.add_argument("--folds", type=FOLDS, default=5)
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
    p.add_argument("--endpoint", choices=list(config.ENDPOINTS), default="OS",
                   help="survival: endpoint")
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
