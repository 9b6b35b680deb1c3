"""The lesion CNN: a small ResNet-18 on CT lesion crops, its training and its artefact.

Conventions
-----------
* Input: each crop ``[slices, H, W]`` is windowed to ``HU_WINDOW`` (-100 to 200 HU),
  scaled to [-1, 1] and area-resized to ``input_size`` (default 32 x 32; the 64 x 64
  cohort crops are halved to keep CPU training to a few minutes). Slices are the input
  channels.
* Architecture: ResNet-18 (BasicBlock x [2, 2, 2, 2], widths base x (1, 2, 4, 8),
  base 16 by default for :func:`ResNet18` and 8 in the CPU demo training
  setting of :func:`train_cnn`, rather than the original 64), with a 3 x 3 stride-1 stem and no max-pool
  because the inputs are small; one logit per crop.
* Training: binary cross-entropy; random flips and 90-degree rotations (the 8
  symmetries of the square) per sample; AdamW; early stopping on the loss of an
  inner validation split of patients (15 %) (:func:`crlm.models.torch_fit.fit_network`);
  outer folds group crops by patient, so no patient is in training and test at once.
  Seeded: the model initialisation, batch order and augmentation come from ``seed`` and
  the fold number; on CPU deterministic algorithms are enforced during training.
* Patient score = mean of the patient's lesion (crop) probabilities
  (:func:`patient_scores`); :class:`CnnModel` is the trained network as an artefact holds it.
"""
from __future__ import annotations

import contextlib
import os
from typing import Sequence

import numpy as np
import pandas as pd

from crlm.models.torch_fit import fit_network, seeded

HU_WINDOW = (-100.0, 200.0)


def _torch():
    import torch

    return torch


def _build_classes():
    torch = _torch()
    nn = torch.nn

    class BasicBlock(nn.Module):
        """Two 3 x 3 convolutions with batch norm and an identity (or 1 x 1) shortcut."""

        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Identity()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + self.shortcut(x))

    class ResNet18(nn.Module):
        """ResNet-18 for small multi-slice crops: ``[n, in_channels, H, W]`` -> ``[n, n_classes]`` logits."""

        def __init__(self, in_channels: int, n_classes: int = 1, base_width: int = 16,
                     input_size: int = 32, hu_window: tuple[float, float] = HU_WINDOW):
            super().__init__()
            self.config = {"in_channels": int(in_channels), "n_classes": int(n_classes),
                           "base_width": int(base_width), "input_size": int(input_size),
                           "hu_window": tuple(float(v) for v in hu_window)}
            w = int(base_width)
            self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(w), nn.ReLU(inplace=True))
            layers, cin = [], w
            for cout, stride in ((w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)):
                layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, n_classes)

        @property
        def input_size(self) -> int:
            return self.config["input_size"]

        @property
        def hu_window(self) -> tuple[float, float]:
            return self.config["hu_window"]

        def forward(self, x):
            x = self.layers(self.stem(x))
            return self.fc(torch.flatten(self.pool(x), 1))

    return BasicBlock, ResNet18


_CLASSES: tuple | None = None


def _classes():
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _build_classes()
    return _CLASSES


def ResNet18(in_channels: int, n_classes: int = 1, base_width: int = 16, input_size: int = 32,
             hu_window: tuple[float, float] = HU_WINDOW):
    """A ResNet-18 (BasicBlock x [2, 2, 2, 2]) torch module; see the module doc."""
    return _classes()[1](in_channels, n_classes, base_width, input_size, hu_window)


def prepare_crops(crops: np.ndarray, input_size: int = 32, hu_window=HU_WINDOW):
    """HU crops ``[n, slices, H, W]`` -> float32 tensor windowed to [-1, 1], resized (area)."""
    torch = _torch()
    arr = np.asarray(crops)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"crops must be [n, slices, H, W], got shape {arr.shape}")
    lo, hi = hu_window
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    x = (x.clamp(lo, hi) - (lo + hi) / 2.0) / ((hi - lo) / 2.0)
    if x.shape[-1] != input_size or x.shape[-2] != input_size:
        x = torch.nn.functional.interpolate(x, size=(input_size, input_size), mode="area")
    return x.contiguous()


def _augment(x, gen):
    """Per-sample random element of the square's symmetry group (flips and transposition)."""
    torch = _torch()
    n = x.shape[0]
    flips = torch.rand((n, 3), generator=gen) < 0.5
    flips = flips.to(x.device)
    shape = (n, 1, 1, 1)
    x = torch.where(flips[:, 0].view(shape), x.flip(-1), x)
    x = torch.where(flips[:, 1].view(shape), x.flip(-2), x)
    x = torch.where(flips[:, 2].view(shape), x.transpose(-1, -2), x)
    return x


