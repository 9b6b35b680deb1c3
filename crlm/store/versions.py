"""A cohort's data version: a small tuple that changes whenever anything of the cohort is
written (its rows, images, measurements, models, imports), so results computed from the
cohort can be cached on it and stay valid for every other cohort after a write."""
from __future__ import annotations

from crlm.store.connection import Store

_VERSION_SQL = """
SELECT
  (SELECT list_value(CAST(created_at AS VARCHAR), coalesce(data_hash, ''))
     FROM cohorts WHERE cohort = $c),
  (SELECT list_value(CAST(count(*) AS VARCHAR), coalesce(CAST(max(trained_at) AS VARCHAR), ''),
                     CAST(coalesce(sum(version), 0) AS VARCHAR))
     FROM models WHERE cohort = $c),
  (SELECT list_value(CAST(count(*) AS VARCHAR), coalesce(CAST(max(imported_at) AS VARCHAR), ''))
     FROM imports WHERE cohort = $c),
  (SELECT count(*) FROM images WHERE cohort = $c),
  (SELECT count(*) FROM measurements WHERE cohort = $c),
  (SELECT count(*) FROM feature_info WHERE cohort = $c)
"""


def data_version(store: Store, cohort: str) -> tuple:
    """The cohort's data version (hashable; equal before and after a read-only session,
    different after any write to the cohort). ``()`` for a cohort the store lacks."""
    row = store.cursor().execute(_VERSION_SQL, {"c": cohort}).fetchone()
    if row[0] is None:
        return ()
    return tuple(tuple(part) if isinstance(part, list) else part for part in row)
