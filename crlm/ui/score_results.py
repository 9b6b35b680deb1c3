"""Score a case, the results: the scores and answers per task, the predicted survival of
the case, and where it falls in the cohort (distribution, ROC, survival group, similar
patients, contributions). Each section draws what ``crlm.cases`` computes from the
arguments it is given; it returns what the report needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import streamlit as st

from crlm import cases, config, figures
from crlm.cases import results
from crlm.cases.cluster import CaseCluster, case_cluster, cluster_medians, cohort_clusters
from crlm.cases.tree_leaf import case_leaves
from crlm.store import CohortFilter
from crlm.models import ModelError, absolute, load_model
from crlm.models.similar import SimilarityIndex, similar_patients
from crlm.ui.loaders import filter_key, load_cohort, load_predictions, store_path
from crlm.ui.widgets import endpoint_choices, selected_model

COVERAGES = (0.80, 0.90, 0.95)
SCORE_COLUMNS_SHOWN = ["model", "version", "kind", "shown_score", "threshold",
                       "predicted_class", "percentile", "flags"]
BOARD_COLUMNS_SHOWN = ["model", "answer", "interval", "calibration"]
SCORE_COLUMN_CONFIG = {
    "shown_score": st.column_config.NumberColumn("raw score", format="%.3f"),
    "threshold": st.column_config.NumberColumn("threshold", format="%.3f"),
    "percentile": st.column_config.NumberColumn("cohort percentile", format="%.0f"),
    "predicted_class": "predicted class",
}


@dataclass(frozen=True)
class ShownScores:
    """What the scores section showed: the scores table, the board's answers and the
    predictions they came from (``crlm.models.absolute.CasePrediction``)."""

    table: pd.DataFrame
    board: pd.DataFrame
    predictions: tuple
    coverage: float


@dataclass(frozen=True)
class Extras:
    """What the lower sections give the report: the chosen response model, the case's
    survival group, the figures drawn, the case's prognosis cluster and the
    decision-tree leaves it falls in."""

    model_id: str = ""
    case_group: str = ""
    figures: Mapping[str, Any] = field(default_factory=dict)
    cluster: CaseCluster | None = None
    leaves: tuple = ()


@st.cache_resource(show_spinner=False, max_entries=8)
def _similarity_index(path: str, key: tuple, _cohort: pd.DataFrame) -> SimilarityIndex:
    """The similarity index of a filtered cohort (``key``: the filter, on ``path``)."""
    return SimilarityIndex.build(_cohort)


def show_scores(scores: pd.DataFrame, *, registry: pd.DataFrame, bases: Mapping,
                thresholds: Mapping[str, float | None], labels: Mapping[str, str],
                imaging: bool) -> ShownScores:
    """Per task, the board's answers and the raw scores; the models without an answer
    and the flags of the case."""
    table = cases.scores_table(scores, thresholds, labels)
    st.subheader("Scores")
    coverage = st.radio("Coverage of the intervals and prediction sets", COVERAGES, index=1,
                        format_func=lambda c: f"{c:.0%}", horizontal=True,
                        key="score_coverage")
    predictions = absolute.case_predictions(scores, bases, coverage)
    board = cases.board_table(predictions, labels)
    for task in cases.TASK_ORDER:
        part = board[board["task_id"] == task]
        raw = table[table["task_id"] == task]
        if part.empty and raw.empty:
            continue
        st.markdown(f"**{cases.task_label(task)}**")
        st.dataframe(part[BOARD_COLUMNS_SHOWN], hide_index=True, width="stretch",
                     key=f"score_board_{task}")
        with st.expander("Raw scores, thresholds and classes (for the data scientist)"):
            st.dataframe(raw[SCORE_COLUMNS_SHOWN], hide_index=True, width="stretch",
                         column_config=SCORE_COLUMN_CONFIG, key=f"score_table_{task}")
    st.caption(absolute.interval_words("binary", coverage) + " "
               + absolute.interval_words("survival", coverage))
    st.caption("A model answers only when the case gives it its required inputs (tumour "
               "size and count; RAS status for anti-EGFR benefit) and at most half of its "
               "clinical inputs are imputed. Raw scores: probability of response for trained "
               "response models, a risk score (higher = earlier events) for survival models, "
               "clinical scores as their own value; class at the threshold set on the Models "
               "page (else the stored one); percentile among the cohort's out-of-fold and "
               "external scores.")
    _no_answer(scores, registry, imaging)
    _flags(cases.case_flags(scores))
    return ShownScores(table=table, board=board, predictions=tuple(predictions),
                       coverage=coverage)


def _no_answer(scores: pd.DataFrame, registry: pd.DataFrame, imaging: bool) -> None:
    groups = cases.reason_groups(scores)
    missing = cases.could_not_score(scores, registry, imaging_given=imaging)
    extra = missing[missing["case"] == "all"]
    if groups or len(extra):
        st.markdown("**No answer**")
        for group in groups:
            with st.expander(group.title):
                st.markdown("\n".join(f"- {d}" for d in group.details))
        for r in extra.to_dict("records"):
            st.markdown(f"- {r['reason']}")


def _flags(flags: Mapping[str, list[str]]) -> None:
    if flags["imputed_inputs"]:
        st.warning("Imputed by the models (unknown): " + ", ".join(flags["imputed_inputs"]))
    if flags["imputed_features"]:
        st.caption(f"{len(flags['imputed_features'])} imaging / genomic features not available "
                   "for this case were imputed.")
    if flags["out_of_range"]:
        st.warning("Outside the models' training range: " + ", ".join(flags["out_of_range"]))
    if flags["stale_models"]:
        st.warning("Trained on a different version of the cohort (retrain): "
                   + ", ".join(flags["stale_models"]))


def show_survival(predictions: tuple, *, bases: Mapping, labels: Mapping[str, str],
                  coverage: float) -> Any:
    """The chosen survival model's predicted curve over the Kaplan–Meier curve of the
    development patients of similar predicted risk; the figure, or None."""
    by_id = results.survival_predictions(predictions)
    if not by_id:
        return None
    st.subheader("Predicted survival")
    chosen = st.selectbox("Survival model", list(by_id), key="score_survival_model",
                          format_func=lambda m: f"{cases.task_label(by_id[m].task)}: "
                                                f"{labels.get(m, m)}")
    pred = by_id[chosen]
    band = results.survival_band(bases.get((pred.model_id, pred.model_version)),
                                 pred.raw_score, coverage)
    fig = figures.make_case_survival_figure(
        band.km, band.times, band.surv, band.lower, band.upper, coverage=coverage,
        group_label=f"Development patients of similar risk ({band.n_similar})",
        title=f"{labels.get(chosen, chosen)}: predicted survival of the case",
        horizons=absolute.HORIZONS_MONTHS)
    st.plotly_chart(fig, width="stretch", key="score_fig_case_survival",
                    config=figures.plotly_config("score_case_survival"))
    st.caption(f"{pred.headline}. Dashed: the case's predicted curve with its {coverage:.0%} "
               f"bootstrap band; solid: Kaplan–Meier of the development patients whose "
               f"out-of-fold risk score lies in the same fifth as the case's "
               f"({band.low:.3g} to {band.high:.3g}). {pred.calibration_text}.")
    return fig


def where_it_falls(case: pd.DataFrame, scores: pd.DataFrame, table: pd.DataFrame, *,
                   filt: CohortFilter, registry: pd.DataFrame,
                   thresholds: Mapping[str, float | None], labels: Mapping[str, str]
                   ) -> Extras:
    """Prognosis cluster, decision-tree leaves, distribution, ROC operating point,
    survival group of the case, similar patients and contributions to the chosen response
    model's score."""
    st.subheader("Where the case falls")
    cluster = _cluster(case, filt)
    leaves = _tree_leaves(case, scores, registry, labels)
    options = results.response_models(registry)
    if not options:
        st.info("No trained response model in this cohort.")
        return Extras(cluster=cluster, leaves=leaves)
    left, right = st.columns([1, 1])
    model_id = selected_model("response", options, label="Response model", container=left)
    endpoint = right.selectbox("Survival endpoint", endpoint_choices(filt.cohort, "score_endpoint"),
                               key="score_endpoint")
    name = labels.get(model_id, model_id)
    score = results.case_score(table, model_id)
    threshold = thresholds.get(model_id)
    preds = load_predictions(filt, task="response", model_id=model_id,
                             split=["out-of-fold", "external"])
    cohort = load_cohort(filt)
    merged = results.cohort_scores(cohort, preds)
    response = results.cohort_response(merged, threshold)
    c1, c2 = st.columns(2)
    with c1:
        fig = figures.make_score_distribution_figure(
            response.parts, score, threshold, title=f"{name}: cohort scores")
        st.plotly_chart(fig, width="stretch", key="score_fig_distribution",
                        config=figures.plotly_config("score_distribution"))
    with c2:
        if response.roc is not None:
            fig = figures.make_roc_figure({name: response.roc},
                                          operating_points={name: response.operating_point},
                                          title="ROC in the cohort, with the threshold",
                                          height=420)
            st.plotly_chart(fig, width="stretch", key="score_fig_roc",
                            config=figures.plotly_config("score_roc"))
        else:
            st.info("The filtered cohort has a single response class: no ROC curve.")
    drawn: dict[str, Any] = {}
    case_group = ""
    time_col, event_col = config.ENDPOINTS[endpoint]
    group = results.case_group_curves(merged, score, threshold, time_col, event_col)
    if group is None:
        st.info("The chosen model has no score or no threshold for this case: no survival group.")
    elif group.curves:
        km_fig = figures.make_km_figure(
            group.curves, title=f"{endpoint}: cohort patients by predicted response "
                                f"({name}, threshold {threshold:.2f})")
        st.plotly_chart(km_fig, width="stretch", key="score_fig_km",
                        config=figures.plotly_config("score_km"))
        drawn["km"] = km_fig
        case_group = group.case_group
    _similar(case, filt, cohort)
    st.subheader("Why: contributions to the chosen model's score")
    contributions, method = results.contributions(scores, model_id)
    if contributions:
        fig = figures.make_contribution_figure(contributions, title=name)
        st.plotly_chart(fig, width="stretch", key="score_fig_contrib",
                        config=figures.plotly_config("score_contributions"))
        st.caption(f"Method: {method}.")
        drawn["contributions"] = fig
    else:
        st.info("This model gives no per-feature contributions for the case.")
    return Extras(model_id=model_id, case_group=case_group, figures=drawn, cluster=cluster,
                  leaves=leaves)


