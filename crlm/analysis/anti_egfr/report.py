"""Markdown for docs/models.md and the command line
``python -m crlm.analysis.anti_egfr`` that prints it (and fills the doc's marked block)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np
import pandas as pd

from .design import compute_anti_egfr_study
from .published import NOT_REPORTED, PUBLISHED
from .results import CHEMO_ARMS, SIGNATURE_LABEL, AntiEgfrStudy


# -- command line: the numbers for docs/models.md ------------------------------------------
def _fmt(v, digits=2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _ci(e, digits=2) -> str:
    if not getattr(e, "estimable", True) or not np.isfinite(e.estimate):
        return f"not estimable ({e.reason})" if getattr(e, "reason", "") else "–"
    return f"{_fmt(e.estimate, digits)} [{_fmt(e.ci_lower, digits)}–{_fmt(e.ci_upper, digits)}]"


def _p(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def markdown_summary(study: AntiEgfrStudy) -> str:
    """The docs/models.md table: our numbers next to the paper's, in separate columns."""
    d, ri, pi = study.discrimination, study.response_interaction, study.pfs_interaction
    treated, control = study.pfs_by_arm
    p = PUBLISHED
    mv = study.response_multivariable
    sig = next((t for t in mv.terms if t.label == SIGNATURE_LABEL), None)
    auc = lambda a: (f"{_fmt(a.auc)} [{_fmt(a.ci_lower)}–{_fmt(a.ci_upper)}] (n = {a.n}, "
                     f"{a.responders} responders)" if a.estimable else f"not estimable ({a.reason})")
    median = lambda s: f"{_fmt(s.median_high, 1)} vs {_fmt(s.median_low, 1)} (n = {s.n})"
    rows = [
        ("AUC, anti-EGFR arm", auc(d.treated), f"{p.auc_anti_egfr_fusion:.2f} (fusion)"),
        (f"AUC, {study.control_arm_phrase} arm", auc(d.control),
         f"{p.auc_chemotherapy_fusion:.2f} (chemotherapy alone)"),
        ("AUC difference, unpaired DeLong p", f"{_fmt(d.difference)}, p {_p(d.p_value)}",
         NOT_REPORTED),
        ("Response: OR signature-high vs low, anti-EGFR arm", _ci(ri.by_arm[0]), NOT_REPORTED),
        ("Response: OR signature-high vs low, chemotherapy arm", _ci(ri.by_arm[1]), NOT_REPORTED),
        ("Response: signature × treatment interaction, LR p",
         f"ratio of ORs {_ci(ri.ratio)}, p {_p(ri.p_value)}", NOT_REPORTED),
        ("PFS: median months, signature-high vs low, anti-EGFR arm", median(treated),
         f"{p.pfs_median_high_months:.1f} vs {p.pfs_median_low_months:.1f}"),
        ("PFS: HR signature-high vs low, anti-EGFR arm",
         f"{_ci(treated.hazard_ratio)}, p {_p(treated.hazard_ratio.p_value)}",
         f"{p.pfs_hr:.2f} [{p.pfs_hr_ci[0]:.2f}–{p.pfs_hr_ci[1]:.2f}], p {p.pfs_p:.3f}"),
        ("PFS: median months, signature-high vs low, chemotherapy arm", median(control),
         NOT_REPORTED),
        ("PFS: HR signature-high vs low, chemotherapy arm",
         f"{_ci(control.hazard_ratio)}, p {_p(control.hazard_ratio.p_value)}", NOT_REPORTED),
        ("PFS: signature × treatment interaction, LR p",
         f"ratio of HRs {_ci(pi.ratio)}, p {_p(pi.p_value)}", NOT_REPORTED),
        ("Multivariable (anti-EGFR arm): signature OR next to the biomarkers",
         (f"{_ci(sig)}, p {_p(sig.p_value)} (n = {mv.n}; with "
          f"{', '.join(t.label for t in mv.terms if t is not sig) or 'no biomarker'})")
         if sig else f"not estimable ({mv.reason})",
         f"{p.multivariable_ratio:.1f} [{p.multivariable_ci[0]:.2f}–{p.multivariable_ci[1]:.2f}], "
         f"p {p.multivariable_p:.3f}"),
        ("Multivariable: biomarkers not entered",
         "; ".join(f"{x.label} ({x.reason})" for x in mv.excluded) or "none",
         "not reported in the abstract (which biomarkers were compared)"),
    ]
    lines = [f"Model `{study.model_id}`, threshold {study.threshold:.3f}; chemotherapy arm: "
             f"{study.control_arm_phrase}.", "",
             "| quantity | this cohort | paper (Liu et al. 2026) |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def overview_markdown(studies: Sequence[AntiEgfrStudy]) -> str:
    """One row per model: AUC in each arm, the interaction p-values, PFS HR in each arm."""
    lines = ["| model | AUC anti-EGFR | AUC chemotherapy | response interaction p | "
             "PFS HR anti-EGFR | PFS HR chemotherapy | PFS interaction p |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for st in studies:
        d = st.discrimination
        auc = lambda a: (f"{_fmt(a.auc)} [{_fmt(a.ci_lower)}–{_fmt(a.ci_upper)}]"
                         if a.estimable else "–")
        t, c = st.pfs_by_arm
        lines.append(f"| `{st.model_id}` | {auc(d.treated)} | {auc(d.control)} | "
                     f"{_p(st.response_interaction.p_value)} | {_ci(t.hazard_ratio)} | "
                     f"{_ci(c.hazard_ratio)} | {_p(st.pfs_interaction.p_value)} |")
    return "\n".join(lines)


DOC_BEGIN = ("<!-- anti-egfr-study: written by `python -m crlm.analysis.anti_egfr --write-doc "
             "docs/models.md`; do not edit by hand -->")
DOC_END = "<!-- /anti-egfr-study -->"


def replace_doc_block(text: str, block: str) -> str:
    """``text`` with the part between :data:`DOC_BEGIN` and :data:`DOC_END` replaced."""
    if DOC_BEGIN not in text or DOC_END not in text:
        raise ValueError("the document has no anti-EGFR study block (its begin/end markers)")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    return f"{head}{DOC_BEGIN}\n{block.strip()}\n{DOC_END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crlm.analysis.anti_egfr --db PATH [--cohort demo] [--model ID]``: print the
    study's contrasts for one ``anti_egfr_benefit`` model (our numbers next to the paper's)
    and an overview of every trained ``anti_egfr_benefit`` model, as markdown."""
    from crlm import config
    from crlm.models.kinds import trained_only
    from crlm.store import CohortFilter, Store, load_cohort_info, load_models

    parser = argparse.ArgumentParser(prog="python -m crlm.analysis.anti_egfr",
                                     description=main.__doc__)
    parser.add_argument("--db", default=None, help="store file (default: the configured store)")
    parser.add_argument("--cohort", default=config.DEMO_COHORT)
    parser.add_argument("--model", default=None,
                        help="model id (default: anti_egfr_benefit.fusion if trained, else the "
                             "trained anti_egfr_benefit model with the best out-of-fold AUC)")
    parser.add_argument("--chemo-arm", default="none", choices=list(CHEMO_ARMS))
    parser.add_argument("--csv", default=None, help="also write every number to this CSV file")
    parser.add_argument("--write-doc", default=None, metavar="MARKDOWN",
                        help="replace the marked anti-EGFR study block of this file "
                             "(docs/models.md) with the output")
    parser.add_argument("--note", default="",
                        help="a line to print first, e.g. how the store was built")
    args = parser.parse_args(argv)
    db = args.db or str(config.db_path())
    store = Store(db, create=False)
    try:
        info = load_models(store, cohort=args.cohort, task="anti_egfr_benefit")
        trained = trained_only(info)
        if trained.empty:
            print(f"no trained anti_egfr_benefit model in cohort {args.cohort!r}", file=sys.stderr)
            return 1
        model_id = args.model or default_model(trained)
        cohort = load_cohort_info(store, args.cohort) or {}
        trained_at = pd.to_datetime(trained["trained_at"]).max()
        filt = CohortFilter(cohort=args.cohort)
        study = compute_anti_egfr_study(store, filt, model_id, chemo_arm=args.chemo_arm)
        others = [compute_anti_egfr_study(store, filt, m, chemo_arm=args.chemo_arm)
                  for m in trained["model_id"]]
    finally:
        store.close()
    header = (f"Cohort `{args.cohort}` ({cohort.get('description') or cohort.get('kind', '')}); "
              f"models trained {trained_at:%Y-%m-%d}. {args.note}").strip()
    text = "\n\n".join([header, markdown_summary(study),
                         f"Every trained model ({study.control_arm_phrase} as the "
                         "chemotherapy arm):", overview_markdown(others)])
    print(text)
    if args.csv:
        study.table().to_csv(args.csv, index=False)
    if args.write_doc:
        with open(args.write_doc, encoding="utf-8") as fh:
            doc = fh.read()
        with open(args.write_doc, "w", encoding="utf-8") as fh:
            fh.write(replace_doc_block(doc, text))
    return 0


def default_model(records: pd.DataFrame) -> str:
    """``anti_egfr_benefit.fusion`` when trained, else the best out-of-fold AUC."""
    ids = list(records["model_id"])
    if "anti_egfr_benefit.fusion" in ids:
        return "anti_egfr_benefit.fusion"
    auc = records["metrics"].map(lambda m: ((m or {}).get("out_of_fold") or {}).get("auc") or 0.0)
    return str(records["model_id"].iloc[int(np.argmax(auc.to_numpy(float)))])
