"""CNN-RNN over serial CT (Lu et al.'s design) for the landmark tasks at the first restaging.

Per patient and time point (the baseline CT, the first restaging CT), every lesion crop
goes through the ResNet-18 lesion encoder of :mod:`crlm.models.cnn` (without its last
layer); the lesion embeddings are averaged per time point; a GRU runs over the time points,
each step's input being that embedding, the months from the start of treatment and a
"no visible lesion" flag (a restaging CT showing no lesion); the last hidden state gives
a log hazard, trained with the negative Cox partial likelihood (Breslow) over mini-batches
of patients, AdamW, the square's symmetries as augmentation and early stopping on an
inner validation split; seeded, one CPU thread.

What it reads is bounded by the task's decision time: the restaging CT only if it was
taken on or before the measurement cut-off (``decision.measurement_cutoff_day``) and is
known by the decision time. A patient without baseline crops gets no score; without a
restaging CT, a one-step sequence. Family ``cnn_rnn`` (``kind="sequence"``, trained when
named, landmark tasks only); an uploaded case carries no serial CT and gets no score.
"""
from __future__ import annotations

import json

import numpy as np

from crlm import config
from crlm import store as st
from crlm.models.decision import measurement_cutoff_day
from crlm.models.families import Family, register_family
from crlm.models.cnn import HU_WINDOW, _augment, prepare_crops
from crlm.models.sequence import LANDMARK_TASKS, SequenceCox
from crlm.models.tasks import SURVIVAL

RESTAGING_CT = "restaging"
EPOCHS, EPOCHS_FAST = 15, 4
PATIENCE, PATIENCE_FAST = 5, 2
BATCH_PATIENTS = 64
INPUT_SIZE, BASE_WIDTH, HIDDEN = 32, 8, 16
INPUT_NAME = "serial_ct_lesion_crops"


def _network(in_channels: int):
    import torch
    from torch import nn

    from crlm.models.cnn import ResNet18

    class CnnRnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = ResNet18(in_channels, 1, BASE_WIDTH, INPUT_SIZE)
            width = self.encoder.fc.in_features
            self.encoder.fc = nn.Identity()
            self.width = width
            self.gru = nn.GRU(width + 2, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, 1)

        def forward(self, x, slot, months, empty, lengths):
            n = len(lengths)
            pooled = torch.zeros((n * 2, self.width), dtype=torch.float32)
            if len(x):
                pooled = pooled.index_add(0, slot, self.encoder(x))
            counts = torch.bincount(slot, minlength=n * 2).clamp(min=1).to(pooled.dtype)
            pooled = (pooled / counts[:, None]).view(n, 2, self.width)
            seq = torch.cat([pooled, months[..., None], empty[..., None]], dim=-1)
            out, _ = self.gru(seq)
            return self.head(out[torch.arange(n), lengths - 1])[:, 0]

    return CnnRnn()


