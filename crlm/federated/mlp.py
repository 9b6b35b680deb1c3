"""Federated MLP for a binary task by FedAvg / FedProx.

The network is the pooled family's shape (``crlm.models.neural.TorchMLPClassifier``:
hidden layers 32 and 16, ReLU, dropout 0.2 while training) on the consortium's
preprocessing (``site.build_preprocessor``). Its parameters travel as one flat vector
per model (a row of the ``beta`` array of the messages). Each round a site trains
every model it holds from the coordinator's parameters for ``local_epochs`` epochs
(Adam, mini-batches of 32, seeded by run, round and model) on that model's rows and
returns the parameters and its row count; the coordinator averages them weighted by
rows (FedAvg). With ``proximal_mu > 0`` the local loss adds
``mu / 2 * ||w - w_global||^2`` (FedProx). A site with fewer than ``min_cell`` rows
for a model sends nothing for it. Scoring is a numpy forward pass: a registered model
needs no torch.
"""
from __future__ import annotations

import numpy as np

HIDDEN = (32, 16)
DROPOUT = 0.2
LEARNING_RATE = 0.01
WEIGHT_DECAY = 1e-3
BATCH = 32


def shapes(d: int) -> list[tuple[int, ...]]:
    """(weight, bias) shapes of each layer, input ``d`` -> 32 -> 16 -> 1."""
    sizes = [d, *HIDDEN, 1]
    out: list[tuple[int, ...]] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        out += [(b, a), (b,)]
    return out


def n_params(d: int) -> int:
    return int(sum(np.prod(s) for s in shapes(d)))


def unflatten(theta: np.ndarray, d: int) -> list[np.ndarray]:
    out, pos = [], 0
    for s in shapes(d):
        k = int(np.prod(s))
        out.append(np.asarray(theta[pos:pos + k], dtype=float).reshape(s))
        pos += k
    return out


def initial(d: int, models: int, seed: int) -> np.ndarray:
    """The starting parameters (uniform in +-1/sqrt(fan-in), as torch's Linear), one row
    per model; every site starts from the same ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(models):
        parts = []
        for s in shapes(d):
            bound = 1.0 / np.sqrt(s[1] if len(s) == 2 else max(parts[-1].shape[-1], 1))
            parts.append(rng.uniform(-bound, bound, size=s))
        rows.append(np.concatenate([p.ravel() for p in parts]))
    return np.vstack(rows)


def logit(Z: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The network's log-odds for rows ``Z`` (evaluation: no dropout)."""
    params = unflatten(theta, Z.shape[1])
    h = np.asarray(Z, dtype=float)
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        if i + 2 < len(params):
            h = np.maximum(h, 0.0)
    return h[:, 0]


def probability(Z: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logit(Z, theta), -50, 50)))


def local_train(Z: np.ndarray, y: np.ndarray, theta: np.ndarray, *, epochs: int, seed: int,
                proximal_mu: float = 0.0) -> np.ndarray:
    """Parameters after ``epochs`` local epochs from ``theta`` (torch, CPU)."""
    import torch

    torch.manual_seed(int(seed) % (2**31))
    net, linears = network(Z.shape[1], theta)
    anchor = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    X = torch.from_numpy(np.asarray(Z, dtype=float))
    t = torch.from_numpy(np.asarray(y, dtype=float))
    gen = torch.Generator().manual_seed(int(seed) % (2**31))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(int(epochs)):
        order = torch.randperm(len(X), generator=gen)
        for k in range(0, len(X), BATCH):
            idx = order[k:k + BATCH]
            opt.zero_grad()
            loss = loss_fn(net(X[idx])[:, 0], t[idx])
            if proximal_mu > 0:
                loss = loss + 0.5 * proximal_mu * sum(((p - a) ** 2).sum()
                                                      for p, a in zip(net.parameters(), anchor))
            loss.backward()
            opt.step()
    return flat(linears)


