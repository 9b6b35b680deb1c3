"""The multi-omics anti-EGFR study's design, reproduced on a cohort's predictions.

Liu et al. (2026) trained a CT + genomic signature on RAS wild-type colorectal
liver metastases treated with cetuximab and showed that it predicts *benefit*
from anti-EGFR therapy, not prognosis: AUC 0.86 under cetuximab against 0.54
under chemotherapy alone, median PFS 9.0 vs 5.0 months (HR 0.44) between
signature groups under cetuximab, and a stronger association with response
than the established biomarkers. :func:`anti_egfr_study` asks the same
questions of one ``anti_egfr_benefit`` model on whatever cohort is given.

Arms (RAS wild-type patients only; one row per patient):

* **anti-EGFR arm**: biologic ``anti-EGFR``, the model's ``out-of-fold``
  (development centres) and ``external`` predictions;
* **chemotherapy arm**: the final model's ``comparison`` predictions of
  patients who were never in training, biologic ``none`` (chemotherapy alone,
  as in the study; the default) or ``none`` and ``anti-VEGF``
  (``chemo_arm="none+anti-VEGF"``).

Signature groups: *signature-high* when ``score >= threshold`` (the model's
stored threshold, Youden's J on out-of-fold scores), the same cut in both arms.

What is computed (statistics from :mod:`crlm.stats`):

* the signature's AUC in each arm (DeLong CI) and the unpaired DeLong test of
  the difference (pROC ``roc.test(paired = FALSE)``);
* signature × treatment interaction for response: logistic regression
  ``responder ~ high + arm + high:arm``; per arm the odds ratio of
  signature-high vs -low (logistic within the arm), the interaction term's ratio
  of odds ratios (Wald CI) and the likelihood-ratio p-value of the interaction;
* the same for PFS with Cox models (Efron ties): per-arm hazard ratios, the
  interaction term's ratio of hazard ratios and its likelihood-ratio p-value;
* PFS by signature group within each arm: Kaplan–Meier curves and medians,
  log-rank p, Cox HR (signature-high vs -low);
* within the anti-EGFR arm, multivariable logistic (response) and Cox (PFS)
  models of the signature next to the established biomarkers — right-sided
  primary, BRAF V600E, HER2 amplification, MSI-high and RAS status — each
  entered only where it varies enough to be estimated (see
  :func:`multivariable`); complete cases on the entered biomarkers.

A quantity that cannot be estimated on the data (an arm without responders, a
signature group without events, perfect separation) comes back with
``estimable=False`` and the reason, never as a number.

The paper's own numbers are :data:`PUBLISHED` and :func:`published_table`,
kept apart from every result computed here.
"""
from __future__ import annotations

from .design import (
    anti_egfr_study, arm_auc, arm_survival, auc_contrast, compute_anti_egfr_study,
    load_study_predictions, multivariable, pfs_by_arm, pfs_interaction, response_interaction,
    study_arms,
)
from .published import NOT_REPORTED, PUBLISHED, PublishedStudy, published_table
from .report import (
    DOC_BEGIN, DOC_END, default_model, main, markdown_summary, overview_markdown,
    replace_doc_block,
)
from .results import (
    ANTI_EGFR_ARM, BIOMARKERS, CHEMO_ARM_LABELS, CHEMO_ARMS, COMPARISON_SPLIT, MIN_EVENTS,
    MIN_LEVEL, PFS, RESPONSE, SIGNATURE_HIGH, SIGNATURE_LABEL, SIGNATURE_LOW, SIGNATURE_TERM,
    STUDY_COLUMNS, TREATED_BIOLOGIC, TREATED_SPLITS, AntiEgfrStudy, ArmAUC, ArmSurvival,
    AUCContrast, Biomarker, Cell, Effect, ExcludedTerm, Interaction, Multivariable,
    chemo_arm_label,
)
from .tables import (
    FOREST_COLUMNS, TABLE_COLUMNS, effect_forest_rows, excluded_biomarkers, km_table,
    multivariable_forest_rows, roc_table, study_table,
)
