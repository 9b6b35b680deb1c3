"""Lesion imaging models: handcrafted lesion features and a small ResNet-18 CNN.

Conventions
-----------
* Images are HU arrays ``[z, y, x]`` (or ``[y, x]``), masks boolean of the same
  shape, ``spacing_mm`` = (z, y, x) (or (y, x)) in mm. :func:`lesion_features`
  is the one feature function for cohort crops and for an uploaded case.
* CNN input: each crop ``[slices, H, W]`` is windowed to ``HU_WINDOW`` (-100 to
  200 HU), scaled to [-1, 1] and area-resized to ``input_size`` (default 32 x 32;
  the 64 x 64 cohort crops are halved to keep CPU training to a few minutes).
  Slices are the input channels.
* Architecture: ResNet-18 (BasicBlock x [2, 2, 2, 2], widths base x (1, 2, 4, 8),
  base 16 by default for :func:`ResNet18` and 8 in the CPU demo training
  setting of :func:`train_cnn`, rather than the original 64), with a 3 x 3 stride-1 stem and no max-pool
  because the inputs are small; one logit per crop.
* Training: binary cross-entropy; random flips and 90-degree rotations (the 8
  symmetries of the square) per sample; AdamW; early stopping on the loss of an
  inner validation split of patients (15 %); outer folds group crops by
  patient, so no patient is in training and test at once. Seeded: the model
  initialisation, batch order and augmentation come from ``seed`` and the fold
  number; on CPU deterministic algorithms are enforced during training.
* Patient score = mean of the patient's lesion (crop) probabilities
  (:func:`patient_scores`).
"""
from __future__ import annotations

import contextlib
import math
import os
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage, stats

HU_WINDOW = (-100.0, 200.0)
GLCM_BIN_WIDTH_HU = 10.0
GLCM_RANGE_HU = (-200.0, 300.0)
ENTROPY_BIN_WIDTH_HU = 10.0

FEATURE_NAMES = (
    "n_voxels", "volume_ml", "max_area_cm2", "max_diameter_cm", "hu_mean", "hu_sd",
    "hu_skewness", "hu_kurtosis", "hu_p10", "hu_median", "hu_p90", "hu_entropy_bits",
    "glcm_contrast", "glcm_homogeneity", "glcm_energy", "glcm_correlation",
    "glcm_entropy_bits", "margin_gradient_hu_per_mm", "rim_minus_core_hu",
    "lesion_minus_surround_hu",
)


# ---------------------------------------------------------------- handcrafted features


def _as_3d(image: np.ndarray, mask: np.ndarray, spacing_mm: Sequence[float]):
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.shape != mask.shape:
        raise ValueError(f"image shape {image.shape} and mask shape {mask.shape} differ")
    spacing = tuple(float(s) for s in spacing_mm)
    if image.ndim == 2:
        if len(spacing) != 2:
            raise ValueError(f"a 2-D image needs spacing_mm = (y, x), got {spacing}")
        return image[None], mask[None], (float("nan"),) + spacing
    if image.ndim != 3:
        raise ValueError(f"image must be 2-D or 3-D, got {image.ndim}-D")
    if len(spacing) != 3:
        raise ValueError(f"a 3-D image needs spacing_mm = (z, y, x), got {spacing}")
    if min(spacing[1:]) <= 0:
        raise ValueError(f"pixel spacing must be positive, got {spacing}")
    return image, mask, spacing


def _max_diameter_mm(mask2d: np.ndarray, dy: float, dx: float) -> float:
    from crlm.ingest.crops import max_diameter_mm

    return max_diameter_mm(mask2d, dy, dx)


def _entropy_bits(values: np.ndarray, width: float) -> float:
    lo = math.floor(values.min() / width) * width
    edges = np.arange(lo, values.max() + width + 1e-9, width)
    counts = np.histogram(values, bins=edges)[0] if edges.size > 1 else np.array([values.size])
    p = counts[counts > 0] / values.size
    return float(-(p * np.log2(p)).sum())


