"""CNN-RNN over serial CT (Lu et al.'s design) for the landmark tasks at the first restaging.

Per patient and time point (the baseline CT, the first restaging CT), every lesion crop
goes through the ResNet-18 lesion encoder of :mod:`crlm.models.cnn` (without its last
layer); the lesion embeddings are averaged per time point; a GRU runs over the time points,
each step's input being that embedding, the months from the start of treatment and a
"no visible lesion" flag (a restaging CT showing no lesion); the last hidden state gives
a log hazard, trained with the negative Cox partial likelihood (Breslow).

The encoder is the self-supervised one (:mod:`crlm.models.pretraining`: SimCLR on the
store's baseline crops, no label read; its own budget here, ``SSL_EPOCHS`` passes over at
most ``SSL_MAX_CROPS`` crops, kept per process for the same crops, seed and setting, so
both landmark tasks pre-train once) and stays frozen: each crop is encoded once per
training run, and every fold fits only the recurrent head over the cached embeddings
(standardised with the fold's training patients, full-batch Adam, dropout before the
output, early stopping on a 15 % inner validation split; seeded, one CPU thread). No
outcome shapes the encoder, so no fold's test patients inform another's features beyond
that label-free pre-training.

What it reads is bounded by the task's decision time: the restaging CT only if it was
taken on or before the measurement cut-off (``decision.measurement_cutoff_day``) and is
known by the decision time. A patient without baseline crops gets no score; without a
restaging CT, a one-step sequence. Family ``cnn_rnn`` (``kind="sequence"``, landmark tasks
only; trained by the demo build with images); an uploaded case carries no serial CT and
gets no score.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from crlm import config
from crlm import store as st
from crlm.models.cnn import HU_WINDOW, prepare_crops
from crlm.models.decision import measurement_cutoff_day
from crlm.models.families import Family, register_family
from crlm.models.sequence import LANDMARK_TASKS, SequenceCox
from crlm.models.tasks import SURVIVAL

RESTAGING_CT = "restaging"
EPOCHS, EPOCHS_FAST = 300, 100
PATIENCE, PATIENCE_FAST = 30, 15
SSL_EPOCHS, SSL_EPOCHS_FAST = 3, 1
SSL_MAX_CROPS, SSL_MAX_CROPS_FAST = 2048, 512
ENCODE_BATCH = 512
INPUT_SIZE, BASE_WIDTH, HIDDEN = 32, 8, 16
DROPOUT, LEARNING_RATE, WEIGHT_DECAY = 0.2, 1e-2, 1e-3
INPUT_NAME = "serial_ct_lesion_crops"
_ENCODERS: dict[tuple, tuple[dict, dict]] = {}


def encoder_network(state: dict, in_channels: int):
    """The frozen lesion encoder (ResNet-18 without its last layer) in eval mode."""
    import torch

    from crlm.models.cnn import ResNet18

    net = ResNet18(in_channels, 1, BASE_WIDTH, INPUT_SIZE)
    net.fc = torch.nn.Identity()
    net.load_state_dict(state)
    return net.eval()


def ssl_encoder(store, cohort: str, *, seed: int, fast: bool) -> tuple[dict, dict]:
    """``(encoder_state, info)``: contrastive pre-training on every stored baseline crop
    (no label read), once per process for the same crops, seed and setting."""
    from crlm.models.pretraining import pretrain_encoder, store_crops

    crops = store_crops(store)
    if crops is None:
        raise ValueError(f"no stored lesion crops to pre-train on (cohort {cohort!r})")
    key = (hashlib.sha256(np.ascontiguousarray(crops).tobytes()).hexdigest(), int(seed),
           bool(fast))
    if key not in _ENCODERS:
        _ENCODERS[key] = pretrain_encoder(
            crops, seed=int(seed), epochs=SSL_EPOCHS_FAST if fast else SSL_EPOCHS,
            max_crops=SSL_MAX_CROPS_FAST if fast else SSL_MAX_CROPS, base_width=BASE_WIDTH,
            input_size=INPUT_SIZE)
    return _ENCODERS[key]


def _head(width: int):
    import torch
    from torch import nn

    class RecurrentHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(width + 2, HIDDEN, batch_first=True)
            self.drop = nn.Dropout(DROPOUT)
            self.out = nn.Linear(HIDDEN, 1)

        def forward(self, z, months, empty, lengths):
            seq = torch.cat([z, months[..., None], empty[..., None]], dim=-1)
            last = self.gru(seq)[0][torch.arange(len(lengths)), lengths - 1]
            return self.out(self.drop(last))[:, 0]

    return RecurrentHead()


class SerialCtData:
    """Crops of the patients ``ids`` at both time points: windowed tensors ``x`` and their
    ``slot`` (patient position * 2 + time point), with each patient's steps, months and
    "no visible lesion" flags."""

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

    def encode(self, encoder) -> np.ndarray:
        """``[patients, 2, width]``: the mean embedding of each time point's crops (zeros
        where none); ``encoder`` sees every crop exactly once, in batches, without gradients."""
        import torch

        from crlm.models.neural import _cpu_threads

        n = len(self.lengths)
        parts = []
        with torch.no_grad(), _cpu_threads(1):
            for start in range(0, len(self.x), ENCODE_BATCH):
                parts.append(encoder(self.x[start:start + ENCODE_BATCH]).numpy())
        if not parts:
            return np.zeros((n, 2, 1), np.float32)
        emb = np.concatenate(parts).astype(np.float64)
        pooled = np.zeros((n * 2, emb.shape[1]))
        np.add.at(pooled, self.slot, emb)
        counts = np.bincount(self.slot, minlength=n * 2).clip(min=1)
        return (pooled / counts[:, None]).reshape(n, 2, -1).astype(np.float32)

    def observed(self) -> np.ndarray:
        """``[patients, 2]``: the time points with at least one crop."""
        seen = np.zeros(len(self.lengths) * 2, bool)
        seen[self.slot] = True
        return seen.reshape(-1, 2)


class Standardiser:
    """Embedding mean and standard deviation over the observed time points of the fitting
    patients; unobserved time points stay 0 (the mean)."""

    def __init__(self, z: np.ndarray, observed: np.ndarray, patients: np.ndarray):
        rows = z[patients][observed[patients]]
        self.mean = rows.mean(0) if len(rows) else np.zeros(z.shape[-1])
        self.std = np.maximum(rows.std(0), 1e-6) if len(rows) else np.ones(z.shape[-1])

    def __call__(self, z: np.ndarray, observed: np.ndarray) -> np.ndarray:
        return np.where(observed[..., None], (z - self.mean) / self.std, 0.0).astype(np.float32)


class CnnRnnModel:
    """A trained CNN-RNN: the frozen encoder's and the head's weights (on the CPU), the
    embedding standardiser and the input channel count."""

    contribution_method = "none"
    evaluate = SequenceCox.evaluate

    def __init__(self, encoder_state: dict, head_state: dict, scale: Standardiser,
                 in_channels: int, info: dict):
        self.encoder_state, self.head_state, self.scale = encoder_state, head_state, scale
        self.in_channels, self.fit_info = in_channels, info

    def predict_risk(self, data: SerialCtData, patients: np.ndarray) -> np.ndarray:
        z = data.encode(encoder_network(self.encoder_state, self.in_channels))
        head = _head(z.shape[-1])
        head.load_state_dict(self.head_state)
        return _predict(head.eval(), self.scale(z, data.observed()), data, patients)


def _cox(log_risk, time, event):
    from crlm.models.lesion_sets import _cox_loss

    return _cox_loss(log_risk, time, event)


def _tensors(z, data: SerialCtData, patients: np.ndarray):
    import torch

    return (torch.from_numpy(z[patients]), torch.from_numpy(data.months[patients]),
            torch.from_numpy(data.empty[patients]), torch.from_numpy(data.lengths[patients]))


def _predict(head, z: np.ndarray, data: SerialCtData, patients: np.ndarray) -> np.ndarray:
    """Log hazards of ``patients`` (NaN without baseline crops) from standardised ``z``."""
    import torch

    patients = np.asarray(patients, np.int64)
    out = np.full(len(patients), np.nan)
    ok = data.has_baseline[patients]
    if ok.any():
        with torch.no_grad():
            out[ok] = head(*_tensors(z, data, patients[ok])).numpy().astype(float)
    return out


def fit_head(z: np.ndarray, data: SerialCtData, train: np.ndarray, time, event, *,
             seed: int, fast: bool):
    """The recurrent head on the cached embeddings ``z`` of the ``train`` patients:
    ``(head, standardiser, info)``. Reads no crop."""
    import torch
    from sklearn.model_selection import train_test_split

    from crlm.models.neural import _cpu_threads
    from crlm.models.torch_fit import fit_network, seeded

    train = train[data.has_baseline[train]]
    strat = event[train].astype(int) if 2 <= event[train].sum() <= len(train) - 2 else None
    fit_p, val_p = train_test_split(train, test_size=0.15, stratify=strat,
                                    random_state=int(seed) % (2**32 - 1))
    scale = Standardiser(z, data.observed(), fit_p)
    zs = scale(z, data.observed())
    epochs, patience = (EPOCHS_FAST, PATIENCE_FAST) if fast else (EPOCHS, PATIENCE)
    t_all = torch.as_tensor(time, dtype=torch.float32)
    e_all = torch.as_tensor(event.astype(float), dtype=torch.float32)
    with seeded(int(seed) % (2**63 - 1)), _cpu_threads(1):
        head = _head(z.shape[-1])
        opt = torch.optim.AdamW(head.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

        def loss_of(patients):
            return _cox(head(*_tensors(zs, data, patients)), t_all[patients], e_all[patients])

        fitted = fit_network(head, opt, loss_of, fit_p, max_epochs=epochs, patience=patience,
                             validation=lambda: loss_of(val_p), min_delta=1e-4)
    history = [{"epoch": e.epoch, "validation_loss": e.validation_loss} for e in fitted.history]
    return head.eval(), scale, {"history": history, "best_validation_loss": fitted.best_loss,
                                "best_epoch": fitted.best_epoch}


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
    encoder_state, pretraining = ssl_encoder(store, cohort, seed=seed, fast=fast)
    in_channels = int(data.x.shape[1])
    z = data.encode(encoder_network(encoder_state, in_channels))
    observed = data.observed()
    n_dev = len(dev)
    time = np.zeros(len(ids))
    event = np.zeros(len(ids), bool)
    time[:n_dev], event[:n_dev] = task.outcome(dev)
    oof = np.full(n_dev, np.nan)
    for k in np.unique(fold_of):
        test = np.flatnonzero(fold_of == k)
        head, scale, _ = fit_head(z, data, np.flatnonzero(fold_of != k), time, event,
                                  seed=int(seed) * 1000 + int(k) + 1, fast=fast)
        oof[test] = _predict(head, scale(z, observed), data, test)
        if on_fold:
            on_fold()
    final, scale, info = fit_head(z, data, np.arange(n_dev), time, event,
                                  seed=int(seed) * 1000, fast=fast)
    if on_fold:
        on_fold()
    info["pretraining"] = pretraining
    model = CnnRnnModel(encoder_state, {k: v.detach().cpu().clone()
                                        for k, v in final.state_dict().items()},
                        scale, in_channels, info)
    external = _predict(final, scale(z, observed), data, np.arange(n_dev, len(ids)))
    return TrainedModel(oof=oof, external=external, model=model, columns=[INPUT_NAME],
                        comparison=np.full(0 if comparison is None else len(comparison), np.nan))


register_family(Family(
    "cnn_rnn", SURVIVAL, "CNN-RNN over the baseline and first-restaging CT (self-supervised "
    "ResNet-18 + GRU)", kind="sequence", feature_sets=(), explainer="none",
    trainer=train_cnn_rnn, tasks=LANDMARK_TASKS, default=False))
