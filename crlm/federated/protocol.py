"""The messages of a federated run, checked at both ends.

A message is a plain mapping ``{"kind": str, "config": dict, "arrays": {name: ndarray}}``
— the Flower app carries ``config`` as JSON in a ``ConfigRecord`` and ``arrays`` in an
``ArrayRecord``; the in-process transport of the tests passes it as it is. Nothing in a
message names a patient: configs hold the run's settings, column names and centre
labels; arrays hold coefficients and sums over at least ``MIN_CELL`` patients.

Kinds, in the order a run sends them (the coordinator's side is ``coordinator.py``,
the site's ``site.py``):

- ``describe``: the site's inputs for the task and, per model (one per fold and the
  final one), the count, sum and sum of squares of each numeric input;
- ``newton``: gradient, information matrix and log-likelihood at the coefficients sent;
- ``fedavg`` (the networks: MLP, DeepSurv): each model's parameters after local epochs
  from those sent, and the rows (MLP) or events (DeepSurv) they were trained on;
- ``threshold``: count and sum of the out-of-fold risk scores (survival tasks);
- ``cuts``: which cell boundaries of each evaluation table keep its cells safe;
- ``counts``: the evaluation tables on the boundaries every site accepted;
- ``register``: the agreed model and the consortium's metrics, stored by each site.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np

KINDS = ("describe", "newton", "fedavg", "threshold", "cuts", "counts", "register")
FAMILIES = {"logistic": "binary", "cox": "survival", "mlp": "binary", "deepsurv": "survival"}
FEDAVG_FAMILIES = ("mlp", "deepsurv")  # networks: FedAvg rounds, parameters as a flat vector
SKIPPED_FAMILIES = {
    "lasso_logistic": "an L1 penalty has no Newton step; needs proximal federated updates",
    "svm": "kernel models need the support vectors, i.e. patients' rows",
    "random_forest": "tree ensembles split on single patients' values; no federated variant here",
    "gradient_boosting": "tree ensembles split on single patients' values; no federated variant here",
    "knn": "a neighbour is a single patient's row",
    "genomic_rf": "tree ensembles split on single patients' values; no federated variant here",
    "rsf": "tree ensembles split on single patients' values; no federated variant here",
    "gb_survival": "tree ensembles split on single patients' values; no federated variant here",
    "lasso_cox": "an L1 penalty has no Newton step; needs proximal federated updates",
}
MIN_CELL = 5
MAX_ARRAY_VALUES = 5_000_000
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class FederatedError(ValueError):
    """A federated run or message that cannot be used; one line, nothing changed."""


@dataclass(frozen=True)
class RunSpec:
    """What every site needs to take part in one run."""

    run_id: str
    task: str
    family: str
    folds: int = 5
    seed: int = 20240601
    external_site: str = ""
    max_rounds: int = 25
    tolerance: float = 1e-6
    grid_months: tuple[float, ...] = tuple(float(m) for m in range(6, 61, 6))
    roc_bins: int = 16
    calibration_bins: int = 10
    min_cell: int = MIN_CELL
    on_dropout: str = "continue"
    local_epochs: int = 1
    proximal_mu: float = 0.0
    sites: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        check_spec(self)

    @property
    def kind(self) -> str:
        return FAMILIES[self.family]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid_months"] = list(self.grid_months)
        d["sites"] = list(self.sites)
        return d

    @classmethod
    def from_dict(cls, d) -> "RunSpec":
        if not isinstance(d, dict):
            raise FederatedError("run settings must be a mapping")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise FederatedError(f"unknown run settings: {', '.join(unknown)}")
        try:
            d = dict(d)
            if "grid_months" in d:
                d["grid_months"] = tuple(float(x) for x in d["grid_months"])
            if "sites" in d:
                d["sites"] = tuple(str(x) for x in d["sites"])
            return cls(**d)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, FederatedError):
                raise
            raise FederatedError(f"bad run settings: {exc}") from None


def check_spec(spec: RunSpec) -> None:
    from crlm.models.tasks import TASKS

    if not isinstance(spec.run_id, str) or not _NAME.match(spec.run_id):
        raise FederatedError("run id must be 1-64 letters, digits or . _ : -")
    if spec.task not in TASKS:
        raise FederatedError(f"unknown task {spec.task!r}")
    if spec.family not in FAMILIES:
        reason = SKIPPED_FAMILIES.get(spec.family, "unknown family")
        raise FederatedError(f"family {spec.family!r} is not trained federated: {reason}")
    if TASKS[spec.task].kind != FAMILIES[spec.family]:
        raise FederatedError(f"family {spec.family} does not serve task {spec.task}")
    for name, value, lo, hi in (("folds", spec.folds, 2, 20), ("max_rounds", spec.max_rounds, 1, 200),
                                ("roc_bins", spec.roc_bins, 2, 1000),
                                ("calibration_bins", spec.calibration_bins, 2, 100),
                                ("min_cell", spec.min_cell, 1, 1000),
                                ("local_epochs", spec.local_epochs, 1, 100)):
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise FederatedError(f"{name} must be a whole number from {lo} to {hi}")
    if not (isinstance(spec.proximal_mu, (int, float)) and 0 <= spec.proximal_mu <= 100):
        raise FederatedError("proximal_mu must lie between 0 and 100")
    if not (isinstance(spec.tolerance, float) and 0 < spec.tolerance < 1):
        raise FederatedError("tolerance must lie between 0 and 1")
    g = spec.grid_months
    if not g or any(not math.isfinite(x) or x <= 0 for x in g) or list(g) != sorted(set(g)):
        raise FederatedError("grid_months must be increasing positive months")
    if spec.on_dropout not in ("continue", "stop"):
        raise FederatedError("on_dropout must be 'continue' or 'stop'")
    for s in (*spec.sites, *([spec.external_site] if spec.external_site else [])):
        if not _NAME.match(s):
            raise FederatedError(f"site name {s!r}: 1-64 letters, digits or . _ : -")


def message(kind: str, config: dict | None = None, arrays: dict | None = None) -> dict:
    return {"kind": kind, "config": dict(config or {}), "arrays": dict(arrays or {})}


def check_message(msg, *, expect: str | None = None) -> tuple[str, dict, dict]:
    """(kind, config, arrays) of a well-formed message, or ``FederatedError``."""
    if not isinstance(msg, dict) or set(msg) != {"kind", "config", "arrays"}:
        raise FederatedError("malformed message: needs exactly kind, config and arrays")
    kind, config, arrays = msg["kind"], msg["config"], msg["arrays"]
    if kind not in KINDS and kind != "error":
        raise FederatedError(f"malformed message: unknown kind {str(kind)[:40]!r}")
    if expect is not None and kind != expect:
        raise FederatedError(f"expected a {expect!r} message, got {kind!r}")
    if not isinstance(config, dict) or not isinstance(arrays, dict):
        raise FederatedError("malformed message: config and arrays must be mappings")
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError):
        raise FederatedError("malformed message: config is not plain finite JSON") from None
    total = 0
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise FederatedError("malformed message: bad array name")
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
            raise FederatedError(f"malformed message: array {name} is not numeric")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise FederatedError(f"malformed message: array {name} holds NaN or infinity")
        total += value.size
    if total > MAX_ARRAY_VALUES:
        raise FederatedError("malformed message: arrays too large")
    return kind, config, arrays


def array(arrays: dict, name: str, shape: tuple | None = None) -> np.ndarray:
    """A named array of a message, of the shape expected (``None`` entries: any)."""
    if name not in arrays:
        raise FederatedError(f"malformed message: array {name} missing")
    a = np.asarray(arrays[name], dtype=float)
    if shape is not None and (a.ndim != len(shape)
                              or any(s is not None and s != n for s, n in zip(shape, a.shape))):
        raise FederatedError(f"malformed message: array {name} has shape {a.shape}, expected {shape}")
    return a


def message_bytes(msg: dict) -> int:
    """What a message weighs on the wire, roughly: its arrays and its JSON config."""
    return int(sum(np.asarray(a).nbytes for a in msg["arrays"].values())
               + len(json.dumps(msg["config"]).encode()))


def message_summary(msg: dict) -> dict:
    """For the audit log: kind, array names and shapes, config keys, bytes (no values)."""
    return {"kind": msg["kind"], "bytes": message_bytes(msg),
            "arrays": {k: list(np.asarray(v).shape) for k, v in msg["arrays"].items()},
            "config_keys": sorted(msg["config"])}