@contextlib.contextmanager
def _threads(device, n_threads):
    """Limit CPU threads while training/predicting (restored afterwards)."""
    torch = _torch()
    previous = torch.get_num_threads()
    try:
        if device.type == "cpu" and n_threads:
            torch.set_num_threads(int(n_threads))
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _deterministic(device):
    torch = _torch()
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        else:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def _resolve_device(device):
    torch = _torch()
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _predict_tensor(model, x, device, batch_size: int = 512) -> np.ndarray:
    torch = _torch()
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start:start + batch_size].to(device))
            out.append(torch.sigmoid(logits[:, 0]).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _fit_one(x, y, train_idx, seed: int, epochs: int, device, *, base_width: int,
             input_size: int, hu_window, batch_size: int, lr: float, weight_decay: float,
             patience: int, groups: np.ndarray, validation_fraction: float):
    """Train on ``train_idx`` with an inner patient-level validation split; the best model."""
    torch = _torch()
    from sklearn.model_selection import GroupShuffleSplit

    rng = np.random.default_rng(seed)
    train_idx = np.asarray(train_idx)
    fit_idx, val_idx = train_idx, np.zeros(0, dtype=int)
    if len(np.unique(groups[train_idx])) >= 5 and validation_fraction > 0:
        splitter = GroupShuffleSplit(n_splits=1, test_size=validation_fraction,
                                     random_state=int(rng.integers(2**31 - 1)))
        a, b = next(splitter.split(train_idx, groups=groups[train_idx]))
        if len(np.unique(y[train_idx[a]])) == 2:
            fit_idx, val_idx = train_idx[a], train_idx[b]
    with seeded(int(rng.integers(2**31 - 1))):
        model = ResNet18(x.shape[1], 1, base_width, input_size, hu_window).to(device)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    yt = torch.from_numpy(y.astype(np.float32))

    def loss_of(rows):
        return loss_fn(model(_augment(x[rows], gen).to(device))[:, 0], yt[rows].to(device))

    def validation() -> float:
        p = np.clip(_predict_tensor(model, x[torch.from_numpy(val_idx)], device), 1e-6, 1 - 1e-6)
        yv = y[val_idx]
        return float(-np.mean(yv * np.log(p) + (1 - yv) * np.log(1 - p)))

    fitted = fit_network(model, optimiser, loss_of, fit_idx, max_epochs=epochs,
                         patience=patience, validation=validation if len(val_idx) else None,
                         batch_size=batch_size, generator=gen, min_delta=1e-4)
    return model, {"best_epoch": fitted.best_epoch, "best_validation_loss": fitted.best_loss,
                   "history": fitted.history_dicts()}


def train_cnn(crops: np.ndarray, labels: Sequence, groups: Sequence, folds=5, seed: int = 0,
              epochs: int = 12, device=None, *, base_width: int = 8, input_size: int = 32,
              hu_window: tuple[float, float] = HU_WINDOW, batch_size: int = 64, lr: float = 2e-3,
              weight_decay: float = 1e-4, patience: int = 3, validation_fraction: float = 0.15,
              n_threads: int | None = 1):
    """Cross-validated lesion CNN: ``(oof_pred, fitted_model)``.

    ``crops``: HU ``[n_crops, slices, H, W]``; ``labels``: 0/1 per crop (the
    patient's label repeated); ``groups``: patient id per crop; ``folds``: a
    number of patient-grouped, label-stratified folds, or an array of fold ids
    per crop (all crops of a patient in one fold). ``oof_pred[i]`` is the
    probability for crop ``i`` from the model that did not see its patient;
    ``fitted_model`` is trained on all crops (eval mode, on CPU) and carries
    ``fit_info_`` (best epochs, histories). ``device``: None = CUDA if available.
    Defaults are the CPU demo setting: base width 8, 32 x 32 input, at most 12
    epochs, one CPU thread (``n_threads``; small convolutions gain little from
    more and lose badly when the cores are shared); on a GPU pass e.g.
    ``base_width=16`` or 64.
    """
    torch = _torch()
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(labels, dtype=np.float64)
    g = np.asarray(groups)
    arr = np.asarray(crops)
    n = arr.shape[0]
    if y.shape != (n,) or g.shape != (n,):
        raise ValueError(f"labels and groups need one value per crop ({n}); got {y.shape}, {g.shape}")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise ValueError("labels must be 0/1 with no missing values")
    if len(np.unique(y)) < 2:
        raise ValueError("labels hold a single class; a classifier cannot be trained")
    device = _resolve_device(device)
    x = prepare_crops(arr, input_size, hu_window)
    if np.ndim(folds) == 0:
        k = int(folds)
        if k < 2:
            raise ValueError(f"folds must be >= 2, got {k}")
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=int(seed))
        fold_id = np.empty(n, dtype=int)
        for f, (_, test) in enumerate(splitter.split(np.zeros(n), y, g)):
            fold_id[test] = f
    else:
        fold_id = np.asarray(folds)
        if fold_id.shape != (n,):
            raise ValueError(f"folds array needs one fold id per crop ({n}), got {fold_id.shape}")
        for patient in np.unique(g):
            if len(np.unique(fold_id[g == patient])) > 1:
                raise ValueError(f"patient {patient} has crops in more than one fold")
    settings = dict(base_width=base_width, input_size=input_size, hu_window=hu_window,
                    batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                    groups=g, validation_fraction=validation_fraction)
    oof = np.full(n, np.nan)
    infos = []
    with _threads(device, n_threads), _deterministic(device):
        for f, fold in enumerate(np.unique(fold_id)):
            test = np.flatnonzero(fold_id == fold)
            train = np.flatnonzero(fold_id != fold)
            model, info = _fit_one(x, y, train, seed * 1000 + f + 1, epochs, device, **settings)
            oof[test] = _predict_tensor(model, x[torch.from_numpy(test)], device)
            infos.append({"fold": int(fold) if np.issubdtype(type(fold), np.integer) else str(fold), **info})
        final, final_info = _fit_one(x, y, np.arange(n), seed * 1000, epochs, device, **settings)
    final = final.cpu().eval()
    final.fit_info_ = {"folds": infos, "final": final_info, "device": str(device),
                       "patient_score": "mean of lesion probabilities"}
    return oof, final