@st.cache_resource(show_spinner="Clustering the cohort…", max_entries=8)
def _cohort_clusters(path: str, key: tuple, _cohort: pd.DataFrame) -> tuple:
    """The Clusters page's default clustering of a filtered cohort (``key``, on ``path``)
    and its clusters' median survival."""
    analysis = cohort_clusters(_cohort)
    return analysis, cluster_medians(analysis, _cohort)


def _cluster(case: pd.DataFrame, filt: CohortFilter) -> CaseCluster:
    st.markdown("**Prognosis cluster**")
    cohort = load_cohort(filt)
    try:
        analysis, medians = _cohort_clusters(store_path(), filter_key(filt), cohort)
    except ValueError:  # case_cluster gives the reason
        analysis, medians = None, None
    got = case_cluster(case, cohort, analysis, medians=medians)
    if not got.assigned:
        st.info(f"No prognosis cluster for this case: {got.reason}.")
    else:
        cols = st.columns(1 + len(got.medians))
        cols[0].metric("Prognosis cluster", f"{got.cluster} of {got.k}")
        for col, endpoint in zip(cols[1:], got.medians):
            col.metric(f"Cluster median {endpoint}", got.median_text(endpoint))
        imputed = (f" Set to the cohort median for this case: "
                   f"{', '.join(config.COLUMNS_BY_NAME[c].label for c in got.missing)}."
                   if got.missing else "")
        st.caption(f"{got.size:,} of the {got.n_patients:,} patients of the filtered cohort "
                   "are in this cluster. The Clusters page's default clustering (Ward, "
                   "number of clusters by the silhouette) on "
                   + ", ".join(config.COLUMNS_BY_NAME[c].label for c in got.inputs)
                   + ", standardised on the cohort; the case joins the nearest cluster "
                   "centre; medians are Kaplan–Meier." + imputed)
    st.page_link("views/clusters.py", label="See the clusters on the Clusters page",
                 icon=":material/bubble_chart:")
    return got


