"""Prognosis clusters: the clustering statistics on data with a known answer, and the
Clusters page's analysis on a demo cohort."""
from __future__ import annotations

import numpy as np
import pytest

from crlm.stats.clustering import adjusted_rand, cluster_patients


def _blobs(seed=0, n=60, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    X = np.vstack([c + spread * rng.normal(size=(n, 2)) for c in centres])
    truth = np.repeat([0, 1, 2], n)
    return X, truth


def test_adjusted_rand_worked_examples():
    # the same partition under other names: 1
    assert adjusted_rand([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    # Hubert & Arabie by hand: a = [0,0,0,1,1,1], b = [0,0,1,1,2,2]
    # contingency [[2,1,0],[0,1,2]]: sum C(n_ij,2) = 1 + 1 = 2; rows C(3,2)*2 = 6;
    # columns C(2,2)*3 = 3; expected = 6*3/C(6,2) = 18/15 = 1.2; max = (6+3)/2 = 4.5
    # ARI = (2 - 1.2) / (4.5 - 1.2) = 0.8 / 3.3 = 0.242424...
    assert adjusted_rand([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.8 / 3.3)


@pytest.mark.parametrize("method", ["hierarchical", "kmeans"])
def test_three_separated_groups_are_found_and_stable(method):
    X, truth = _blobs()
    result = cluster_patients(X, method=method, n_bootstrap=8, seed=1)
    assert result.k == 3  # the silhouette criterion picks the true number
    assert adjusted_rand(truth, result.labels) == pytest.approx(1.0)
    assert sorted(result.sizes.tolist()) == [60, 60, 60]
    assert result.stability_mean > 0.95
    assert set(result.silhouette_by_k) == {2, 3, 4, 5, 6}
    assert max(result.silhouette_by_k, key=result.silhouette_by_k.get) == 3
    # a new point near the second true centre joins that cluster
    assert result.assign([[5.1, -0.1]])[0] == result.labels[truth == 1][0]
    if method == "hierarchical":
        assert result.dendrogram["icoord"] and result.dendrogram["leaves"]
    else:
        assert result.dendrogram == {}


def test_structureless_data_is_reported_unstable():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4))
    result = cluster_patients(X, method="kmeans", k=4, n_bootstrap=10, seed=2)
    assert result.k == 4 and result.criterion == "fixed by the user"
    assert result.stability_mean < 0.8


def test_bad_input_is_refused():
    X, _ = _blobs()
    with pytest.raises(ValueError, match="method"):
        cluster_patients(X, method="dbscan")
    with pytest.raises(ValueError, match="complete"):
        cluster_patients(np.array([[1.0, np.nan]] * 20))
    with pytest.raises(ValueError, match="too few"):
        cluster_patients(X[:5], k=3)


def test_more_rows_than_max_fit_are_assigned_to_the_nearest_centre():
    X, truth = _blobs(n=200)
    result = cluster_patients(X, method="hierarchical", k=3, n_bootstrap=2, max_fit=150, seed=4)
    assert result.n_fit == 150 and len(result.labels) == 600
    assert adjusted_rand(truth, result.labels) == pytest.approx(1.0)


def test_cluster_analysis_on_a_demo_cohort():
    from crlm.analysis.clusters import compute_clusters
    from crlm.ingest.demo import generate_cohort_frames
    from crlm.models.training import prepare_patients

    patients = prepare_patients(generate_cohort_frames(300, 5).patients)
    result = compute_clusters(patients, method="kmeans", k=3, endpoint="PFS", n_bootstrap=3)
    assert result.clustering.k == 3 and len(result.clusters) == 300
    assert set(result.km) == {"Cluster 1", "Cluster 2", "Cluster 3"}
    assert 0 <= result.logrank.p_value <= 1 and result.logrank.df == 2
    table = result.table_one.table
    assert {"Cluster 1", "Cluster 2", "Cluster 3"} <= set(table.columns)
    assert result.profile().shape == (3, len(result.inputs))
    # a case is assigned as the cohort's own patients were
    assert result.assign(patients.head(5)) == list(result.clusters[:5])
    with pytest.raises(ValueError, match="not a clustering input"):
        compute_clusters(patients, inputs=("os_months", "age_years"))
    with pytest.raises(ValueError, match="at least two"):
        compute_clusters(patients, inputs=("age_years",))


def test_cluster_figures():
    from crlm.figures.clusters import make_cluster_heatmap_figure, make_dendrogram_figure

    X, _ = _blobs()
    result = cluster_patients(X, k=3, n_bootstrap=0)
    fig = make_cluster_heatmap_figure(result.centres, ["C1", "C2", "C3"], ["a", "b"])
    assert fig.data[0].type == "heatmap" and np.asarray(fig.data[0].z).shape == (3, 2)
    tree = make_dendrogram_figure(result.dendrogram)
    assert len(tree.data) == len(result.dendrogram["icoord"])
    with pytest.raises(ValueError):
        make_dendrogram_figure({})