def cnn_predict(model, crops: np.ndarray, batch_size: int = 512, device=None,
                n_threads: int | None = 1) -> np.ndarray:
    """Lesion probabilities for HU crops ``[n, slices, H, W]`` (or one crop ``[slices, H, W]``)."""
    device = _resolve_device(device) if device is not None else next(model.parameters()).device
    x = prepare_crops(crops, model.input_size, model.hu_window)
    if x.shape[1] != model.config["in_channels"]:
        raise ValueError(
            f"the model takes {model.config['in_channels']} slices per crop, got {x.shape[1]}"
        )
    with _threads(device, n_threads):
        return _predict_tensor(model.to(device), x, device, batch_size).astype(np.float64)


def patient_scores(crop_probabilities: Sequence[float], groups: Sequence) -> pd.Series:
    """Patient score = mean of the patient's lesion probabilities (indexed by patient)."""
    frame = pd.DataFrame({"patient_id": np.asarray(groups), "p": np.asarray(crop_probabilities, float)})
    return frame.groupby("patient_id", sort=False)["p"].mean().rename("cnn_score")


def save_cnn(model, path: str | os.PathLike) -> None:
    """Save the configuration and weights (a plain dict; load with :func:`load_cnn`)."""
    torch = _torch()
    torch.save({"config": dict(model.config, hu_window=list(model.config["hu_window"])),
                "state_dict": model.state_dict()}, path)


def load_cnn(path: str | os.PathLike):
    """Load a model written by :func:`save_cnn` (weights only, no pickled code), in eval mode."""
    torch = _torch()
    blob = torch.load(path, map_location="cpu", weights_only=True)
    cfg = blob["config"]
    model = ResNet18(cfg["in_channels"], cfg["n_classes"], cfg["base_width"], cfg["input_size"],
                     tuple(cfg["hu_window"]))
    model.load_state_dict(blob["state_dict"])
    return model.eval()


class CnnModel:
    """A trained lesion CNN as saved in an artefact: configuration and CPU weights."""

    def __init__(self, network):
        self.config = dict(network.config)
        self.state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
        self.fit_info = getattr(network, "fit_info_", {})

    def network(self):
        cfg = self.config
        net = ResNet18(cfg["in_channels"], cfg["n_classes"], cfg["base_width"],
                       cfg["input_size"], tuple(cfg["hu_window"]))
        net.load_state_dict(self.state)
        return net.eval()

    def patient_scores(self, crops: np.ndarray, owners) -> pd.Series:
        probabilities = cnn_predict(self.network(), crops, device="cpu")
        return patient_scores(probabilities, owners)
