"""Clinical rules of the resected patient and of staging, vectorised like
:mod:`crlm.clinical` (Series in, Series out; scalars in, a scalar out), with the same
rule for missing inputs: the result is missing, never a guess.

* Nordlinger score (Nordlinger et al., Cancer 1996;77:1254-62): one point each for
  age >= 60 years, extension of the primary into the serosa (recorded here as T4),
  a node-positive primary, an interval from the primary to the liver metastases
  < 2 years (disease-free interval < 24 months), 4 or more liver metastases, a
  largest metastasis >= 5 cm and a resection margin < 1 cm (< 10 mm); groups
  0-2 (low), 3-4 (intermediate), 5-7 (high risk).
* AJCC stage group (8th edition): every CRLM patient is M1, stage IV; IVA (M1a) when
  the liver is the only metastatic site, ``IVB or IVC`` with extrahepatic disease
  (M1b: two or more sites, M1c: the peritoneum, which the contract does not record
  apart).
* Major pathological response (Blazer et al., J Clin Oncol 2008): fewer than 50% of
  the resected tumour's cells viable, i.e. a non-viable share above 50%.
* RAS mutant and desmoplastic growth: the yes/no targets of the CT tasks, read from
  the RAS status and the growth pattern.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crlm.clinical import (
    MUTANT,
    UNKNOWN,
    WILD_TYPE,
    _boolean,
    _broadcast,
    _int_result,
    _levels,
    _numeric,
    _str_result,
)

NORDLINGER_AGE_FROM = 60.0
NORDLINGER_DFI_MONTHS_BELOW = 24.0
NORDLINGER_LESIONS_FROM = 4
NORDLINGER_DIAMETER_CM_FROM = 5.0
NORDLINGER_MARGIN_MM_BELOW = 10.0
NORDLINGER_SEROSA_T = ("T4",)
T_LEVELS = ("T1", "T2", "T3", "T4")
MAJOR_RESPONSE_ABOVE_PERCENT = 50.0
GROWTH_LEVELS = ("desmoplastic", "pushing", "replacement", "mixed")
STAGE_LIVER_ONLY = "IVA"
STAGE_EXTRAHEPATIC = "IVB or IVC"


def _bool_result(values: np.ndarray, missing: np.ndarray, index: pd.Index, scalar: bool):
    arr = pd.array(values.astype(bool), dtype="boolean")
    arr[missing] = pd.NA
    if scalar:
        return arr[0]
    return pd.Series(arr, index=index)


def nordlinger_score(age_years: Any, t_stage: Any, node_positive: Any,
                     disease_free_interval_months: Any, n_liver_lesions: Any,
                     max_diameter_cm: Any, resection_margin_mm: Any) -> pd.Series | int:
    """Nordlinger score 0-7 (``Int64``); missing if any of the seven inputs is missing.

    One point each: age >= 60; T4 primary (serosa); node-positive primary; disease-free
    interval < 24 months; >= 4 liver lesions; largest lesion >= 5 cm; margin < 10 mm.
    """
    cols, index, scalar = _broadcast(
        age_years=age_years, t_stage=t_stage, node_positive=node_positive,
        disease_free_interval_months=disease_free_interval_months,
        n_liver_lesions=n_liver_lesions, max_diameter_cm=max_diameter_cm,
        resection_margin_mm=resection_margin_mm)
    age = _numeric("age_years", cols["age_years"])
    t, t_missing = _levels("t_stage", cols["t_stage"], T_LEVELS)
    node, node_missing = _boolean("node_positive", cols["node_positive"])
    dfi = _numeric("disease_free_interval_months", cols["disease_free_interval_months"])
    lesions = _numeric("n_liver_lesions", cols["n_liver_lesions"])
    diameter = _numeric("max_diameter_cm", cols["max_diameter_cm"])
    margin = _numeric("resection_margin_mm", cols["resection_margin_mm"])
    missing = (np.isnan(age) | t_missing | node_missing | np.isnan(dfi) | np.isnan(lesions)
               | np.isnan(diameter) | np.isnan(margin))
    with np.errstate(invalid="ignore"):
        points = ((age >= NORDLINGER_AGE_FROM).astype(int) + np.isin(t, NORDLINGER_SEROSA_T)
                  + node + (dfi < NORDLINGER_DFI_MONTHS_BELOW)
                  + (lesions >= NORDLINGER_LESIONS_FROM)
                  + (diameter >= NORDLINGER_DIAMETER_CM_FROM)
                  + (margin < NORDLINGER_MARGIN_MM_BELOW))
    return _int_result(np.where(missing, 0, points), missing, index, scalar)


def nordlinger_group(nordlinger_score: Any) -> pd.Series | str:
    """Nordlinger group: ``0-2``, ``3-4`` or ``5-7``."""
    cols, index, scalar = _broadcast(nordlinger_score=nordlinger_score)
    s = _numeric("nordlinger_score", cols["nordlinger_score"])
    if (s[~np.isnan(s)] > 7).any():
        raise ValueError(f"nordlinger_score must be between 0 and 7, got {s[s > 7][0]!r}")
    out = np.where(s >= 5, "5-7", np.where(s >= 3, "3-4", "0-2")).astype(object)
    return _str_result(out, np.isnan(s), index, scalar)


def ajcc_stage(extrahepatic_disease: Any) -> pd.Series | str:
    """AJCC 8th stage group of a CRLM patient: ``IVA`` (liver only) or ``IVB or IVC``."""
    cols, index, scalar = _broadcast(extrahepatic_disease=extrahepatic_disease)
    extra, missing = _boolean("extrahepatic_disease", cols["extrahepatic_disease"])
    out = np.where(extra, STAGE_EXTRAHEPATIC, STAGE_LIVER_ONLY).astype(object)
    return _str_result(out, missing, index, scalar)


def major_pathological_response(pathological_response_percent: Any) -> pd.Series | bool:
    """True when more than 50% of the resected tumour is non-viable (< 50% viable cells)."""
    cols, index, scalar = _broadcast(pathological_response_percent=pathological_response_percent)
    p = _numeric("pathological_response_percent", cols["pathological_response_percent"])
    if (p[~np.isnan(p)] > 100).any():
        raise ValueError("pathological_response_percent must be between 0 and 100, got "
                         f"{p[p > 100][0]!r}")
    with np.errstate(invalid="ignore"):
        major = p > MAJOR_RESPONSE_ABOVE_PERCENT
    return _bool_result(major, np.isnan(p), index, scalar)


def ras_mutant(ras_status: Any) -> pd.Series | bool:
    """RAS status as yes/no: ``mutant`` True, ``wild-type`` False, ``unknown`` missing."""
    cols, index, scalar = _broadcast(ras_status=ras_status)
    ras, missing = _levels("ras_status", cols["ras_status"], (MUTANT, WILD_TYPE, UNKNOWN))
    return _bool_result(ras == MUTANT, missing | (ras == UNKNOWN), index, scalar)


def desmoplastic_growth(growth_pattern: Any) -> pd.Series | bool:
    """Growth pattern as yes/no: desmoplastic True, any other pattern False."""
    cols, index, scalar = _broadcast(growth_pattern=growth_pattern)
    growth, missing = _levels("growth_pattern", cols["growth_pattern"], GROWTH_LEVELS)
    return _bool_result(growth == "desmoplastic", missing, index, scalar)


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """``df[name]``, or an all-missing column when the frame does not carry it."""
    if name in df.columns:
        return df[name]
    return pd.Series(pd.NA, index=df.index, dtype="object")


def add_resection_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (changed in place and returned) with the derived staging, pathology and
    Nordlinger columns; a frame without one of their inputs gets them missing."""
    df["ras_mutant"] = ras_mutant(df["ras_status"])
    df["ajcc_stage"] = ajcc_stage(df["extrahepatic_disease"])
    df["desmoplastic_growth"] = desmoplastic_growth(_column(df, "growth_pattern"))
    df["major_pathological_response"] = major_pathological_response(
        _column(df, "pathological_response_percent"))
    df["nordlinger_score"] = nordlinger_score(
        _column(df, "age_years"), _column(df, "t_stage"), df["node_positive"],
        df["disease_free_interval_months"], df["n_liver_lesions"], df["max_diameter_cm"],
        _column(df, "resection_margin_mm"))
    df["nordlinger_group"] = nordlinger_group(df["nordlinger_score"])
    return df


__all__ = [
    "add_resection_columns", "ajcc_stage", "desmoplastic_growth", "major_pathological_response",
    "nordlinger_group", "nordlinger_score", "ras_mutant",
]
