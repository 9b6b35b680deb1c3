"""The Subgroups page's comparison of a cohort's own variable within subgroups
(``crlm.analysis.subgroup_arms``) on a small imported cohort whose values the test keeps:
every hazard ratio is a Cox model fitted directly on the filtered patients of its level,
every interaction p the likelihood-ratio test on those patients, the levels offered are
the variable's levels (a numeric one cut at the filtered patients' median) and the
choices (levels, endpoint, filter, subgroup variables) are the ones used."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm import config, stats
from crlm.analysis import subgroup_arms as arms
from crlm.analysis import subgroup_effects as sg
from crlm.analysis.pages import SUBGROUP_MIN_EVENTS
from crlm.analysis.snapshot import close_stores, filter_key, snapshot
from crlm.store import CohortFilter, StoreError
from tests.support.own_variables import ARMS, LABELS, write_own_cohort

AGES = (45.0, 80.0)
SIDES = ("left", "right")
COLUMNS = ("sex", "ras_status", "extra:dose", "extra:flag")


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    cohort = write_own_cohort(tmp_path_factory.mktemp("own") / "own.duckdb")
    yield cohort
    close_stores()


@pytest.fixture(scope="module")
def snap(own):
    return snapshot(own.path, own.cohort)


def _filter(own, **kw) -> CohortFilter:
    return CohortFilter(cohort=own.cohort, **kw)


def _key(own, **kw) -> tuple:
    return filter_key(_filter(own, **kw))


def _narrowed(frame: pd.DataFrame) -> pd.DataFrame:
    """The patients of the filter ``ranges={age_years: AGES}, categories={primary_side:
    SIDES}``, selected with pandas."""
    return frame[frame["age_years"].between(*AGES) & frame["primary_side"].isin(SIDES)]


def _narrow_key(own) -> tuple:
    return _key(own, ranges={"age_years": AGES}, categories={"primary_side": SIDES})


def _compared(frame: pd.DataFrame, arm, reference: str, compared: str,
              endpoint: str) -> np.ndarray:
    """The patients of ``frame`` a comparison analyses: in either level, endpoint known."""
    time_col, event_col = config.ENDPOINTS[endpoint]
    return (np.isin(np.asarray(arm).astype(str), [reference, compared])
            & frame[time_col].notna().to_numpy() & frame[event_col].notna().to_numpy())


def _median_groups(values: pd.Series, among=None) -> tuple[np.ndarray, float]:
    """A numeric variable cut at the median of ``values`` (of the rows ``among``, all when
    None; missing: unknown)."""
    numbers = values.to_numpy(float)
    m = float(np.nanmedian(numbers if among is None else numbers[among]))
    out = np.where(values.to_numpy(float) <= m, f"≤ {m:g}", f"> {m:g}").astype(object)
    out[values.isna().to_numpy()] = "unknown"
    return out, m


def _value_groups(values: pd.Series) -> np.ndarray:
    out = np.array([f"{v:g}" for v in values.to_numpy(float)], dtype=object)
    out[values.isna().to_numpy()] = "unknown"
    return out


def _subgroup_values(frame: pd.DataFrame, among=None) -> dict[str, np.ndarray]:
    """Each of COLUMNS' level per patient of ``frame``, by its label, computed by hand (the
    dose cut at the median of the patients compared, ``among``)."""
    return {"Sex": frame["sex"].astype(str).to_numpy(),
            "RAS status": frame["ras_status"].fillna("unknown").astype(str).to_numpy(),
            LABELS["dose"]: _median_groups(frame["dose"], among)[0],
            LABELS["flag"]: _value_groups(frame["flag"])}


def _check_rows(rows: pd.DataFrame, frame: pd.DataFrame, arm: np.ndarray, reference: str,
                compared: str, endpoint: str, subgroups: dict[str, np.ndarray]) -> None:
    """``rows`` against Cox models fitted on ``frame``'s patients of each level."""
    time_col, event_col = config.ENDPOINTS[endpoint]
    known = (frame[time_col].notna() & frame[event_col].notna()).to_numpy()
    keep = known & np.isin(arm.astype(str), [reference, compared])
    t = frame[time_col].to_numpy(float)[keep]
    e = frame[event_col].to_numpy()[keep].astype(bool)
    g = (arm[keep] == compared).astype(int)
    assert list(dict.fromkeys(rows["variable"])) == list(subgroups)
    for label, values in subgroups.items():
        lv = values[keep]
        want = stats.subgroup_effects(t, e, g, lv, min_events=SUBGROUP_MIN_EVENTS)
        converged = {str(eff.level): eff.converged for eff in want.subgroups}
        got = rows[rows["variable"] == label].set_index("level")
        assert set(got.index) == set(lv)
        assert got["n"].sum() == keep.sum() and got["events"].sum() == e.sum()
        for level, row in got.iterrows():
            m = lv == level
            assert (row["n"], row["events"]) == (m.sum(), e[m].sum())
            arms_events = [e[m & (g == k)].sum() for k in (0, 1)]
            estimable = (len(set(g[m])) == 2 and e[m].sum() >= SUBGROUP_MIN_EVENTS
                         and min(arms_events) > 0)
            if estimable:
                fit = stats.cox(t[m], e[m], pd.DataFrame({"arm": g[m].astype(float)}))
                term = fit.terms[0]
                if not converged[level]:   # monotone likelihood: the hazard ratio is
                    # infinite or zero; the row says so instead of a number
                    assert abs(np.log(term.hr)) > np.log(1e6)   # the fit on rows runs off
                    assert not row["estimable"] and "monotone" in row["reason"]
                    assert np.isnan(row["estimate"]) and np.isnan(row["ci_upper"])
                    continue
                assert row["estimable"], (label, level, row["reason"])
                assert row["estimate"] == pytest.approx(term.hr, rel=1e-6)
                assert row["ci_lower"] == pytest.approx(term.ci_lower, rel=1e-6)
                assert row["ci_upper"] == pytest.approx(term.ci_upper, rel=1e-6)
            else:
                assert not row["estimable"], (label, level)
                assert np.isnan(row["estimate"]) and row["reason"]
        assert got["interaction_p_value"].to_numpy() == pytest.approx(
            [want.interaction_p_value] * len(got), rel=1e-7, nan_ok=True)


