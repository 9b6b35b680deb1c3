"""The cohort filter on an import's own variables (the colon trial's arm, nodes,
differentiation), counted against pandas on the CSV, and what a cohort records."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h

from crlm.ingest.importer import import_file
from crlm.store import (
    CATEGORY_FILTERS, RANGE_FILTERS, UNKNOWN, CohortFilter, FilterError, Store, count_patients,
    load_cohort, load_extra_spans, load_recorded_columns,
)

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"


@pytest.fixture(scope="module")
def colon_store(tmp_path_factory):
    from tests.support.colon import MAPPING

    root = tmp_path_factory.mktemp("colon_filters")
    (root / "colon.yaml").write_text(MAPPING)
    store = Store(root / "colon.duckdb")
    assert import_file(store, DATA / "colon_trial.csv", mapping=root / "colon.yaml",
                       cohort="colon").written
    yield store
    store.close()


@pytest.fixture(scope="module")
def csv() -> pd.DataFrame:
    return pd.read_csv(DATA / "colon_trial.csv")


@pytest.mark.parametrize("levels, ranges, expected", [
    ({"rx": ("Lev+5FU",)}, {}, lambda d: d["rx"] == "Lev+5FU"),
    ({"rx": ("Obs", "Lev")}, {}, lambda d: d["rx"].isin(["Obs", "Lev"])),
    ({"differ": ("poor",)}, {}, lambda d: d["differ"] == 3),
    ({"differ": ("unknown",)}, {}, lambda d: d["differ"].isna()),
    ({"differ": ("well", "unknown")}, {}, lambda d: (d["differ"] == 1) | d["differ"].isna()),
    ({}, {"nodes": (3, None)}, lambda d: d["nodes"] >= 3),
    ({}, {"nodes": (None, 2)}, lambda d: d["nodes"] <= 2),
    ({"rx": ("Obs",)}, {"nodes": (1, 4), "extent": (3, 3)},
     lambda d: (d["rx"] == "Obs") & d["nodes"].between(1, 4) & (d["extent"] == 3)),
])
def test_extra_filters_count_what_pandas_counts(colon_store, csv, levels, ranges, expected):
    filt = CohortFilter(cohort="colon", extra_levels=levels, extra_ranges=ranges)
    n = int(expected(csv).sum())
    assert 0 < n < len(csv)
    assert count_patients(colon_store, filt) == n
    assert len(load_cohort(colon_store, filt, ["patient_id"])) == n
    # combined with a contract column's filter
    both = CohortFilter(cohort="colon", categories={"sex": ("male",)}, extra_levels=levels,
                        extra_ranges=ranges)
    assert count_patients(colon_store, both) == int((expected(csv) & (csv["sex"] == 1)).sum())


def test_extra_filters_round_trip_through_a_link():
    filt = CohortFilter(cohort="colon", extra_levels={"rx": ("Lev+5FU", "Obs")},
                        extra_ranges={"nodes": (2, None), "age x": (1.5, 7.25)})
    params = filt.to_query_params()
    assert params["extra:rx"] == "Lev+5FU,Obs" and params["extra:nodes"] == "2.."
    assert params["extra:age x"] == "1.5..7.25"
    assert CohortFilter.from_query_params(params) == filt
    assert "rx: Lev+5FU, Obs" in filt.describe() and "nodes 2–" in filt.describe()


def test_a_level_or_name_from_a_link_is_a_bound_value_never_sql(colon_store):
    hostile = "Obs') OR 1=1 --"
    filt = CohortFilter(cohort="colon", extra_levels={hostile: (hostile,)})
    where, params = filt.where()
    assert hostile not in where and hostile in params
    assert count_patients(colon_store, filt) == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"extra_ranges": {"nodes": (5, 2)}}, "extra:nodes: lower bound 5 is above upper bound 2"),
    ({"extra_ranges": {"nodes": ("a", None)}}, "extra:nodes: 'a' is not a number"),
    ({"extra_levels": {"": ("x",)}}, "not a variable name"),
    ({"extra_levels": {"a\nb": ("x",)}}, r"extra:'a\\nb': not a variable name"),
    ({"extra_levels": {"rx": ("Obs",)}, "extra_ranges": {"rx": (1, 2)}}, "both levels and a range"),
])
def test_a_bad_extra_filter_is_refused_with_its_name(kwargs, message):
    with pytest.raises(FilterError, match=message):
        CohortFilter(cohort="colon", **kwargs)


def test_recorded_columns_and_extra_spans(colon_store, csv):
    recorded = load_recorded_columns(colon_store, "colon", (*CATEGORY_FILTERS, *RANGE_FILTERS))
    # ras_status is stored as 'unknown' for every patient: not recorded
    assert recorded == ["center", "cohort_split", "sex", "age_years"]
    spans = load_extra_spans(colon_store, "colon").set_index("feature")
    assert (spans.loc["nodes", "lo"], spans.loc["nodes", "hi"]) == (csv["nodes"].min(),
                                                                    csv["nodes"].max())
    assert spans.loc["nodes", "n"] == csv["nodes"].notna().sum()
    assert bool(spans.loc["rx", "whole"]) and spans.loc["rx", "hi"] == 2


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st_h.dictionaries(
    st_h.one_of(st_h.sampled_from(["extra:rx", "extra:nodes", "extra:", "extra:\n"]),
                st_h.text(max_size=20).map(lambda t: "extra:" + t)),
    st_h.text(max_size=40), max_size=4))
def test_any_extra_link_parameters_give_a_bound_filter_or_a_filter_error(colon_store, params):
    try:
        filt = CohortFilter.from_query_params({"cohort": "colon", **params})
    except FilterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    where, values = filt.where()
    assert where.count("?") == len(values)
    for value in values:
        if isinstance(value, float):
            assert math.isfinite(value)
    # no name or level reaches the SQL text: the same filter with every name and level
    # replaced by a placeholder gives the same text
    names = {n: f"a{i:03d}" for i, n in enumerate(sorted(filt.extra_levels))}
    names.update({n: f"b{i:03d}" for i, n in enumerate(sorted(filt.extra_ranges))})
    placeholder = CohortFilter(
        cohort="colon",
        extra_levels={names[n]: tuple(v if v == UNKNOWN else f"v{j:03d}"
                                      for j, v in enumerate(vs))
                      for n, vs in filt.extra_levels.items()},
        extra_ranges={names[n]: r for n, r in filt.extra_ranges.items()})
    assert placeholder.where()[0] == where
    assert 0 <= count_patients(colon_store, filt) <= 929
    assert CohortFilter.from_query_params(filt.to_query_params()) == filt


def test_a_filter_caption_names_a_variable_by_its_mapping_label():
    labels = {"rx": "Treatment arm", "nodes": "Positive lymph nodes", "obstruct": "Obstruction",
              "differ": "Differentiation"}
    filt = CohortFilter(cohort="colon", extra_levels={"rx": ("Lev+5FU",)},
                        extra_ranges={"nodes": (3, 33), "obstruct": (1, 1)}, extra_labels=labels)
    text = filt.describe()
    assert "Treatment arm: Lev+5FU" in text and "Positive lymph nodes 3–33" in text
    assert "Obstruction = 1" in text
    assert "rx:" not in text and "nodes 3" not in text.replace("lymph nodes 3", "")
    # labels only name what is chosen, are not part of the selection, never reach a link
    assert dict(filt.extra_labels) == {"rx": "Treatment arm", "nodes": "Positive lymph nodes",
                                       "obstruct": "Obstruction"}
    plain = CohortFilter(cohort="colon", extra_levels={"rx": ("Lev+5FU",)},
                         extra_ranges={"nodes": (3, 33), "obstruct": (1, 1)})
    assert filt == plain and filt.to_query_params() == plain.to_query_params()
    assert "Treatment arm" not in " ".join(filt.to_query_params().values())
    assert "rx: Lev+5FU" in plain.describe()


@pytest.mark.parametrize("value, expected", [(1, lambda d: d["obstruct"] == 1),
                                             (0, lambda d: d["obstruct"] == 0)])
def test_a_yes_no_variable_filters_by_one_value(colon_store, csv, value, expected):
    filt = CohortFilter(cohort="colon", extra_ranges={"obstruct": (value, value)})
    assert count_patients(colon_store, filt) == int(expected(csv).sum()) > 0
