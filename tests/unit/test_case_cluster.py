"""The prognosis cluster a scored case falls into: the Clusters page's default
clustering, the cohort's imputation and scaling, and a refusal when the case gives too
little."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crlm.analysis.clusters import DEFAULT_INPUTS, compute_clusters
from crlm.cases.cluster import (
    CaseCluster, case_cluster, case_missing, cluster_medians, cohort_clusters,
)

# three well-separated groups of 31, 21 and 11 patients (numbered by size: 1, 2, 3)
GROUPS = (
    (31, {"n_liver_lesions": 1, "max_diameter_cm": 2.0, "cea_ng_ml": 4.0,
          "disease_free_interval_months": 30.0}, 40.0),
    (21, {"n_liver_lesions": 9, "max_diameter_cm": 9.0, "cea_ng_ml": 900.0,
          "disease_free_interval_months": 1.0}, 8.0),
    (11, {"n_liver_lesions": 4, "max_diameter_cm": 4.5, "cea_ng_ml": 60.0,
          "disease_free_interval_months": 12.0}, 20.0),
)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for g, (n, centre, os_start) in enumerate(GROUPS):
        for i in range(n):
            rows.append({
                "patient_id": f"P{g}-{i}",
                "n_liver_lesions": centre["n_liver_lesions"],
                "max_diameter_cm": centre["max_diameter_cm"] * (1 + 0.05 * rng.normal()),
                "cea_ng_ml": centre["cea_ng_ml"] * (1 + 0.05 * rng.normal()),
                "disease_free_interval_months": centre["disease_free_interval_months"]
                * (1 + 0.05 * rng.normal()),
                # every patient dies: the Kaplan–Meier median is the middle time
                "os_months": os_start + i, "os_event": True,
                "pfs_months": os_start / 2 + i, "pfs_event": True})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def analysis(cohort):
    return cohort_clusters(cohort)


def _case(**values) -> pd.DataFrame:
    return pd.DataFrame([values])


def test_the_default_clustering_is_the_clusters_page_one(cohort, analysis):
    page = compute_clusters(cohort, DEFAULT_INPUTS, "hierarchical", None, "OS", n_bootstrap=3)
    np.testing.assert_array_equal(analysis.clustering.labels, page.clustering.labels)
    assert analysis.clustering.k == 3
    assert list(analysis.clustering.sizes) == [31, 21, 11]


def test_a_case_joins_the_cluster_of_patients_like_it_with_its_size_and_medians(cohort,
                                                                                 analysis):
    case = _case(**GROUPS[1][1])
    got = case_cluster(case, cohort, analysis)
    assert got.assigned and got.cluster == "Cluster 2" and got.k == 3
    assert got.size == 21 and got.n_patients == 63 and not got.missing
    assert got.medians == {"OS": pytest.approx(8.0 + 10), "PFS": pytest.approx(4.0 + 10)}
    assert got.text == ("Prognosis cluster: Cluster 2 of 3 (21 of 63 patients; median OS "
                        "18.0 months; median PFS 14.0 months)")
    # computed from the cohort alone, the same answer
    assert case_cluster(case, cohort) == got
    small = case_cluster(_case(**GROUPS[2][1]), cohort, analysis)
    assert small.cluster == "Cluster 3" and small.medians["OS"] == pytest.approx(25.0)


def test_a_missing_input_takes_the_cohort_median(cohort, analysis):
    values = dict(GROUPS[2][1])
    del values["cea_ng_ml"]
    got = case_cluster(_case(**values, cea_ng_ml=None), cohort, analysis)
    assert got.missing == ("cea_ng_ml",)
    median = float(np.median(np.log1p(cohort["cea_ng_ml"])))
    as_median = case_cluster(_case(**values, cea_ng_ml=float(np.expm1(median))), cohort, analysis)
    assert got.cluster == as_median.cluster
    assert "set to the cohort median: CEA" in got.text


def test_a_case_missing_more_than_half_the_inputs_gets_no_cluster(cohort, analysis):
    case = _case(n_liver_lesions=3, cea_ng_ml="", max_diameter_cm=None)
    assert case_missing(case, DEFAULT_INPUTS) == ("max_diameter_cm", "cea_ng_ml",
                                                  "disease_free_interval_months")
    got = case_cluster(case, cohort, analysis)
    assert not got.assigned and got.size == 0
    assert got.reason.startswith("3 of its 4 clustering inputs are missing")
    assert got.text.startswith("Prognosis cluster: not assigned (3 of its 4")
    # two of four is still half: placed
    assert case_cluster(_case(n_liver_lesions=9, max_diameter_cm=9.0), cohort,
                        analysis).cluster == "Cluster 2"


def test_a_cohort_too_small_to_cluster_is_a_reason(cohort):
    got = case_cluster(_case(**GROUPS[0][1]), cohort.head(4))
    assert not got.assigned and "cannot be clustered" in got.reason


def test_medians_are_missing_for_an_endpoint_the_cohort_does_not_record(cohort, analysis):
    medians = cluster_medians(analysis, cohort.drop(columns=["pfs_months", "pfs_event"]))
    assert set(medians) == {"Cluster 1", "Cluster 2", "Cluster 3"}
    assert all(set(m) == {"OS"} for m in medians.values())
    assert medians["Cluster 1"]["OS"] == pytest.approx(40.0 + 15)
    shown = CaseCluster(inputs=DEFAULT_INPUTS, method="hierarchical", cluster="Cluster 1",
                        size=31, n_patients=63, k=3, medians={"OS": float("nan")})
    assert shown.median_text("OS") == "not reached"
    assert shown.median_text("PFS") == "not recorded"


def test_the_case_report_states_the_cluster_and_the_tree_leaf(cohort, analysis):
    from crlm import cases
    from crlm.cases.report import case_report
    from crlm.cases.tree_leaf import CaseLeaf
    from crlm.reports import build_case_report
    from tests.support.pdf import pdf_text

    case = cases.case_from_form({"n_liver_lesions": 9, "max_diameter_cm": 9.0,
                                 "cea_ng_ml": 900.0})
    cluster = case_cluster(case, cohort, analysis)
    leaf = CaseLeaf(model_id="response.cart", task="response",
                    rules=("CEA > 200 ng/mL", "Number of liver lesions ≤ 4"), risk=0.4, n=50,
                    node=3)
    scores = pd.DataFrame(columns=["patient_id", "task", "model_id", "score"])
    rep = case_report(case, scores, cases.board_table([]), cohort_text="demo", summary="s",
                      cluster=cluster, leaves=[leaf],
                      model_labels={"response.cart": "Decision tree"})
    assert rep.notes == [
        "Summary: s",
        "Prognosis cluster: Cluster 2 of 3 (21 of 63 patients; median OS 18.0 months; "
        "median PFS 14.0 months); set to the cohort median: Disease-free interval",
        "Decision tree leaf - Decision tree: CEA > 200 ng/mL → Number of liver lesions ≤ 4; "
        "leaf: 40% responders among 50 training patients"]
    text = " ".join(pdf_text(build_case_report(rep)).split())
    assert "Prognosis cluster: Cluster 2 of 3" in text
    assert "CEA > 200 ng/mL -> Number of liver lesions <= 4" in text
