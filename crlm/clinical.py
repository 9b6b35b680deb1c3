"""Clinical scores of colorectal liver metastases, computed one way for the whole project.

Every function is vectorised: it takes pandas Series (or array-likes, or plain
scalars) and returns a Series aligned with the first Series argument; when every
argument is a scalar it returns a scalar. The rules are the published ones, as
coded in the PLATO calculator:

* RAS status: ``mutant`` if KRAS or NRAS is mutant; ``wild-type`` only if both
  were tested and are wild-type; ``unknown`` otherwise.
* Tumour burden score (Sasaki 2018): ``sqrt(max_diameter_cm**2 + n_liver_lesions**2)``;
  zones low (< 3), medium (3 to < 9), high (>= 9).
* Fong clinical risk score (1999): one point each for a node-positive primary,
  disease-free interval < 12 months, more than one liver lesion, CEA > 200 ng/mL
  and largest lesion > 5 cm; groups low (0-2) and high (3-5).
* GAME score (Margonis 2018): KRAS-mutant 1, CEA > 20 ng/mL 1, node-positive 1,
  TBS 3 to < 9 1 or TBS >= 9 2, extrahepatic disease 2; groups 0-1, 2-3, 4-7.
  The genetic point is for a KRAS mutation (with or without NRAS), as in the
  original paper and in PLATO; an NRAS-only mutation scores 0 there.
* m-CS (Brudvik 2019): any RAS mutation 1, node-positive 1, largest lesion > 5 cm 1.
* Nordlinger (1996), the AJCC stage group, the major pathological response and the
  yes/no RAS and growth-pattern targets: :mod:`crlm.clinical_resection`, re-exported here.

Missing inputs make the score missing, never 0: a float score is NaN, an
integer score ``<NA>`` (pandas ``Int64``), a category ``<NA>`` (pandas
``string``), except RAS status, whose missing value is the level ``unknown``.
Values outside the allowed levels raise ``ValueError`` naming the argument.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crlm.config import PATIENT_COLUMNS

MUTANT = "mutant"
WILD_TYPE = "wild-type"
UNKNOWN = "unknown"

TBS_MEDIUM_FROM = 3.0
TBS_HIGH_FROM = 9.0
FONG_DFI_MONTHS_BELOW = 12.0
FONG_CEA_NG_ML_ABOVE = 200.0
FONG_DIAMETER_CM_ABOVE = 5.0
GAME_CEA_NG_ML_ABOVE = 20.0
MCS_DIAMETER_CM_ABOVE = 5.0

RESPONDER_LEVELS = ("CR", "PR")
NON_RESPONDER_LEVELS = ("SD", "PD")

DERIVED_COLUMNS: tuple[str, ...] = tuple(c.name for c in PATIENT_COLUMNS if c.derived)


# --------------------------------------------------------------------------- inputs
def _is_scalar(x: Any) -> bool:
    return np.ndim(x) == 0 and not isinstance(x, (pd.Series, pd.Index))


def _broadcast(**arguments: Any) -> tuple[dict[str, np.ndarray], pd.Index | None, bool]:
    """Numpy object/float arrays of equal length, the index to use and whether all were scalars."""
    all_scalar = all(_is_scalar(v) for v in arguments.values())
    index: pd.Index | None = None
    length: int | None = None
    for name, value in arguments.items():
        if _is_scalar(value):
            continue
        n = len(value)
        if length is None:
            length = n
            if isinstance(value, pd.Series):
                index = value.index
        elif n != length:
            raise ValueError(f"{name} has {n} values but an earlier argument has {length}")
        if index is None and isinstance(value, pd.Series):
            index = value.index
    if length is None:
        length = 1
    if index is None:
        index = pd.RangeIndex(length)
    out: dict[str, np.ndarray] = {}
    for name, value in arguments.items():
        if _is_scalar(value):
            arr = np.empty(length, dtype=object)
            arr[:] = [value] * length
            out[name] = arr
        elif isinstance(value, pd.Series):
            out[name] = value.to_numpy(dtype=object)
        else:
            out[name] = np.asarray(pd.array(value), dtype=object) if not isinstance(
                value, np.ndarray) else value.astype(object)
    return out, index, all_scalar


def _missing(values: np.ndarray) -> np.ndarray:
    return np.asarray(pd.isna(values), dtype=bool)


def _numeric(name: str, values: np.ndarray, *, lower: float = 0.0) -> np.ndarray:
    """Float array with NaN for missing; ValueError for text or a value below ``lower``."""
    missing = _missing(values)
    out = np.full(len(values), np.nan)
    try:
        out[~missing] = np.asarray(values[~missing], dtype=float)
    except (TypeError, ValueError):
        bad = next(v for v in values[~missing] if not _looks_numeric(v))
        raise ValueError(f"{name} must be a number, got {bad!r}") from None
    below = ~np.isnan(out) & (out < lower)
    if below.any():
        raise ValueError(f"{name} must be >= {lower:g}, got {out[below][0]!r}")
    if np.isinf(out).any():
        raise ValueError(f"{name} must be finite, got {out[np.isinf(out)][0]!r}")
    return out


def _looks_numeric(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return not isinstance(v, str)


def _boolean(name: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, missing) arrays; accepts bools and 0/1, rejects anything else."""
    missing = _missing(values)
    present = values[~missing]
    out = np.zeros(len(values), dtype=bool)
    if len(present):
        kind = pd.api.types.infer_dtype(present, skipna=True)
        if kind not in ("boolean", "integer", "floating", "mixed-integer-float", "mixed"):
            raise ValueError(f"{name} must be true/false (or 1/0), got {present[0]!r}")
        try:
            as_float = np.asarray(present, dtype=float)
        except (TypeError, ValueError):
            as_float = np.array([np.nan])
        if kind == "mixed" and any(isinstance(v, str) for v in present):
            as_float = np.array([np.nan])
        bad = ~np.isin(as_float, (0.0, 1.0))
        if bad.any():
            example = present[np.flatnonzero(bad)[0]] if len(as_float) == len(present) else present[0]
            raise ValueError(f"{name} must be true/false (or 1/0), got {example!r}")
        out[~missing] = as_float == 1.0
    return out, missing


