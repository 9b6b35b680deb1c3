"""Federated DeepSurv for a survival task by FedAvg / FedProx.

The network is the MLP's shape (``crlm.federated.mlp``: hidden layers 32 and 16, ReLU,
dropout 0.2 while training) with one output, the log relative hazard, as the pooled
``crlm.models.neural.DeepSurv``; its parameters travel as one flat vector per model,
exactly as the MLP's. The loss is the negative Cox partial log-likelihood (Breslow
ties), and its risk sets are those of one site: a site never sees another site's
patients, so a patient's risk set holds only the patients of the same centre. The sum
of the sites' partial log-likelihoods is the log-likelihood of a Cox model stratified
by site (each centre its own baseline hazard, one shared network for the relative
hazard); FedAvg of the sites' local steps, weighted by their events, optimises that
sum. A federated DeepSurv is therefore a site-stratified model, like the federated
Cox model, and its pooled counterpart is the same network trained on the pooled rows
with the partial likelihood stratified by centre (``local_train`` with ``strata``).

The risk sets need all of a site's rows at once: there are no mini-batches. One local
epoch is ``STEPS_PER_EPOCH`` full-batch Adam steps (learning rate and weight decay of
the pooled family). With ``proximal_mu > 0`` the local loss adds
``mu / 2 * ||w - w_global||^2`` (FedProx). A site whose rows for a model hold fewer than
``min_cell`` patients or events sends nothing for that model; the event count it sends
(the FedAvg weight) is a sum over at least ``min_cell`` patients. Scoring is the
numpy forward pass of ``mlp.logit``: a registered model needs no torch.
"""
from __future__ import annotations

import numpy as np

from crlm.federated import mlp

LEARNING_RATE = 0.005
WEIGHT_DECAY = 1e-3
STEPS_PER_EPOCH = 5


def risk(Z: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The network's log relative hazard for rows ``Z`` (higher = earlier events)."""
    return mlp.logit(Z, theta)


def _risk_sets(time: np.ndarray, strata: np.ndarray):
    """Rows ordered by stratum, then time descending; the bounds of each stratum in that
    order; and, for each row, the position of the last row of its risk set (Breslow: the
    rows of its stratum with a time at least its own, ties included)."""
    order = np.lexsort((-time, strata))
    t, s = time[order], strata[order]
    bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
    ends = np.empty(len(t), dtype=np.int64)
    for a, b in zip(bounds[:-1], bounds[1:]):
        neg = -t[a:b]  # ascending within the stratum
        ends[a:b] = a + np.searchsorted(neg, neg, side="right") - 1
    return order, bounds, ends


def partial_likelihood_loss(log_risk, time, event, strata=None):
    """Negative Cox partial log-likelihood (Breslow ties), summed over strata and divided
    by the number of events; ``log_risk`` is a torch vector, the rest numpy."""
    import torch

    time = np.asarray(time, dtype=float)
    if len(time) == 0:
        return log_risk.sum() * 0.0
    strata = (np.zeros(len(time), dtype=np.int64) if strata is None
              else np.unique(np.asarray(strata), return_inverse=True)[1])
    order, bounds, ends = _risk_sets(time, strata)
    r = log_risk[torch.as_tensor(order)]
    e = torch.as_tensor(np.asarray(event, dtype=float)[order], dtype=r.dtype)
    # log of the summed exp(r) over each row's risk set: a cumulative log-sum-exp,
    # restarted at each stratum, read at the risk set's last row
    log_cum = torch.cat([torch.logcumsumexp(r[a:b], dim=0) for a, b in zip(bounds[:-1], bounds[1:])])
    return -((r - log_cum[torch.as_tensor(ends)]) * e).sum() / e.sum().clamp(min=1.0)


def local_train(Z: np.ndarray, time: np.ndarray, event: np.ndarray, theta: np.ndarray, *,
                epochs: int, seed: int, proximal_mu: float = 0.0, strata=None) -> np.ndarray:
    """Parameters after ``epochs`` local epochs (``STEPS_PER_EPOCH`` full-batch steps
    each) from ``theta`` (torch, CPU, one thread). ``strata``: a label per row whose
    partial likelihoods are summed (the pooled, site-stratified counterpart); a site
    trains on its own rows as one stratum."""
    import torch

    torch.manual_seed(int(seed) % (2**31))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net, linears = mlp.network(Z.shape[1], theta)
        anchor = [p.detach().clone() for p in net.parameters()]
        opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        X = torch.from_numpy(np.asarray(Z, dtype=float))
        net.train()
        for _ in range(int(epochs) * STEPS_PER_EPOCH):
            opt.zero_grad()
            loss = partial_likelihood_loss(net(X)[:, 0], time, event, strata)
            if proximal_mu > 0:
                loss = loss + 0.5 * proximal_mu * sum(((p - a) ** 2).sum()
                                                      for p, a in zip(net.parameters(), anchor))
            loss.backward()
            opt.step()
        return mlp.flat(linears)
    finally:
        torch.set_num_threads(threads)


def answer_fedavg(data, cfg: dict, arrays: dict) -> dict:
    """FedAvg / FedProx: every model trained locally on this site's partial likelihood
    from the coordinator's parameters; the weight sent is the model's event count."""
    from crlm.federated.protocol import message
    from crlm.federated.site import _models, design

    _, X, cts, theta = _models(cfg, arrays, data)
    rnd = int(cfg.get("round", 0))
    out, ns = theta.copy(), np.zeros(len(theta))
    if not data.external:
        t, e = (np.asarray(v, dtype=float) for v in data.outcome())
        for m in range(len(theta)):
            rows = data.rows_of(m)
            events = int(e[rows].sum())
            if rows.sum() >= data.spec.min_cell and events >= data.spec.min_cell:
                out[m] = local_train(design(cts[m], X[rows]), t[rows], e[rows], theta[m],
                                     epochs=data.spec.local_epochs,
                                     proximal_mu=data.spec.proximal_mu,
                                     seed=data.spec.seed + 1000 * rnd + m)
                ns[m] = events
    return message("fedavg", {"site": data.site}, {"beta": out, "n": ns})
