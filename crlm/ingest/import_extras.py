"""One extra (non-contract) source column as a stored variable: numeric or categorical.

* An extra column whose mapping declares ``levels`` (``extra_info``) is categorical:
  each cell is matched to a declared level (``1``, ``1.0`` and ``"1"`` are one value;
  text is compared without case); a value that is not a declared level is left empty
  and counted in a warning.
* Otherwise numbers are read as numbers (yes/no as 1/0). When most of the non-missing
  values are not numbers, the column is categorical with its observed levels (sorted,
  each spelled as first seen) and the report says so; when only a few are not numbers
  they are left empty with a warning, as before. More than ``MAX_EXTRA_LEVELS``
  observed levels refuse the import: such a column is free text or an identifier and
  belongs under ``drop``.

A categorical value is stored as its level's code (0, 1, ... in level order) in the
long ``features`` table; the level names are stored with the feature's decision
time, label and unit in ``feature_info`` (``kind``, ``levels``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crlm.ingest.import_columns import _Cells
from crlm.ingest.mapping import FALSE_TOKENS, MAX_EXTRA_LEVELS, TRUE_TOKENS, ExtraInfo, value_token

NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass(frozen=True, eq=False)
class ParsedExtra:
    """An extra column's values (codes for a categorical one; NaN where empty)."""

    values: np.ndarray
    missing: np.ndarray
    kind: str
    levels: tuple[str, ...]
    warnings: tuple[str, ...]
    problem: str            # a file-level problem ('' when none)
    n_bad: int               # values left empty because they could not be read


def _tokens(cells: _Cells, rows: np.ndarray) -> list[str]:
    return [value_token(v) for v in cells.raw.iloc[rows]]


def parse_extra(cells: _Cells, key: str, info: ExtraInfo | None,
                missing_tokens: frozenset[str]) -> ParsedExtra:
    """``key``'s values under its ``extra_info`` (see the module doc for the rules)."""
    n = cells.n
    missing = cells.missing_mask(missing_tokens)
    present = np.flatnonzero(~missing)
    if info is not None and info.categorical:
        code_of = {token: k for k, token in enumerate(info.levels)}
        codes = np.full(n, np.nan)
        tokens = _tokens(cells, present)
        codes[present] = [code_of.get(t, np.nan) for t in tokens]
        bad = [t for t in tokens if t not in code_of]
        warnings = ()
        if bad:
            shown = ", ".join(sorted(set(bad))[:5])
            warnings = (f"extra column {key!r}: {len(bad)} value(s) are not among the declared "
                        f"levels and were left empty ({shown})",)
        return ParsedExtra(codes, missing, CATEGORICAL, info.level_names(), warnings, "",
                           len(bad))

    values = cells.numeric.copy()
    if cells.text is not None:
        yes = np.asarray(cells.lower.isin(TRUE_TOKENS), dtype=bool)
        no = np.asarray(cells.lower.isin(FALSE_TOKENS), dtype=bool)
        values[np.isnan(values) & yes] = 1.0
        values[np.isnan(values) & no] = 0.0
    values[missing] = np.nan
    not_numeric = ~missing & np.isnan(values)
    n_text = int(not_numeric.sum())
    if n_text == 0 or 2 * n_text <= len(present):
        warnings = (f"extra column {key!r}: {n_text} value(s) are not numbers and were left "
                    "empty",) if n_text else ()
        return ParsedExtra(values, missing, NUMERIC, (), warnings, "", n_text)

    # mostly text: a categorical variable with its observed levels
    spelled = cells.raw.iloc[present].astype(str).str.strip().to_numpy()
    tokens = _tokens(cells, present)
    first: dict[str, str] = {}
    for token, text in zip(tokens, spelled):
        first.setdefault(token, text)
    if len(first) > MAX_EXTRA_LEVELS:
        problem = (f"extra column {key!r}: {len(first)} distinct values, too many for a "
                   f"categorical variable (at most {MAX_EXTRA_LEVELS}); list it under 'drop' "
                   "if it is free text, or declare its levels in 'extra_info'")
        return ParsedExtra(np.full(n, np.nan), missing, CATEGORICAL, (), (), problem, 0)
    order = sorted(first, key=lambda t: first[t].lower())
    code_of = {token: k for k, token in enumerate(order)}
    codes = np.full(n, np.nan)
    codes[present] = [code_of[t] for t in tokens]
    levels = tuple(first[t] for t in order)
    note = (f"extra column {key!r}: not numeric, kept as a categorical variable with its "
            f"{len(levels)} observed levels ({', '.join(levels)}); declare 'levels' in "
            "'extra_info' to fix their order")
    return ParsedExtra(codes, missing, CATEGORICAL, levels, (note,), "", 0)

