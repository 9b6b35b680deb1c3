"""Registering a federated run's model in one site's store (the ``register`` message).

The model is stored like any trained model — artefact, predictions, metrics, card — with
kind ``federated``, the run id, its rounds and its sites, so every page shows it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from crlm import store as st
from crlm.federated.estimators import (
    FederatedCox, FederatedDeepSurv, FederatedLogistic, FederatedMLP,
)
from crlm.federated.protocol import FederatedError, message
from crlm.federated.site import SiteData, scores
from crlm.models import kinds


def register(store, cohort: str, data: SiteData, cfg: dict, arrays: dict) -> dict:
    """Register the consortium's final model in this site's store: the artefact, the
    site's out-of-fold (or external) scores, the consortium's metrics and the card."""
    from crlm.models.artefacts import save_artefact
    from crlm.models.evaluation import metrics_for
    from crlm.models.fitted import FittedModel
    from crlm.models.training import default_artefact_dir, model_card, training_hash, TrainedModel

    spec = data.spec
    s, cts, beta = scores(data, cfg, arrays)
    columns = list(cfg["columns"])
    consortium = cfg.get("metrics")
    if not isinstance(consortium, dict):
        raise FederatedError("malformed message: register needs the consortium's metrics")
    final = beta[spec.folds]
    est = (FederatedMLP(final) if spec.family == "mlp" else FederatedDeepSurv(final)
           if spec.family == "deepsurv" else FederatedLogistic(final[1:], final[0])
           if spec.kind == "binary" else FederatedCox(final))
    model_id = f"{spec.task}.federated_{spec.family}"
    model = FittedModel(model_id=model_id, task=spec.task, family=spec.family,
                        explainer=data.family.explainer, columns=columns,
                        pipeline=Pipeline([("preprocess", cts[spec.folds]), ("model", est)]),
                        seed=spec.seed)
    X = data.matrix(columns)
    model.learn_inputs(X)
    ok = ~np.isnan(s)
    y = data.outcome()
    sub = (np.asarray(y)[ok] if spec.kind == "binary"
           else (np.asarray(y[0])[ok], np.asarray(y[1])[ok]))
    local = metrics_for(data.task, sub, s[ok], probability=spec.kind == "binary")
    split = "external" if data.external else "out-of-fold"
    empty = {"n": 0}
    metrics = {"out_of_fold": consortium.get("out_of_fold", empty),
               "external": consortium.get("external", empty),
               "this_site": {"site": data.site, "split": split, **local},
               "federated": consortium.get("federated", {}),
               "folds": spec.folds, "seed": spec.seed, "fast": False,
               "threshold_rule": consortium.get("threshold_rule", ""),
               "score_direction": ("probability of response" if spec.kind == "binary"
                                   else "risk (higher = earlier events)")}
    dev = data.frame.iloc[0:0] if data.external else data.frame
    ext = data.frame if data.external else data.frame.iloc[0:0]
    trained = TrainedModel(oof=s if not data.external else np.empty(0),
                           external=s if data.external else np.empty(0), model=model,
                           columns=columns)
    card = model_card(data.task, data.family, trained, dev, ext, data.plan, data.data.feature_times)
    card.update({"federated_run": spec.run_id, "sites": consortium.get("federated", {}).get("sites", []),
                 "n_training": consortium.get("federated", {}).get("n_training", card["n_training"])})
    metrics["card"] = card
    registered = st.load_models(store, current_only=False)
    mine = registered.loc[registered["model_id"] == model_id, "version"] if len(registered) \
        else registered.get("version", [])
    version = int(mine.max()) + 1 if len(mine) else 1
    root = default_artefact_dir(store)
    thash = training_hash(data.frame)
    path = save_artefact(model, model_id=model_id, version=version, family=spec.family,
                         task=spec.task, features=columns, artefact_dir=root,
                         extra={"cohort": cohort, "training_hash": thash, "seed": spec.seed,
                                "federated_run": spec.run_id})
    preds = pd.DataFrame({"patient_id": data.frame.index[ok].astype(str),
                          "split": split,
                          "fold": pd.array(np.where(data.external, None, data.fold_of[ok]).tolist(),
                                           dtype="Int64"),
                          "score": s[ok]})
    record = {"model_id": model_id, "name": f"Federated {data.family.label}",
              "family": spec.family, "task": spec.task, "cohort": cohort, "kind": kinds.FEDERATED,
              "feature_set": columns, "training_hash": thash,
              "threshold": consortium.get("threshold"), "metrics": metrics,
              "artefact_path": str(path.resolve())}
    saved = st.save_model(store, record, preds)
    return message("register", {"site": data.site, "model_id": model_id, "version": int(saved)}, {})