def _levels(name: str, values: np.ndarray, levels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(string array, missing) for a categorical input restricted to ``levels``."""
    missing = _missing(values)
    out = np.empty(len(values), dtype=object)
    out[:] = ""
    present = values[~missing]
    if len(present):
        if pd.api.types.infer_dtype(present, skipna=True) != "string":
            bad = next(v for v in present if not isinstance(v, str))
            raise ValueError(f"{name} must be one of {', '.join(levels)} or missing, got {bad!r}")
        ok = np.isin(present.astype(str), levels)
        if not ok.all():
            bad = present[~ok][0]
            raise ValueError(f"{name} must be one of {', '.join(levels)} or missing, got {bad!r}")
        out[~missing] = present.astype(str)
    return out, missing


# -------------------------------------------------------------------------- outputs
def _int_result(values: np.ndarray, missing: np.ndarray, index: pd.Index, scalar: bool):
    arr = pd.array(values.astype("int64"), dtype="Int64")
    arr[missing] = pd.NA
    if scalar:
        return arr[0] if not missing[0] else pd.NA
    return pd.Series(arr, index=index)


def _str_result(values: np.ndarray, missing: np.ndarray, index: pd.Index, scalar: bool):
    out = values.astype(object).copy()
    out[missing] = pd.NA
    arr = pd.array(out, dtype="string")
    if scalar:
        return arr[0]
    return pd.Series(arr, index=index)


def _float_result(values: np.ndarray, index: pd.Index, scalar: bool):
    if scalar:
        return float(values[0])
    return pd.Series(values.astype("float64"), index=index)


# --------------------------------------------------------------------------- scores
def ras_status(kras: Any, nras: Any) -> pd.Series | str:
    """RAS status from KRAS and NRAS results (``mutant`` / ``wild-type`` / ``unknown``).

    Mutant if either gene is mutant (even when the other was not tested);
    wild-type only when both were tested and are wild-type; unknown otherwise.
    """
    cols, index, scalar = _broadcast(kras=kras, nras=nras)
    k, k_missing = _levels("kras", cols["kras"], (MUTANT, WILD_TYPE))
    n, n_missing = _levels("nras", cols["nras"], (MUTANT, WILD_TYPE))
    out = np.full(len(k), UNKNOWN, dtype=object)
    wild = (~k_missing & (k == WILD_TYPE)) & (~n_missing & (n == WILD_TYPE))
    mutant = (~k_missing & (k == MUTANT)) | (~n_missing & (n == MUTANT))
    out[wild] = WILD_TYPE
    out[mutant] = MUTANT
    return _str_result(out, np.zeros(len(out), dtype=bool), index, scalar)


def tumour_burden_score(max_diameter_cm: Any, n_liver_lesions: Any) -> pd.Series | float:
    """TBS = sqrt(max_diameter_cm**2 + n_liver_lesions**2); NaN when either is missing."""
    cols, index, scalar = _broadcast(max_diameter_cm=max_diameter_cm,
                                     n_liver_lesions=n_liver_lesions)
    d = _numeric("max_diameter_cm", cols["max_diameter_cm"])
    n = _numeric("n_liver_lesions", cols["n_liver_lesions"])
    return _float_result(np.hypot(d, n), index, scalar)


def tbs_zone(tumour_burden_score: Any) -> pd.Series | str:
    """TBS zone: ``low`` (< 3), ``medium`` (3 to < 9), ``high`` (>= 9); missing stays missing."""
    cols, index, scalar = _broadcast(tumour_burden_score=tumour_burden_score)
    t = _numeric("tumour_burden_score", cols["tumour_burden_score"])
    missing = np.isnan(t)
    out = np.where(t >= TBS_HIGH_FROM, "high", np.where(t >= TBS_MEDIUM_FROM, "medium", "low"))
    return _str_result(out.astype(object), missing, index, scalar)


def fong_score(node_positive: Any, disease_free_interval_months: Any, n_liver_lesions: Any,
               cea_ng_ml: Any, max_diameter_cm: Any) -> pd.Series | int:
    """Fong clinical risk score 0-5 (``Int64``); missing if any of the five inputs is missing."""
    cols, index, scalar = _broadcast(
        node_positive=node_positive, disease_free_interval_months=disease_free_interval_months,
        n_liver_lesions=n_liver_lesions, cea_ng_ml=cea_ng_ml, max_diameter_cm=max_diameter_cm)
    node, node_missing = _boolean("node_positive", cols["node_positive"])
    dfi = _numeric("disease_free_interval_months", cols["disease_free_interval_months"])
    lesions = _numeric("n_liver_lesions", cols["n_liver_lesions"])
    cea = _numeric("cea_ng_ml", cols["cea_ng_ml"])
    diameter = _numeric("max_diameter_cm", cols["max_diameter_cm"])
    missing = node_missing | np.isnan(dfi) | np.isnan(lesions) | np.isnan(cea) | np.isnan(diameter)
    with np.errstate(invalid="ignore"):
        points = (node.astype(int) + (dfi < FONG_DFI_MONTHS_BELOW) + (lesions > 1)
                  + (cea > FONG_CEA_NG_ML_ABOVE) + (diameter > FONG_DIAMETER_CM_ABOVE))
    return _int_result(np.where(missing, 0, points), missing, index, scalar)


def fong_group(fong_score: Any) -> pd.Series | str:
    """Fong group: ``low`` (0-2) or ``high`` (3-5)."""
    cols, index, scalar = _broadcast(fong_score=fong_score)
    s = _numeric("fong_score", cols["fong_score"])
    if (s[~np.isnan(s)] > 5).any():
        raise ValueError(f"fong_score must be between 0 and 5, got {s[s > 5][0]!r}")
    out = np.where(s >= 3, "high", "low").astype(object)
    return _str_result(out, np.isnan(s), index, scalar)


def game_score(kras: Any, cea_ng_ml: Any, node_positive: Any, tumour_burden_score: Any,
               extrahepatic_disease: Any) -> pd.Series | int:
    """GAME score 0-7 (``Int64``); missing if any input is missing.

    KRAS-mutant 1, CEA > 20 ng/mL 1, node-positive primary 1, TBS 3 to < 9 1 or
    TBS >= 9 2, extrahepatic disease 2.
    """
    cols, index, scalar = _broadcast(
        kras=kras, cea_ng_ml=cea_ng_ml, node_positive=node_positive,
        tumour_burden_score=tumour_burden_score, extrahepatic_disease=extrahepatic_disease)
    k, k_missing = _levels("kras", cols["kras"], (MUTANT, WILD_TYPE))
    cea = _numeric("cea_ng_ml", cols["cea_ng_ml"])
    node, node_missing = _boolean("node_positive", cols["node_positive"])
    tbs = _numeric("tumour_burden_score", cols["tumour_burden_score"])
    extra, extra_missing = _boolean("extrahepatic_disease", cols["extrahepatic_disease"])
    missing = k_missing | np.isnan(cea) | node_missing | np.isnan(tbs) | extra_missing
    with np.errstate(invalid="ignore"):
        tbs_points = np.where(tbs >= TBS_HIGH_FROM, 2, np.where(tbs >= TBS_MEDIUM_FROM, 1, 0))
        points = ((k == MUTANT).astype(int) + (cea > GAME_CEA_NG_ML_ABOVE) + node
                  + tbs_points + 2 * extra.astype(int))
    return _int_result(np.where(missing, 0, points), missing, index, scalar)


def game_group(game_score: Any) -> pd.Series | str:
    """GAME group: ``0-1``, ``2-3`` or ``4-7``."""
    cols, index, scalar = _broadcast(game_score=game_score)
    s = _numeric("game_score", cols["game_score"])
    if (s[~np.isnan(s)] > 7).any():
        raise ValueError(f"game_score must be between 0 and 7, got {s[s > 7][0]!r}")
    out = np.where(s >= 4, "4-7", np.where(s >= 2, "2-3", "0-1")).astype(object)
    return _str_result(out, np.isnan(s), index, scalar)


def mcs_score(ras_status: Any, node_positive: Any, max_diameter_cm: Any) -> pd.Series | int:
    """m-CS 0-3 (``Int64``): any RAS mutation, node-positive primary, largest lesion > 5 cm.

    ``ras_status`` is ``mutant`` / ``wild-type`` / ``unknown``; unknown (or missing)
    makes the score missing.
    """
    cols, index, scalar = _broadcast(ras_status=ras_status, node_positive=node_positive,
                                     max_diameter_cm=max_diameter_cm)
    ras, ras_missing = _levels("ras_status", cols["ras_status"], (MUTANT, WILD_TYPE, UNKNOWN))
    node, node_missing = _boolean("node_positive", cols["node_positive"])
    diameter = _numeric("max_diameter_cm", cols["max_diameter_cm"])
    missing = ras_missing | (ras == UNKNOWN) | node_missing | np.isnan(diameter)
    with np.errstate(invalid="ignore"):
        points = (ras == MUTANT).astype(int) + node + (diameter > MCS_DIAMETER_CM_ABOVE)
    return _int_result(np.where(missing, 0, points), missing, index, scalar)


def responder(best_response: Any) -> pd.Series | bool:
    """Responder (RECIST CR or PR) as pandas ``boolean``; missing response stays missing."""
    cols, index, scalar = _broadcast(best_response=best_response)
    r, missing = _levels("best_response", cols["best_response"],
                         RESPONDER_LEVELS + NON_RESPONDER_LEVELS)
    arr = pd.array(np.isin(r, RESPONDER_LEVELS), dtype="boolean")
    arr[missing] = pd.NA
    if scalar:
        return arr[0]
    return pd.Series(arr, index=index)


# ------------------------------------------------------------------------ the table
_DERIVED_INPUTS = ("kras", "nras", "node_positive", "disease_free_interval_months",
                   "n_liver_lesions", "max_diameter_cm", "extrahepatic_disease", "cea_ng_ml",
                   "best_response")


def add_derived_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every derived column of the ``patients`` contract (re)computed.

    Needs the input columns kras, nras, node_positive, disease_free_interval_months,
    n_liver_lesions, max_diameter_cm, extrahepatic_disease, cea_ng_ml and best_response;
    raises ``ValueError`` naming the missing ones. Works for a one-row frame.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    absent = [c for c in _DERIVED_INPUTS if c not in df.columns]
    if absent:
        raise ValueError(f"df lacks the column(s) needed for the scores: {', '.join(absent)}")
    out = df.copy()
    out["ras_status"] = ras_status(out["kras"], out["nras"])
    out["tumour_burden_score"] = tumour_burden_score(out["max_diameter_cm"],
                                                     out["n_liver_lesions"])
    out["tbs_zone"] = tbs_zone(out["tumour_burden_score"])
    out["fong_score"] = fong_score(out["node_positive"], out["disease_free_interval_months"],
                                   out["n_liver_lesions"], out["cea_ng_ml"],
                                   out["max_diameter_cm"])
    out["fong_group"] = fong_group(out["fong_score"])
    out["game_score"] = game_score(out["kras"], out["cea_ng_ml"], out["node_positive"],
                                   out["tumour_burden_score"], out["extrahepatic_disease"])
    out["game_group"] = game_group(out["game_score"])
    out["mcs_score"] = mcs_score(out["ras_status"], out["node_positive"], out["max_diameter_cm"])
    out["responder"] = responder(out["best_response"])
    out = add_resection_columns(out)
    missing_rule = [c for c in DERIVED_COLUMNS if c not in out.columns]
    if missing_rule:  # a derived column was added to the contract without a rule here
        raise ValueError(f"no rule computes the derived column(s): {', '.join(missing_rule)}")
    return out


# the rules of the resected patient and of staging read this module's helpers
from crlm.clinical_resection import (  # noqa: E402
    add_resection_columns,
    ajcc_stage,
    desmoplastic_growth,
    major_pathological_response,
    nordlinger_group,
    nordlinger_score,
    ras_mutant,
)

__all__ = [
    "DERIVED_COLUMNS", "add_derived_columns", "ajcc_stage", "desmoplastic_growth",
    "fong_group", "fong_score", "game_group", "game_score", "major_pathological_response",
    "mcs_score", "nordlinger_group", "nordlinger_score", "ras_mutant", "ras_status",
    "responder", "tbs_zone", "tumour_burden_score",
]
