"""What the trajectory adds: the landmark tasks' sequence models compared on the same
patients, for the Models page and the command line alike.

For a landmark task (``crlm.models.sequence.LANDMARK_TASKS``) the GRU over the
measurements up to the landmark (``gru_sequence``) is set against the same network on
the baseline visit only (``gru_baseline``) and the change-from-baseline rule
(``change_rule``), on the patients every compared model scored: Harrell's C of each with
its infinitesimal-jackknife 95 % interval, and the GRU's C minus each comparator's with
the paired Wald test of that difference (``crlm.stats.survival_discrimination``, checked
against R's ``survival::concordance``). DeLong's test compares AUCs of a binary outcome;
this is its analogue for the C-index of a survival outcome.

``python -m crlm.analysis.sequence_report --db data/crlm.duckdb`` prints the tables.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import config
from crlm import store as st
from crlm.models.sequence import LANDMARK_TASKS
from crlm.models.tasks import TASKS
from crlm.stats.survival_discrimination import compare_concordance, harrell_c

REFERENCE = "gru_sequence"
COMPARED = (REFERENCE, "gru_baseline", "change_rule")
SPLITS = ("out-of-fold", "external")
METHOD = ("Harrell's C with its infinitesimal-jackknife 95% interval; the difference of two "
          "C-indices on the same patients with its standard error from the paired influences "
          "(their covariance included, as R's survival::concordance(fit_a, fit_b)), Wald "
          "interval and two-sided p: the C-index analogue of DeLong's paired test of AUCs")


@dataclass(frozen=True)
class SequenceComparison:
    """One task and split: the patients every compared model scored and the table
    (model, c_index, c_ci_lower, c_ci_upper, and against the reference: difference,
    ci_lower, ci_upper, p_value; NaN on the reference's own row)."""

    task: str
    split: str
    n_patients: int
    events: int
    table: pd.DataFrame


def compare_on_same_patients(time, event, scores: dict[str, np.ndarray], *,
                             reference: str = REFERENCE, level: float = 0.95) -> pd.DataFrame:
    """C-index of every score with its interval, and ``reference`` minus each other score
    with the paired test (module doc). The scores are of the same patients, in order."""
    if reference not in scores:
        raise ValueError(f"the reference score {reference!r} is not among the scores")
    time, event = np.asarray(time, float), np.asarray(event, bool)
    ref = np.asarray(scores[reference], float)
    rows = []
    for name, risk in scores.items():
        risk = np.asarray(risk, float)
        c = harrell_c(time, event, risk, level=level)
        row = {"model": name, "c_index": c.concordance, "c_ci_lower": c.ci_lower,
               "c_ci_upper": c.ci_upper, "difference": np.nan, "ci_lower": np.nan,
               "ci_upper": np.nan, "p_value": np.nan}
        if name != reference:
            paired = compare_concordance(time, event, ref, risk, level=level)
            row.update(difference=paired.difference, ci_lower=paired.ci_lower,
                       ci_upper=paired.ci_upper, p_value=paired.p_value)
        rows.append(row)
    return pd.DataFrame(rows)


def trajectory_comparison(preds: pd.DataFrame, task: str, split: str,
                          models: tuple[str, ...] = COMPARED) -> SequenceComparison | None:
    """The comparison on one split's predictions of ``task`` (columns ``patient_id``,
    ``model_id``, ``score`` and the task's outcome columns); ``None`` without the
    reference's predictions. Patients whose follow-up ends before the task's landmark are
    left out. Raises ``ValueError`` with the reason when the patients every model scored
    hold no comparable pair."""
    t = TASKS[task]
    ids = [f"{task}.{m}" for m in models]
    part = preds[preds["model_id"].isin(ids)].dropna(
        subset=["score", t.time_column, t.event_column])
    if ids[0] not in set(part["model_id"]):
        return None
    wide = part.pivot_table(index="patient_id", columns="model_id", values="score").dropna()
    present = [m for m in ids if m in wide.columns]
    outcome = part.drop_duplicates("patient_id").set_index("patient_id").loc[wide.index]
    time, event = t.outcome(outcome)
    at_risk = time >= 0       # followed to the landmark: the others are not compared
    wide, time, event = wide[at_risk], time[at_risk], event[at_risk]
    if len(wide) < 2 or not event.any():
        raise ValueError(f"{split}: too few patients scored by every model ({len(wide)}, "
                         f"{int(event.sum())} events) to compare them")
    scores = {m.split(".", 1)[1]: wide[m].to_numpy(float) for m in present}
    table = compare_on_same_patients(time, event, scores)
    return SequenceComparison(task, split, len(wide), int(event.sum()), table)


def sequence_comparison(store, cohort: str, task: str,
                        split: str = "out-of-fold") -> SequenceComparison | None:
    """:func:`trajectory_comparison` on the store's predictions of the whole cohort."""
    t = TASKS[task]
    preds = st.load_predictions(store, st.CohortFilter(cohort=cohort), task=task, split=split,
                                columns=(t.time_column, t.event_column))
    if preds.empty:
        return None
    try:
        return trajectory_comparison(preds, task, split)
    except ValueError:
        return None


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def shown_table(result: SequenceComparison) -> pd.DataFrame:
    """The table as a board reads it (the page and the markdown show the same)."""
    rows = []
    for row in result.table.itertuples():
        is_ref = not np.isfinite(row.difference)
        rows.append({
            "model": row.model,
            "C-index [95% CI]": f"{row.c_index:.3f} [{row.c_ci_lower:.3f} to {row.c_ci_upper:.3f}]",
            "GRU (trajectory) minus this model [95% CI]": "reference" if is_ref else
            f"{row.difference:+.3f} [{row.ci_lower:+.3f} to {row.ci_upper:+.3f}]",
            "p (paired)": "" if is_ref else _p(row.p_value)})
    return pd.DataFrame(rows)


def markdown(results: list[SequenceComparison]) -> str:
    lines = []
    for r in results:
        lines.append(f"`{r.task}`, {r.split} predictions, the {r.n_patients} patients every "
                     f"model scored ({r.events} events):")
        lines.append("")
        shown = shown_table(r)
        lines.append("| " + " | ".join(shown.columns) + " |")
        lines.append("| " + " | ".join("---" for _ in shown.columns) + " |")
        for row in shown.itertuples(index=False):
            lines.append(f"| `{row[0]}` | " + " | ".join(row[1:]) + " |")
        lines.append("")
    if results:
        lines.append(METHOD + ".")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--cohort", default=config.DEMO_COHORT)
    args = parser.parse_args(argv)
    store = st.Store(config.db_path(args.db), create=False)
    try:
        results = [r for task in LANDMARK_TASKS for split in SPLITS
                   if (r := sequence_comparison(store, args.cohort, task, split))]
    finally:
        store.close()
    print(markdown(results) if results else "no sequence model in this store: python -m crlm "
          "train --task pfs_after_restaging --family gru_sequence ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
