"""Self-supervised pre-training of the ResNet-18 lesion encoder on every stored crop.

No weights are downloaded: the "pre-trained ResNet-18" of the multi-omics study is
replaced by contrastive pre-training on the store's own crops, labelled or not
(SimCLR, Chen et al. 2020): two random views of each crop (one of the square's 8
symmetries, a random crop of 60-100 % of the side resized back, a HU shift of
±15 HU and a contrast scale of 0.85-1.15, Gaussian noise of 0.05 in the windowed
scale) go through the encoder and a 2-layer projection head; the NT-Xent loss
(temperature 0.2) pulls the two views of a crop together and pushes the other crops of
the batch away. The fine-tuned models (``attention_mil_ssl``) start from the encoder's
weights; the projection head is dropped.

Which crops: every baseline crop of every cohort in the store, whatever the patient's
split or outcome: no label is read, so the external centre's crops may shape the
features (as in any self-supervised pre-training on unlabelled data) but never the
decision. Budget: ``SSL_EPOCHS`` passes over at most ``SSL_MAX_CROPS`` crops (a seeded
sample), one CPU thread, CUDA when available; measured in docs/models.md. The encoder is
kept per process for the same crops, seed and setting, so the tasks of one training run
pre-train once.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np

from crlm import config
from crlm.models.cnn import (
    HU_WINDOW, ResNet18, _augment, _deterministic, _resolve_device, _threads, prepare_crops,
)

SSL_EPOCHS, SSL_EPOCHS_FAST = 8, 1
SSL_MAX_CROPS, SSL_MAX_CROPS_FAST = 4096, 512
SSL_BATCH = 128
SSL_TEMPERATURE = 0.2
SSL_LR = 3e-3
_CACHE: dict[tuple, tuple[dict, dict]] = {}


def _views(x, gen):
    """A random view of each crop (windowed tensor [n, c, h, w])."""
    import torch

    n, _, h, w = x.shape
    x = _augment(x, gen)
    scale = 0.6 + 0.4 * torch.rand(n, generator=gen)
    tx = (1 - scale) * (2 * torch.rand(n, generator=gen) - 1)
    ty = (1 - scale) * (2 * torch.rand(n, generator=gen) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale, scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = torch.nn.functional.affine_grid(theta, (n, x.shape[1], h, w), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                        align_corners=False)
    half_width = (HU_WINDOW[1] - HU_WINDOW[0]) / 2.0
    shift = (30.0 * torch.rand(n, 1, 1, 1, generator=gen) - 15.0) / half_width
    contrast = 0.85 + 0.3 * torch.rand(n, 1, 1, 1, generator=gen)
    x = x * contrast + shift + 0.05 * torch.randn(x.shape, generator=gen)
    return x.clamp(-1.0, 1.0)


def _nt_xent(z1, z2, temperature: float):
    import torch

    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return torch.nn.functional.cross_entropy(sim, target)


def pretrain_encoder(crops: np.ndarray, *, seed: int = 0, epochs: int = SSL_EPOCHS,
                     max_crops: int = SSL_MAX_CROPS, base_width: int = 8, input_size: int = 32,
                     batch_size: int = SSL_BATCH, device=None) -> tuple[dict, dict]:
    """Contrastive pre-training of the lesion encoder on HU crops ``[n, slices, H, W]``;
    ``(encoder_state_dict, info)`` (``info``: crops used, epochs, loss per epoch, seconds,
    device). Deterministic for the crops and ``seed`` on a CPU."""
    import torch

    arr = np.asarray(crops)
    if arr.ndim != 4 or len(arr) < 4:
        raise ValueError(f"pre-training needs at least 4 crops [n, slices, H, W], got {arr.shape}")
    rng = np.random.default_rng(seed)
    if len(arr) > max_crops:
        arr = arr[np.sort(rng.choice(len(arr), max_crops, replace=False))]
    device = _resolve_device(device)
    x = prepare_crops(arr, input_size, HU_WINDOW)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**31 - 1)))
        encoder = ResNet18(x.shape[1], 1, base_width, input_size)
        width = encoder.fc.in_features
        encoder.fc = torch.nn.Identity()
        head = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(),
                                   torch.nn.Linear(width, 32))
    encoder, head = encoder.to(device), head.to(device)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    params = list(encoder.parameters()) + list(head.parameters())
    optimiser = torch.optim.AdamW(params, lr=SSL_LR, weight_decay=1e-4)
    losses, started = [], time.perf_counter()
    with _threads(device, 1), _deterministic(device):
        for _ in range(int(epochs)):
            encoder.train()
            head.train()
            order = torch.randperm(len(x), generator=gen)
            total, count = 0.0, 0
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                if len(idx) < 4:
                    continue
                v1, v2 = _views(x[idx], gen).to(device), _views(x[idx], gen).to(device)
                optimiser.zero_grad(set_to_none=True)
                loss = _nt_xent(head(encoder(v1)), head(encoder(v2)), SSL_TEMPERATURE)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            losses.append(total / max(count, 1))
    state = {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()}
    info = {"n_crops": int(len(x)), "epochs": int(epochs), "loss": losses,
            "seconds": round(time.perf_counter() - started, 1), "device": str(device),
            "objective": f"SimCLR NT-Xent, temperature {SSL_TEMPERATURE}"}
    return state, info


def store_crops(store) -> np.ndarray | None:
    """Every baseline lesion crop of every cohort in the store (no patient column)."""
    from crlm import store as st

    parts = []
    for cohort in st.list_cohorts(store)["cohort"]:
        found = st.load_lesion_crops(store, str(cohort), time_point=config.BASELINE_CT)
        if found is not None:
            parts.append(found[0])
    if not parts:
        return None
    shape = parts[0].shape[1:]  # one crop geometry (the config's) in every cohort
    return np.concatenate([p for p in parts if p.shape[1:] == shape])


def pretrained_encoder(store, cohort: str, *, seed: int, fast: bool) -> tuple[dict, dict]:
    """``(encoder_state, info)`` of the SSL encoder for a training run (pre-trained once per
    process for the same stored crops, seed and setting)."""
    crops = store_crops(store)
    if crops is None:
        raise ValueError(f"no stored lesion crops to pre-train on (cohort {cohort!r})")
    key = (hashlib.sha256(np.ascontiguousarray(crops).tobytes()).hexdigest(), int(seed),
           bool(fast))
    if key not in _CACHE:
        _CACHE[key] = pretrain_encoder(
            crops, seed=int(seed), epochs=SSL_EPOCHS_FAST if fast else SSL_EPOCHS,
            max_crops=SSL_MAX_CROPS_FAST if fast else SSL_MAX_CROPS)
    return _CACHE[key]
