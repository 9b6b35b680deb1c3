"""Patient-level CT models over the set of a patient's lesions.

A patient is a set of lesion crops (``[n_lesions, slices, H, W]``, any ``n_lesions``).
Each crop goes through the ResNet-18 lesion encoder of :mod:`crlm.models.cnn`
(without its last layer: one embedding per lesion); the embeddings are pooled into one
patient embedding and a linear head gives one number per patient:

* pooling ``mean`` — the average of the lesion embeddings;
* pooling ``attention`` — gated attention-MIL (Ilse, Tomczak and Welling, ICML 2018, as
  used for whole-slide images by Lu et al. and in the review's attention rows):
  ``a_k = softmax_k(w · (tanh(V h_k) ⊙ sigmoid(U h_k)))``, patient embedding
  ``Σ a_k h_k``; the weights ``a_k`` say which lesion drove the score.
* head ``binary`` — a logit, trained with binary cross-entropy; the score is the
  probability;
* head ``cox`` — a log hazard, trained with the negative Cox partial log-likelihood
  (Breslow ties) over each mini-batch of patients, as DeepSurv does; the score is the
  risk (higher = earlier events).

Training: mini-batches of patients, the square's 8 symmetries as augmentation, AdamW,
early stopping on the loss of an inner validation split of patients (15 %), one CPU
thread, CUDA when available; seeded without touching torch's global generator.
``encoder_state`` starts the encoder from pre-trained weights
(:mod:`crlm.models.pretraining`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm.models.cnn import (
    HU_WINDOW, _augment, _deterministic, _resolve_device, _threads, _torch, prepare_crops,
)
from crlm.models.torch_fit import fit_network, seeded

POOLINGS = ("mean", "attention")
HEADS = ("binary", "cox")


def _build():
    torch = _torch()
    nn = torch.nn
    from crlm.models.cnn import ResNet18

    class LesionSetNet(nn.Module):
        """Encoder -> (mean | gated attention) pooling per patient -> linear head."""

        def __init__(self, in_channels: int, base_width: int, input_size: int,
                     pooling: str, attention_dim: int = 32):
            super().__init__()
            self.encoder = ResNet18(in_channels, 1, base_width, input_size)
            width = self.encoder.fc.in_features
            self.encoder.fc = nn.Identity()
            self.pooling = pooling
            if pooling == "attention":
                self.attention_v = nn.Linear(width, attention_dim)
                self.attention_u = nn.Linear(width, attention_dim)
                self.attention_w = nn.Linear(attention_dim, 1)
            self.head = nn.Linear(width, 1)

        def lesion_weights(self, h, bounds):
            """Attention weight of every lesion (sums to 1 per patient)."""
            if self.pooling == "mean":
                counts = torch.diff(bounds)
                return torch.repeat_interleave(1.0 / counts.to(h.dtype), counts)
            scores = self.attention_w(torch.tanh(self.attention_v(h))
                                      * torch.sigmoid(self.attention_u(h)))[:, 0]
            out = torch.empty_like(scores)
            for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
                out[a:b] = torch.softmax(scores[a:b], dim=0)
            return out

        def forward(self, x, bounds):
            """``x``: the crops of several patients, patient after patient; ``bounds``:
            offsets of each patient's first crop and the end. One output per patient and
            the lesion weights."""
            h = self.encoder(x)
            weights = self.lesion_weights(h, bounds)
            weighted = h * weights[:, None]
            owner = torch.repeat_interleave(torch.arange(len(bounds) - 1, device=h.device),
                                            torch.diff(bounds))
            pooled = torch.zeros((len(bounds) - 1, h.shape[1]), dtype=h.dtype, device=h.device)
            pooled = pooled.index_add(0, owner, weighted)
            return self.head(pooled)[:, 0], weights

    return LesionSetNet


_NET = None


def LesionSetNet(in_channels: int, base_width: int, input_size: int, pooling: str):
    global _NET
    if _NET is None:
        _NET = _build()
    return _NET(in_channels, base_width, input_size, pooling)


def _cox_loss(log_risk, time, event):
    torch = _torch()
    order = torch.argsort(time, descending=True)
    r, e = log_risk[order], event[order]
    return -((r - torch.logcumsumexp(r, dim=0)) * e).sum() / e.sum().clamp(min=1.0)


def _bce(logit, y):
    return _torch().nn.functional.binary_cross_entropy_with_logits(logit, y)


@dataclass(frozen=True)
class LesionSetConfig:
    pooling: str = "attention"
    head: str = "binary"
    base_width: int = 8
    input_size: int = 32
    epochs: int = 25
    patience: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_patients: int = 32
    validation_fraction: float = 0.15

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")


class LesionSetModel:
    """A trained lesion-set network as saved in an artefact (configuration + CPU weights)."""

    def __init__(self, network, config: LesionSetConfig, in_channels: int, fit_info: dict):
        self.config = config
        self.in_channels = int(in_channels)
        self.state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
        self.fit_info = fit_info

    def network(self):
        net = LesionSetNet(self.in_channels, self.config.base_width, self.config.input_size,
                           self.config.pooling)
        net.load_state_dict(self.state)
        return net.eval()

    def predict(self, crops: np.ndarray, owners) -> tuple[pd.Series, np.ndarray]:
        """Patient scores (probability or risk, indexed by patient, first-seen order) and
        every lesion's weight in its patient's pooling (attention, or 1/n for the mean)."""
        torch = _torch()
        arr = np.asarray(crops)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.shape[1] != self.in_channels:
            raise ValueError(f"the model takes {self.in_channels} slices per crop, "
                             f"got {arr.shape[1]}")
        owners = np.asarray(owners).astype(str)
        order, bounds, ids = _group(owners)
        x = prepare_crops(arr[order], self.config.input_size, HU_WINDOW)
        net = self.network()
        with torch.no_grad(), _threads(torch.device("cpu"), 1):
            out, weights = net(x, torch.as_tensor(bounds))
            if self.config.head == "binary":
                out = torch.sigmoid(out)
        w = np.empty(len(owners))
        w[order] = weights.numpy().astype(float)
        return pd.Series(out.numpy().astype(float), index=ids, name="ct_score"), w

    def patient_scores(self, crops: np.ndarray, owners) -> pd.Series:
        return self.predict(crops, owners)[0]


def _group(owners: np.ndarray):
    """Crops ordered patient by patient (first-seen order): the order, the bounds, the ids."""
    ids = list(dict.fromkeys(owners.tolist()))
    position = {p: k for k, p in enumerate(ids)}
    order = np.argsort([position[o] for o in owners], kind="stable")
    counts = np.bincount([position[o] for o in owners], minlength=len(ids))
    return order, np.r_[0, np.cumsum(counts)].astype(np.int64), ids


def _batch(x, crop_index, bounds, patients):
    """Crops and bounds of the patients ``patients`` (indices into the patient list)."""
    torch = _torch()
    parts = [crop_index[bounds[p]:bounds[p + 1]] for p in patients]
    sizes = [len(p) for p in parts]
    idx = torch.from_numpy(np.concatenate(parts))
    return x[idx], torch.as_tensor(np.r_[0, np.cumsum(sizes)].astype(np.int64))


def _loss(cfg, out, targets, patients):
    torch = _torch()
    if cfg.head == "binary":
        return _bce(out, torch.as_tensor(targets[0][patients], dtype=out.dtype))
    return _cox_loss(out, torch.as_tensor(targets[0][patients], dtype=out.dtype),
                     torch.as_tensor(targets[1][patients], dtype=out.dtype))


def _fit(x, crop_index, bounds, targets, stratum, train, cfg: LesionSetConfig, seed: int,
         device, encoder_state=None):
    """One fit on the patients ``train``; the best network by inner validation loss."""
    torch = _torch()
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    train = np.asarray(train)
    fit_p, val_p = train, np.zeros(0, dtype=int)
    strat = stratum[train]
    if len(train) >= 10 and cfg.validation_fraction > 0 and np.bincount(strat).min() >= 2:
        fit_p, val_p = train_test_split(train, test_size=cfg.validation_fraction,
                                        stratify=strat,
                                        random_state=int(rng.integers(2**31 - 1)))
    with seeded(int(rng.integers(2**31 - 1))):
        net = LesionSetNet(x.shape[1], cfg.base_width, cfg.input_size, cfg.pooling)
    if encoder_state is not None:
        net.encoder.load_state_dict(encoder_state)
    net = net.to(device)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def loss_of(patients, augment: bool = True):
        xb, bb = _batch(x, crop_index, bounds, patients)
        if augment:
            xb = _augment(xb, gen)
        out, _ = net(xb.to(device), bb.to(device))
        return _loss(cfg, out, targets, patients)

    fitted = fit_network(net, optimiser, loss_of, fit_p, max_epochs=cfg.epochs,
                         patience=cfg.patience, batch_size=cfg.batch_patients, generator=gen,
                         validation=(lambda: loss_of(val_p, augment=False))
                         if len(val_p) >= 2 else None, min_delta=1e-4)
    return net.cpu().eval(), {"best_epoch": fitted.best_epoch,
                              "best_validation_loss": fitted.best_loss,
                              "history": fitted.history_dicts()}


def _predict(net, x, crop_index, bounds, patients, cfg) -> np.ndarray:
    torch = _torch()
    out = []
    with torch.no_grad():
        for start in range(0, len(patients), 256):
            xb, bb = _batch(x, crop_index, bounds, patients[start:start + 256])
            o, _ = net(xb, bb)
            out.append((torch.sigmoid(o) if cfg.head == "binary" else o).numpy())
    return np.concatenate(out).astype(float) if out else np.zeros(0)


def train_lesion_sets(crops: np.ndarray, owners, patients, targets, fold_of, *,
                      config: LesionSetConfig, seed: int = 0, device=None,
                      encoder_state=None) -> tuple[np.ndarray, LesionSetModel]:
    """Cross-validated patient-level model: ``(oof, final_model)``.

    ``crops``: HU ``[n_crops, slices, H, W]``; ``owners``: patient id per crop;
    ``patients``: the patient ids to train on, in order; ``targets``: ``(y,)`` (0/1) for
    the binary head or ``(time, event)`` for the Cox head, aligned with ``patients``;
    ``fold_of``: the fold of each patient. Patients without crops get NaN out-of-fold
    scores and are left out of every fit. ``oof[k]`` comes from the model that did not see
    patient ``k``; the final model is fitted on every patient with crops.
    """
    torch = _torch()
    owners = np.asarray(owners).astype(str)
    patients = [str(p) for p in patients]
    targets = tuple(np.asarray(t, dtype=float) for t in targets)
    fold_of = np.asarray(fold_of)
    crop_rows: dict[str, list[int]] = {}
    for i, o in enumerate(owners):
        crop_rows.setdefault(o, []).append(i)
    has = np.array([p in crop_rows for p in patients])
    if not has.any():
        raise ValueError("none of the task's patients has stored lesion crops")
    crop_index = np.concatenate([np.asarray(crop_rows.get(p, []), dtype=np.int64)
                                 for p in patients])
    counts = [len(crop_rows.get(p, [])) for p in patients]
    bounds = np.r_[0, np.cumsum(counts)].astype(np.int64)
    stratum = (targets[0] if config.head == "binary" else targets[1]).astype(int)
    device = _resolve_device(device)
    x = prepare_crops(np.asarray(crops), config.input_size, HU_WINDOW)
    oof = np.full(len(patients), np.nan)
    infos = []
    with _threads(device, 1), _deterministic(device):
        for k in np.unique(fold_of):
            test = np.flatnonzero((fold_of == k) & has)
            train = np.flatnonzero((fold_of != k) & has)
            net, info = _fit(x, crop_index, bounds, targets, stratum, train, config,
                             seed * 1000 + int(k) + 1, device, encoder_state)
            oof[test] = _predict(net, x, crop_index, bounds, test, config)
            infos.append({"fold": int(k), **info})
        final, final_info = _fit(x, crop_index, bounds, targets, stratum, np.flatnonzero(has),
                                 config, seed * 1000, device, encoder_state)
    del torch
    return oof, LesionSetModel(final, config, x.shape[1],
                               {"folds": infos, "final": final_info, "device": str(device),
                                "pretrained_encoder": encoder_state is not None})
