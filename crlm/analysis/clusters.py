"""Prognosis clusters (the Clusters page): unsupervised groups of patients on chosen
pre-treatment inputs, and whether they differ in survival — Wang et al.'s design
(review §4.2: hierarchical clustering of CT and clinical data into favourable and
poor prognosis groups, compared with the clinical risk scores).

``compute_clusters(patients, inputs, method, k, endpoint, seed)`` → ``ClusterAnalysis``:

* inputs: numbers known at staging (``CLUSTER_INPUTS``); CEA enters as log(1 + CEA)
  (its distribution spans four orders of magnitude); missing values take the
  cohort's median; every input is standardised (z-score), so each weighs the same;
* clustering, number of clusters and stability: ``crlm.stats.clustering``
  (Ward or k-means; silhouette criterion; bootstrap adjusted Rand index);
* survival by cluster: Kaplan–Meier curves and the log-rank test (``crlm.stats``)
  of the chosen endpoint; the clusters are found without the outcome, so the test
  is an honest check of whether they carry prognosis;
* Table 1 of the cluster profiles (``crlm.stats.baseline_table``) over the page's
  usual variables and the inputs;
* ``assign(frame)``: the cluster a new case falls into (the same imputation and
  scaling, nearest centre).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crlm import config, stats
from crlm.analysis.pages import TABLE_ONE_VARIABLES
from crlm.stats.baseline_table import baseline_table
from crlm.stats.clustering import ClusteringResult, cluster_patients

CLUSTER_INPUTS = ("age_years", "disease_free_interval_months", "n_liver_lesions",
                  "max_diameter_cm", "cea_ng_ml", "tumour_burden_score", "fong_score",
                  "game_score")
DEFAULT_INPUTS = ("n_liver_lesions", "max_diameter_cm", "cea_ng_ml",
                  "disease_free_interval_months")
LOG_INPUTS = ("cea_ng_ml",)


def cluster_name(k: int) -> str:
    return f"Cluster {int(k)}"


@dataclass(frozen=True)
class ClusterAnalysis:
    inputs: tuple[str, ...]
    method: str
    endpoint: str
    clustering: ClusteringResult
    medians: dict
    means: dict
    sds: dict
    patient_ids: np.ndarray
    n_imputed: dict
    km: dict = field(default_factory=dict)          # cluster name -> KMResult
    logrank: object | None = None
    table_one: object | None = None

    @property
    def clusters(self) -> np.ndarray:
        return np.array([cluster_name(k) for k in self.clustering.labels])

    def profile(self) -> pd.DataFrame:
        """Cluster centres (standardised: 0 = cohort mean, 1 = one SD) by input."""
        return pd.DataFrame(self.clustering.centres, columns=list(self.inputs),
                            index=[cluster_name(j + 1) for j in range(self.clustering.k)])

    def silhouette_frame(self) -> pd.DataFrame:
        k = self.clustering.k
        return pd.DataFrame([{"clusters": kk, "mean silhouette width": s, "chosen": kk == k}
                             for kk, s in self.clustering.silhouette_by_k.items()])

    def assign(self, frame: pd.DataFrame) -> list[str]:
        """The cluster of each row of ``frame`` (contract columns), named like the page's."""
        X = _matrix(frame, self.inputs, self.medians, self.means, self.sds)[0]
        return [cluster_name(k) for k in self.clustering.assign(X)]


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").astype(float).to_numpy()
    return np.log1p(np.clip(values, 0, None)) if column in LOG_INPUTS else values


def _matrix(frame, inputs, medians, means, sds):
    cols, imputed = [], {}
    for c in inputs:
        v = _numeric(frame, c) if c in frame.columns else np.full(len(frame), np.nan)
        imputed[c] = int(np.isnan(v).sum())
        v = np.where(np.isnan(v), medians[c], v)
        cols.append((v - means[c]) / sds[c])
    return np.column_stack(cols), imputed


def compute_clusters(patients: pd.DataFrame, inputs=DEFAULT_INPUTS, method: str = "hierarchical",
                     k: int | None = None, endpoint: str = "OS", *, seed: int = config.DEFAULT_SEED,
                     n_bootstrap: int = 20) -> ClusterAnalysis:
    inputs = tuple(inputs)
    unknown = [c for c in inputs if c not in CLUSTER_INPUTS]
    if unknown:
        raise ValueError(f"not a clustering input: {', '.join(unknown)} "
                         f"(choose from {', '.join(CLUSTER_INPUTS)})")
    if len(inputs) < 2:
        raise ValueError("choose at least two inputs to cluster on")
    if endpoint not in config.ENDPOINTS:
        raise ValueError(f"endpoint must be one of {', '.join(config.ENDPOINTS)}")
    medians, means, sds = {}, {}, {}
    for c in inputs:
        v = _numeric(patients, c) if c in patients.columns else np.full(len(patients), np.nan)
        if np.isnan(v).all():
            raise ValueError(f"no patient under this filter has {c}")
        medians[c] = float(np.nanmedian(v))
        filled = np.where(np.isnan(v), medians[c], v)
        means[c] = float(filled.mean())
        sds[c] = float(filled.std()) or 1.0
    X, imputed = _matrix(patients, inputs, medians, means, sds)
    result = cluster_patients(X, method=method, k=k, n_bootstrap=n_bootstrap, seed=seed)
    names = np.array([cluster_name(j) for j in result.labels])
    time_col, event_col = config.ENDPOINTS[endpoint]
    km, test = {}, None
    if time_col in patients.columns and event_col in patients.columns:
        time = pd.to_numeric(patients[time_col], errors="coerce").to_numpy(float)
        event = patients[event_col].astype("boolean")
        ok = ~np.isnan(time) & event.notna().to_numpy()
        ev = event.fillna(False).to_numpy(bool)
        for name in sorted(set(names[ok])):
            m = ok & (names == name)
            if m.sum() >= 2:
                km[name] = stats.kaplan_meier(time[m], ev[m])
        if len(km) >= 2:
            test = stats.logrank(time[ok], ev[ok], names[ok])
    framed = patients.assign(cluster=names)
    variables = [v for v in TABLE_ONE_VARIABLES if v[0] in framed.columns]
    variables += [(c, config.COLUMNS_BY_NAME[c].label, "continuous") for c in inputs
                  if c not in {v[0] for v in variables} and c in framed.columns]
    table = baseline_table(framed, variables, by="cluster")
    return ClusterAnalysis(inputs=inputs, method=method, endpoint=endpoint, clustering=result,
                           medians=medians, means=means, sds=sds,
                           patient_ids=patients["patient_id"].astype(str).to_numpy()
                           if "patient_id" in patients.columns else np.arange(len(patients)),
                           n_imputed=imputed, km=km, logrank=test, table_one=table)
