"""Unsupervised clustering of patients (Wang et al.'s prognosis clusters, review §4.2).

``cluster_patients(X, method, k=None, ...)`` on a numeric matrix (rows = patients,
no missing values: the caller imputes and scales):

* ``method="hierarchical"``: Ward linkage on Euclidean distances (scipy), the tree cut
  into ``k`` clusters; ``method="kmeans"``: k-means (scikit-learn, ``n_init=10``).
* The number of clusters, when not given, is the ``k`` in ``k_range`` (default 2–6)
  with the largest mean silhouette width (Rousseeuw 1987) — the stated criterion;
  every ``k``'s silhouette is reported.
* At most ``max_fit`` (1,500) rows are clustered (a seeded random sample, Ward needs the full
  distance matrix); every row is then assigned to the nearest cluster centre.
  Clusters are numbered 1..k by decreasing size.
* Stability: ``n_bootstrap`` resamples (with replacement) of the fitted rows are
  clustered with the same method and ``k``; each resample's clustering labels all
  fitted rows by nearest centre and is compared with the original by the adjusted
  Rand index (Hubert & Arabie 1985): 1 = the same partition, about 0 = no better
  than chance. Mean and 2.5–97.5 % percentiles are reported, so that nobody
  over-reads a cluster that a resample would not find again.
* ``dendrogram``: scipy's dendrogram coordinates of the last ``dendrogram_leaves``
  merges (hierarchical only), for drawing.

Pure: arrays in, a frozen ``ClusteringResult`` out; ``assign`` labels new rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crlm.stats._result import ResultMixin

METHODS = ("hierarchical", "kmeans")


@dataclass(frozen=True)
class ClusteringResult(ResultMixin):
    method: str
    k: int
    labels: np.ndarray                 # 1..k for every row
    centres: np.ndarray                # k × columns, in the matrix's scale
    sizes: np.ndarray
    silhouette_by_k: dict              # k -> mean silhouette width
    criterion: str
    stability_ari: np.ndarray          # one adjusted Rand index per bootstrap resample
    n_fit: int
    dendrogram: dict = field(default_factory=dict)   # icoord, dcoord, leaf counts

    @property
    def stability_mean(self) -> float:
        return float(np.mean(self.stability_ari)) if len(self.stability_ari) else float("nan")

    @property
    def stability_interval(self) -> tuple[float, float]:
        if not len(self.stability_ari):
            return float("nan"), float("nan")
        lo, hi = np.percentile(self.stability_ari, [2.5, 97.5])
        return float(lo), float(hi)

    def assign(self, X) -> np.ndarray:
        """The cluster (1..k) of each row of ``X`` (same columns and scale): nearest centre."""
        return nearest_centre(np.asarray(X, dtype=float), self.centres) + 1


def nearest_centre(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)


def _fit(X: np.ndarray, method: str, k: int, seed: int) -> np.ndarray:
    """Labels 0..k-1 of the rows of X."""
    if method == "hierarchical":
        from scipy.cluster.hierarchy import fcluster, linkage

        return fcluster(linkage(X, method="ward"), t=k, criterion="maxclust") - 1
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=int(seed)).fit(X).labels_


def _centres(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return np.vstack([X[labels == j].mean(axis=0) if (labels == j).any()
                      else np.full(X.shape[1], np.inf) for j in range(k)])


def silhouette(X: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette width (Euclidean); NaN with fewer than two clusters."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(silhouette_score(X, labels, metric="euclidean"))


def adjusted_rand(a, b) -> float:
    """Adjusted Rand index of two labelings (Hubert & Arabie 1985)."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(np.asarray(a), np.asarray(b)))


def cluster_patients(X, method: str = "hierarchical", k: int | None = None, *,
                     k_range: tuple[int, int] = (2, 6), n_bootstrap: int = 20,
                     max_fit: int = 1500, seed: int = 0,
                     dendrogram_leaves: int = 30) -> ClusteringResult:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] == 0:
        raise ValueError("clustering needs a matrix with at least one column")
    if not np.isfinite(X).all():
        raise ValueError("clustering needs a complete matrix (impute missing values first)")
    rng = np.random.default_rng(int(seed))
    fit_rows = (np.sort(rng.choice(len(X), size=max_fit, replace=False))
                if len(X) > max_fit else np.arange(len(X)))
    F = X[fit_rows]
    lo, hi = int(k_range[0]), int(k_range[1])
    if k is not None:
        lo = hi = int(k)
    if lo < 2:
        raise ValueError("the number of clusters must be at least 2")
    if len(F) < 2 * hi + 1:
        raise ValueError(f"{len(F)} patients are too few for {hi} clusters")
    scores, fits = {}, {}
    ward = None
    if method == "hierarchical":  # one tree, cut at every k
        from scipy.cluster.hierarchy import fcluster, linkage

        ward = linkage(F, method="ward")
    for kk in range(lo, hi + 1):
        labels = (fcluster(ward, t=kk, criterion="maxclust") - 1 if ward is not None
                  else _fit(F, method, kk, seed))
        fits[kk] = labels
        scores[kk] = silhouette(F, labels)
    best = k if k is not None else max(scores, key=lambda kk: (np.nan_to_num(scores[kk], nan=-2), -kk))
    labels = fits[best]
    # number clusters 1..k by decreasing size (ties: by first appearance)
    counts = np.bincount(labels, minlength=best)
    order = np.argsort(-counts, kind="stable")
    relabel = np.empty(best, dtype=int)
    relabel[order] = np.arange(best)
    labels = relabel[labels]
    centres = _centres(F, labels, best)
    all_labels = nearest_centre(X, centres)
    all_labels[fit_rows] = labels
    aris = []
    for _ in range(int(n_bootstrap)):
        sample = rng.integers(0, len(F), size=len(F))
        boot = _fit(F[sample], method, best, seed)
        boot_centres = _centres(F[sample], boot, best)
        aris.append(adjusted_rand(labels, nearest_centre(F, boot_centres)))
    tree: dict = {}
    if ward is not None:
        from scipy.cluster.hierarchy import dendrogram

        d = dendrogram(ward, truncate_mode="lastp",
                       p=int(dendrogram_leaves), no_plot=True, color_threshold=0)
        tree = {"icoord": [list(map(float, c)) for c in d["icoord"]],
                "dcoord": [list(map(float, c)) for c in d["dcoord"]],
                "leaves": [str(x) for x in d["ivl"]]}
    return ClusteringResult(
        method=method, k=int(best), labels=all_labels + 1, centres=centres,
        sizes=np.bincount(all_labels, minlength=best), silhouette_by_k=scores,
        criterion=("fixed by the user" if k is not None else
                   f"largest mean silhouette width over k = {lo}–{hi}"),
        stability_ari=np.asarray(aris, dtype=float), n_fit=int(len(F)), dendrogram=tree)
