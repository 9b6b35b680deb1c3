"""The board's cost ratio for the cost-sensitive random forest, as a setting of a run.

The ratio is *missed responder : unnecessary treatment*: how much worse the board
judges calling a responder a non-responder (a withheld treatment that would have
worked) than calling a non-responder a responder (a toxic treatment that does not
work). The default is 1 : 2 (``families_review``); ``train --cost-ratio`` sets another
for the run. It is written ``A:B`` (``1:2``, ``1 : 3``, ``2.5:1``) or as one number R
meaning R : 1 (``0.5`` is 1 : 2). Both sides are scaled so that the smaller is 1 (only
the ratio changes a forest). Each becomes the class weight of the class it protects:
responders (class 1) weigh the missed-responder cost, non-responders (class 0) the
unnecessary-treatment cost. The ratio is in the family's label and its model card.
"""
from __future__ import annotations

import math
from dataclasses import replace

from crlm.models import families_review as review

MAX_RATIO = 100.0  # beyond 1 : 100 a forest predicts one class only


def parse_cost_ratio(text) -> tuple[float, float]:
    """``"1:2"`` or ``"0.5"`` -> (missed responder cost, unnecessary treatment cost), the
    smaller scaled to 1. A ``ValueError`` that says what is wrong otherwise."""
    raw = str(text).strip()
    parts = [p.strip() for p in raw.split(":")] if ":" in raw else [raw, "1"]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"the cost ratio is written A:B (missed responder : unnecessary "
                         f"treatment, e.g. 1:2) or as one number, not {raw!r}")
    try:
        missed, unnecessary = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"the cost ratio needs numbers (e.g. 1:2), not {raw!r}") from None
    if not (math.isfinite(missed) and math.isfinite(unnecessary)
            and missed > 0 and unnecessary > 0):
        raise ValueError(f"both costs of the ratio must be positive numbers, not {raw!r}")
    low = min(missed, unnecessary)
    missed, unnecessary = missed / low, unnecessary / low
    if max(missed, unnecessary) > MAX_RATIO:
        raise ValueError(f"the cost ratio {raw!r} is beyond 1 : {MAX_RATIO:g} either way")
    return missed, unnecessary


def cost_family(missed: float, unnecessary: float):
    """The ``cost_sensitive_rf`` family with these costs (label and estimator)."""
    from functools import partial

    from crlm.models.families import FAMILIES

    base = FAMILIES["cost_sensitive_rf"]
    return replace(base, label=f"Cost-sensitive random forest "
                               f"({review.cost_label(missed, unnecessary)})",
                   build=partial(review.cost_sensitive_rf, missed=float(missed),
                                 unnecessary=float(unnecessary)))


def use_cost_ratio(missed: float = review.MISSED_RESPONDER_COST,
                   unnecessary: float = review.UNNECESSARY_TREATMENT_COST) -> None:
    """Register ``cost_sensitive_rf`` (and its tuned counterpart) with these costs for
    the rest of the process; called without arguments it restores the board's default."""
    from crlm.models.families import register_family
    from crlm.models.tuning import register_tuned

    register_family(cost_family(missed, unnecessary))
    register_tuned(["cost_sensitive_rf"])