def _glcm(image: np.ndarray, mask: np.ndarray) -> dict:
    """In-plane grey-level co-occurrence, distance 1, 4 directions, symmetric, averaged."""
    lo, hi = GLCM_RANGE_HU
    levels = int(round((hi - lo) / GLCM_BIN_WIDTH_HU))
    q = np.clip(((image - lo) // GLCM_BIN_WIDTH_HU).astype(np.int64), 0, levels - 1)
    i_idx, j_idx = np.meshgrid(np.arange(levels), np.arange(levels), indexing="ij")
    out = {"glcm_contrast": [], "glcm_homogeneity": [], "glcm_energy": [],
           "glcm_correlation": [], "glcm_entropy_bits": []}
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        y0, y1 = (0, q.shape[1] - dy)
        x0, x1 = (max(0, -dx), q.shape[2] - max(0, dx))
        a = q[:, y0:y1, x0:x1]
        b = q[:, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        valid = mask[:, y0:y1, x0:x1] & mask[:, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        if not valid.any():
            continue
        codes = a[valid] * levels + b[valid]
        m = np.bincount(codes, minlength=levels * levels).reshape(levels, levels).astype(float)
        m = m + m.T
        p = m / m.sum()
        mu_i = (i_idx * p).sum()
        sd_i = math.sqrt(((i_idx - mu_i) ** 2 * p).sum())
        out["glcm_contrast"].append(float(((i_idx - j_idx) ** 2 * p).sum()))
        out["glcm_homogeneity"].append(float((p / (1.0 + (i_idx - j_idx) ** 2)).sum()))
        out["glcm_energy"].append(float((p**2).sum()))
        out["glcm_correlation"].append(
            float(((i_idx - mu_i) * (j_idx - mu_i) * p).sum() / sd_i**2) if sd_i > 0 else 1.0
        )
        nz = p[p > 0]
        out["glcm_entropy_bits"].append(float(-(nz * np.log2(nz)).sum()))
    return {k: (float(np.mean(v)) if v else float("nan")) for k, v in out.items()}


def lesion_features(hu_volume_or_crop: np.ndarray, mask: np.ndarray,
                    spacing_mm: Sequence[float]) -> dict:
    """Handcrafted features of one lesion: size, HU histogram, texture and margin.

    ``hu_volume_or_crop``: HU ``[z, y, x]`` or ``[y, x]``; ``mask``: the lesion
    region, same shape; ``spacing_mm``: (z, y, x) or (y, x). Keys are
    ``FEATURE_NAMES``: volume in mL (NaN for a 2-D image), largest section area
    in cm², largest in-plane (Feret) diameter in cm over the slices, HU mean /
    population sd / skewness / excess kurtosis / 10th, 50th, 90th percentiles /
    Shannon entropy (bits, bins of 10 HU); GLCM (in-plane, distance 1, four
    directions, symmetric, 10-HU bins on -200..300 HU) contrast, homogeneity
    (inverse difference moment), energy (angular second moment), correlation and
    entropy; mean in-plane HU gradient magnitude on the lesion's inner boundary
    (HU/mm, margin sharpness); mean HU of the 2-pixel inner rim minus the core;
    lesion mean minus the mean of a 3-pixel ring outside it.
    """
    image, mask, (dz, dy, dx) = _as_3d(hu_volume_or_crop, mask, spacing_mm)
    if not mask.any():
        raise ValueError("the lesion mask is empty")
    zs, ys, xs = np.nonzero(mask)
    pad = 4
    box = (slice(zs.min(), zs.max() + 1),
           slice(max(0, ys.min() - pad), ys.max() + pad + 1),
           slice(max(0, xs.min() - pad), xs.max() + pad + 1))
    img = image[box].astype(np.float64)
    msk = mask[box]
    values = img[msk]
    n = int(values.size)
    areas_px = msk.sum(axis=(1, 2))
    plane = np.zeros((1, 3, 3), dtype=bool)
    plane[0] = ndimage.generate_binary_structure(2, 1)
    eroded = ndimage.binary_erosion(msk, structure=plane, border_value=0)
    boundary = msk & ~eroded
    core = ndimage.binary_erosion(msk, structure=plane, iterations=2, border_value=0)
    rim = msk & ~core
    ring = ndimage.binary_dilation(msk, structure=plane, iterations=3) & ~msk
    gy = np.gradient(img, dy, axis=1)
    gx = np.gradient(img, dx, axis=2)
    grad = np.hypot(gy, gx)
    features = {
        "n_voxels": float(n),
        "volume_ml": float(n * dz * dy * dx / 1000.0) if np.isfinite(dz) else float("nan"),
        "max_area_cm2": float(areas_px.max() * dy * dx / 100.0),
        "max_diameter_cm": max(_max_diameter_mm(m, dy, dx) for m in msk if m.any()) / 10.0,
        "hu_mean": float(values.mean()),
        "hu_sd": float(values.std()),
        "hu_skewness": float(stats.skew(values)) if n > 2 and values.std() > 0 else 0.0,
        "hu_kurtosis": float(stats.kurtosis(values)) if n > 3 and values.std() > 0 else 0.0,
        "hu_p10": float(np.percentile(values, 10)),
        "hu_median": float(np.median(values)),
        "hu_p90": float(np.percentile(values, 90)),
        "hu_entropy_bits": _entropy_bits(values, ENTROPY_BIN_WIDTH_HU),
        **_glcm(img, msk),
        "margin_gradient_hu_per_mm": float(grad[boundary].mean()) if boundary.any() else float("nan"),
        "rim_minus_core_hu": (float(img[rim].mean() - img[core].mean())
                              if core.any() and rim.any() else float("nan")),
        "lesion_minus_surround_hu": float(values.mean() - img[ring].mean()) if ring.any() else float("nan"),
    }
    return {k: features[k] for k in FEATURE_NAMES}


def case_crop(hu_volume: np.ndarray, mask: np.ndarray, spacing_mm: Sequence[float],
              size: int = 64, slices: int = 3) -> np.ndarray:
    """A lesion crop of an uploaded case on the cohort crops' geometry (int16 HU):
    :func:`crlm.ingest.crops.lesion_crop`, the transform an imported cohort goes through
    too (a 2-D image counts as one slice of 1 mm)."""
    from crlm.ingest.crops import lesion_crop

    image, msk, spacing = _as_3d(hu_volume, mask, spacing_mm)
    return lesion_crop(image, msk, spacing, size=size, slices=slices)[0]


# ---------------------------------------------------------------- CNN


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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**31 - 1)))
        model = ResNet18(x.shape[1], 1, base_width, input_size, hu_window).to(device)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    yt = torch.from_numpy(y.astype(np.float32))
    best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
    history = []
    for epoch in range(int(epochs)):
        model.train()
        order = torch.from_numpy(fit_idx)[torch.randperm(len(fit_idx), generator=gen)]
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:
                continue
            xb = _augment(x[idx], gen).to(device)
            yb = yt[idx].to(device)
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb)[:, 0], yb)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        train_loss = total / max(count, 1)
        if len(val_idx):
            p = np.clip(_predict_tensor(model, x[torch.from_numpy(val_idx)], device), 1e-6, 1 - 1e-6)
            yv = y[val_idx]
            val_loss = float(-np.mean(yv * np.log(p) + (1 - yv) * np.log(1 - p)))
        else:
            val_loss = train_loss
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "validation_loss": val_loss})
        if val_loss < best_loss - 1e-4:
            best_loss, best_epoch, stale = val_loss, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, {"best_epoch": best_epoch, "best_validation_loss": best_loss, "history": history}


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
