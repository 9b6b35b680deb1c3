"""Torch networks written as scikit-learn estimators.

``TorchMLPClassifier`` (binary, cross-entropy) and ``DeepSurv`` (risk score,
negative Cox partial log-likelihood with Breslow ties). Both train full-batch
with Adam, keep the weights of the epoch with the lowest loss on an inner
validation split (stratified on the label / event) and stop after
``patience`` epochs without improvement. Computation is in float64, seeded
from ``random_state`` without touching the global torch RNG; ``device='auto'``
uses CUDA when available, else the CPU. Fitted weights are kept on the CPU so
that a fitted estimator pickles and loads anywhere.
"""
from __future__ import annotations

import contextlib

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from crlm.models.survival import split_target
from crlm.models.torch_fit import fit_network, seeded


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextlib.contextmanager
def _cpu_threads(n: int = 1):
    """Small networks run fastest on one CPU thread (and do not fight other work)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _network(n_in: int, hidden: tuple[int, ...], dropout: float):
    import torch
    from torch import nn

    layers: list = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers).to(torch.float64)


def _cox_loss(log_risk, time, event):
    """Negative Cox partial log-likelihood (Breslow), averaged over events."""
    import torch

    order = torch.argsort(time, descending=True)
    r, e = log_risk[order], event[order]
    log_cum = torch.logcumsumexp(r, dim=0)
    n_events = e.sum().clamp(min=1.0)
    return -((r - log_cum) * e).sum() / n_events


class TorchClassifierMixin(ClassifierMixin):
    """A network's output as the logit of a binary label (probability of class 1),
    trained on binary cross-entropy; mixed into a ``_TorchBase`` estimator."""

    def fit(self, X, y):
        import torch

        y = np.asarray(y).astype(int)
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise ValueError(f"{type(self).__name__} needs both classes in the training labels")
        target = (y == self.classes_[1]).astype(self._dtype)
        loss = torch.nn.BCEWithLogitsLoss()
        return self._train(X, [target], target.astype(int), lambda out, t: loss(out, t))

    def decision_function(self, X) -> np.ndarray:
        return self._forward(X)

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self._forward(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


class _TorchBase(BaseEstimator):
    """Full-batch training of a network with one output per row (``crlm.models.torch_fit``):
    a subclass may override the network (``_build``), the optimiser (``_optimiser``)
    and the float type (``_dtype``)."""

    _dtype = "float64"

    def _build(self, n_features: int):
        return _network(n_features, tuple(self.hidden_layer_sizes), self.dropout)

    def _optimiser(self, parameters):
        import torch

        return torch.optim.Adam(parameters, lr=self.learning_rate, weight_decay=self.weight_decay)

    def _train(self, X, targets, stratum, loss_fn):
        import torch

        X = np.asarray(X, dtype=self._dtype)
        idx = np.arange(X.shape[0])
        strat = stratum if np.unique(stratum).size > 1 and np.bincount(stratum).min() >= 2 else None
        train_idx, val_idx = train_test_split(
            idx, test_size=self.validation_fraction, stratify=strat,
            random_state=int(self.random_state))
        device = _device(self.device)
        with seeded(self.random_state, device), _cpu_threads(1):
            net = self._build(X.shape[1]).to(device)
            opt = self._optimiser(net.parameters())
            xt = torch.as_tensor(X, device=device)
            tt = [torch.as_tensor(np.asarray(t, dtype=self._dtype), device=device)
                  for t in targets]

            def loss_of(rows):
                return loss_fn(net(xt[rows]).reshape(-1), *[t[rows] for t in tt])

            fitted = fit_network(net, opt, loss_of, train_idx, max_epochs=self.max_epochs,
                                 patience=self.patience, validation=lambda: loss_of(val_idx))
        self.network_ = net.cpu().eval()
        self.n_epochs_ = fitted.n_epochs
        self.best_validation_loss_ = fitted.best_loss
        self.n_features_in_ = X.shape[1]
        return self

    def _forward(self, X) -> np.ndarray:
        import torch

        check_is_fitted(self, "network_")
        X = np.asarray(X, dtype=self._dtype)
        with torch.no_grad(), _cpu_threads(1):
            out = self.network_(torch.as_tensor(X)).reshape(-1)
        return out.numpy().astype(float)


class TorchMLPClassifier(TorchClassifierMixin, _TorchBase):
    """A multilayer perceptron for a binary label (probability of class 1)."""

    def __init__(self, hidden_layer_sizes=(32, 16), dropout: float = 0.2,
                 learning_rate: float = 0.01, weight_decay: float = 1e-3,
                 max_epochs: int = 300, patience: int = 25,
                 validation_fraction: float = 0.2, random_state: int = 0,
                 device: str = "auto"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device


class DeepSurv(_TorchBase):
    """A network whose output is the log relative hazard (Faraggi-Simon / DeepSurv)."""

    def __init__(self, hidden_layer_sizes=(32, 16), dropout: float = 0.2,
                 learning_rate: float = 0.005, weight_decay: float = 1e-3,
                 max_epochs: int = 300, patience: int = 25,
                 validation_fraction: float = 0.2, random_state: int = 0,
                 device: str = "auto"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def fit(self, X, y):
        time, event = split_target(y)
        if not event.any():
            raise ValueError("DeepSurv needs at least one event in the training data")
        return self._train(X, [time, event.astype(float)], event.astype(int), _cox_loss)

    def predict(self, X) -> np.ndarray:
        return self._forward(X)
