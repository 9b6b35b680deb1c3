"""Mapping files: how the columns and codes of a source table become the ``patients`` contract.

A mapping is a small YAML or TOML file (or a built-in one, by name) with these keys,
all optional except ``name``:

``name``         the mapping's name (letters, digits, ``-``, ``_``)
``description``  one line shown in reports
``columns``      source header -> contract column (``Patient-ID: patient_id``)
``codes``        contract column -> {source value: contract value} (``sex: {1: male, 2: female}``)
``missing``      source values that mean "not available" in every column (``[999, NA]``)
``column_missing`` contract column -> extra missing values for that column only
``units``        contract column -> the unit the source uses (``max_diameter_cm: mm``)
``defaults``     contract column -> value used where the source has no column
                 (``center``, ``cohort_split``, ``hepatectomy`` ...)
``extra``        source headers kept as numeric features (feature set ``extra``)
``known_at``     extra header -> when its value becomes known (``staging``, ``treatment
                 plan``, ``restaging``, ``after surgery``, ``outcome``); an extra feature
                 without one is ``unknown`` and no model reads it. Contract columns have
                 their time fixed by the contract and cannot be given one here.
``extra_info``   extra header -> {``label``, ``unit``, ``levels``, ``labels``}: how a page names
                 an extra variable; ``levels`` (source values, in order) makes it categorical,
                 ``labels`` (source value -> shown level) renames levels. A non-numeric extra
                 without levels becomes categorical with its observed levels.
``drop``         source headers that are dropped and reported (free text, identifiers)
``unavailable``  contract columns this source cannot provide (pages hide or grey them out)
``proxies``      contract column -> {source: header, values: {source value: number}}:
                 values used only to compute the scores named in ``proxy_scores``,
                 never stored in the column itself
``proxy_scores`` derived columns computed with the proxies filled in
``compare``      derived column -> source header holding the same score as published;
                 rows where the recomputed and the published value differ are reported
``detect``       source headers whose presence selects this mapping automatically

Source headers are compared after normalisation (:func:`normalise_header`): case,
spaces, ``-`` and ``_`` do not matter, so ``Patient-ID`` matches ``patient_id``.
"""
from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crlm.config import COLUMNS_BY_NAME, KNOWN_AT_LEVELS
from crlm.ingest.mapping_model import (
    DAYS_PER_MONTH,
    DEFAULT_MISSING,
    FALSE_TOKENS,
    MAX_EXTRA_LEVELS,
    TRUE_TOKENS,
    UNIT_ALIASES,
    UNIT_FACTORS,
    ExtraInfo,
    Mapping,
    MappingError,
    Proxy,
    normalise_header,
    value_token,
)
from crlm.ingest.mapping_values import (
    code_key,
    code_value,
    contract_column,
    derived_column,
    header_key,
    is_finite,
    list_of,
    parse_extra_info,
    table_of,
    token_list,
)

__all__ = [
    "BUILTIN_PACKAGE", "DAYS_PER_MONTH", "DEFAULT_MISSING", "FALSE_TOKENS", "MAX_EXTRA_LEVELS",
    "TRUE_TOKENS", "UNIT_ALIASES", "UNIT_FACTORS", "ExtraInfo", "Mapping", "MappingError",
    "Proxy", "builtin_mappings", "detect_mapping", "identity_mapping", "load_mapping",
    "mapping_from_dict", "normalise_header", "parse_mapping", "value_token",
]

BUILTIN_PACKAGE = "crlm.ingest.mappings"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KNOWN_KEYS = ("name", "description", "columns", "codes", "missing", "column_missing", "units",
               "defaults", "extra", "known_at", "extra_info", "drop", "unavailable", "proxies",
               "proxy_scores",
               "compare", "detect")


# ---------------------------------------------------------------------------- loading
def builtin_mappings() -> dict[str, Path]:
    """Built-in mapping names -> their files."""
    folder = resources.files(BUILTIN_PACKAGE)
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith((".yaml", ".yml", ".toml")):
            out[entry.name.rsplit(".", 1)[0]] = Path(str(entry))
    return dict(sorted(out.items()))


