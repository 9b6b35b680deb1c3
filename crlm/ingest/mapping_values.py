"""Checks of the values in a mapping document: tables and lists, headers, contract
columns, source codes and the contract values they map to, ``extra_info`` entries. Each
raises :class:`MappingError` naming the file, key and value."""
from __future__ import annotations

import math
from typing import Any

from crlm.config import COLUMNS_BY_NAME, Column
from crlm.ingest.mapping_model import (
    FALSE_TOKENS,
    MAX_EXTRA_LEVELS,
    TRUE_TOKENS,
    ExtraInfo,
    MappingError,
    normalise_header,
    value_token,
)


def table_of(raw: dict, key: str, where: str) -> dict:
    value = raw.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"{where}: {key!r} must be a table, got {type(value).__name__}")
    return value


def list_of(raw: dict, key: str, where: str) -> list:
    value = raw.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise MappingError(f"{where}: {key!r} must be a list, got {type(value).__name__}")
    return value


def header_key(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MappingError(f"{where}: a column header must be text, got {value!r}")
    key = normalise_header(value)
    if not key:
        raise MappingError(f"{where}: empty column header {value!r}")
    return key


def contract_column(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in COLUMNS_BY_NAME:
        raise MappingError(f"{where}: {value!r} is not a column of the patients contract "
                           "(see crlm.config.PATIENT_COLUMNS)")
    return value


def derived_column(value: Any, where: str) -> str:
    target = contract_column(value, where)
    if not COLUMNS_BY_NAME[target].derived:
        raise MappingError(f"{where}: {target!r} is not a derived score")
    return target


def code_key(value: Any, where: str) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise MappingError(f"{where}: a source value must be text or a number, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not is_finite(value):
        raise MappingError(f"{where}: a source value must be finite, got {value!r}")
    return value_token(value)


def parse_extra_info(spec: Any, where: str) -> ExtraInfo:
    """An ``extra_info`` entry: ``{label, unit, levels, labels}``, every key optional."""
    if not isinstance(spec, dict):
        raise MappingError(f"{where} must be a table with label, unit, levels, labels")
    unknown = [str(k) for k in spec if k not in ("label", "unit", "levels", "labels")]
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                           "allowed: label, unit, levels, labels")
    texts = {}
    for key in ("label", "unit"):
        value = spec.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > 80:
            raise MappingError(f"{where}: {key} must be text of at most 80 characters, "
                               f"got {value!r}")
        texts[key] = value.strip()
    raw_levels = spec.get("levels", []) or []
    levels = tuple(token_list(raw_levels, f"{where}: levels"))
    spelled = {t: (str(v).strip() if not isinstance(v, float) else value_token(v))
               for t, v in zip(levels, raw_levels)}   # a level shown as written
    if len(set(levels)) != len(levels):
        raise MappingError(f"{where}: levels lists a value twice")
    if len(levels) > MAX_EXTRA_LEVELS:
        raise MappingError(f"{where}: {len(levels)} levels; at most {MAX_EXTRA_LEVELS}")
    labels_raw = spec.get("labels", {}) or {}
    if not isinstance(labels_raw, dict):
        raise MappingError(f"{where}: labels must be a table of source value -> level name")
    labels = {}
    for k, v in labels_raw.items():
        token = code_key(k, f"{where}: labels")
        if not isinstance(v, (str, int, float)) or isinstance(v, bool) or not str(v).strip():
            raise MappingError(f"{where}: labels[{k!r}] must be a level name, got {v!r}")
        labels[token] = str(v).strip()
    if labels and not levels:
        levels = tuple(labels)
    stray = [k for k in labels if k not in levels]
    if stray:
        raise MappingError(f"{where}: labels name value(s) not in levels: {', '.join(stray)}")
    labels = {t: labels.get(t, spelled.get(t, t)) for t in levels}
    names = [labels[t] for t in levels]
    if len(set(names)) != len(names):
        raise MappingError(f"{where}: two levels have the same name")
    return ExtraInfo(label=texts["label"], unit=texts["unit"], levels=levels, labels=labels)


def is_finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def token_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise MappingError(f"{where} must be a list of values, got {type(value).__name__}")
    return [code_key(v, where) for v in value]


def code_value(value: Any, column: Column, where: str) -> Any:
    """Check that ``value`` is a valid value of ``column`` and return it in contract form."""
    if value is None:
        return None
    kind = column.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        token = value_token(value) if isinstance(value, (int, float, str)) else None
        if token in TRUE_TOKENS:
            return True
        if token in FALSE_TOKENS:
            return False
        raise MappingError(f"{where}: {column.name} is yes/no, got {value!r}")
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not is_finite(value):
            raise MappingError(f"{where}: {column.name} needs a number, got {value!r}")
        if kind == "int" and value != int(value):
            raise MappingError(f"{where}: {column.name} needs a whole number, got {value!r}")
        if (column.lo is not None and value < column.lo) or (
                column.hi is not None and value > column.hi):
            raise MappingError(f"{where}: {value!r} is outside {column.name}'s range "
                               f"{column.lo:g}–{column.hi:g}")
        return int(value) if kind == "int" else float(value)
    if kind == "category":
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise MappingError(f"{where}: {column.name} needs text, got {value!r}")
        text = str(value).strip()
        if column.levels:
            lowered = {lv.lower(): lv for lv in column.levels}
            if text.lower() not in lowered:
                raise MappingError(f"{where}: {value!r} is not a level of {column.name} "
                                   f"({', '.join(column.levels)})")
            return lowered[text.lower()]
        if not text:
            raise MappingError(f"{where}: {column.name} needs non-empty text")
        return text
    if kind == "text":
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise MappingError(f"{where}: {column.name} needs text, got {value!r}")
        return str(value)
    if kind == "date":
        from crlm.ingest.dates import DateError, parse_date
        try:
            return parse_date(value)
        except DateError as exc:
            raise MappingError(f"{where}: {column.name}: {exc}, got {value!r}") from None
    raise MappingError(f"{where}: {column.name} cannot be set here")  # pragma: no cover