def _interaction_p(t, e, g, lv) -> float:
    """The likelihood-ratio interaction test fitted on the patient rows (every level holds
    both arms): group + level against group + level + group x level."""
    levels = sorted(set(lv))
    dummies = {f"l{k}": (lv == name).astype(float) for k, name in enumerate(levels[1:])}
    reduced = pd.DataFrame({"g": g.astype(float), **dummies})
    full = reduced.assign(**{f"g_{k}": g * v for k, v in dummies.items()})
    return stats.likelihood_ratio_test(stats.cox(t, e, full), stats.cox(t, e, reduced)).p_value


# -- arm_groups ------------------------------------------------------------------------
def test_arm_groups_names_a_categorical_arm_by_level_and_a_numeric_one_by_its_cut(own, snap):
    data = sg.with_extras(snap, own.patients[["patient_id"]])
    by_key = {v.key: v for v in sg.extra_variables(snap)}
    grouping = arms.arm_groups(data["extra:arm"], by_key["extra:arm"])
    assert grouping.groups.tolist() == [a or "unknown" for a in own.patients["arm"]]
    assert grouping.order == ARMS                  # every level, as the mapping orders them
    dose = arms.arm_groups(data["extra:dose"], by_key["extra:dose"])
    want, m = _median_groups(own.patients["dose"])
    assert dose.groups.tolist() == want.tolist() and dose.cut == pytest.approx(m)
    assert dose.order == (f"≤ {m:g}", f"> {m:g}", "unknown")
    flag = arms.arm_groups(data["extra:flag"], by_key["extra:flag"])
    assert flag.groups.tolist() == _value_groups(own.patients["flag"]).tolist()
    assert flag.order == ("0", "1", "unknown")


# -- arm_levels ------------------------------------------------------------------------
def test_arm_levels_are_the_levels_or_the_filtered_patients_median_cut(own, snap):
    assert arms.arm_levels(snap, _key(own), "extra:arm") == ARMS
    assert arms.arm_levels(snap, _narrow_key(own), "extra:arm") == ARMS
    # only the levels the filtered patients hold: a filter of one arm has nothing to compare
    assert arms.arm_levels(snap, _key(own, extra_levels={"arm": ("Lev",)}), "extra:arm") == (
        "Lev",)
    assert arms.arm_levels(snap, _key(own, extra_levels={"arm": ("Lev", "Obs")}),
                           "extra:arm") == tuple(a for a in ARMS if a in ("Lev", "Obs"))
    assert arms.arm_levels(snap, _key(own), "extra:flag") == ("0", "1")
    whole = np.nanmedian(own.patients["dose"])
    narrow = np.nanmedian(_narrowed(own.patients)["dose"])
    assert whole != narrow            # the cut follows the filter
    assert arms.arm_levels(snap, _key(own), "extra:dose") == (f"≤ {whole:g}", f"> {whole:g}")
    assert arms.arm_levels(snap, _narrow_key(own), "extra:dose") == (f"≤ {narrow:g}",
                                                                     f"> {narrow:g}")
    # a filter of patients without a dose, or of nobody: nothing to compare
    assert arms.arm_levels(snap, _key(own, extra_levels={"dose": ("unknown",)}),
                           "extra:dose") == ()
    assert arms.arm_levels(snap, _key(own, ranges={"age_years": (18, 20)}), "extra:dose") == ()


