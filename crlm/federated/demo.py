"""The demo consortium: one demo store split into one site store per centre."""
from __future__ import annotations

import re
from pathlib import Path

from crlm import store as st


def split_by_centre(store, cohort: str, out_dir) -> dict[str, Path]:
    """Write ``<out_dir>/<centre>.duckdb`` (``Centre A`` -> ``Centre_A.duckdb``) for every centre of ``cohort`` (the centre's
    patients and features, same cohort name, kind synthetic); returns centre -> path.
    Refuses an existing site store rather than overwrite it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    patients = st.load_cohort(store, st.CohortFilter(cohort=cohort))
    if patients.empty:
        raise ValueError(f"cohort {cohort!r} has no patients")
    info = st.load_cohort_info(store, cohort) or {}
    names = st.load_feature_names(store, cohort)
    set_of = dict(zip(names["feature"], names["feature_set"]))
    paths: dict[str, Path] = {}
    for centre in sorted(patients["center"].dropna().unique()):
        path = out / f"{re.sub(r'[^A-Za-z0-9]+', '_', str(centre)).strip('_')}.duckdb"
        if path.exists():
            raise ValueError(f"{path} exists; remove it or choose another folder")
        mine = patients[patients["center"] == centre].reset_index(drop=True)
        wide = st.load_features(store, cohort, patient_ids=list(mine["patient_id"]))
        long = None
        if len(wide.columns) > 1:
            long = wide.melt(id_vars="patient_id", var_name="feature", value_name="value")
            long = long.dropna(subset=["value"])
            long["feature_set"] = long["feature"].map(set_of)
        with st.Store(path) as site:
            st.save_cohort(site, cohort, mine, long, kind=info.get("kind") or "synthetic",
                           description=f"centre {centre} of {cohort}", seed=info.get("seed"))
        paths[str(centre)] = path
    return paths
