"""The coordinator's side of a federated run, independent of the transport.

``run_consortium(transport, spec)`` drives the messages of ``protocol.py``:
describe → Newton rounds until the largest step is below ``spec.tolerance`` (or
``max_rounds``) → (survival) threshold → cuts → counts → register. ``transport`` has
one method, ``exchange(requests) -> replies``: requests and replies are mappings from
a site key to a message; a site that does not answer in time is missing from the
replies (or maps to ``None``). The Flower ServerApp (``flower_app``) is one
transport; ``LocalTransport`` calls the sites in this process (tests, benchmarks).

A site that drops out or answers with an error is left out of every later step when
``spec.on_dropout == "continue"`` (the remaining sites finish the run; at least two
development sites must stay), and stops the run with ``FederatedError`` when it is
``"stop"``. Nothing is written to any store before the last step, ``register``, in
which each site stores the model in one transaction.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from crlm.federated.protocol import (
    FEDAVG_FAMILIES, FederatedError, RunSpec, check_message, message, message_bytes,
)
from crlm.stats import federated as fs


@dataclass(frozen=True)
class RoundRecord:
    round: int
    kind: str
    sites: tuple[str, ...]
    seconds: float
    bytes_by_site: dict
    loglik: float | None = None
    max_step: float | None = None

    def to_dict(self) -> dict:
        return {"round": self.round, "kind": self.kind, "sites": list(self.sites),
                "seconds": self.seconds, "bytes_by_site": dict(self.bytes_by_site),
                "loglik": self.loglik, "max_step": self.max_step}


@dataclass(frozen=True)
class ConsortiumResult:
    """What a run produced: the agreed model, the consortium's metrics, the rounds."""

    spec: RunSpec
    sites: tuple[str, ...]
    dropped: tuple[str, ...]
    columns: tuple[str, ...]
    beta: np.ndarray
    metrics: dict
    rounds: tuple[RoundRecord, ...]
    registered: dict = field(default_factory=dict)
    converged: bool = True

    def to_dict(self) -> dict:
        return {"run_id": self.spec.run_id, "spec": self.spec.to_dict(), "sites": list(self.sites),
                "dropped": list(self.dropped), "columns": list(self.columns),
                "converged": self.converged, "metrics": self.metrics,
                "rounds": [r.to_dict() for r in self.rounds], "registered": self.registered}


class LocalTransport:
    """Sites answered in this process: ``{site: (store_path, cohort)}``."""

    def __init__(self, sites: dict):
        self.sites = dict(sites)

    def keys(self) -> list[str]:
        return list(self.sites)

    def exchange(self, requests: dict) -> dict:
        from crlm.federated.site import handle

        return {k: handle(self.sites[k][0], self.sites[k][1], k, msg) for k, msg in requests.items()}


class _Run:
    def __init__(self, transport, spec: RunSpec, keys, log):
        self.t, self.spec, self.log = transport, spec, log
        self.alive = list(keys)
        self.name: dict = {}
        self.dropped: list[str] = []
        self.problems: list[str] = []
        self.rounds: list[RoundRecord] = []

    def exchange(self, kind: str, config: dict, arrays: dict, *, keys=None, extra=None,
                 **record) -> dict:
        keys = list(self.alive if keys is None else keys)
        cfg = {"spec": self.spec.to_dict(), **config}
        requests = {k: message(kind, cfg, {**arrays, **((extra or {}).get(k, {}))}) for k in keys}
        start = time.perf_counter()
        replies = self.t.exchange(requests)
        seconds = time.perf_counter() - start
        good, sent = {}, {}
        for k in keys:
            reply = replies.get(k)
            label = self.name.get(k, str(k))
            problem = None
            if reply is None:
                problem = "did not answer (dropped out)"
            else:
                try:
                    rk, rcfg, _ = check_message(reply)
                    if rk == "error":
                        problem = str(rcfg.get("error", "error"))[:300]
                    elif rk != kind:
                        problem = f"answered {rk!r} to {kind!r}"
                except FederatedError as exc:
                    problem = str(exc)
            if problem is None:
                if k not in self.name and isinstance(reply["config"].get("site"), str):
                    self.name[k] = label = reply["config"]["site"]
                good[k] = reply
                sent[label] = message_bytes(reply)
                continue
            if self.spec.on_dropout == "stop":
                raise FederatedError(f"site {label}: {problem}; run {self.spec.run_id} stopped, "
                                     "nothing was stored")
            self.log(f"site {label}: {problem}; continuing without it")
            self.problems.append(f"site {label}: {problem}")
            self.dropped.append(label)
            if k in self.alive:
                self.alive.remove(k)
        self.rounds.append(RoundRecord(len(self.rounds) + 1, kind,
                                       tuple(self.name.get(k, str(k)) for k in good), round(seconds, 3),
                                       sent, **record))
        return good