# -- arm_forest ------------------------------------------------------------------------
def test_arm_forest_is_cox_per_level_on_the_filtered_patients(own, snap):
    result = arms.arm_forest(snap, _narrow_key(own), "extra:arm", "Obs", "Lev+5FU", "OS",
                             COLUMNS)
    frame = _narrowed(own.patients)
    assert len(frame) < len(own.patients)
    assert (result.variable, result.reference, result.compared, result.endpoint) == (
        "extra:arm", "Obs", "Lev+5FU", "OS")
    assert result.rows["estimable"].sum() >= 6
    arm = frame["arm"].to_numpy()
    _check_rows(result.rows, frame, arm, "Obs", "Lev+5FU", "OS",
                _subgroup_values(frame, _compared(frame, arm, "Obs", "Lev+5FU", "OS")))
    # levels in display order: the contract's, a median cut low before high, unknown last
    by = {v: result.rows[result.rows["variable"] == v]["level"].tolist()
          for v in dict.fromkeys(result.rows["variable"])}
    assert by["Sex"] == [lv for lv in config.COLUMNS_BY_NAME["sex"].levels if lv in by["Sex"]]
    assert by["RAS status"] == ["mutant", "wild-type", "unknown"]
    assert by["Dose"][0].startswith("≤ ") and by["Dose"][1].startswith("> ")
    assert by["Obstruction"] == ["0", "1", "unknown"]
    assert result.to_dict()["rows"][0]["variable"] == "Sex"


def test_the_interaction_p_is_the_likelihood_ratio_test_on_the_patients(own, snap):
    result = arms.arm_forest(snap, _key(own), "extra:arm", "Obs", "Lev+5FU", "OS", ("sex",))
    frame = own.patients
    keep = frame["os_months"].notna().to_numpy() & frame["arm"].isin(["Obs", "Lev+5FU"])
    t = frame["os_months"].to_numpy(float)[keep]
    e = frame["os_event"].to_numpy()[keep].astype(bool)
    g = (frame["arm"].to_numpy()[keep] == "Lev+5FU").astype(int)
    p = _interaction_p(t, e, g, frame["sex"].to_numpy()[keep])
    assert result.rows["interaction_p_value"].to_numpy() == pytest.approx([p, p], rel=1e-6)


def test_swapping_the_levels_inverts_each_hazard_ratio(own, snap):
    key = _key(own)
    one = arms.arm_forest(snap, key, "extra:arm", "Lev", "Lev+5FU", "OS", ("ras_status",))
    other = arms.arm_forest(snap, key, "extra:arm", "Lev+5FU", "Lev", "OS", ("ras_status",))
    assert one.rows["level"].tolist() == other.rows["level"].tolist()
    assert one.rows["n"].tolist() == other.rows["n"].tolist()
    ok = one.rows["estimable"].to_numpy()
    assert ok.any()
    np.testing.assert_allclose(one.rows["estimate"][ok], 1 / other.rows["estimate"][ok],
                               rtol=1e-6)
    np.testing.assert_allclose(one.rows["ci_lower"][ok], 1 / other.rows["ci_upper"][ok],
                               rtol=1e-6)
    np.testing.assert_allclose(one.rows["interaction_p_value"],
                               other.rows["interaction_p_value"], rtol=1e-6)
    frame = own.patients
    _check_rows(one.rows, frame, frame["arm"].to_numpy(), "Lev", "Lev+5FU", "OS",
                {"RAS status": _subgroup_values(frame)["RAS status"]})


def test_a_numeric_variable_compares_the_halves_of_its_median_cut(own, snap):
    key = _narrow_key(own)
    low, high = arms.arm_levels(snap, key, "extra:dose")
    result = arms.arm_forest(snap, key, "extra:dose", low, high, "OS", ("sex", "extra:flag"))
    frame = _narrowed(own.patients)
    groups, _ = _median_groups(frame["dose"])
    values = _subgroup_values(frame)
    _check_rows(result.rows, frame, groups, low, high, "OS",
                {"Sex": values["Sex"], LABELS["flag"]: values[LABELS["flag"]]})
    # the patients without a dose are in neither half
    assert result.rows.groupby("variable")["n"].sum().max() == (
        frame["os_months"].notna() & frame["dose"].notna()).sum()


