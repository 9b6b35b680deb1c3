"""The model zoo: tasks, families, cross-validated training, the registry and scoring.

    train(store, cohort="demo", tasks=None, families=None, folds=5, seed=..., fast=False)
        -> TrainingReport (.table, .skipped)
    score_cases(frame, store=store, cohort="demo") -> CaseScores (.table, .unknown_columns)
    load_model(model_id, version), available_models(store, cohort)

Model ids are ``<task>.<family>`` (``response.logistic``, ``os_risk.rsf``,
``anti_egfr_benefit.fong_score``). No Streamlit here.
"""
from crlm.models import multiomics  # noqa: F401  (registers the cnn and fusion families)
from crlm.models import ct_models  # noqa: F401  (attention-MIL, CT Cox and CT fusion families)
from crlm.models import tuning  # noqa: F401  (the <family>_tuned families: nested-CV search)
from crlm.models import sequence  # noqa: F401  (GRU over serial measurements, landmark tasks)
from crlm.models import cnn_rnn  # noqa: F401  (CNN-RNN over serial CT, landmark tasks)
from crlm.models.artefacts import ModelError, library_versions
from crlm.models.families import (
    CLINICAL_BASELINES, FAMILIES, TABULAR_FAMILIES, Family, get_family, register_family,
)
from crlm.models.scoring import (
    SCORE_COLUMNS, CaseScores, available_models, clear_caches, current_training_hashes,
    load_model, score_cases,
)
from crlm.models.tasks import TASKS, Task, get_task
from crlm.models.decision import InputPlan, plan_inputs
from crlm.models.training import (
    ExternalLeakError, SkippedModel, TrainedModel, TrainingReport, default_artefact_dir,
    load_modelling_data, train,
)

__all__ = [
    "CLINICAL_BASELINES", "ExternalLeakError", "FAMILIES", "Family", "InputPlan", "ModelError",
    "CaseScores", "SkippedModel", "TrainingReport", "plan_inputs",
    "SCORE_COLUMNS", "TABULAR_FAMILIES", "TASKS", "Task", "TrainedModel", "available_models",
    "clear_caches", "current_training_hashes", "default_artefact_dir", "get_family",
    "get_task", "library_versions", "load_model", "load_modelling_data", "register_family",
    "score_cases", "train",
]
