"""The validated form of a mapping file (:class:`Mapping`) and the unit, token and header
rules it is read with; :mod:`crlm.ingest.mapping` loads and checks the files."""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from crlm.config import COLUMNS_BY_NAME, NO_TOKENS, YES_TOKENS

DAYS_PER_MONTH = 30.4375

# contract unit -> {source unit name: factor that turns a source value into the contract unit}
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "cm": {"cm": 1.0, "mm": 0.1},
    "months": {"months": 1.0, "days": 1.0 / DAYS_PER_MONTH, "weeks": 7.0 / DAYS_PER_MONTH,
               "years": 12.0},
    "years": {"years": 1.0},
    "ng/mL": {"ng/mL": 1.0, "ug/L": 1.0, "µg/L": 1.0},
}
UNIT_ALIASES = {"mo": "months", "month": "months", "day": "days", "d": "days", "week": "weeks",
                "wk": "weeks", "year": "years", "y": "years", "yr": "years", "ng/ml": "ng/mL",
                "ug/l": "ug/L", "µg/l": "µg/L", "millimetres": "mm", "millimeters": "mm",
                "centimetres": "cm", "centimeters": "cm"}

TRUE_TOKENS = YES_TOKENS    # the contract's one set of yes / no spellings
FALSE_TOKENS = NO_TOKENS
DEFAULT_MISSING = ("", "na", "n/a", "#n/a", "nan", "nat", "null", "<na>")

_HEADER_RE = re.compile(r"[\s\-_]+")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file, key and value."""


def normalise_header(name: Any) -> str:
    """Header as compared everywhere: lower case, runs of spaces / ``-`` / ``_`` -> one ``_``."""
    return _HEADER_RE.sub("_", str(name).strip().lower()).strip("_")


def value_token(value: Any) -> str:
    """A cell or code as a comparable string: ``1``, ``1.0`` and ``"1"`` all give ``"1"``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.lower()
    if math.isfinite(number) and number == int(number) and abs(number) < 1e15 and (
            "." in text or "e" in text.lower() or text.lstrip("+-").isdigit()):
        return str(int(number))
    return text.lower()


@dataclass(frozen=True)
class Proxy:
    """Stand-in numeric values for a contract column, used only to compute named scores."""

    source: str
    values: dict[str, float]

    def to_dict(self) -> dict:
        return {"source": self.source, "values": dict(self.values)}


@dataclass(frozen=True)
class ExtraInfo:
    """How an extra column is named and typed: label, unit, and for a categorical one its
    levels (source value tokens, in order) with the level names shown (``labels``)."""

    label: str = ""
    unit: str = ""
    levels: tuple[str, ...] = ()             # value_token of each source value, in order
    labels: dict[str, str] = field(default_factory=dict)   # source token -> level shown

    @property
    def categorical(self) -> bool:
        return bool(self.levels)

    def level_names(self) -> tuple[str, ...]:
        return tuple(self.labels.get(t, t) for t in self.levels)

    def to_dict(self) -> dict:
        return {"label": self.label, "unit": self.unit, "levels": list(self.levels),
                "labels": dict(self.labels)}


MAX_EXTRA_LEVELS = 20   # a categorical extra column with more distinct values is refused


@dataclass(frozen=True)
class Mapping:
    """A validated mapping; keys of ``columns``, ``extra``, ``drop``, ``detect`` are normalised."""

    name: str
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    column_missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    known_at: dict[str, str] = field(default_factory=dict)
    extra_info: dict[str, ExtraInfo] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    unavailable: tuple[str, ...] = ()
    proxies: dict[str, Proxy] = field(default_factory=dict)
    proxy_scores: tuple[str, ...] = ()
    compare: dict[str, str] = field(default_factory=dict)
    detect: tuple[str, ...] = ()
    source: str = ""

    def unit_factor(self, column: str) -> float:
        """Factor turning a source value of ``column`` into the contract unit (1 if none)."""
        unit = self.units.get(column)
        if unit is None:
            return 1.0
        return UNIT_FACTORS[COLUMNS_BY_NAME[column].unit][unit]

    def missing_tokens(self, column: str) -> frozenset[str]:
        return frozenset(DEFAULT_MISSING) | frozenset(self.missing) | frozenset(
            self.column_missing.get(column, ()))

    def matches(self, headers) -> bool:
        """True when every ``detect`` header is among ``headers`` (normalised)."""
        if not self.detect:
            return False
        have = {normalise_header(h) for h in headers}
        return set(self.detect) <= have

    def to_dict(self) -> dict:
        out = asdict(self)
        out["proxies"] = {k: v.to_dict() for k, v in self.proxies.items()}
        out["extra_info"] = {k: v.to_dict() for k, v in self.extra_info.items()}
        return out