def test_a_yes_no_variable_on_another_endpoint(own, snap):
    result = arms.arm_forest(snap, _key(own), "extra:flag", "0", "1", "PFS",
                             ("center", "extra:dose"))
    frame = own.patients
    assert result.endpoint == "PFS"
    flag = _value_groups(frame["flag"])
    _check_rows(result.rows, frame, flag, "0", "1", "PFS",
                {"Centre": frame["center"].astype(str).to_numpy(),
                 LABELS["dose"]: _median_groups(frame["dose"],
                                                _compared(frame, flag, "0", "1", "PFS"))[0]})
    # every patient has a PFS (OS is unknown for five): the endpoint chosen is the one used
    assert result.rows.groupby("variable")["n"].sum().max() == frame["flag"].notna().sum()


def test_an_own_variable_filter_selects_the_patients(own, snap):
    key = _key(own, extra_levels={"arm": ("Obs", "Lev")})
    result = arms.arm_forest(snap, key, "extra:arm", "Obs", "Lev", "OS", ("extra:dose",))
    frame = own.patients[own.patients["arm"].isin(["Obs", "Lev"])]
    # the dose is cut at the median of the filtered patients compared (not the whole
    # cohort's, nor the filter's patients without the endpoint)
    arm = frame["arm"].to_numpy()
    among = _compared(frame, arm, "Obs", "Lev", "OS")
    assert np.nanmedian(frame["dose"][among]) != np.nanmedian(own.patients["dose"])
    _check_rows(result.rows, frame, arm, "Obs", "Lev", "OS",
                {LABELS["dose"]: _median_groups(frame["dose"], among)[0]})


def test_no_patient_of_the_filter_gives_an_empty_forest(own, snap):
    result = arms.arm_forest(snap, _key(own, ranges={"age_years": (18, 20)}), "extra:arm",
                             "Obs", "Lev", "OS", ("sex",))
    assert result.empty and result.to_dict()["rows"] == []
    assert result.to_dict()["reference"] == "Obs"


def test_invalid_choices_raise_naming_the_choice(own, snap):
    key = _key(own)
    with pytest.raises(ValueError, match="two different levels"):
        arms.arm_forest(snap, key, "extra:arm", "Obs", "Obs", "OS", ("sex",))
    with pytest.raises((KeyError, ValueError), match="XYZ"):
        arms.arm_forest(snap, key, "extra:arm", "Obs", "Lev", "XYZ", ("sex",))
    with pytest.raises((KeyError, ValueError), match="extra:nope"):
        arms.arm_forest(snap, key, "extra:nope", "Obs", "Lev", "OS", ("sex",))
    with pytest.raises((KeyError, ValueError), match="extra:nope"):
        arms.arm_forest(snap, key, "extra:arm", "Obs", "Lev", "OS", ("extra:nope",))
    with pytest.raises((StoreError, KeyError, ValueError), match="nope"):
        arms.arm_forest(snap, key, "extra:arm", "Obs", "Lev", "OS", ("nope",))


@pytest.mark.parametrize("reference, compared", [("Obs", "Nope"), ("Nope", "Lev")])
def test_an_unknown_level_is_refused(own, snap, reference, compared):
    with pytest.raises(ValueError, match="Nope"):
        arms.arm_forest(snap, _key(own), "extra:arm", reference, compared, "OS", ("sex",))


def test_arm_levels_of_an_unknown_variable_raise_a_lookup_error(own, snap):
    with pytest.raises((LookupError, ValueError), match="extra:nope"):
        arms.arm_levels(snap, _key(own), "extra:nope")



def test_an_own_variable_named_like_a_contract_column_keeps_both_rows(tmp_path):
    """An own variable labelled "Sex" beside the contract's sex: two variables in the
    forest, the own one marked as the cohort's."""
    own = write_own_cohort(tmp_path / "clash.duckdb", n=200, cohort="clash",
                           labels={"flag": "Sex"})
    try:
        snap = snapshot(own.path, own.cohort)
        assert sg.variable_labels(snap, ("sex", "extra:flag")) == [
            "Sex", "Sex (this cohort's variable)"]
        rows = arms.arm_forest(snap, _key(own), "extra:arm", "Obs", "Lev+5FU", "OS",
                               ("sex", "extra:flag")).rows
        assert list(dict.fromkeys(rows["variable"])) == ["Sex", "Sex (this cohort's variable)"]
        assert rows.groupby("variable")["n"].sum().nunique() == 1   # the same patients twice
    finally:
        close_stores()
