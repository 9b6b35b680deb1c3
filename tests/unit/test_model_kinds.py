import numpy as np
import pandas as pd

from crlm.models import kinds
from crlm.models.families import FAMILIES


def test_every_family_kind_is_known():
    assert {f.kind for f in FAMILIES.values()} <= set(kinds.KINDS)


def test_registry_filters():
    records = pd.DataFrame({"kind": ["clinical", "trained", "fusion", "federated"]},
                           index=["fong", "lr", "fu", "fed"])
    assert list(kinds.trained_only(records).index) == ["lr", "fu", "fed"]
    assert list(kinds.clinical_only(records).index) == ["fong"]
    empty = records.iloc[:0]
    assert kinds.trained_only(empty).empty


def test_probability_checks():
    assert kinds.is_probability(np.array([0.1, np.nan, 0.9]))
    assert not kinds.is_probability(np.array([0.1, 1.2]))
    assert not kinds.is_probability(np.array([np.nan]))
    assert not kinds.shows_probability("clinical", np.array([0.2, 0.4]))
    assert kinds.shows_probability("trained", np.array([0.2, 0.4]))
