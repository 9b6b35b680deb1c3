"""What the one-page case report (``crlm.reports.build_case_report``) shows of a scored
case: its entries as text, the models without an answer, the flags and notes (the
survival group, the prognosis cluster and the decision-tree leaves of the case)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import pandas as pd

from crlm.cases.entries import ENTRY_COLUMNS, UNKNOWN, clinical_summary, entry_label
from crlm.cases.table import case_flags, reason_groups
from crlm.reports import CaseReport

if TYPE_CHECKING:
    from crlm.cases.cluster import CaseCluster
    from crlm.cases.tree_leaf import CaseLeaf


def report_entries(case: pd.DataFrame) -> dict[str, str]:
    """The first row's entries as the report prints them: label (unit) → value."""
    row = case.iloc[0]
    out = {}
    for col in ENTRY_COLUMNS:
        v = row.get(col.name)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out[entry_label(col)] = UNKNOWN
        elif col.kind == "bool":
            out[entry_label(col)] = "yes" if v else "no"
        else:
            out[entry_label(col)] = f"{v:g}" if isinstance(v, float) else str(v)
    return out


def no_answer_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The models without an answer as the report lists them: one row per shared reason."""
    return pd.DataFrame([{"model_id": f"{len(g.models)} model{'s' * (len(g.models) > 1)}",
                          "reason": g.reason} for g in reason_groups(scores)],
                        columns=["model_id", "reason"])


def case_report(case: pd.DataFrame, scores: pd.DataFrame, board: pd.DataFrame, *,
                cohort_text: str, summary: str, figures: Mapping[str, bytes] | None = None,
                label: str = "", user: str = "", chosen_model: str = "",
                case_group: str = "", cluster: CaseCluster | None = None,
                leaves: Sequence[CaseLeaf] = (),
                model_labels: Mapping[str, str] | None = None) -> CaseReport:
    """The report of a scored case: ``board`` is its ``board_table``, ``figures`` title →
    PNG bytes, ``case_group`` the case's survival group when one was shown, ``cluster``
    its prognosis cluster (``crlm.cases.cluster``), ``leaves`` the decision-tree leaves
    it falls in (``crlm.cases.tree_leaf``), named by ``model_labels``."""
    notes = [f"Summary: {summary}"]
    if case_group:
        notes.append(f"Survival group of the case: {case_group}")
    if cluster is not None:
        notes.append(cluster.text)
    labels = dict(model_labels or {})
    notes += [f"Decision tree leaf - {leaf.text(labels.get(leaf.model_id, ''))}"
              for leaf in leaves]
    return CaseReport(
        entries=report_entries(case), clinical=clinical_summary(case), scores=board,
        could_not_score=no_answer_rows(scores), cohort_text=cohort_text,
        figures=dict(figures or {}), flags=case_flags(scores), label=label, user=user,
        chosen_model=chosen_model, notes=notes)