class SerialCtData:
    """Crops of the patients ``ids`` at both time points, as tensors ready for batches."""

    def __init__(self, store, cohort: str, ids, decision_time: str):
        ids = [str(i) for i in ids]
        cutoff = measurement_cutoff_day(decision_time)
        position = {p: k for k, p in enumerate(ids)}
        crops, slots = [], []
        base = st.load_lesion_crops(store, cohort, ids, time_point=config.BASELINE_CT)
        self.has_baseline = np.zeros(len(ids), bool)
        if base is not None:
            owners = base[1]["patient_id"].astype(str).map(position).to_numpy()
            crops.append(base[0])
            slots.append(owners * 2)
            self.has_baseline[owners] = True
        self.lengths = np.ones(len(ids), np.int64)
        self.months = np.zeros((len(ids), 2), np.float32)
        self.empty = np.zeros((len(ids), 2), np.float32)
        rows = st.load_images(store, cohort, time_point=RESTAGING_CT)
        rows = rows[rows["patient_id"].astype(str).isin(position)]
        allowed = set()
        for pid, meta, known_at, n_lesions in zip(rows["patient_id"].astype(str), rows["metadata"],
                                                  rows["known_at"], rows["n_lesions"]):
            day = json.loads(meta or "{}").get("day")
            if (cutoff is None or day is None or day > cutoff
                    or not config.known_by(str(known_at), decision_time)):
                continue
            k = position[pid]
            self.lengths[k] = 2
            self.months[k, 1] = day / config.DAYS_PER_MONTH
            self.empty[k, 1] = float((n_lesions or 0) == 0)
            allowed.add(pid)
        follow = st.load_lesion_crops(store, cohort, sorted(allowed), time_point=RESTAGING_CT) \
            if allowed else None
        if follow is not None:
            crops.append(follow[0])
            slots.append(follow[1]["patient_id"].astype(str).map(position).to_numpy() * 2 + 1)
        import torch

        arr = np.concatenate(crops) if crops else np.zeros((0, 3, 8, 8), np.int16)
        slot = np.concatenate(slots) if slots else np.zeros(0, np.int64)
        order = np.argsort(slot, kind="stable")
        self.x = prepare_crops(arr[order], INPUT_SIZE, HU_WINDOW) if len(arr) else \
            torch.zeros((0, 3, INPUT_SIZE, INPUT_SIZE))
        self.slot = slot[order].astype(np.int64)
        self.bounds = np.searchsorted(self.slot, np.arange(len(ids) * 2 + 1))

    def batch(self, patients: np.ndarray, gen=None):
        import torch

        parts = [np.arange(self.bounds[2 * p], self.bounds[2 * p + 2]) for p in patients]
        rows = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        remap = {p: i for i, p in enumerate(patients)}
        slot = np.array([remap[s // 2] * 2 + s % 2 for s in self.slot[rows]], np.int64)
        x = self.x[torch.from_numpy(rows)]
        if gen is not None and len(x):
            x = _augment(x, gen)
        return (x, torch.from_numpy(slot), torch.from_numpy(self.months[patients]),
                torch.from_numpy(self.empty[patients]), torch.from_numpy(self.lengths[patients]))


class CnnRnnModel:
    """A trained CNN-RNN (weights on the CPU) and its input channel count."""

    contribution_method = "none"
    evaluate = SequenceCox.evaluate

    def __init__(self, state: dict, in_channels: int, info: dict):
        self.state, self.in_channels, self.fit_info = state, in_channels, info

    def network(self):
        net = _network(self.in_channels)
        net.load_state_dict(self.state)
        return net.eval()

    def predict_risk(self, data: SerialCtData, patients: np.ndarray) -> np.ndarray:
        return _predict(self.network(), data, patients)


def _cox(log_risk, time, event):
    from crlm.models.lesion_sets import _cox_loss

    return _cox_loss(log_risk, time, event)


def _predict(net, data: SerialCtData, patients: np.ndarray) -> np.ndarray:
    import torch

    out = np.full(len(patients), np.nan)
    ok = data.has_baseline[patients]
    chosen = patients[ok]
    values = []
    with torch.no_grad():
        for start in range(0, len(chosen), 256):
            values.append(net(*data.batch(chosen[start:start + 256])).numpy())
    if values:
        out[ok] = np.concatenate(values).astype(float)
    return out


def _fit(data: SerialCtData, train: np.ndarray, time, event, *, seed: int, fast: bool):
    import torch
    from sklearn.model_selection import train_test_split

    from crlm.models.neural import _cpu_threads
    from crlm.models.torch_fit import fit_network, seeded

    train = train[data.has_baseline[train]]
    strat = event[train].astype(int) if 2 <= event[train].sum() <= len(train) - 2 else None
    fit_p, val_p = train_test_split(train, test_size=0.15, stratify=strat,
                                    random_state=int(seed) % (2**32 - 1))
    epochs, patience = (EPOCHS_FAST, PATIENCE_FAST) if fast else (EPOCHS, PATIENCE)
    t_all = torch.as_tensor(time, dtype=torch.float32)
    e_all = torch.as_tensor(event.astype(float), dtype=torch.float32)
    with seeded(int(seed) % (2**63 - 1)), _cpu_threads(1):
        net = _network(data.x.shape[1] if len(data.x) else 3)
        gen = torch.Generator().manual_seed(int(seed))
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)

        def loss_of(patients, augment_with=gen):
            return _cox(net(*data.batch(patients, augment_with)), t_all[patients], e_all[patients])

        fitted = fit_network(net, opt, loss_of, fit_p, max_epochs=epochs, patience=patience,
                             validation=lambda: loss_of(val_p, None),
                             batch_size=BATCH_PATIENTS, generator=gen, min_delta=1e-4)
    history = [{"epoch": e.epoch, "validation_loss": e.validation_loss} for e in fitted.history]
    return net.eval(), {"history": history, "best_validation_loss": fitted.best_loss}


def train_cnn_rnn(*, store, cohort, task, family, dev, ext, fold_of, seed, fast, columns,
                  previous, on_fold=None, comparison=None):
    from crlm.models.training import TrainedModel, check_development_only

    if task.kind != SURVIVAL:
        raise ValueError("the CNN-RNN serves the landmark survival tasks")
    check_development_only(dev)
    ids = [*dev.index.astype(str), *ext.index.astype(str)]
    data = SerialCtData(store, cohort, ids, task.decision_time)
    if not data.has_baseline.any():
        raise ValueError(f"cohort {cohort!r} has no stored CT crops for this task's patients")
    n_dev = len(dev)
    time = np.zeros(len(ids))
    event = np.zeros(len(ids), bool)
    time[:n_dev], event[:n_dev] = task.outcome(dev)
    oof = np.full(n_dev, np.nan)
    for k in np.unique(fold_of):
        test = np.flatnonzero(fold_of == k)
        net, _ = _fit(data, np.flatnonzero(fold_of != k), time, event,
                      seed=int(seed) * 1000 + int(k) + 1, fast=fast)
        oof[test] = _predict(net, data, test)
        if on_fold:
            on_fold()
    final, info = _fit(data, np.arange(n_dev), time, event, seed=int(seed) * 1000, fast=fast)
    if on_fold:
        on_fold()
    model = CnnRnnModel({k: v.detach().cpu().clone() for k, v in final.state_dict().items()},
                        int(data.x.shape[1]), info)
    external = _predict(final, data, np.arange(n_dev, len(ids)))
    return TrainedModel(oof=oof, external=external, model=model, columns=[INPUT_NAME],
                        comparison=np.full(0 if comparison is None else len(comparison), np.nan))


register_family(Family(
    "cnn_rnn", SURVIVAL, "CNN-RNN over the baseline and first-restaging CT (ResNet-18 + GRU)",
    kind="sequence", feature_sets=(), explainer="none", trainer=train_cnn_rnn,
    tasks=LANDMARK_TASKS, default=False))
