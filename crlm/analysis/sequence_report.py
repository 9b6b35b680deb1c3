"""What the trajectory adds: the landmark tasks' models compared on the same patients.

For each landmark task (``crlm.models.sequence.LANDMARK_TASKS``) every current model's
out-of-fold and external risk scores are read from the store; on the patients that every
compared model scored, Harrell's C of each, and the difference between the GRU over the
trajectory and each comparator with a paired bootstrap 95 % interval (patients resampled
together, ``n_boot`` seeded draws). DeLong's test compares AUCs of a binary outcome; these
tasks are survival tasks, so the paired comparison is of C-indices.

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
from crlm.stats import concordance_index

REFERENCE = "gru_sequence"


@dataclass(frozen=True)
class SequenceComparison:
    task: str
    split: str
    n_patients: int
    table: pd.DataFrame      # model, C-index, difference vs the GRU's, its 95 % CI


def _harrell(time, event, risk) -> float:
    return float(concordance_index(time, event, risk).concordance)


def compare_on_same_patients(time, event, scores: dict[str, np.ndarray], *,
                             reference: str = REFERENCE, n_boot: int = 500,
                             seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """C-index of every score and ``reference`` minus each other, paired bootstrap CI."""
    time, event = np.asarray(time, float), np.asarray(event, bool)
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(time), len(time)) for _ in range(n_boot)]
    rows = []
    ref = np.asarray(scores[reference], float)
    for name, risk in scores.items():
        risk = np.asarray(risk, float)
        c = _harrell(time, event, risk)
        row = {"model": name, "c_index": c, "difference": np.nan, "ci_lower": np.nan,
               "ci_upper": np.nan}
        if name != reference:
            diffs = [_harrell(time[d], event[d], ref[d]) - _harrell(time[d], event[d], risk[d])
                     for d in draws]
            row["difference"] = _harrell(time, event, ref) - c
            row["ci_lower"], row["ci_upper"] = np.nanpercentile(diffs, [2.5, 97.5])
        rows.append(row)
    return pd.DataFrame(rows)


def sequence_comparison(store, cohort: str, task: str, split: str = "out-of-fold",
                        n_boot: int = 500) -> SequenceComparison | None:
    t = TASKS[task]
    preds = st.load_predictions(store, st.CohortFilter(cohort=cohort), task=task, split=split,
                                columns=(t.time_column, t.event_column))
    if preds.empty or f"{task}.{REFERENCE}" not in set(preds["model_id"]):
        return None
    wide = preds.pivot_table(index="patient_id", columns="model_id", values="score")
    wide = wide.dropna()
    outcome = preds.drop_duplicates("patient_id").set_index("patient_id").loc[wide.index]
    time, event = t.outcome(outcome)
    scores = {m.split(".", 1)[1]: wide[m].to_numpy(float) for m in wide.columns}
    table = compare_on_same_patients(time, event, scores, n_boot=n_boot)
    return SequenceComparison(task, split, len(wide), table)


def markdown(results: list[SequenceComparison]) -> str:
    lines = []
    for r in results:
        lines.append(f"`{r.task}`, {r.split} predictions, the {r.n_patients} patients every "
                     "model scored:")
        lines.append("")
        lines.append("| model | C-index | GRU (trajectory) minus this model [95% CI] |")
        lines.append("| --- | --- | --- |")
        for row in r.table.itertuples():
            diff = ("reference" if not np.isfinite(row.difference) else
                    f"{row.difference:+.3f} [{row.ci_lower:+.3f} to {row.ci_upper:+.3f}]")
            lines.append(f"| `{row.model}` | {row.c_index:.3f} | {diff} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--cohort", default=config.DEMO_COHORT)
    parser.add_argument("--boot", type=int, default=500)
    args = parser.parse_args(argv)
    store = st.Store(config.db_path(args.db), create=False)
    try:
        results = [r for task in LANDMARK_TASKS for split in ("out-of-fold", "external")
                   if (r := sequence_comparison(store, args.cohort, task, split, args.boot))]
    finally:
        store.close()
    print(markdown(results) if results else "no sequence model in this store: python -m crlm "
          "train --task pfs_after_restaging --family gru_sequence ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
