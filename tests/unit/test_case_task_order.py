"""The order of the tasks on the Score page and in the report: the six headline tasks
first, then every other registered task, so that none is left without a section."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from crlm import cases
from crlm.models.tasks import SURVIVAL, TASKS

HEADLINE = ("response", "anti_egfr_benefit", "os_risk", "pfs_risk", "os_after_resection",
            "recurrence_after_resection")


def test_every_registered_task_has_a_place_after_the_six_headline_tasks():
    order = list(cases.TASK_ORDER)
    assert tuple(order[:6]) == HEADLINE
    assert sorted(order) == sorted(TASKS) and len(set(order)) == len(order)
    assert order[6:] == [t for t in TASKS if t not in HEADLINE]
    for name in ("rfs_risk", "pathological_response", "ras_from_ct", "desmoplastic_from_ct",
                 "pfs_after_restaging", "os_after_restaging"):
        assert name in cases.TASK_ORDER
    assert set(cases.SURVIVAL_TASKS) == {t for t, task in TASKS.items() if task.kind == SURVIVAL}


def test_a_newly_registered_task_gets_a_place(monkeypatch):
    monkeypatch.setitem(TASKS, "new_task", TASKS["response"])
    assert cases.TASK_ORDER[-1] == "new_task" and "new_task" in cases.TASK_ORDER


def test_newer_tasks_sort_after_the_headline_tasks_with_their_own_classes():
    rows = [dict(patient_id="case-1", task=t, model_id=f"{t}.logistic", model_version=1,
                 kind="trained", score=0.7, threshold=0.5, percentile=50.0, imputed=[],
                 out_of_range=[], contributions={}, stale=False)
            for t in ("ras_from_ct", "rfs_risk", "response", "desmoplastic_from_ct")]
    table = cases.scores_table(pd.DataFrame(rows))
    assert list(table["task_id"]) == ["response", "rfs_risk", "ras_from_ct",
                                      "desmoplastic_from_ct"]
    classes = dict(zip(table["task_id"], table["predicted_class"]))
    assert classes == {"response": "responder", "rfs_risk": "high risk",
                       "ras_from_ct": "RAS mutant", "desmoplastic_from_ct": "desmoplastic"}
    assert cases.class_label("ras_from_ct", False) == "RAS wild-type"
    assert np.isfinite(table["score"]).all()


def test_importing_crlm_cases_does_not_load_the_model_libraries():
    code = ("import sys, crlm.cases as c; assert 'crlm.models' not in sys.modules; "
            "list(c.TASK_ORDER); assert 'crlm.models' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
