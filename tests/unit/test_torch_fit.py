"""The shared torch training loop: early stopping, the best epoch's weights, seeding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from crlm.models.torch_fit import FitResult, fit_network, seeded


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.normal(size=(64, 3)), dtype=torch.float32)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.as_tensor(rng.normal(size=64),
                                                                   dtype=torch.float32)
    return x, y


def _weights(net) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


def test_training_stops_after_patience_epochs_without_improvement():
    x, y = _problem()
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    scripted = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.1, 0.05])

    def loss_of(rows):
        return torch.mean((net(x[rows])[:, 0] - y[rows]) ** 2)

    fitted = fit_network(net, opt, loss_of, np.arange(64), max_epochs=7, patience=3,
                         validation=lambda: next(scripted))
    assert isinstance(fitted, FitResult)
    # epoch 2 is best; epochs 3, 4 and 5 do not improve: stop after epoch 5
    assert (fitted.n_epochs, fitted.best_epoch, fitted.best_loss) == (5, 2, 0.5)
    assert [e.validation_loss for e in fitted.history] == [1.0, 0.5, 0.6, 0.7, 0.8]
    assert not net.training


def test_an_improvement_smaller_than_min_delta_does_not_count():
    net = torch.nn.Linear(3, 1)
    x, y = _problem()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    scripted = iter([1.0, 0.99995, 0.99992, 0.5])
    fitted = fit_network(net, opt, lambda r: torch.mean((net(x[r])[:, 0] - y[r]) ** 2),
                         np.arange(64), max_epochs=4, patience=2, min_delta=1e-4,
                         validation=lambda: next(scripted))
    assert (fitted.n_epochs, fitted.best_epoch) == (3, 1)


def test_the_best_epochs_weights_are_restored():
    x, y = _problem()
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    snapshots, scripted = [], iter([3.0, 1.0, 2.0, 2.5, 2.6])

    def validation():
        snapshots.append(_weights(net))
        return next(scripted)

    fitted = fit_network(net, opt, lambda r: torch.mean((net(x[r])[:, 0] - y[r]) ** 2),
                         np.arange(64), max_epochs=5, patience=3, validation=validation)
    assert fitted.best_epoch == 2 and fitted.n_epochs == 5
    assert torch.equal(_weights(net), snapshots[1])
    assert not torch.equal(_weights(net), snapshots[-1])


def test_without_validation_the_training_loss_decides():
    x, y = _problem()
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    fitted = fit_network(net, opt, lambda r: torch.mean((net(x[r])[:, 0] - y[r]) ** 2),
                         np.arange(64), max_epochs=30, patience=3, batch_size=16,
                         generator=torch.Generator().manual_seed(0))
    losses = [e.train_loss for e in fitted.history]
    assert [e.validation_loss for e in fitted.history] == losses
    assert losses[-1] < losses[0] and fitted.best_loss == pytest.approx(min(losses))


def _seeded_fit(seed: int) -> torch.Tensor:
    x, y = _problem()
    with seeded(seed):
        net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.2),
                                  torch.nn.Linear(8, 1))
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        gen = torch.Generator().manual_seed(seed)

        def loss_of(rows):
            return torch.mean((net(x[rows])[:, 0] - y[rows]) ** 2)

        fit_network(net, opt, loss_of, np.arange(48), max_epochs=6, patience=2, batch_size=10,
                    generator=gen, validation=lambda: loss_of(np.arange(48, 64)))
    return _weights(net)


def test_the_same_seed_gives_the_same_fitted_network_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, again, other = _seeded_fit(5), _seeded_fit(5), _seeded_fit(6)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_last_batch_smaller_than_two_rows_is_skipped():
    x, y = _problem()
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    sizes = []

    def loss_of(rows):
        sizes.append(len(rows))
        return torch.mean((net(x[rows])[:, 0] - y[rows]) ** 2)

    fit_network(net, opt, loss_of, np.arange(21), max_epochs=1, patience=1, batch_size=10,
                generator=torch.Generator().manual_seed(0))
    assert sizes == [10, 10]
