"""The federated runs a store took part in, read from its registered federated models
(``metrics["federated"]``: run id, sites, rounds with seconds and bytes sent per site).
Tables for the Admin page; nothing here reaches another site."""
from __future__ import annotations

import pandas as pd

RUN_COLUMNS = ["run_id", "model", "version", "trained_at", "sites", "external_site", "dropped",
               "newton_rounds", "converged", "n_training", "out_of_fold", "this_site"]
ROUND_COLUMNS = ["round", "kind", "sites", "seconds", "bytes_sent", "bytes_by_site",
                 "log_likelihood", "max_step"]


def _metric(m: dict) -> str:
    if not isinstance(m, dict):
        return ""
    for key, label in (("auc", "AUC"), ("c_index", "C-index")):
        if m.get(key) is not None:
            return f"{label} {float(m[key]):.3f} (n={int(m.get('n', 0) or 0)})"
    return ""


def federated_runs(models: pd.DataFrame) -> pd.DataFrame:
    """One row per federated run, newest first, from ``store.load_models(current_only=False)``."""
    rows = []
    if len(models) and "kind" in models:
        for _, m in models[models["kind"] == "federated"].iterrows():
            metrics = m["metrics"] if isinstance(m["metrics"], dict) else {}
            fed = metrics.get("federated") or {}
            rows.append({
                "run_id": str(fed.get("run_id", "")), "model": str(m["model_id"]),
                "version": int(m["version"]), "trained_at": m.get("trained_at"),
                "sites": ", ".join(map(str, fed.get("sites", []))),
                "external_site": fed.get("external_site") or "",
                "dropped": ", ".join(map(str, fed.get("dropped", []))),
                "newton_rounds": int(fed.get("newton_rounds", 0) or 0),
                "converged": bool(fed.get("converged", False)),
                "n_training": int(fed.get("n_training", 0) or 0),
                "out_of_fold": _metric(metrics.get("out_of_fold")),
                "this_site": _metric(metrics.get("this_site"))})
    out = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return out.sort_values("trained_at", ascending=False, kind="stable").reset_index(drop=True)


def run_rounds(models: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The rounds of one run (as the coordinator recorded them): what was asked, which
    sites answered, how long the round took and how many bytes each site sent."""
    rows = []
    if len(models) and "kind" in models:
        for _, m in models[models["kind"] == "federated"].iterrows():
            fed = (m["metrics"] or {}).get("federated") or {}
            if str(fed.get("run_id")) != str(run_id):
                continue
            for r in fed.get("rounds", []):
                by_site = {str(k): int(v) for k, v in (r.get("bytes_by_site") or {}).items()}
                rows.append({
                    "round": int(r.get("round", 0)), "kind": str(r.get("kind", "")),
                    "sites": ", ".join(map(str, r.get("sites", []))),
                    "seconds": r.get("seconds"),
                    "bytes_sent": sum(by_site.values()) if by_site else None,
                    "bytes_by_site": ", ".join(f"{k}: {v:,}" for k, v in sorted(by_site.items())),
                    "log_likelihood": r.get("loglik"), "max_step": r.get("max_step")})
            break
    return pd.DataFrame(rows, columns=ROUND_COLUMNS)