def _load_tree(rec: Mapping):
    folder = Path(rec["artefact_path"]) if rec.get("artefact_path") else None
    try:
        return load_model(rec["model_id"], int(rec["version"]), folder=folder)
    except ModelError:
        return None


def _tree_leaves(case: pd.DataFrame, scores: pd.DataFrame, registry: pd.DataFrame,
                 labels: Mapping[str, str]) -> tuple:
    leaves = case_leaves(case, scores, registry, _load_tree) if len(registry) else ()
    if leaves:
        st.markdown("**Decision tree: the leaf of the case**")
        st.dataframe(pd.DataFrame([{"model": labels.get(leaf.model_id, leaf.model_id),
                                    "splits from the root": leaf.path_text,
                                    "leaf": leaf.leaf_text} for leaf in leaves]),
                     hide_index=True, width="stretch", key="score_tree_leaves")
        st.caption("The splits the case follows in each decision tree drawn on the Models "
                   "page; the leaf's share among its training patients is the tree's score "
                   "of the case.")
    return leaves


def _similar(case: pd.DataFrame, filt: CohortFilter, cohort: pd.DataFrame) -> None:
    st.subheader("Similar patients in the cohort")
    index = _similarity_index(store_path(), filter_key(filt), cohort)
    similar = similar_patients(cohort, case.iloc[0], k=st.session_state.get("score_k", 5),
                               index=index)
    st.dataframe(similar, hide_index=True, width="stretch", key="score_similar",
                 column_config={"distance": st.column_config.NumberColumn(format="%.2f")})
    st.number_input("How many", 1, 25, 5, key="score_k")
    st.caption(f"Nearest by standardised entries ({similar.attrs.get('inputs_compared', 0)} known "
               "entries compared); ids are the store's pseudonyms.")
