"""A tabular Transformer in torch, FT-Transformer style (Gorishniy et al. 2021), for the
attention-based tabular models of the review (Saber et al.'s TabNet, §4.2).

Every preprocessed input column j becomes a token ``x_j · W_j + b_j`` (its own
``d_token``-wide embedding); a learned [CLS] token is prepended; ``n_layers``
pre-norm Transformer encoder layers attend over the tokens; the [CLS] output,
normalised, gives the logit. One-hot levels are tokens like numbers (the shared
preprocessing has already turned categories into 0/1 columns).

Training as the other torch networks (``crlm.models.torch_fit``): full batch, AdamW,
the weights of the epoch with the lowest loss on an inner stratified validation
split (20 %), early stopping after ``patience`` epochs, seeded from
``random_state`` without touching torch's global generator, one CPU thread. It
computes in float32 (attention in float64 buys nothing here) and returns float64.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from crlm.models.neural import TorchClassifierMixin, _TorchBase


class FTTransformer(nn.Module):
    """Feature tokens + [CLS] → pre-norm Transformer encoder → logit (module level, so that
    a fitted model pickles)."""

    def __init__(self, n_features: int, d_token: int, n_heads: int, n_layers: int,
                 dropout: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, d_token) / np.sqrt(d_token))
        self.bias = nn.Parameter(torch.zeros(n_features, d_token))
        self.cls = nn.Parameter(torch.randn(1, 1, d_token) / np.sqrt(d_token))
        layer = nn.TransformerEncoderLayer(
            d_model=d_token, nhead=n_heads, dim_feedforward=2 * d_token, dropout=dropout,
            batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=n_layers,
                                             enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_token)
        self.head = nn.Linear(d_token, 1)

    def forward(self, x):
        tokens = x.unsqueeze(-1) * self.weight + self.bias          # (n, features, d)
        cls = self.cls.expand(x.shape[0], -1, -1)
        out = self.encoder(torch.cat([cls, tokens], dim=1))
        return self.head(torch.relu(self.norm(out[:, 0]))).squeeze(-1)


def _network(n_features: int, d_token: int, n_heads: int, n_layers: int, dropout: float):
    return FTTransformer(n_features, d_token, n_heads, n_layers, dropout)


class FTTransformerClassifier(TorchClassifierMixin, _TorchBase):
    """Feature-token Transformer for a binary label (probability of class 1)."""

    _dtype = "float32"

    def __init__(self, d_token: int = 8, n_heads: int = 2, n_layers: int = 1,
                 dropout: float = 0.0, learning_rate: float = 0.003, weight_decay: float = 1e-3,
                 max_epochs: int = 200, patience: int = 25, validation_fraction: float = 0.2,
                 random_state: int = 0, device: str = "cpu"):
        self.d_token = d_token
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def _build(self, n_features: int):
        return _network(n_features, int(self.d_token), int(self.n_heads), int(self.n_layers),
                        float(self.dropout))

    def _optimiser(self, parameters):
        return torch.optim.AdamW(parameters, lr=self.learning_rate,
                                 weight_decay=self.weight_decay)

    def card_details(self, names) -> dict:
        return {"architecture": (f"{self.n_layers} pre-norm encoder layers, {self.n_heads} heads, "
                                 f"token width {self.d_token}, {len(names)} feature tokens + [CLS]"),
                "epochs trained": str(self.n_epochs_)}
