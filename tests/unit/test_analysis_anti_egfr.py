"""The multi-omics anti-EGFR study design (crlm.analysis.anti_egfr) on synthetic prediction
frames whose answers are known: the signature predicts response and PFS under anti-EGFR and
does nothing under chemotherapy."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crlm.analysis import anti_egfr as ae

THRESHOLD = 0.5


def _frame(seed: int = 11, n_treated: int = 400, n_chemo: int = 300, n_vegf: int = 150,
           n_mutant: int = 60) -> pd.DataFrame:
    """Predictions of one model: anti-EGFR patients out-of-fold / external, RAS wild-type
    patients without anti-EGFR as 'comparison', RAS-mutant patients that belong to no arm."""
    rng = np.random.default_rng(seed)
    parts = []
    for n, split, biologic, ras in (
            (n_treated, "out-of-fold", "anti-EGFR", "wild-type"),
            (n_chemo, "comparison", "none", "wild-type"),
            (n_vegf, "comparison", "anti-VEGF", "wild-type"),
            (n_mutant, "comparison", "none", "mutant")):
        score = rng.uniform(size=n)
        treated = biologic == "anti-EGFR"
        logit = (4.0 * score - 2.0) if treated else np.full(n, -0.6)
        responder = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
        high = score >= THRESHOLD
        rate = 0.12 * np.exp(-0.9 * high) if treated else np.full(n, 0.14)
        t = rng.exponential(1 / rate)
        cens = rng.uniform(6, 48, n)
        parts.append(pd.DataFrame({
            "model_id": "anti_egfr_benefit.fusion", "split": split, "score": score,
            "biologic": biologic, "ras_status": ras, "responder": responder,
            "pfs_months": np.minimum(t, cens), "pfs_event": t <= cens,
            "primary_side": rng.choice(["left", "rectum", "right"], n, p=[0.5, 0.3, 0.2]),
            "braf_v600e": "wild-type", "her2": rng.choice(["amplified", "not amplified"], n,
                                                          p=[0.1, 0.9]),
            "msi": "MSS",
        }))
    frame = pd.concat(parts, ignore_index=True)
    frame.loc[frame.index[:n_treated // 4], "split"] = "external"
    frame["patient_id"] = [f"P{i:04d}" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def study(frame) -> ae.AntiEgfrStudy:
    return ae.anti_egfr_study(frame, THRESHOLD)


def test_arms_are_anti_egfr_out_of_fold_and_external_vs_comparison_chemotherapy_alone(frame):
    arms = ae.study_arms(frame)
    treated = arms[arms["treated"] == 1]
    control = arms[arms["treated"] == 0]
    assert len(treated) == 400 and set(treated["split"]) == {"out-of-fold", "external"}
    assert set(treated["arm"]) == {"Anti-EGFR"}
    # default: chemotherapy alone, RAS wild-type only (the 60 RAS-mutant rows are in no arm)
    assert len(control) == 300 and set(control["biologic"]) == {"none"}
    assert set(control["arm"]) == {"Chemotherapy alone"}
    wider = ae.study_arms(frame, chemo_arm="none+anti-VEGF")
    assert (wider["treated"] == 0).sum() == 450
    assert set(wider.loc[wider["treated"] == 0, "arm"]) == {"Chemotherapy alone or with anti-VEGF"}


def test_a_treated_patient_scored_in_the_comparison_split_is_not_in_the_chemotherapy_arm(frame):
    odd = frame.iloc[:1].assign(split="comparison", patient_id="X1")
    arms = ae.study_arms(pd.concat([frame, odd]))
    assert "X1" not in set(arms["patient_id"])


def test_bad_input_gives_clear_errors(frame):
    with pytest.raises(ValueError, match="ras_status"):
        ae.study_arms(frame.drop(columns="ras_status"))
    with pytest.raises(ValueError, match="one model"):
        ae.study_arms(frame.assign(model_id=np.where(frame.index % 2, "a", "b")))
    with pytest.raises(ValueError, match="chemo_arm"):
        ae.study_arms(frame, chemo_arm="anti-VEGF")
    with pytest.raises(ValueError, match="threshold"):
        ae.anti_egfr_study(frame, float("nan"))


def test_signature_discriminates_under_anti_egfr_and_not_under_chemotherapy(study):
    d = study.discrimination
    assert d.treated.n == 400 and d.control.n == 300
    assert d.treated.auc > 0.7 and d.treated.ci_lower > 0.6
    assert d.control.ci_lower < 0.5 < d.control.ci_upper
    assert d.difference == pytest.approx(d.treated.auc - d.control.auc)
    assert d.p_value < 0.01


def test_interactions_are_significant_and_per_arm_effects_go_the_right_way(study):
    ri = study.response_interaction
    assert ri.measure == "OR" and ri.estimable
    treated, control = ri.by_arm
    assert treated.label == "Anti-EGFR" and treated.estimate > 3 and treated.ci_lower > 1
    assert control.ci_lower < 1 < control.ci_upper
    assert ri.p_value < 0.01 and ri.df == 1
    # the interaction ratio of a saturated 2 x 2 x 2 model equals the ratio of the arms' ORs
    assert ri.ratio.estimate == pytest.approx(treated.estimate / control.estimate, rel=1e-6)
    pi = study.pfs_interaction
    assert pi.measure == "HR" and pi.by_arm[0].estimate < 1 and pi.by_arm[0].ci_upper < 1
    assert pi.by_arm[1].ci_lower < 1 < pi.by_arm[1].ci_upper
    assert pi.p_value < 0.05


def test_the_stored_threshold_splits_both_arms(frame, study):
    arms = ae.study_arms(frame)
    for cell in study.response_interaction.cells:
        part = arms[arms["arm"] == cell.arm]
        high = part["score"] >= THRESHOLD
        in_cell = part[high] if cell.signature == ae.SIGNATURE_HIGH else part[~high]
        assert cell.n == len(in_cell)
        assert cell.events == int(in_cell["responder"].sum())


def test_pfs_split_within_each_arm(study):
    treated, control = study.pfs_by_arm
    assert treated.arm == "Anti-EGFR" and control.arm == "Chemotherapy alone"
    assert set(treated.curves) == {ae.SIGNATURE_LOW, ae.SIGNATURE_HIGH}
    assert treated.median_high > treated.median_low
    assert treated.hazard_ratio.ci_upper < 1 and treated.logrank_p < 0.01
    assert control.hazard_ratio.ci_lower < 1 < control.hazard_ratio.ci_upper
    assert treated.n == 400 and treated.events == treated.hazard_ratio.events


def test_multivariable_enters_varying_biomarkers_and_says_why_others_are_left_out(study):
    mv = study.response_multivariable
    assert mv.estimable and mv.measure == "OR"
    labels = [t.label for t in mv.terms]
    assert labels[0] == ae.SIGNATURE_LABEL
    assert {"Right-sided primary", "HER2 amplified"} <= set(labels)
    excluded = {x.label: x.reason for x in mv.excluded}
    # every anti-EGFR patient is BRAF wild-type, MSS and RAS wild-type in this frame
    assert excluded == {"BRAF V600E mutant": "does not vary in these patients",
                        "MSI-high / dMMR": "does not vary in these patients",
                        "RAS mutant": "does not vary in these patients"}
    assert mv.terms[0].estimate > 3 and mv.terms[0].ci_lower > 1
    assert study.pfs_multivariable.terms[0].estimate < 1


def test_a_biomarker_that_separates_response_is_left_out_with_the_reason(frame):
    f = frame.copy()
    treated = (f["biologic"] == "anti-EGFR").to_numpy()
    idx = np.flatnonzero(treated & ~f["responder"].to_numpy(bool))[:8]
    f.loc[f.index[idx], "braf_v600e"] = "mutant"      # 8 BRAF-mutant non-responders, no responder
    f.loc[f.index[np.flatnonzero(treated)[:20]], "msi"] = None  # unknown: complete cases
    mv = ae.multivariable(ae.study_arms(f), THRESHOLD)
    reasons = {x.label: x.reason for x in mv.excluded}
    assert reasons["BRAF V600E mutant"] == ("all 8 positive patients were non-responders: "
                                            "odds ratio not finite")
    assert mv.n_unknown == 0  # MSI is left out (it does not vary), so its unknowns cost nothing


def test_unknown_biomarker_values_leave_the_patient_out_and_are_counted(frame):
    f = frame.copy()
    treated = np.flatnonzero((f["biologic"] == "anti-EGFR").to_numpy())
    f.loc[f.index[treated[:30]], "her2"] = None
    mv = ae.multivariable(ae.study_arms(f), THRESHOLD)
    assert "HER2 amplified" in [t.label for t in mv.terms]
    assert mv.n_unknown == 30 and mv.n == 370


def test_an_arm_without_responders_is_not_estimable_and_says_why(frame):
    f = frame.copy()
    f.loc[f["split"] == "comparison", "responder"] = False
    study = ae.anti_egfr_study(f, THRESHOLD)
    assert not study.discrimination.control.estimable
    assert study.discrimination.control.reason == "no responders"
    assert math.isnan(study.discrimination.p_value)
    ri = study.response_interaction
    assert not ri.estimable and "Chemotherapy alone arm" in ri.reason
    assert math.isnan(ri.p_value)


def test_no_comparison_predictions_still_gives_the_anti_egfr_arm(frame):
    study = ae.anti_egfr_study(frame[frame["split"] != "comparison"], THRESHOLD)
    assert study.n_control == 0 and study.discrimination.treated.estimable
    assert study.discrimination.control.reason == "no patients"
    assert not study.pfs_interaction.estimable
    assert study.pfs_by_arm[1].n == 0


def test_table_holds_our_numbers_only_and_the_paper_stands_apart(study):
    ours = study.table()
    assert list(ours.columns[:2]) == ["model_id", "threshold"]
    assert set(ours["source"]) == {"this cohort"}
    auc = ours[(ours["section"] == "discrimination") & (ours["arm"] == "Anti-EGFR")]
    assert auc["estimate"].iloc[0] == pytest.approx(study.discrimination.treated.auc)
    paper = ae.published_table()
    assert set(paper["source"]) == {ae.PUBLISHED.citation}
    assert paper["estimate"].dropna().tolist() == [0.86, 0.54, 9.0, 5.0, 0.44, 17.9]
    assert set(ae.TABLE_COLUMNS) <= set(paper.columns)


def test_markdown_summary_puts_the_paper_in_its_own_column(study):
    text = ae.markdown_summary(study)
    assert "| quantity | this cohort | paper (Liu et al. 2026) |" in text
    row = next(line for line in text.splitlines() if line.startswith("| AUC, anti-EGFR arm"))
    assert row.rstrip().endswith("| 0.86 (fusion) |")
    assert f"{study.discrimination.treated.auc:.2f}" in row.split("|")[2]


def test_results_serialise(study):
    d = study.to_dict()
    assert d["discrimination"]["treated"]["arm"] == "Anti-EGFR"
    assert d["pfs_by_arm"][0]["hazard_ratio"]["estimable"] is True


def test_forest_rows_hold_the_arms_and_the_entered_terms(study):
    rows = ae.effect_forest_rows(study)
    assert list(rows["level"]) == ["Anti-EGFR", "Chemotherapy alone"] * 2
    assert rows["interaction_p_value"].iloc[0] == pytest.approx(study.response_interaction.p_value)
    mv = ae.multivariable_forest_rows(study)
    assert set(mv["level"]) == {t.label for t in study.response_multivariable.terms}
    assert "BRAF V600E mutant (does not vary in these patients)" in ae.excluded_biomarkers(study)
    assert set(ae.roc_table(study)["arm"]) == {"Anti-EGFR", "Chemotherapy alone"}
    km = ae.km_table(study)
    assert set(zip(km["arm"], km["signature"])) == {
        (a, g) for a in ("Anti-EGFR", "Chemotherapy alone")
        for g in (ae.SIGNATURE_LOW, ae.SIGNATURE_HIGH)}


def test_doc_block_is_replaced_between_its_markers_only():
    doc = f"intro\n{ae.DOC_BEGIN}\nold numbers\n{ae.DOC_END}\noutro\n"
    new = ae.replace_doc_block(doc, "| new | table |\n")
    assert new == f"intro\n{ae.DOC_BEGIN}\n| new | table |\n{ae.DOC_END}\noutro\n"
    assert ae.replace_doc_block(new, "again").count(ae.DOC_BEGIN) == 1
    with pytest.raises(ValueError, match="block"):
        ae.replace_doc_block("no markers", "x")


@pytest.mark.slow
def test_command_line_prints_the_demo_numbers_and_fills_the_doc(demo_store_path, tmp_path, capsys):
    doc = tmp_path / "models.md"
    doc.write_text(f"# Models\n{ae.DOC_BEGIN}\n(not yet generated)\n{ae.DOC_END}\n")
    csv = tmp_path / "numbers.csv"
    assert ae.main(["--db", str(demo_store_path), "--write-doc", str(doc), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "| quantity | this cohort | paper (Liu et al. 2026) |" in out
    assert "| AUC, anti-EGFR arm |" in out and "| model | AUC anti-EGFR |" in out
    text = doc.read_text()
    assert "(not yet generated)" not in text and out.strip() in text
    numbers = pd.read_csv(csv)
    assert set(numbers["source"]) == {"this cohort"}
    assert {"Anti-EGFR", "Chemotherapy alone"} <= set(numbers["arm"])
    assert ae.main(["--db", str(demo_store_path), "--cohort", "nowhere"]) == 1


def test_pfs_hazard_ratios_by_arm_are_the_interaction_models_arm_fits(frame, study):
    refit = ae.pfs_by_arm(ae.study_arms(frame), THRESHOLD)  # fitted again, not reused
    for reused, own, inter in zip(study.pfs_by_arm, refit, study.pfs_interaction.by_arm):
        assert reused.hazard_ratio.estimate == pytest.approx(own.hazard_ratio.estimate, rel=1e-12)
        assert reused.hazard_ratio.ci_upper == pytest.approx(inter.ci_upper, rel=1e-12)
        assert reused.hazard_ratio.label == own.hazard_ratio.label == f"{own.arm}: Signature-high vs low"


def test_no_rows_in_either_arm_gives_reasons_not_errors(frame):
    study = ae.anti_egfr_study(frame[frame["ras_status"] == "mutant"], THRESHOLD)
    assert study.n_treated == study.n_control == 0
    assert study.response_interaction.reason == "Anti-EGFR arm: no patients"
    assert study.response_multivariable.reason == "no anti-EGFR patients with the outcome known"
    assert study.pfs_by_arm[0].curves == {} and study.table()["estimate"].isna().all()


def test_a_signature_that_separates_response_is_named_in_the_multivariable_reason(frame):
    f = frame.copy()
    treated = (f["biologic"] == "anti-EGFR").to_numpy()
    f.loc[treated & (f["score"] < THRESHOLD).to_numpy(), "responder"] = False
    mv = ae.multivariable(ae.study_arms(f), THRESHOLD)
    assert not mv.estimable and mv.terms == ()
    assert mv.reason.startswith("signature: all ") and "signature-low patients were " \
        "non-responders" in mv.reason
