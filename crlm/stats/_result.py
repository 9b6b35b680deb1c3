"""Base for the frozen result dataclasses: a JSON-friendly ``to_dict``."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


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
