"""Sequence models over serial measurements, deciding at the first restaging.

A board that re-discusses a patient at the first restaging knows the baseline and the
values measured since treatment began (CEA, target-lesion sums, lesion counts), but not
what comes later. The landmark tasks (``pfs_after_restaging``, ``os_after_restaging``:
patients event-free at the landmark, time from it) ask what is still unknown there; the
restaging's RECIST response is *not* a target, since those measurements define it.

Families (registered here, ``default=False``: trained when named, and by the demo build
(``DEMO_FAMILIES``) for the landmark tasks):

* ``gru_sequence`` - a GRU over the visits up to the task's measurement cut-off
  (``crlm.models.decision.measurement_cutoff_day``: the landmark, day 70). Irregular
  times and missed visits are inputs: each visit carries its time and the time since the
  previous visit, and per kind an observed flag (a missing value is 0 with flag 0, never
  carried forward). The last hidden state gives a log relative hazard, trained on the
  negative Cox partial likelihood (Breslow), full batch with Adam and early stopping on
  an inner validation split, seeded, one CPU thread, float64.
* ``gru_baseline`` - the same network on the baseline visit only (day <= 0): what the
  trajectory adds over the pre-treatment values.
* ``change_rule`` - no training: the % change of the target-lesion sum at the last visit up
  to the landmark (higher = higher risk); patients without one get no score.

Measurements are read from the store only, with the cut-off applied in the query, and
checked again here: a frame holding a later day raises.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import config
from crlm import store as st
from crlm.models.decision import measurement_cutoff_day
from crlm.models.families import Family, register_family
from crlm.models.tasks import SURVIVAL

SEQUENCE_INPUT = "serial_measurements"
BASELINE_INPUT = "serial_measurements_baseline"
LANDMARK_TASKS = ("pfs_after_restaging", "os_after_restaging")
DEMO_FAMILIES = ("gru_sequence", "gru_baseline", "change_rule")  # trained by the demo build
N_FEATURES = 10
EPOCHS, EPOCHS_FAST = 300, 80
PATIENCE, PATIENCE_FAST = 30, 15


def build_sequences(measurements: pd.DataFrame, ids, max_day: int) -> tuple[np.ndarray, np.ndarray]:
    """``(X [patients, visits, N_FEATURES], lengths)`` in the order of ``ids``.

    Features per visit: months from the start, months since the previous visit, log CEA /
    baseline CEA and its flag, target sum / baseline - 1 and its flag, log(1 + lesion count)
    and its flag, log(1 + baseline CEA), log(1 + baseline sum). Values on or before day 0
    form the baseline visit (the last of each kind). ``ValueError`` if a row is later than
    ``max_day``.
    """
    ids = [str(i) for i in ids]
    m = measurements[["patient_id", "day", "kind", "value"]].copy()
    m["patient_id"] = m["patient_id"].astype(str)
    if len(m) and int(m["day"].max()) > max_day:
        raise ValueError(f"a measurement on day {int(m['day'].max())} is later than the "
                         f"decision's cut-off (day {max_day})")
    m = m[m["patient_id"].isin(set(ids))]
    m["day"] = np.maximum(m["day"].to_numpy(), 0)
    m = m.sort_values(["patient_id", "day"], kind="stable")
    wide = m.pivot_table(index=["patient_id", "day"], columns="kind", values="value",
                         aggfunc="last", observed=True)
    for kind in config.MEASUREMENT_KINDS:
        if kind not in wide.columns:
            wide[kind] = np.nan
    wide = wide.reset_index()
    base = wide[wide["day"] == 0].set_index("patient_id")
    cea0 = wide["patient_id"].map(base["cea"]).to_numpy(float) if len(base) else \
        np.full(len(wide), np.nan)
    sum0 = wide["patient_id"].map(base["target_lesion_sum"]).to_numpy(float) if len(base) else \
        np.full(len(wide), np.nan)
    months = wide["day"].to_numpy(float) / config.DAYS_PER_MONTH
    codes = pd.Index(ids).get_indexer(wide["patient_id"])
    first = np.r_[True, codes[1:] != codes[:-1]]
    gap = np.where(first, 0.0, np.diff(months, prepend=0.0))
    cea = wide["cea"].to_numpy(float)
    total = wide["target_lesion_sum"].to_numpy(float)
    count = wide["lesion_count"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cea_ratio = np.log(np.maximum(cea, 0.1) / np.maximum(cea0, 0.1))
        sum_ratio = np.where(sum0 > 0, total / sum0 - 1.0, np.nan)
    rows = np.column_stack([
        months, gap,
        np.nan_to_num(cea_ratio), np.isfinite(cea_ratio),
        np.nan_to_num(sum_ratio), np.isfinite(sum_ratio),
        np.nan_to_num(np.log1p(count)), np.isfinite(count),
        np.nan_to_num(np.log1p(np.maximum(cea0, 0))), np.nan_to_num(np.log1p(sum0)),
    ]).astype(float)
    lengths = np.bincount(codes, minlength=len(ids)) if len(codes) else np.zeros(len(ids), int)
    width = max(int(lengths.max()) if len(lengths) else 1, 1)
    X = np.zeros((len(ids), width, N_FEATURES))
    position = pd.Series(np.ones(len(codes), int)).groupby(codes).cumsum().to_numpy() - 1 \
        if len(codes) else np.zeros(0, int)
    X[codes, position] = rows
    return X, np.maximum(lengths, 1)


def load_sequences(store, cohort: str, ids, decision_time: str, *,
                   baseline_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The sequences a task deciding at ``decision_time`` may read (the one cut-off)."""
    max_day = measurement_cutoff_day(decision_time)
    if max_day is None:
        raise ValueError(f"no measurement is an input at the {decision_time} decision time")
    if baseline_only:
        max_day = 0
    m = st.load_measurements(store, cohort, max_day=max_day, patient_ids=[str(i) for i in ids])
    return build_sequences(m, ids, max_day)


