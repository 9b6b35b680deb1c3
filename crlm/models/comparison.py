"""The review's comparison on a cohort: every registered model × task, out-of-fold and
external AUC with DeLong 95 % CI (binary) or Harrell's C with the time-dependent AUC
at 36 months (survival), and the paired DeLong p-value against the Fong score on the
out-of-fold patients both scored.

    python -m crlm.models.comparison --db data/crlm.duckdb [--cohort demo] [--task T]...

prints one Markdown table (docs/models.md carries it for the demo). Numbers come from
the registry's stored predictions; nothing is refitted.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from crlm import stats
from crlm import store as st
from crlm.models.tasks import BINARY, TASKS

REFERENCE = "fong_score"


@dataclass(frozen=True)
class ComparisonRow:
    model_id: str
    task: str
    kind: str
    n_development: int | None
    n_external: int | None
    out_of_fold: str
    external: str
    td_auc_36m: str
    delong_p_vs_fong: str

    def cells(self) -> list[str]:
        return [f"`{self.model_id}`", self.kind,
                f"{self.n_development} / {self.n_external}", self.out_of_fold, self.external,
                self.td_auc_36m, self.delong_p_vs_fong]


def _auc(m: dict) -> str:
    if m.get("auc") is None:
        return ""
    if m.get("auc_ci_lower") is None:
        return f"{m['auc']:.3f}"
    return f"{m['auc']:.3f} [{m['auc_ci_lower']:.3f}–{m['auc_ci_upper']:.3f}]"


def _num(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def _p(p: float | None) -> str:
    if p is None or np.isnan(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def compare(store, cohort: str = "demo", tasks=None) -> list[ComparisonRow]:
    registry = st.load_models(store, cohort=cohort)
    rows: list[ComparisonRow] = []
    for task_name in tasks or [t for t in TASKS if t in set(registry["task"])]:
        task = TASKS[task_name]
        mine = registry[registry["task"] == task_name].sort_values(["kind", "model_id"],
                                                                   ascending=[False, True])
        delong: dict[str, float] = {}
        if task.kind == BINARY:
            preds = st.load_predictions(store, st.CohortFilter(cohort=cohort), task=task_name,
                                        split="out-of-fold", columns=[task.target])
            wide = preds.pivot_table(index="patient_id", columns="model_id", values="score")
            outcome = preds.drop_duplicates("patient_id").set_index("patient_id")[task.target]
            reference = f"{task_name}.{REFERENCE}"
            for model_id in wide.columns:
                if model_id == reference or reference not in wide:
                    continue
                both = wide[[model_id, reference]].dropna().join(outcome).dropna()
                y = both[task.target].astype(bool).to_numpy()
                if y.sum() >= 2 and (~y).sum() >= 2:
                    delong[model_id] = stats.delong_test(y, both[model_id],
                                                         both[reference]).p_value
        for rec in mine.to_dict(orient="records"):
            m = rec["metrics"] or {}
            oof, ext = m.get("out_of_fold") or {}, m.get("external") or {}
            card = m.get("card") or {}
            if task.kind == BINARY:
                first, second, td = _auc(oof), _auc(ext), ""
            else:
                first, second = _num(oof.get("c_index")), _num(ext.get("c_index"))
                td = _num(oof.get("td_auc_36m"))
            rows.append(ComparisonRow(
                model_id=rec["model_id"], task=task_name, kind=rec["kind"],
                n_development=oof.get("n", card.get("n_training")),
                n_external=ext.get("n", card.get("n_external")), out_of_fold=first,
                external=second, td_auc_36m=td,
                delong_p_vs_fong=("reference" if rec["family"] == REFERENCE
                                  and task.kind == BINARY else _p(delong.get(rec["model_id"])))))
    return rows


def markdown(rows: list[ComparisonRow]) -> str:
    head = ["model", "kind", "n development / external",
            "out-of-fold AUC [95% CI] or C-index", "external", "out-of-fold AUC(36 m)",
            "DeLong p vs Fong (out-of-fold)"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--cohort", default="demo")
    parser.add_argument("--task", action="append")
    args = parser.parse_args(argv)
    with st.Store(args.db, create=False) as store:
        print(markdown(compare(store, args.cohort, args.task)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["ComparisonRow", "compare", "markdown"]
