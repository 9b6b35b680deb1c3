"""Normal and chi-square tail functions (scipy.special: lighter to import than scipy.stats)."""
from __future__ import annotations

import numpy as np
from scipy import special


def z_quantile(conf_level: float) -> float:
    """Two-sided normal quantile for a confidence level, e.g. 1.959964 for 0.95."""
    return float(special.ndtri(1 - (1 - conf_level) / 2))


def norm_sf(x):
    """Upper tail of the standard normal."""
    return special.ndtr(-np.asarray(x, dtype=float))


def chi2_sf(x, df):
    """Upper tail of the chi-square distribution."""
    return special.chdtrc(df, x)