def _gru_network(hidden: int):
    import torch
    from torch import nn

    class GRURisk(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(N_FEATURES, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x, lengths):
            out, _ = self.gru(x)
            last = out[torch.arange(len(lengths)), lengths - 1]
            return self.head(last).squeeze(-1)

    return GRURisk().to(torch.float64)


class SequenceCox:
    """A GRU over visits whose output is the log relative hazard (fit / predict_risk).

    Inputs are standardised with the training visits' mean and scale (padding excluded)."""

    contribution_method = "none"

    def __init__(self, hidden: int = 16, learning_rate: float = 0.01,
                 weight_decay: float = 1e-3, max_epochs: int = EPOCHS,
                 patience: int = PATIENCE, validation_fraction: float = 0.2,
                 random_state: int = 0):
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _scaled(self, X, lengths):
        mask = np.arange(X.shape[1])[None, :] < np.asarray(lengths)[:, None]
        return np.where(mask[..., None], (X - self.mean_) / self.scale_, 0.0)

    def fit(self, X, lengths, time, event) -> "SequenceCox":
        import torch
        from sklearn.model_selection import train_test_split

        from crlm.models.neural import _cox_loss, _cpu_threads
        from crlm.models.torch_fit import fit_network, seeded

        X, lengths = np.asarray(X, float), np.asarray(lengths, int)
        mask = np.arange(X.shape[1])[None, :] < lengths[:, None]
        visits = X[mask]
        self.mean_ = visits.mean(axis=0)
        self.scale_ = np.where(visits.std(axis=0) > 1e-9, visits.std(axis=0), 1.0)
        Xs = self._scaled(X, lengths)
        event = np.asarray(event, bool)
        strat = event.astype(int) if 2 <= event.sum() <= len(event) - 2 else None
        tr, va = train_test_split(np.arange(len(X)), test_size=self.validation_fraction,
                                  stratify=strat, random_state=int(self.random_state))
        with seeded(self.random_state), _cpu_threads(1):
            net = _gru_network(int(self.hidden))
            opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate,
                                   weight_decay=self.weight_decay)
            xt = torch.as_tensor(Xs, dtype=torch.float64)
            lt = torch.as_tensor(lengths, dtype=torch.long)
            tt = torch.as_tensor(np.asarray(time, float), dtype=torch.float64)
            et = torch.as_tensor(event.astype(float), dtype=torch.float64)

            def loss_of(rows):
                return _cox_loss(net(xt[rows], lt[rows]), tt[rows], et[rows])

            fitted = fit_network(net, opt, loss_of, tr, max_epochs=self.max_epochs,
                                 patience=self.patience, validation=lambda: loss_of(va))
            self.n_epochs_ = fitted.n_epochs
        self.state_ = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        self._network = net
        return self

    def __getstate__(self):  # the weights pickle, the network is rebuilt on load
        state = dict(self.__dict__)
        state.pop("_network", None)
        return state

    def _net(self):
        if getattr(self, "_network", None) is None:
            net = _gru_network(int(self.hidden))
            net.load_state_dict(self.state_)
            net.eval()
            self._network = net
        return self._network

    def predict_risk(self, X, lengths) -> np.ndarray:
        import torch

        from crlm.models.neural import _cpu_threads

        Xs = self._scaled(np.asarray(X, float), np.asarray(lengths, int))
        with torch.no_grad(), _cpu_threads(1):
            out = self._net()(torch.as_tensor(Xs, dtype=torch.float64),
                                torch.as_tensor(np.asarray(lengths), dtype=torch.long))
        return out.numpy().astype(float)

    def evaluate(self, X, explain: bool = False) -> dict:
        """A case entered on the Score page carries no sequence: no score (NaN)."""
        n = len(X)
        return {"score": np.full(n, np.nan), "imputed": [[] for _ in range(n)],
                "out_of_range": [[] for _ in range(n)], "contributions": [{} for _ in range(n)]}