def load_mapping(path_or_name: str | Path | Mapping) -> Mapping:
    """A mapping from a built-in name (``tcia-crlm``), a .yaml/.yml/.toml file, or as given."""
    if isinstance(path_or_name, Mapping):
        return path_or_name
    builtins = builtin_mappings()
    text_name = str(path_or_name)
    if text_name in builtins:
        path = builtins[text_name]
    else:
        path = Path(path_or_name)
        if not path.exists():
            raise MappingError(
                f"mapping {text_name!r}: no such file and not a built-in mapping "
                f"(built-in: {', '.join(builtins) or 'none'})")
        if path.is_dir():
            raise MappingError(f"mapping {path}: is a folder, not a mapping file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"mapping {path}: cannot be read ({exc.strerror})") from None
    return parse_mapping(data, fmt=path.suffix.lstrip(".").lower(), source=str(path))


def parse_mapping(data: bytes | str, *, fmt: str = "yaml", source: str = "<mapping>") -> Mapping:
    """Parse mapping text in YAML (``yaml``/``yml``) or TOML (``toml``) and validate it."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MappingError(f"mapping {source}: not UTF-8 text") from None
    if fmt in ("yaml", "yml"):
        try:
            raw = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise MappingError(f"mapping {source}: not valid YAML{line}") from None
        except (ValueError, TypeError, RecursionError):
            raise MappingError(f"mapping {source}: not valid YAML") from None
    elif fmt == "toml":
        try:
            raw = tomllib.loads(data)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"mapping {source}: not valid TOML ({exc})") from None
    else:
        raise MappingError(f"mapping {source}: unknown mapping format {fmt!r}; use .yaml or .toml")
    return mapping_from_dict(raw, source=source)


def mapping_from_dict(raw: Any, *, source: str = "<mapping>") -> Mapping:
    """Validate a parsed mapping document; raises :class:`MappingError` naming the problem."""
    where = f"mapping {source}"
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: the top level must be a table of keys "
                           f"({', '.join(_KNOWN_KEYS)}), got {type(raw).__name__}")
    unknown = [str(k) for k in raw if k not in _KNOWN_KEYS]
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                           f"allowed: {', '.join(_KNOWN_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise MappingError(f"{where}: 'name' must be a short name of letters, digits, '-', '_' "
                           f"or '.', got {name!r}")
    where = f"mapping {name!r}"
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise MappingError(f"{where}: 'description' must be text")

    columns: dict[str, str] = {}
    for src, target in table_of(raw, "columns", where).items():
        target = contract_column(target, f"{where}: columns[{src!r}]")
        key = header_key(src, f"{where}: columns")
        if key in columns and columns[key] != target:
            raise MappingError(f"{where}: columns: {src!r} is listed twice "
                               f"(as {columns[key]!r} and {target!r})")
        columns[key] = target
    targets = list(columns.values())
    doubled = sorted({t for t in targets if targets.count(t) > 1})
    if doubled:
        raise MappingError(f"{where}: columns: several source columns map to "
                           f"{', '.join(doubled)}")

    codes: dict[str, dict[str, Any]] = {}
    for target, table in table_of(raw, "codes", where).items():
        column = COLUMNS_BY_NAME[contract_column(target, f"{where}: codes")]
        if not isinstance(table, dict) or not table:
            raise MappingError(f"{where}: codes[{target!r}] must be a non-empty table of "
                               f"source value -> {column.name} value")
        codes[column.name] = {code_key(k, f"{where}: codes[{target!r}]"):
                              code_value(v, column, f"{where}: codes[{target!r}][{k!r}]")
                              for k, v in table.items()}

    missing = tuple(token_list(raw.get("missing", []), f"{where}: missing"))
    column_missing = {
        contract_column(t, f"{where}: column_missing"): tuple(
            token_list(v, f"{where}: column_missing[{t!r}]"))
        for t, v in table_of(raw, "column_missing", where).items()
    }

    units: dict[str, str] = {}
    for target, unit in table_of(raw, "units", where).items():
        column = COLUMNS_BY_NAME[contract_column(target, f"{where}: units")]
        if not column.unit or column.unit not in UNIT_FACTORS:
            raise MappingError(f"{where}: units[{target!r}]: {column.name} has no unit to "
                               "convert")
        if not isinstance(unit, str):
            raise MappingError(f"{where}: units[{target!r}] must be a unit name, got {unit!r}")
        unit_name = UNIT_ALIASES.get(unit.strip().lower(), unit.strip())
        allowed = UNIT_FACTORS[column.unit]
        if unit_name not in allowed:
            lowered = {u.lower(): u for u in allowed}
            unit_name = lowered.get(unit_name.lower(), unit_name)
        if unit_name not in allowed:
            raise MappingError(f"{where}: units[{target!r}]: unknown unit {unit!r} for "
                               f"{column.name} ({column.unit}); use one of {', '.join(allowed)}")
        units[column.name] = unit_name

    defaults: dict[str, Any] = {}
    for target, value in table_of(raw, "defaults", where).items():
        column = COLUMNS_BY_NAME[contract_column(target, f"{where}: defaults")]
        if column.derived or column.name == "patient_id":
            raise MappingError(f"{where}: defaults[{target!r}]: {column.name} cannot have a "
                               "default")
        defaults[column.name] = code_value(value, column, f"{where}: defaults[{target!r}]")

    extra = tuple(header_key(h, f"{where}: extra") for h in list_of(raw, "extra", where))
    drop = tuple(header_key(h, f"{where}: drop") for h in list_of(raw, "drop", where))
    clash = sorted((set(extra) & set(drop)) | (set(extra) & set(columns)) | (
        set(drop) & set(columns)))
    if clash:
        raise MappingError(f"{where}: {', '.join(clash)} listed in more than one of "
                           "columns / extra / drop")
    known_at: dict[str, str] = {}
    for header, when in table_of(raw, "known_at", where).items():
        key = header_key(header, f"{where}: known_at")
        target = columns.get(key) or (key if key in COLUMNS_BY_NAME else None)
        if target is not None:
            raise MappingError(
                f"{where}: known_at[{header!r}]: {target} is a contract column; when it is "
                f"known is fixed by the contract ({COLUMNS_BY_NAME[target].known_at})")
        if key not in extra:
            raise MappingError(f"{where}: known_at[{header!r}]: not one of the extra columns")
        if not isinstance(when, str) or when.strip().lower() not in KNOWN_AT_LEVELS:
            raise MappingError(f"{where}: known_at[{header!r}]: {when!r} is not one of "
                               f"{', '.join(KNOWN_AT_LEVELS)}")
        known_at[key] = when.strip().lower()
    extra_info = {}
    for header, spec in table_of(raw, "extra_info", where).items():
        key = header_key(header, f"{where}: extra_info")
        if key not in extra:
            raise MappingError(f"{where}: extra_info[{header!r}]: not one of the extra columns")
        extra_info[key] = parse_extra_info(spec, f"{where}: extra_info[{header!r}]")
    unavailable = tuple(contract_column(t, f"{where}: unavailable") for t in list_of(raw, "unavailable",
                                                                          where))
    proxies: dict[str, Proxy] = {}
    for target, spec in table_of(raw, "proxies", where).items():
        column = COLUMNS_BY_NAME[contract_column(target, f"{where}: proxies")]
        if column.kind not in ("int", "float"):
            raise MappingError(f"{where}: proxies[{target!r}]: only numeric columns take a "
                               "proxy")
        if (not isinstance(spec, dict) or set(spec) != {"source", "values"}
                or not isinstance(spec["values"], dict) or not spec["values"]):
            raise MappingError(f"{where}: proxies[{target!r}] must be a table with 'source' "
                               "(a header) and 'values' (source value -> number)")
        values = {}
        for k, v in spec["values"].items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not is_finite(v):
                raise MappingError(f"{where}: proxies[{target!r}].values[{k!r}] must be a "
                                   f"number, got {v!r}")
            values[code_key(k, f"{where}: proxies[{target!r}].values")] = float(v)
        proxies[column.name] = Proxy(header_key(spec["source"], f"{where}: proxies[{target!r}]"),
                                     values)
    proxy_scores = tuple(derived_column(t, f"{where}: proxy_scores")
                         for t in list_of(raw, "proxy_scores", where))
    if proxy_scores and not proxies:
        raise MappingError(f"{where}: proxy_scores needs proxies")
    compare = {derived_column(t, f"{where}: compare"): header_key(h, f"{where}: compare[{t!r}]")
               for t, h in table_of(raw, "compare", where).items()}
    detect = tuple(header_key(h, f"{where}: detect") for h in list_of(raw, "detect", where))
    return Mapping(name=name, description=description, columns=columns, codes=codes,
                   missing=missing, column_missing=column_missing, units=units,
                   defaults=defaults, extra=extra, known_at=known_at,
                   extra_info=extra_info, drop=drop,
                   unavailable=unavailable,
                   proxies=proxies, proxy_scores=proxy_scores, compare=compare, detect=detect,
                   source=source)


def identity_mapping() -> Mapping:
    """The mapping used when none is given and no built-in one matches: contract names as is."""
    return Mapping(name="contract", description="columns already named as the patients contract")


def detect_mapping(headers) -> Mapping | None:
    """The first built-in mapping whose ``detect`` headers are all present, else None."""
    for name in builtin_mappings():
        mapping = load_mapping(name)
        if mapping.matches(headers):
            return mapping
    return None
