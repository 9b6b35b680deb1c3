"""One training loop for every torch network of the zoo.

``fit_network`` runs epochs of optimiser steps over the training rows — all of them at
once (full batch), or in mini-batches in an order drawn from ``generator`` — computes
the validation loss after every epoch (network in eval mode, no gradients), stops after
``patience`` epochs without an improvement of more than ``min_delta`` and restores the
weights of the best epoch. The network is left in eval mode.

What differs between networks stays with the caller: ``loss_of(rows)`` gives the loss of
a batch of training rows (augmentation, device moves and the loss function inside), and
``validation()`` the validation loss. ``seeded`` forks torch's generators and seeds
them, so that a fit is reproducible without touching the caller's random state.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class EpochLoss:
    """One epoch (counted from 1): the mean training loss over its batches and the
    validation loss after it."""

    epoch: int
    train_loss: float
    validation_loss: float


@dataclass(frozen=True)
class FitResult:
    """How a fit went: epochs run, the best epoch (0 if none improved) and its
    validation loss, and every epoch's losses."""

    n_epochs: int
    best_epoch: int
    best_loss: float
    history: tuple[EpochLoss, ...] = ()

    def history_dicts(self) -> list[dict]:
        return [asdict(e) for e in self.history]


@contextlib.contextmanager
def seeded(seed: int, device=None):
    """torch's generators (CPU, and ``device`` when it is a GPU) forked and seeded with
    ``seed``; the caller's generator state is back as it was afterwards."""
    import torch

    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def _step(network, optimiser, loss_of, rows) -> float:
    optimiser.zero_grad(set_to_none=True)
    loss = loss_of(rows)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def _epoch(network, optimiser, loss_of, rows, batch_size, generator, smallest_batch) -> float:
    """One pass over ``rows``; the mean training loss (weighted by batch size)."""
    import torch

    network.train()
    if batch_size is None:
        return _step(network, optimiser, loss_of, rows)
    order = rows[torch.randperm(len(rows), generator=generator).numpy()]
    total, count = 0.0, 0
    for start in range(0, len(order), int(batch_size)):
        batch = order[start:start + int(batch_size)]
        if len(batch) < smallest_batch:
            continue
        total += _step(network, optimiser, loss_of, batch) * len(batch)
        count += len(batch)
    return total / max(count, 1)


def fit_network(network, optimiser, loss_of: Callable, rows, *, max_epochs: int,
                patience: int, validation: Callable[[], float] | None = None,
                batch_size: int | None = None, generator=None, min_delta: float = 1e-6,
                smallest_batch: int = 2) -> FitResult:
    """Train ``network`` with early stopping on the validation loss; see the module doc.

    ``rows``: the training rows (an integer array handed, whole or in batches, to
    ``loss_of``). ``batch_size=None``: one full-batch step per epoch; otherwise shuffled
    mini-batches (``generator`` draws the order; a last batch smaller than
    ``smallest_batch`` is skipped). ``validation=None``: the epoch's training loss
    stands in for the validation loss.
    """
    import torch

    rows = np.asarray(rows)
    best, best_epoch, best_state, stale = math.inf, 0, None, 0
    history: list[EpochLoss] = []
    for epoch in range(1, int(max_epochs) + 1):
        train_loss = _epoch(network, optimiser, loss_of, rows, batch_size, generator,
                            smallest_batch)
        if validation is None:
            loss = train_loss
        else:
            network.eval()
            with torch.no_grad():
                loss = float(validation())
        history.append(EpochLoss(epoch, train_loss, loss))
        if loss < best - min_delta:
            best, best_epoch, stale = loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return FitResult(n_epochs=len(history), best_epoch=best_epoch, best_loss=float(best),
                     history=tuple(history))