def network(d: int, theta: np.ndarray):
    """The torch network (float64) holding parameters ``theta``, and its linear layers."""
    import torch

    layers: list = []
    sizes = [d, *HIDDEN, 1]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(DROPOUT)]
    net = torch.nn.Sequential(*layers).double()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    start = unflatten(theta, d)
    with torch.no_grad():
        for j, lin in enumerate(linears):
            lin.weight.copy_(torch.from_numpy(start[2 * j]))
            lin.bias.copy_(torch.from_numpy(start[2 * j + 1]))
    return net, linears


def flat(linears) -> np.ndarray:
    """The parameters of the linear layers as one flat vector (``unflatten``'s order)."""
    import torch

    with torch.no_grad():
        return np.concatenate([np.concatenate([lin.weight.numpy().ravel(), lin.bias.numpy()])
                               for lin in linears])


def average(thetas: list[np.ndarray], counts: list[np.ndarray], current: np.ndarray) -> np.ndarray:
    """FedAvg: each model's parameters averaged over the sites, weighted by the counts
    they sent (rows; events for DeepSurv); a model no site trained keeps its current
    parameters."""
    total = np.sum(counts, axis=0)
    out = current.copy()
    for m in range(current.shape[0]):
        if total[m] > 0:
            out[m] = sum(th[m] * c[m] for th, c in zip(thetas, counts)) / total[m]
    return out


def answer_fedavg(data, cfg: dict, arrays: dict) -> dict:
    """FedAvg / FedProx: every model trained locally from the coordinator's parameters."""
    from crlm.federated.protocol import message
    from crlm.federated.site import _models, design

    _, X, cts, theta = _models(cfg, arrays, data)
    rnd = int(cfg.get("round", 0))
    out, ns = theta.copy(), np.zeros(len(theta))
    if not data.external:
        y = np.asarray(data.outcome(), float)
        for m in range(len(theta)):
            rows = data.rows_of(m)
            if rows.sum() >= data.spec.min_cell:
                out[m] = local_train(design(cts[m], X[rows]), y[rows], theta[m],
                                    epochs=data.spec.local_epochs,
                                    proximal_mu=data.spec.proximal_mu,
                                    seed=data.spec.seed + 1000 * rnd + m)
                ns[m] = rows.sum()
    return message("fedavg", {"site": data.site}, {"beta": out, "n": ns})


def fedavg_rounds(run, spec, dev, agreed: dict, pre: dict, width: int, log):
    """The coordinator's FedAvg rounds: ``max_rounds`` rounds, or fewer once no parameter
    moves by more than ``tolerance``; returns the parameters and whether they settled."""
    from crlm.federated.coordinator import RoundRecord
    from crlm.federated.protocol import FederatedError

    theta = initial(width, spec.folds + 1, spec.seed)
    for rnd in range(1, spec.max_rounds + 1):
        keys = [k for k in dev if k in run.alive]
        if len(keys) < 2:
            raise FederatedError("fewer than two development sites left; run stopped, nothing stored")
        replies = run.exchange("fedavg", {**agreed, "round": rnd}, {**pre, "beta": theta}, keys=keys)
        if len(replies) < 2:
            raise FederatedError("fewer than two development sites answered; run stopped, "
                                 "nothing stored")
        new = average([np.asarray(r["arrays"]["beta"], float) for r in replies.values()],
                      [np.asarray(r["arrays"]["n"], float) for r in replies.values()], theta)
        step = float(np.max(np.abs(new - theta)))
        rec = run.rounds[-1]
        run.rounds[-1] = RoundRecord(rec.round, rec.kind, rec.sites, rec.seconds,
                                     rec.bytes_by_site, max_step=step)
        theta = new
        log(f"round {rec.round}: {len(replies)} sites, FedAvg step {step:.2e}")
        if step < spec.tolerance:
            return theta, True
    return theta, False
