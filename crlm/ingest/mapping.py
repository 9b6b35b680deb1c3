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

import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crlm.config import COLUMNS_BY_NAME, KNOWN_AT_LEVELS, NO_TOKENS, YES_TOKENS, Column

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

BUILTIN_PACKAGE = "crlm.ingest.mappings"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER_RE = re.compile(r"[\s\-_]+")
_KNOWN_KEYS = ("name", "description", "columns", "codes", "missing", "column_missing", "units",
               "defaults", "extra", "known_at", "extra_info", "drop", "unavailable", "proxies",
               "proxy_scores",
               "compare", "detect")


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
    for src, target in _table(raw, "columns", where).items():
        target = _target(target, f"{where}: columns[{src!r}]")
        key = _header(src, f"{where}: columns")
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
    for target, table in _table(raw, "codes", where).items():
        column = COLUMNS_BY_NAME[_target(target, f"{where}: codes")]
        if not isinstance(table, dict) or not table:
            raise MappingError(f"{where}: codes[{target!r}] must be a non-empty table of "
                               f"source value -> {column.name} value")
        codes[column.name] = {_code_key(k, f"{where}: codes[{target!r}]"):
                              _code_value(v, column, f"{where}: codes[{target!r}][{k!r}]")
                              for k, v in table.items()}

    missing = tuple(_token_list(raw.get("missing", []), f"{where}: missing"))
    column_missing = {
        _target(t, f"{where}: column_missing"): tuple(
            _token_list(v, f"{where}: column_missing[{t!r}]"))
        for t, v in _table(raw, "column_missing", where).items()
    }

    units: dict[str, str] = {}
    for target, unit in _table(raw, "units", where).items():
        column = COLUMNS_BY_NAME[_target(target, f"{where}: units")]
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
    for target, value in _table(raw, "defaults", where).items():
        column = COLUMNS_BY_NAME[_target(target, f"{where}: defaults")]
        if column.derived or column.name == "patient_id":
            raise MappingError(f"{where}: defaults[{target!r}]: {column.name} cannot have a "
                               "default")
        defaults[column.name] = _code_value(value, column, f"{where}: defaults[{target!r}]")

    extra = tuple(_header(h, f"{where}: extra") for h in _list(raw, "extra", where))
    drop = tuple(_header(h, f"{where}: drop") for h in _list(raw, "drop", where))
    clash = sorted((set(extra) & set(drop)) | (set(extra) & set(columns)) | (
        set(drop) & set(columns)))
    if clash:
        raise MappingError(f"{where}: {', '.join(clash)} listed in more than one of "
                           "columns / extra / drop")
    known_at: dict[str, str] = {}
    for header, when in _table(raw, "known_at", where).items():
        key = _header(header, f"{where}: known_at")
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
    for header, spec in _table(raw, "extra_info", where).items():
        key = _header(header, f"{where}: extra_info")
        if key not in extra:
            raise MappingError(f"{where}: extra_info[{header!r}]: not one of the extra columns")
        extra_info[key] = _extra_info(spec, f"{where}: extra_info[{header!r}]")
    unavailable = tuple(_target(t, f"{where}: unavailable") for t in _list(raw, "unavailable",
                                                                          where))
    proxies: dict[str, Proxy] = {}
    for target, spec in _table(raw, "proxies", where).items():
        column = COLUMNS_BY_NAME[_target(target, f"{where}: proxies")]
        if column.kind not in ("int", "float"):
            raise MappingError(f"{where}: proxies[{target!r}]: only numeric columns take a "
                               "proxy")
        if (not isinstance(spec, dict) or set(spec) != {"source", "values"}
                or not isinstance(spec["values"], dict) or not spec["values"]):
            raise MappingError(f"{where}: proxies[{target!r}] must be a table with 'source' "
                               "(a header) and 'values' (source value -> number)")
        values = {}
        for k, v in spec["values"].items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v):
                raise MappingError(f"{where}: proxies[{target!r}].values[{k!r}] must be a "
                                   f"number, got {v!r}")
            values[_code_key(k, f"{where}: proxies[{target!r}].values")] = float(v)
        proxies[column.name] = Proxy(_header(spec["source"], f"{where}: proxies[{target!r}]"),
                                     values)
    proxy_scores = tuple(_derived(t, f"{where}: proxy_scores")
                         for t in _list(raw, "proxy_scores", where))
    if proxy_scores and not proxies:
        raise MappingError(f"{where}: proxy_scores needs proxies")
    compare = {_derived(t, f"{where}: compare"): _header(h, f"{where}: compare[{t!r}]")
               for t, h in _table(raw, "compare", where).items()}
    detect = tuple(_header(h, f"{where}: detect") for h in _list(raw, "detect", where))
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


# ---------------------------------------------------------------------------- helpers
def _table(raw: dict, key: str, where: str) -> dict:
    value = raw.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"{where}: {key!r} must be a table, got {type(value).__name__}")
    return value


def _list(raw: dict, key: str, where: str) -> list:
    value = raw.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise MappingError(f"{where}: {key!r} must be a list, got {type(value).__name__}")
    return value


def _header(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MappingError(f"{where}: a column header must be text, got {value!r}")
    key = normalise_header(value)
    if not key:
        raise MappingError(f"{where}: empty column header {value!r}")
    return key


def _target(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in COLUMNS_BY_NAME:
        raise MappingError(f"{where}: {value!r} is not a column of the patients contract "
                           "(see crlm.config.PATIENT_COLUMNS)")
    return value


def _derived(value: Any, where: str) -> str:
    target = _target(value, where)
    if not COLUMNS_BY_NAME[target].derived:
        raise MappingError(f"{where}: {target!r} is not a derived score")
    return target


def _code_key(value: Any, where: str) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise MappingError(f"{where}: a source value must be text or a number, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not _finite(value):
        raise MappingError(f"{where}: a source value must be finite, got {value!r}")
    return value_token(value)


def _extra_info(spec: Any, where: str) -> ExtraInfo:
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
    levels = tuple(_token_list(raw_levels, f"{where}: levels"))
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
        token = _code_key(k, f"{where}: labels")
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


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _token_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise MappingError(f"{where} must be a list of values, got {type(value).__name__}")
    return [_code_key(v, where) for v in value]


def _code_value(value: Any, column: Column, where: str) -> Any:
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
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
