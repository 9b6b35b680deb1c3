"""Base for the frozen result dataclasses: a JSON-friendly ``to_dict``."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ._dist import norm_sf, z_quantile


def plain(value: Any) -> Any:
    """numpy arrays and scalars to lists and Python numbers (NaN kept as float nan)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return value
    return value


class ResultMixin:
    """``to_dict()`` for frozen result dataclasses: every field, arrays as lists."""

    def to_dict(self) -> dict:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


class TermsMixin:
    """``term_names`` and ``term(name)`` for a regression result with a ``terms`` tuple."""

    @property
    def term_names(self) -> list[str]:
        return [t.name for t in self.terms]

    def term(self, name: str):
        for t in self.terms:
            if t.name == name:
                return t
        raise ValueError(f"no term {name!r} in this model; terms are {self.term_names}")


def covariance_from_information(info: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(covariance, standard errors)``: the inverse information (pseudo-inverse when it
    is singular) and the square roots of its diagonal."""
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(info)
    return cov, np.sqrt(np.clip(np.diag(cov), 0, None))


def wald_terms(term_type: type, names: list[str], coef: np.ndarray, se: np.ndarray,
               conf_level: float) -> list:
    """One ``term_type(name, coef, exp(coef), se, ci_lower, ci_upper, z, p_value)`` per
    coefficient: Wald interval ``exp(coef ± z se)`` and two-sided Wald p-value."""
    q = z_quantile(conf_level)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zstat = coef / se
        return [
            term_type(name, float(coef[k]), float(np.exp(coef[k])), float(se[k]),
                      float(np.exp(coef[k] - q * se[k])), float(np.exp(coef[k] + q * se[k])),
                      float(zstat[k]), float(2 * norm_sf(abs(zstat[k]))))
            for k, name in enumerate(names)
        ]