class ChangeRule:
    """Risk = % change of the target-lesion sum at the last visit up to the cut-off."""

    contribution_method = "none"

    def predict_risk(self, X, lengths) -> np.ndarray:
        X, lengths = np.asarray(X, float), np.asarray(lengths, int)
        out = np.full(len(X), np.nan)
        for i, n in enumerate(lengths):
            seen = np.flatnonzero(X[i, :n, 5] > 0)
            seen = seen[X[i, seen, 0] > 0]
            if len(seen):
                out[i] = 100.0 * X[i, seen[-1], 4]
        return out

    evaluate = SequenceCox.evaluate


def sequence_trainer(kind: str):
    """A family trainer: ``gru`` (visits up to the cut-off), ``gru_baseline`` (baseline
    visit only) or ``change`` (the change-from-baseline rule)."""

    def trainer(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                previous, on_fold=None, comparison=None):
        from crlm.models.training import TrainedModel, check_development_only

        if task.kind != SURVIVAL:
            raise ValueError("sequence models serve the landmark survival tasks")
        check_development_only(dev)
        baseline_only = kind == "gru_baseline"
        groups = {"dev": dev, "ext": ext}
        if comparison is not None:
            groups["comparison"] = comparison
        seqs = {name: load_sequences(store, cohort, frame.index.astype(str),
                                     task.decision_time, baseline_only=baseline_only)
                for name, frame in groups.items()}
        X, lengths = seqs["dev"]
        if not (X[:, :, 3].any() or X[:, :, 5].any()):
            raise ValueError(f"cohort {cohort!r} has no serial measurements for this task's "
                             "patients (python -m crlm import-measurements)")
        time, event = task.outcome(dev)
        inputs = [BASELINE_INPUT if baseline_only else SEQUENCE_INPUT]

        def fit(rows) -> object:
            if kind == "change":
                return ChangeRule()
            return SequenceCox(max_epochs=EPOCHS_FAST if fast else EPOCHS,
                               patience=PATIENCE_FAST if fast else PATIENCE,
                               random_state=int(seed)).fit(X[rows], lengths[rows], time[rows],
                                                           event[rows])

        oof = np.full(len(dev), np.nan)
        for k in np.unique(fold_of):
            test = fold_of == k
            oof[test] = fit(~test).predict_risk(X[test], lengths[test])
            if on_fold:
                on_fold()
        final = fit(np.ones(len(dev), bool))
        if on_fold:
            on_fold()
        score = {name: final.predict_risk(*seqs[name]) if len(groups[name]) else np.empty(0)
                 for name in groups}
        return TrainedModel(oof=oof, external=score["ext"], model=final, columns=inputs,
                            comparison=score.get("comparison", np.empty(0)))

    return trainer


for _family in (
    Family("gru_sequence", SURVIVAL, "GRU over serial CEA and lesion sums up to the first "
           "restaging", kind="sequence", feature_sets=(), explainer="none",
           trainer=sequence_trainer("gru"), tasks=LANDMARK_TASKS, default=False),
    Family("gru_baseline", SURVIVAL, "GRU on the baseline visit only (comparator)",
           kind="sequence", feature_sets=(), explainer="none",
           trainer=sequence_trainer("gru_baseline"), tasks=LANDMARK_TASKS, default=False),
    Family("change_rule", SURVIVAL, "Change in target-lesion sum at the first restaging (rule)",
           kind="sequence", feature_sets=(), explainer="none",
           trainer=sequence_trainer("change"), tasks=LANDMARK_TASKS, default=False),
):
    register_family(_family)
