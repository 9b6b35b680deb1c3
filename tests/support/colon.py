"""R's survival::colon trial as a centre's own cohort: the mapping that imports
tests/reference/data/colon_trial.csv, and the numbers of R's reference JSON by path."""
from __future__ import annotations

MAPPING = """
name: colon-trial
columns:
  id: patient_id
  age: age_years
  os_days: os_months
  died: os_event
  rfs_days: pfs_months
  recurred: pfs_event
codes:
  sex: {0: female, 1: male}
units:
  os_months: days
  pfs_months: days
defaults:
  center: Mayo Clinic
extra: [rx, nodes, differ, extent, obstruct, perfor, adhere, surg, node4]
known_at:
  rx: treatment plan
  nodes: after surgery
extra_info:
  rx: {label: Treatment arm, levels: [Obs, Lev, Lev+5FU]}
  nodes: {label: Positive lymph nodes, unit: nodes}
  differ: {label: Differentiation, levels: [1, 2, 3], labels: {1: well, 2: moderate, 3: poor}}
"""


def flat(tree, prefix="") -> dict:
    """Every number of a JSON tree by its path (text and nulls left out)."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flat(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in flat(sub, f"{prefix}/{i}").items()}
    return {prefix: float(tree)} if isinstance(tree, (int, float)) else {}