def _newton_step(spec, replies, beta, n_total, penalised):
    K1, d = beta.shape
    g = sum(fs_arr(r, "gradient") for r in replies.values())
    h = sum(fs_arr(r, "information") for r in replies.values())
    ll = sum(fs_arr(r, "loglik") for r in replies.values())
    new = np.empty_like(beta)
    for m in range(K1):
        lam = (1 / 0.5) if spec.kind == "binary" else 0.1 * n_total[m]
        P = np.diag(penalised) * lam
        grad = g[m] - P @ beta[m]
        info = h[m] + P
        new[m] = beta[m] + np.linalg.solve(info, grad)
    pen = [0.5 * (1 / 0.5 if spec.kind == "binary" else 0.1 * n_total[m])
           * float(beta[m][penalised] @ beta[m][penalised]) for m in range(K1)]
    return new, float(ll[-1] - pen[-1]), h


def fs_arr(reply, name):
    return np.asarray(reply["arrays"][name], dtype=float)


def run_consortium(transport, spec: RunSpec, *, keys=None, log=print) -> ConsortiumResult:
    """Train, evaluate and register one federated model across the transport's sites."""
    run = _Run(transport, spec, keys if keys is not None else transport.keys(), log)
    K1 = spec.folds + 1
    # 1. describe: inputs and moments
    replies = run.exchange("describe", {}, {})
    for k, r in replies.items():
        run.name[k] = str(r["config"]["site"])
    dev = [k for k, r in replies.items() if not r["config"].get("external")]
    ext = [k for k, r in replies.items() if r["config"].get("external")]
    if len(dev) < 2:
        why = f" ({'; '.join(run.problems[:3])})" if run.problems else ""
        raise FederatedError(f"a federated run needs at least two development sites{why}")
    columns = sorted(set.intersection(*(set(replies[k]["config"]["columns"]) for k in replies)),
                     key=replies[dev[0]]["config"]["columns"].index)
    if not columns:
        raise FederatedError("the sites share no input for this task")
    from crlm.models.inputs import split_columns
    from crlm.federated.site import levels_of
    numeric, categorical = split_columns(columns)
    mom = np.zeros((K1, len(numeric), 3))
    n_total = np.zeros(K1)
    for k in dev:
        site_num = replies[k]["config"]["numeric"]
        idx = [site_num.index(c) for c in numeric]
        mom += fs_arr(replies[k], "moments")[:, idx, :]
        n_total += fs_arr(replies[k], "n_rows")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mom[..., 0] > 0, mom[..., 1] / mom[..., 0], 0.0)
        var = np.where(n_total[:, None] > 0,
                       (mom[..., 2] - mom[..., 0] * mean ** 2) / n_total[:, None], 0.0)
    scale = np.where(var > 1e-12, np.sqrt(np.clip(var, 0, None)), 1.0)
    width = len(numeric) + sum(len(v) for v in levels_of(categorical).values())
    binary = spec.kind == "binary"
    d = width + (1 if binary else 0)
    penalised = np.ones(d, dtype=bool)
    if binary:
        penalised[0] = False
    beta = np.zeros((K1, d))
    agreed = {"columns": columns}
    pre = {"mean": mean, "scale": scale}
    # 2. Newton rounds (FedAvg rounds for the MLP)
    converged = False
    if spec.family in FEDAVG_FAMILIES:
        from crlm.federated import mlp

        beta, converged = mlp.fedavg_rounds(run, spec, dev, agreed, pre, width, log)
        info = [None]
    for _ in range(spec.max_rounds if spec.family not in FEDAVG_FAMILIES else 0):
        keys_dev = [k for k in dev if k in run.alive]
        if len(keys_dev) < 2:
            raise FederatedError("fewer than two development sites left; run stopped, nothing stored")
        replies = run.exchange("newton", agreed, {**pre, "beta": beta}, keys=keys_dev)
        if len(replies) < 2:
            raise FederatedError("fewer than two development sites answered; run stopped, nothing stored")
        n_now = sum(fs_arr(r, "n") for r in replies.values())
        new, loglik, info = _newton_step(spec, replies, beta, n_now, penalised)
        step = float(np.max(np.abs(new - beta)))
        rec = run.rounds[-1]
        run.rounds[-1] = RoundRecord(rec.round, rec.kind, rec.sites, rec.seconds, rec.bytes_by_site,
                                     loglik=round(loglik, 6), max_step=step)
        beta = new
        log(f"round {rec.round}: {len(replies)} sites, log-likelihood {loglik:.4f}, step {step:.2e}")
        if step < spec.tolerance:
            converged = True
            break
    final_info = info[-1]
    dev = [k for k in dev if k in run.alive]
    # 3. threshold (survival: mean out-of-fold risk score)
    everyone = [k for k in run.alive]
    threshold = None
    if not binary:
        replies = run.exchange("threshold", agreed, {**pre, "beta": beta}, keys=everyone)
        n = sum(fs_arr(r, "n")[0] for r in replies.values())
        threshold = float(sum(fs_arr(r, "sum")[0] for r in replies.values()) / max(n, 1))
    evalcfg = {**agreed, "threshold": threshold if threshold is not None else 0.0}
    # 4. cuts: boundaries every site accepts
    replies = run.exchange("cuts", evalcfg, {**pre, "beta": beta}, keys=[k for k in run.alive])
    cuts: dict[str, np.ndarray] = {}
    for r in replies.values():
        for name, c in r["arrays"].items():
            c = np.asarray(c, dtype=bool)
            cuts[name] = c if name not in cuts else (cuts[name] & c)
    # 5. counts
    extra = {}
    for k in run.alive:
        extra[k] = {n: c.astype(np.int8) for n, c in cuts.items()
                    if n.endswith("_external" if k in ext else "_oof")}
    replies = run.exchange("counts", evalcfg, {**pre, "beta": beta}, keys=list(run.alive), extra=extra)
    metrics = evaluate(spec, replies, cuts, [run.name[k] for k in dev], columns, beta, final_info,
                       threshold, numeric, categorical)
    sites = tuple(run.name[k] for k in run.alive)
    metrics["federated"] = {
        "run_id": spec.run_id, "engine": "flower", "sites": list(sites),
        "development_sites": [run.name[k] for k in dev if k in run.alive],
        "external_site": next((run.name[k] for k in ext if k in run.alive), None),
        "dropped": sorted(set(run.dropped)), "n_training": int(n_total[-1]),
        "rounds": [r.to_dict() for r in run.rounds], "newton_rounds":
        sum(1 for r in run.rounds if r.kind in ("newton", "fedavg")), "converged": converged,
        "suppressed": metrics.pop("suppressed")}
    metrics["federated"]["rounds"].append({"round": len(run.rounds) + 1, "kind": "register",
                                           "sites": list(sites)})
    # 6. register in every remaining site's store
    registered = {}
    replies = run.exchange("register", {**evalcfg, "metrics": _plain(metrics)},
                           {**pre, "beta": beta}, keys=list(run.alive))
    for k, r in replies.items():
        registered[run.name[k]] = {"model_id": r["config"]["model_id"], "version": r["config"]["version"]}
    return ConsortiumResult(spec=spec, sites=sites, dropped=tuple(sorted(set(run.dropped))),
                            columns=tuple(columns), beta=beta, metrics=metrics,
                            rounds=tuple(run.rounds), registered=registered, converged=converged)


