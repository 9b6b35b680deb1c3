"""Serial measurements of the demo cohort: CEA, target-lesion sums, lesion counts and total
liver volume over the first year of first-line treatment, drawn from the same latent biology
as the response.

One latent response process drives both the RECIST category and the tumour's size:
the generator's response latent ``z`` (``response_logit`` plus standard logistic noise; the
patient responds when ``z > 0``, which is exactly the Bernoulli draw of the response) is
turned into the ratio of the nadir target-lesion sum to the baseline sum by
:func:`nadir_ratio`, and the stored best response is the RECIST category of that ratio
(``crlm.recist.category_from_ratio``). CEA falls with the same latent (its own noise).

Visits follow a plan with irregular times and missed visits: CEA at baseline (up to two
weeks before the first cycle) and days 28, 56, 84, 112, 168, 252 and 365; CT (target-lesion
sum and visible lesion count) at baseline (up to four weeks before) and days 56, 112, 168,
252 and 365; each follow-up visit jittered by up to +/- 10 days and missed with probability
12 %. Nothing is recorded after death or censoring; target lesions are not measured after
a hepatectomy (planned at about 3 months, 5 months after conversion chemotherapy), and a
response that was not evaluable has no follow-up CT.

What each value may depend on (the causal order): before progression, a value depends on
baseline findings and the response latent only. The tumour reaches its nadir by the first
restaging (day 56); after the progression time drawn by the generator the sum grows by
30 % over its nadir and then 0.3 % a day, and CEA doubles about every two months. A
progression before the first restaging is taken as progression outside the target lesions
(new lesions, extrahepatic disease), so the target sums of such patients rise only after
day 56. Noise: 4 % (log scale) on a target sum, 8 % on CEA (assay variability).

Total liver volume (CT volumetry, at the CT visits) is the non-tumorous parenchyma plus the
tumour: the parenchyma is drawn once per patient (log-normal, median 1,500 mL, 15 % on the
log scale: normal adult livers, docs/data.md) and kept constant (chemotherapy's effect on
the parenchyma is not modelled); the tumour is the two target lesions as ellipsoids (longest
axis the diameter, the other two 0.8 and 0.75 of it: 0.6 of the sphere) plus 1 mL for every
further lesion, and follows the target sum's noiseless course
(its volume scales with the cube of the sum's ratio to baseline, that ratio capped at
``MAX_GROWTH`` = 1.5: the simulated late growth of a progressing sum is not carried into the
liver's size; the tumour is at most ``MAX_TUMOUR_ML`` = 6,000 mL). A shrinking small tumour
therefore barely moves the total; a heavy burden (a 10 cm lesion is about 310 mL) enlarges
the liver and its response shrinks it. Noise: 3 % (log scale, volumetry variability). The
volume is drawn from its own stream, spawned from the block's generator without consuming
it (``Generator.spawn``), so every other value keeps its draws.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm import config

CEA_DAYS = (0, 28, 56, 84, 112, 168, 252, 365)
CT_DAYS = (0, 56, 112, 168, 252, 365)
JITTER_DAYS = 10
MISSED_VISIT = 0.12
NADIR_DAY = 56
CEA_NADIR_DAY = 42
SIZE_NOISE = 0.04
CEA_NOISE = 0.08
PARENCHYMA_ML = 1500.0
PARENCHYMA_SPREAD = 0.15
VOLUME_NOISE = 0.03
MAX_GROWTH = 1.5
MAX_TUMOUR_ML = 6000.0
ELLIPSOID = 0.8 * 0.75           # a lesion's volume as a fraction of its diameter's sphere
SOURCE = "synthetic"


def nadir_ratio(response_latent: np.ndarray, complete: np.ndarray,
                progressive: np.ndarray) -> np.ndarray:
    """Nadir / baseline target-lesion sum from the response latent ``z``.

    Responders (``z > 0``): CR (``complete``) -> 0; PR -> ``0.70 * exp(-0.3 z)`` (below
    0.70 for every ``z > 0``). Non-responders: PD (``progressive``) -> 1.25 to 1.60;
    SD -> ``1.15 - 0.45 * exp(0.6 z)``, strictly between 0.70 and 1.15 (kept off the
    PD boundary so that measurement noise rarely turns SD into PD).
    """
    z = np.asarray(response_latent, dtype=float)
    responder = z > 0
    pr = 0.70 * np.exp(-0.3 * np.clip(z, 0, None))
    sd = 1.15 - 0.45 * np.exp(0.6 * np.clip(z, None, 0))
    pd_ = 1.25 + 0.35 * (1 - np.exp(0.5 * np.clip(z, None, 0)))
    return np.where(responder, np.where(complete, 0.0, pr), np.where(progressive, pd_, sd))


def _visits(rng, n: int, planned: tuple[int, ...], baseline_before: int) -> np.ndarray:
    """(n, visits) days: baseline in [-baseline_before, 0], follow-up jittered, NaN if missed."""
    days = np.tile(np.asarray(planned, dtype=float), (n, 1))
    days[:, 0] = -rng.integers(0, baseline_before + 1, n)
    jitter = rng.integers(-JITTER_DAYS, JITTER_DAYS + 1, (n, len(planned) - 1))
    days[:, 1:] += jitter
    missed = rng.random((n, len(planned) - 1)) < MISSED_VISIT
    days[:, 1:][missed] = np.nan
    return days


def tumour_volume_ml(max_diameter_cm, baseline_sum_cm, n_lesions) -> np.ndarray:
    """Baseline tumour volume: the two target lesions as ellipsoids (the largest of
    ``max_diameter_cm``, the second of the rest of the sum; axes 1, 0.8 and 0.75 of the
    diameter) plus 1 mL per further lesion."""
    d1 = np.asarray(max_diameter_cm, float)
    d2 = np.clip(np.asarray(baseline_sum_cm, float) - d1, 0, None)
    further = np.clip(np.asarray(n_lesions, float) - 2, 0, None)
    return ELLIPSOID * np.pi / 6 * (d1 ** 3 + d2 ** 3) + further


def liver_volume(rng: np.random.Generator, true_size: np.ndarray, baseline_sum: np.ndarray,
                 max_diameter_cm, n_lesions) -> np.ndarray:
    """(n, visits) total liver volume in mL from the noiseless target sums ``true_size``."""
    n = len(baseline_sum)
    parenchyma = PARENCHYMA_ML * np.exp(PARENCHYMA_SPREAD * rng.standard_normal(n))
    tumour0 = tumour_volume_ml(max_diameter_cm, baseline_sum, n_lesions)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(baseline_sum[:, None] > 0, true_size / baseline_sum[:, None], 1.0)
    tumour = np.minimum(tumour0[:, None] * np.minimum(ratio, MAX_GROWTH) ** 3, MAX_TUMOUR_ML)
    total = parenchyma[:, None] + tumour
    total = total * np.exp(VOLUME_NOISE * rng.standard_normal(total.shape))
    spec = config.MEASUREMENT_KINDS["liver_volume"]
    return np.clip(np.round(total), spec.lo, spec.hi)


def simulate_measurements(rng: np.random.Generator, patient_id: np.ndarray, *,
                          response_latent, complete, progressive, response_evaluable,
                          n_lesions, max_diameter_cm, cea_ng_ml, cea_recorded,
                          progression_months, followed_months, hepatectomy,
                          initially_resectable) -> pd.DataFrame:
    """Long measurements (``crlm.store.MEASUREMENT_COLUMNS``, ``patient_id`` categorical
    over ``patient_id``) ordered by patient, kind and day."""
    n = len(patient_id)
    ratio = nadir_ratio(response_latent, complete, progressive)
    end_day = np.asarray(followed_months, float) * config.DAYS_PER_MONTH
    progression_day = np.asarray(progression_months, float) * config.DAYS_PER_MONTH
    surgery_day = np.where(initially_resectable, 90.0, 150.0) + rng.integers(0, 31, n)
    codes = np.arange(n)

    # target-lesion sum: at most two liver target lesions (RECIST 1.1)
    second = np.where(np.asarray(n_lesions) >= 2, rng.uniform(0.35, 0.9, n), 0.0)
    baseline_sum = np.round(np.asarray(max_diameter_cm, float) * (1 + second), 1)
    ct = _visits(rng, n, CT_DAYS, 28)
    t = np.clip(ct / NADIR_DAY, 0, 1)
    size = baseline_sum[:, None] * (1 + (ratio[:, None] - 1) * t)
    grows_from = np.maximum(progression_day, NADIR_DAY)[:, None]
    nadir_sum = baseline_sum[:, None] * np.maximum(ratio[:, None], 0.15)
    grown = nadir_sum * 1.30 * np.exp(0.003 * (ct - grows_from))
    size = np.where(ct > grows_from, np.maximum(size, grown), size)
    true_size = size.copy()
    size = size * np.exp(SIZE_NOISE * rng.standard_normal(size.shape))
    size[:, 0] = baseline_sum
    size = np.clip(np.round(size, 1), 0, 100)
    ct_ok = (ct <= end_day[:, None]) & (~np.asarray(hepatectomy, bool)[:, None]
                                         | (ct < surgery_day[:, None]))
    ct_ok[:, 1:] &= np.asarray(response_evaluable, bool)[:, None]
    ct_days = np.where(ct_ok, ct, np.nan)
    count = np.tile(np.asarray(n_lesions, float)[:, None], (1, len(CT_DAYS)))
    visible = np.clip(0.4 + ratio, 0, 1)[:, None]
    count[:, 1:] = np.maximum(rng.binomial(count[:, 1:].astype(int), visible[:, :1]
                                           * np.ones((1, len(CT_DAYS) - 1))), 1)
    count = np.where(size == 0, 0, count)
    new = ct > grows_from
    count = np.where(new, count + 1 + rng.poisson(1.0, count.shape), count)

    # CEA: the same latent, its own noise; rises from the progression time itself
    cea0 = np.asarray(cea_ng_ml, float)
    log_ratio = (-0.40 * np.clip(response_latent, -4, 6) - 0.75
                 + 0.60 * rng.standard_normal(n))
    cd = _visits(rng, n, CEA_DAYS, 14)
    tc = np.clip(cd / CEA_NADIR_DAY, 0, 1)
    floor = np.minimum(cea0, 1.0)[:, None]
    cea = np.maximum(cea0[:, None] * np.exp(log_ratio[:, None] * tc), floor)
    at_progression = np.maximum(
        cea0 * np.exp(log_ratio * np.clip(progression_day / CEA_NADIR_DAY, 0, 1)), np.minimum(cea0, 1.0))
    rising = at_progression[:, None] * np.exp(0.012 * (cd - progression_day[:, None]))
    cea = np.where(cd > progression_day[:, None], np.maximum(cea, rising), cea)
    cea = cea * np.exp(CEA_NOISE * rng.standard_normal(cea.shape))
    cea[:, 0] = cea0
    cea = np.clip(np.round(cea, 1), 0.1, 99_999.0)
    cea_ok = (cd <= end_day[:, None]) & np.asarray(cea_recorded, bool)[:, None]
    cea_days = np.where(cea_ok, cd, np.nan)

    volume = liver_volume(rng.spawn(1)[0], true_size, baseline_sum, max_diameter_cm, n_lesions)

    # one row per kept (patient, kind, visit), read row-major from the visit matrices side
    # by side: ordered by patient, then kind (alphabetical), then day (visits never cross)
    kinds = ("cea", "lesion_count", "liver_volume", "target_lesion_sum")
    blocks = (cea_days, ct_days, ct_days, ct_days), (cea, count, volume, size)
    days = np.hstack(blocks[0])
    values = np.hstack(blocks[1])
    kind_of_column = np.repeat(np.arange(len(kinds), dtype=np.int8),
                               [m.shape[1] for m in blocks[0]])
    keep = np.isfinite(days) & np.isfinite(values)
    rows, columns = np.nonzero(keep)
    kind_codes = kind_of_column[columns]
    units = {k: v.unit for k, v in config.MEASUREMENT_KINDS.items()}
    present = [kinds[k] for k in np.unique(kind_codes)]
    unit_levels = sorted({units[k] for k in present})
    unit_of_kind = np.array([unit_levels.index(units[k]) if k in present else -1 for k in kinds],
                            dtype=np.int8)
    return pd.DataFrame({
        "patient_id": pd.Categorical.from_codes(codes[rows],
                                                categories=pd.Index(patient_id.astype(object))),
        "day": days[keep].astype(np.int32),
        "kind": pd.Categorical.from_codes(kind_codes, categories=list(kinds)),
        "value": values[keep].astype(float),
        "unit": pd.Categorical.from_codes(unit_of_kind[kind_codes], categories=unit_levels),
        "source": pd.Categorical.from_codes(np.zeros(len(rows), np.int8),
                                            categories=[SOURCE] if len(rows) else []),
    })
