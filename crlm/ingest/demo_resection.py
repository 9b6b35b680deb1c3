"""The demo cohort's later contract columns: the N category, the resection margin, the
pathological response of the resected specimen, recurrence-free survival and the
pushing growth pattern.

They are drawn from their own random stream (``later_rng``, one per block, derived from
the cohort's seed apart from the block's main stream), after every earlier draw, so that
each column the cohort had before keeps exactly its values for the same seed. Each is
drawn from values of its own causal step or earlier: the N category from the primary,
the margin from the liver disease and the response, the pathological response from the
same latent response that gives the RECIST category (and the planned treatment), and
recurrence-free survival from the resection month and the drawn progression. The
pushing growth pattern is drawn last, among the resected patients whose pattern is not
desmoplastic, so that the desmoplastic flag (which the outcomes read) is unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crlm.ingest.demo_draws import bernoulli, flag_array, sigmoid, text_array

N_CATEGORIES = ("N0", "N1", "N2")
# codes 0-2 are the block's own draw; code 3 (pushing) comes from this stream
GROWTH_PATTERNS = ("desmoplastic", "replacement", "mixed", "pushing")
# pushing is the rarest pattern (review §2.1.1 names it with the desmoplastic and the
# replacement patterns; its share here is an assumption of a few per cent of resections):
# this share of the resected, non-desmoplastic patients, about 4 % of resections
PUSHING_SHARE = 0.06


def simulate_resection(later_rng: np.random.Generator, *, t_stage: np.ndarray,
                       node_positive: np.ndarray, node_missing: np.ndarray,
                       burden: np.ndarray, n_lesions: np.ndarray, bilobar: np.ndarray,
                       anti_vegf: np.ndarray, initially_resectable: np.ndarray,
                       response_latent: np.ndarray, is_responder: np.ndarray,
                       complete: np.ndarray, hepatectomy: np.ndarray,
                       pfs_months: np.ndarray, pfs_event: np.ndarray, growth: np.ndarray,
                       growth_missing: np.ndarray) -> dict[str, pd.array]:
    """The later columns of one block, as the patients frame's arrays.

    ``t_stage`` holds the codes 0-3 of T1-T4; ``node_positive`` the drawn truth and
    ``node_missing`` the rows whose node status is not recorded (their N category is
    not recorded either); ``growth`` the codes 0-2 of the first three
    ``GROWTH_PATTERNS`` and ``growth_missing`` the rows without a recorded pattern.
    Every other argument is the block's array of that name.
    """
    rng = later_rng
    n = len(t_stage)

    # N category: N2 (4 or more nodes) more often under a T4 primary
    n2 = node_positive & bernoulli(rng, sigmoid(-0.5 + 0.6 * (t_stage == 3)), n)
    n_code = np.where(node_positive, np.where(n2, 2, 1), 0)

    # resection margin (mm): R1 (0 mm) more often with more and bilobar disease, wider
    # margins after a response; recorded for resected patients only
    r1 = bernoulli(rng, sigmoid(-2.0 + 0.35 * burden + 0.4 * bilobar
                                + 0.1 * np.minimum(n_lesions - 1, 8)), n)
    margin = np.exp(np.log(6.0) - 0.30 * burden + 0.30 * is_responder
                    + 0.8 * rng.standard_normal(n))
    margin = np.where(r1, 0.0, np.clip(margin, 0.1, 60.0)).round(1)
    margin_missing = ~hepatectomy | bernoulli(rng, 0.05, n)

    # pathological response (% of the tumour non-viable), from the latent response
    share = sigmoid(-0.5 + 0.55 * response_latent + 0.45 * anti_vegf
                    + 0.7 * rng.standard_normal(n))
    complete_pathology = complete & is_responder & bernoulli(rng, 0.35, n)
    response_percent = np.where(complete_pathology, 100.0, np.round(100.0 * share))
    response_missing = ~hepatectomy | bernoulli(rng, 0.08, n)

    # recurrence-free survival from the resection: the resection month follows the
    # plan (perioperative chemotherapy, or conversion), before the recorded progression
    surgery_month = np.where(initially_resectable, rng.uniform(2.5, 4.5, n),
                             rng.uniform(5.0, 9.0, n))
    surgery_month = np.minimum(surgery_month, 0.5 * pfs_months)
    rfs_months = np.maximum((pfs_months - surgery_month).round(1), 0.1)
    rfs_months = np.minimum(rfs_months, pfs_months)

    # pushing growth pattern: drawn after every other later column, so that they keep
    # their values; only for resected patients whose pattern is not desmoplastic
    pushing = hepatectomy & (growth != 0) & bernoulli(rng, PUSHING_SHARE, n)
    growth = np.where(pushing, GROWTH_PATTERNS.index("pushing"), growth)

    return {
        "n_category": text_array(N_CATEGORIES, n_code, node_missing),
        "resection_margin_mm": np.where(margin_missing, np.nan, margin),
        "pathological_response_percent": np.where(response_missing, np.nan,
                                                  response_percent),
        "rfs_months": np.where(hepatectomy, rfs_months, np.nan),
        "rfs_event": flag_array(pfs_event, ~hepatectomy),
        "growth_pattern": text_array(GROWTH_PATTERNS, growth, growth_missing),
    }
