"""The prognosis cluster a scored case falls into (the Clusters page's clustering with
its default inputs, method and number of clusters, on the same cohort).

The case is placed like any cohort patient the clustering did not fit: its inputs go
through the cohort's own imputation (a missing input takes the cohort's median) and
standardisation (CEA as log(1 + CEA), z-scores with the cohort's mean and SD), and it
joins the nearest cluster centre (``crlm.analysis.clusters.ClusterAnalysis.assign``).
When more than half of the clustering inputs are missing, the case is not placed: most
of its position would be the cohort's medians, not the case.

Each cluster is described by its size and the Kaplan–Meier median overall and
progression-free survival of its patients (``crlm.stats``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from crlm import config, stats
from crlm.analysis.clusters import DEFAULT_INPUTS, ClusterAnalysis, cluster_name, compute_clusters

# the case is refused a cluster when more than this share of the inputs is missing
MAX_MISSING_SHARE = 0.5
MEDIAN_ENDPOINTS = ("OS", "PFS")
DEFAULT_METHOD = "hierarchical"


@dataclass(frozen=True)
class CaseCluster:
    """Where a case falls among the cohort's prognosis clusters: ``cluster`` its name
    (empty when refused, ``reason`` then says why), ``size`` the cluster's patients of
    ``n_patients``, ``k`` the number of clusters, ``medians`` endpoint → the cluster's
    median survival in months (NaN: not reached), ``missing`` the case's inputs that
    took the cohort's median."""

    inputs: tuple[str, ...]
    method: str
    cluster: str = ""
    size: int = 0
    n_patients: int = 0
    k: int = 0
    medians: Mapping[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    reason: str = ""

    @property
    def assigned(self) -> bool:
        return bool(self.cluster)

    def median_text(self, endpoint: str) -> str:
        value = self.medians.get(endpoint)
        if value is None:
            return "not recorded"
        return "not reached" if math.isnan(value) else f"{value:.1f} months"

    @property
    def text(self) -> str:
        """One line for the report."""
        if not self.assigned:
            return f"Prognosis cluster: not assigned ({self.reason})"
        medians = "; ".join(f"median {e} {self.median_text(e)}" for e in self.medians)
        line = (f"Prognosis cluster: {self.cluster} of {self.k} ({self.size:,} of "
                f"{self.n_patients:,} patients" + (f"; {medians}" if medians else "") + ")")
        if self.missing:
            line += f"; set to the cohort median: {', '.join(_label(c) for c in self.missing)}"
        return line


def _label(column: str) -> str:
    found = config.COLUMNS_BY_NAME.get(column)
    return found.label if found is not None else column


def case_missing(case: pd.DataFrame, inputs) -> tuple[str, ...]:
    """The clustering inputs the case's first row does not give (absent, empty or not
    a number)."""
    row = case.iloc[0] if len(case) else pd.Series(dtype=object)
    out = []
    for c in inputs:
        value = pd.to_numeric(pd.Series([row.get(c)]), errors="coerce").iloc[0]
        if pd.isna(value):
            out.append(c)
    return tuple(out)


def cluster_medians(analysis: ClusterAnalysis, patients: pd.DataFrame,
                    endpoints=MEDIAN_ENDPOINTS) -> dict[str, dict[str, float]]:
    """Cluster name → endpoint → Kaplan–Meier median (months; NaN when not reached) of
    the clustered ``patients`` (the rows ``analysis`` was computed on, in order), for
    the endpoints the cohort records."""
    names = analysis.clusters
    out: dict[str, dict[str, float]] = {cluster_name(j + 1): {}
                                        for j in range(analysis.clustering.k)}
    for endpoint in endpoints:
        time_col, event_col = config.ENDPOINTS[endpoint]
        if time_col not in patients.columns or event_col not in patients.columns:
            continue
        time = pd.to_numeric(patients[time_col], errors="coerce").to_numpy(float)
        event = patients[event_col].astype("boolean")
        ok = ~np.isnan(time) & event.notna().to_numpy()
        if not ok.any():
            continue
        ev = event.fillna(False).to_numpy(bool)
        for name in out:
            m = ok & (names == name)
            out[name][endpoint] = (float(stats.kaplan_meier(time[m], ev[m]).median)
                                   if m.any() else float("nan"))
    return out


def cohort_clusters(patients: pd.DataFrame, *, seed: int = config.DEFAULT_SEED
                    ) -> ClusterAnalysis:
    """The Clusters page's default clustering of ``patients`` (default inputs, Ward,
    number of clusters by the silhouette); no bootstrap (it does not change the
    clusters, only their reported stability)."""
    return compute_clusters(patients, DEFAULT_INPUTS, DEFAULT_METHOD, None, "OS",
                            seed=seed, n_bootstrap=0)


def case_cluster(case: pd.DataFrame, patients: pd.DataFrame,
                 analysis: ClusterAnalysis | None = None, *,
                 medians: Mapping[str, Mapping[str, float]] | None = None,
                 seed: int = config.DEFAULT_SEED) -> CaseCluster:
    """The cluster of the first row of ``case`` (contract columns) among the clusters
    of ``patients`` (``analysis``: their ``cohort_clusters``, computed when not given;
    ``medians``: their ``cluster_medians``, likewise). Refused, with the reason, when
    the case misses more than half of the inputs or the cohort cannot be clustered."""
    inputs = tuple(analysis.inputs if analysis is not None else DEFAULT_INPUTS)
    method = analysis.method if analysis is not None else DEFAULT_METHOD
    missing = case_missing(case, inputs)
    if len(missing) > MAX_MISSING_SHARE * len(inputs):
        return CaseCluster(
            inputs=inputs, method=method, missing=missing,
            reason=f"{len(missing)} of its {len(inputs)} clustering inputs are missing "
                   f"({', '.join(_label(c) for c in missing)}); at most half may be")
    if analysis is None:
        try:
            analysis = cohort_clusters(patients, seed=seed)
        except ValueError as exc:
            return CaseCluster(inputs=inputs, method=method, missing=missing,
                               reason=f"the cohort cannot be clustered: {exc}")
    if medians is None:
        medians = cluster_medians(analysis, patients)
    name = analysis.assign(case.head(1))[0]
    number = int(name.rsplit(" ", 1)[-1])
    return CaseCluster(inputs=inputs, method=method, cluster=name,
                       size=int(analysis.clustering.sizes[number - 1]),
                       n_patients=int(len(analysis.clustering.labels)),
                       k=int(analysis.clustering.k), medians=dict(medians.get(name, {})),
                       missing=missing)