def _plain(x):
    """Plain JSON values; NaN and infinities (undefined numbers) become null."""
    import math

    from crlm.stats._result import plain

    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(w) for k, w in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(w) for w in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v
    return clean(plain(x))


def _sum_tables(replies, name):
    got = [fs_arr(r, name) for r in replies.values() if name in r["arrays"]]
    return (sum(got), len(got)) if got else (None, 0)


def evaluate(spec, replies, cuts, dev_names, columns, beta, info, threshold, numeric,
             categorical) -> dict:
    """The consortium's metrics from the summed tables (``crlm.stats.federated``)."""
    binary = spec.kind == "binary"
    out: dict = {"threshold": threshold, "suppressed": {}}
    for r in replies.values():
        if r["config"].get("suppressed"):
            out["suppressed"][r["config"]["site"]] = r["config"]["suppressed"]
    for split, key in (("oof", "out_of_fold"), ("external", "external")):
        m: dict = {"n": 0}
        if binary:
            table, n_sites = _sum_tables(replies, f"roc_{split}")
            if table is not None:
                res = fs.roc_from_histograms(table[:, 0], table[:, 1])
                m = {"n": int(res.n), "n_sites": n_sites, "auc": res.auc,
                     "auc_ci_lower": res.auc_ci[0], "auc_ci_upper": res.auc_ci[1],
                     "auc_rule": "from summed score histograms on agreed bins (ties within a bin count half)"}
                from crlm.federated.site import roc_edges
                edges = 1 / (1 + np.exp(-fs.merged_edges(roc_edges(spec), cuts[f"cuts_roc_{split}"])))
                # Youden threshold on the bin edges: a patient is positive above the edge
                tpr = 1 - np.cumsum(table[:, 0]) / table[:, 0].sum()
                fpr = 1 - np.cumsum(table[:, 1]) / table[:, 1].sum()
                j = int(np.argmax(tpr - fpr))
                m.update({"youden_threshold": float(edges[j + 1]), "sensitivity": float(tpr[j]),
                          "specificity": float(1 - fpr[j])})
                if key == "out_of_fold":
                    out["threshold"] = float(edges[j + 1])
            cal, _ = _sum_tables(replies, f"cal_{split}")
            csum, _ = _sum_tables(replies, f"calsum_{split}")
            if cal is not None and csum is not None:
                cedges = fs.merged_edges(np.linspace(0, 1, spec.calibration_bins + 1),
                                         cuts[f"cuts_cal_{split}"])
                c = fs.calibration_from_bins(cedges, cal[:, 0], cal[:, 1], csum)
                m["calibration"] = c.to_dict()
                m["brier_bins"] = None
        else:
            table, n_sites = _sum_tables(replies, f"km_{split}")
            beyond, _ = _sum_tables(replies, f"beyond_{split}")
            if table is not None:
                grid = np.asarray(spec.grid_months)
                keep = np.concatenate([cuts[f"cuts_km_{split}"], [True]])
                g = grid[keep]
                by = beyond[0] if beyond is not None else np.zeros(2)
                ev_lo, ce_lo, ev_hi, ce_hi = (table[:, i] for i in range(4))  # merged by the sites
                km_all = fs.km_from_counts(g, ev_lo + ev_hi, ce_lo + ce_hi, int(by.sum()))
                km_lo = fs.km_from_counts(g, ev_lo, ce_lo, int(by[0]))
                km_hi = fs.km_from_counts(g, ev_hi, ce_hi, int(by[1]))
                lr = None
                if (ev_lo + ce_lo).sum() + by[0] > 0 and (ev_hi + ce_hi).sum() + by[1] > 0:
                    lr = fs.logrank_from_counts(g, [ev_lo, ev_hi], [ce_lo, ce_hi], by)
                m = {"n": int(km_all.n), "n_sites": n_sites, "grid_months": g.tolist(),
                     "km_all": km_all.survival_at(g).to_dict(),
                     "km_low_risk": km_lo.survival_at(g).to_dict(),
                     "km_high_risk": km_hi.survival_at(g).to_dict(),
                     "logrank_p": None if lr is None else lr.p_value,
                     "logrank_statistic": None if lr is None else lr.statistic}
            cs = [fs_arr(r, "c_index") for r in replies.values()
                  if "c_index" in r["arrays"] and (r["config"]["site"] in dev_names) == (split == "oof")]
            if cs:
                w = np.array([c[1] for c in cs])
                m["c_index"] = float(np.sum([c[0] for c in cs] * w) / w.sum())
                m["c_index_rule"] = "mean of the sites' Harrell C, weighted by patients"
        out[key] = m
    if not binary and info is not None:  # Cox: Wald hazard ratios; a network has none
        from crlm.federated.site import levels_of
        names = list(numeric) + [f"{c}={lv}" for c, lvs in levels_of(categorical).items() for lv in lvs]
        terms = fs.wald_hazard_ratios(beta[-1], info, names)  # unpenalised information
        out["hazard_ratios"] = [t.to_dict() for t in terms]
    if not binary:
        out["threshold_rule"] = "mean out-of-fold risk score (federated)"
    else:
        out["threshold_rule"] = "Youden J on the federated out-of-fold score histogram"
    return out
