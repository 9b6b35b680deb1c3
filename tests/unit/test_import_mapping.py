"""Mapping files: loading, validation of the file itself, header normalisation."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crlm.config import COLUMNS_BY_NAME, PATIENT_COLUMNS
from crlm.ingest.mapping import (
    DAYS_PER_MONTH, UNIT_FACTORS, Mapping, MappingError, builtin_mappings, detect_mapping,
    load_mapping, mapping_from_dict, normalise_header, parse_mapping, value_token,
)


def test_header_normalisation_ignores_case_spaces_dashes_underscores():
    assert normalise_header("Patient-ID") == "patient_id"
    assert normalise_header("  patient  id ") == "patient_id"
    assert normalise_header("months_to_DFS_progression") == "months_to_dfs_progression"
    assert normalise_header("Months-To DFS__Progression") == "months_to_dfs_progression"


def test_value_tokens_make_codes_comparable():
    assert value_token(1) == value_token(1.0) == value_token("1") == value_token("1.0") == "1"
    assert value_token(" R ") == "r"
    assert value_token(True) == "1"
    assert value_token(2.5) == "2.5"


def test_builtin_tcia_mapping_loads_by_name():
    assert "tcia-crlm" in builtin_mappings()
    m = load_mapping("tcia-crlm")
    assert m.columns["patient_id"] == "patient_id"
    assert m.columns["max_tumor_size"] == "max_diameter_cm"
    assert m.columns["months_to_dfs_progression"] == "rfs_months"
    assert m.columns["vital_status_dfs"] == "rfs_event"
    assert m.columns["total_response_percent"] == "pathological_response_percent"
    assert m.codes["sex"] == {"1": "male", "2": "female", "m": "male", "f": "female"}
    assert "999" in m.missing
    assert m.defaults["hepatectomy"] is True
    assert {"de_identify_scout_name", "relevant_notes"} <= set(m.drop)
    assert {"kras", "nras", "braf_v600e", "ras_status", "primary_side", "n_liver_lesions",
            "best_response", "responder"} <= set(m.unavailable)
    assert m.compare == {"fong_score": "clinrisk_score"}


def test_detection_by_header_is_case_and_separator_insensitive():
    headers = ["Patient-ID", "CLINRISK_SCORE", "months_to_DFS_progression", "Vital Status DFS",
               "max-tumor-size", "node_positive_primary"]
    assert detect_mapping(headers).name == "tcia-crlm"
    assert detect_mapping(["patient_id", "age_years"]) is None


def test_yaml_and_toml_mappings_load_with_units_codes_and_defaults(tmp_path):
    yml = tmp_path / "centre.yaml"
    yml.write_text(yaml.safe_dump({
        "name": "centre-a",
        "columns": {"Patient ID": "patient_id", "Side": "primary_side", "Size (mm)": "max_diameter_cm",
                    "OS days": "os_months", "Gender": "sex"},
        "codes": {"primary_side": {"R": "right", "L": "left", "Re": "rectum"},
                  "sex": {1: "male", 2: "female"}},
        "missing": [999, "NK"],
        "column_missing": {"cea_ng_ml": [-1]},
        "units": {"max_diameter_cm": "mm", "os_months": "days"},
        "defaults": {"center": "Centre A", "cohort_split": "external"},
        "extra": ["BMI"], "drop": ["Notes"],
    }))
    m = load_mapping(yml)
    assert m.columns["patient_id"] == "patient_id" and m.columns["size_(mm)"] == "max_diameter_cm"
    assert m.unit_factor("max_diameter_cm") == pytest.approx(0.1)
    assert m.unit_factor("os_months") == pytest.approx(1 / DAYS_PER_MONTH)
    assert m.codes["primary_side"]["r"] == "right"
    assert "-1" in m.missing_tokens("cea_ng_ml") and "-1" not in m.missing_tokens("age_years")
    toml = tmp_path / "centre.toml"
    toml.write_text('name = "centre-b"\n[columns]\n"Patient-ID" = "patient_id"\n'
                    '[units]\npfs_months = "weeks"\n[defaults]\ncenter = "B"\n')
    mb = load_mapping(toml)
    assert mb.unit_factor("pfs_months") == pytest.approx(7 / DAYS_PER_MONTH)
    assert mb.defaults["center"] == "B"


@pytest.mark.parametrize("doc, fragment", [
    ({"name": "x", "columns": {"age": "age_in_years"}}, "'age_in_years' is not a column"),
    ({"name": "x", "units": {"max_diameter_cm": "inches"}}, "unknown unit 'inches'"),
    ({"name": "x", "units": {"sex": "cm"}}, "has no unit"),
    ({"name": "x", "codes": {"sex": {1: "man"}}}, "'man' is not a level of sex"),
    ({"name": "x", "codes": {"sex": ["male"]}}, "must be a non-empty table"),
    ({"name": "x", "columns": ["age"]}, "'columns' must be a table"),
    ({"name": "x", "colums": {}}, "unknown key(s) 'colums'"),
    ({"columns": {}}, "'name' must be"),
    ({"name": "x", "columns": {"a": "age_years", "b": "age_years"}}, "several source columns"),
    ({"name": "x", "defaults": {"fong_score": 2}}, "cannot have a default"),
    ({"name": "x", "defaults": {"cohort_split": "training"}}, "not a level of cohort_split"),
    ({"name": "x", "extra": ["bmi"], "drop": ["BMI"]}, "more than one of"),
    ({"name": "x", "compare": {"age_years": "age"}}, "not a derived score"),
    ({"name": "x", "proxies": {"n_liver_lesions": {"source": "m"}}}, "must be a table with"),
    (["name", "x"], "top level must be a table"),
])
def test_bad_mappings_are_refused_with_a_clear_message(doc, fragment):
    with pytest.raises(MappingError) as info:
        mapping_from_dict(doc, source="t.yaml")
    assert fragment in str(info.value)


def test_unreadable_mapping_files_raise_mapping_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(bad)
    with pytest.raises(MappingError, match="no such file and not a built-in"):
        load_mapping(tmp_path / "absent.yaml")
    other = tmp_path / "m.json"
    other.write_text("{}")
    with pytest.raises(MappingError, match="unknown mapping format"):
        load_mapping(other)
    with pytest.raises(MappingError, match="not valid TOML"):
        parse_mapping("name = = 1", fmt="toml")


# ------------------------------------------------------------------ property-based
_UNIT_COLUMNS = [c for c in PATIENT_COLUMNS if c.unit in UNIT_FACTORS]
_CATEGORY_COLUMNS = [c for c in PATIENT_COLUMNS if c.kind == "category" and c.levels
                     and not c.derived]
_TARGETS = [c.name for c in PATIENT_COLUMNS if not c.derived]
_header_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF -_0123456789", min_size=1,
                       max_size=20).filter(lambda s: normalise_header(s) != "")


@st.composite
def valid_mappings(draw) -> dict:
    targets = draw(st.lists(st.sampled_from(_TARGETS), unique=True, max_size=8))
    headers = draw(st.lists(_header_text, min_size=len(targets), max_size=len(targets),
                            unique_by=normalise_header))
    doc: dict = {"name": draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)),
                 "columns": dict(zip(headers, targets))}
    cats = draw(st.lists(st.sampled_from(_CATEGORY_COLUMNS), unique_by=lambda c: c.name,
                         max_size=3))
    doc["codes"] = {c.name: {draw(st.one_of(st.integers(0, 99), st.text("ABCxyz", min_size=1,
                                                                             max_size=3))):
                             draw(st.sampled_from(c.levels))} for c in cats}
    units = draw(st.lists(st.sampled_from(_UNIT_COLUMNS), unique_by=lambda c: c.name,
                          max_size=3))
    doc["units"] = {c.name: draw(st.sampled_from(sorted(UNIT_FACTORS[c.unit]))) for c in units}
    doc["missing"] = draw(st.lists(st.one_of(st.integers(-1000, 1000), st.text("NAK", max_size=3)),
                                   max_size=3))
    doc["defaults"] = {"center": draw(st.text("ABCDEF ", min_size=1).filter(str.strip)),
                       "cohort_split": draw(st.sampled_from(["development", "external"]))}
    used = {normalise_header(h) for h in headers}
    extra = draw(st.lists(_header_text, max_size=3, unique_by=normalise_header))
    doc["extra"] = [h for h in extra if normalise_header(h) not in used]
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_mappings(), st.sampled_from(["yaml", "toml-ish"]))
def test_random_valid_mappings_load(doc, via):
    if via == "yaml":
        m = parse_mapping(yaml.safe_dump(doc, allow_unicode=True), fmt="yaml")
    else:
        m = mapping_from_dict(doc)
    assert isinstance(m, Mapping)
    assert set(m.columns.values()) == set(doc["columns"].values())
    for target in m.units:
        assert m.unit_factor(target) > 0
    assert m.to_dict()["name"] == doc["name"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(["name", "columns", "codes", "units", "missing",
                                               "defaults", "extra", "proxies", "compare"]),
        inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_random_documents_give_mapping_error_or_a_mapping(doc):
    try:
        result = mapping_from_dict(doc)
    except MappingError:
        return
    assert isinstance(result, Mapping)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["yaml", "toml"]))
def test_random_text_gives_mapping_error_or_a_mapping(text, fmt):
    try:
        result = parse_mapping(text, fmt=fmt)
    except MappingError:
        return
    assert isinstance(result, Mapping)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(COLUMNS_BY_NAME)), _json, max_size=4),
       st.sampled_from(["codes", "units", "defaults", "column_missing", "proxies", "compare"]))
def test_random_sections_on_real_columns_never_escape_as_other_errors(section, key):
    try:
        mapping_from_dict({"name": "fuzz", key: section})
    except MappingError:
        pass
