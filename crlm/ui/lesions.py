"""Score a case, CT mode: each lesion of the upload with its weight in the cohort's
attention-MIL models and an occlusion map over its crop (which lesion, and which part of
it, drove the patient's score)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crlm import figures
from crlm.ingest.crops import lesion_crop, split_lesions
from crlm.models import ModelError, load_model
from crlm.models.ct_explain import explain_lesions
from crlm.ui.loaders import load_models

ATTENTION_FAMILIES = ("attention_mil", "attention_mil_ssl")
MAX_LESIONS = 8


def case_lesion_crops(volume: np.ndarray, mask: np.ndarray, spacing_mm) -> tuple[np.ndarray,
                                                                                    pd.DataFrame]:
    """The crops of every separate lesion of the case's region (largest first, at most
    ``MAX_LESIONS``), through the cohort import's crop transform, and their geometry."""
    crops, rows = [], []
    for k, lesion in enumerate(split_lesions(mask)[:MAX_LESIONS]):
        crop, info = lesion_crop(volume, lesion, spacing_mm)
        crops.append(crop)
        rows.append({"lesion": k + 1, "diameter_cm": info["diameter_cm"],
                     "volume_ml": info["volume_ml"]})
    if not crops:
        return np.zeros((0,)), pd.DataFrame(rows)
    return np.stack(crops), pd.DataFrame(rows)


@st.cache_data(show_spinner="Explaining the CT models…", max_entries=8)
def _explain(artefact: str, model_id: str, version: int, crops: np.ndarray) -> dict:
    model = load_model(model_id, version, folder=Path(artefact))
    return explain_lesions(model, crops).to_dict()


def lesion_attention_section(cohort: str, volume: np.ndarray, meta: dict,
                             mask: np.ndarray | None) -> None:
    """The section below the CT slice: nothing when the cohort has no attention model or
    no lesion is marked."""
    registry = load_models(cohort)
    if registry.empty or mask is None or not np.any(mask):
        return
    attention = registry[registry["family"].isin(ATTENTION_FAMILIES)]
    if attention.empty:
        return
    crops, geometry = case_lesion_crops(volume, mask, meta["spacing_mm"])
    if not len(crops):
        return
    st.subheader("Lesions: attention and occlusion")
    labels = dict(zip(attention["model_id"], attention["name"]))
    model_id = st.selectbox("Attention model", list(labels), format_func=lambda m: labels[m],
                            key="score_lesion_model")
    row = attention.set_index("model_id").loc[model_id]
    try:
        result = _explain(str(row["artefact_path"]), model_id, int(row["version"]), crops)
    except (ModelError, ValueError) as exc:
        st.warning(f"{model_id}: {exc}")
        return
    kind = result["score_kind"]
    fig = figures.make_lesion_explanation_figure(
        crops, result["weights"], np.asarray(result["occlusion"]), patch_px=result["patch_px"],
        score_kind=kind, title=f"{labels[model_id]}: {kind} {result['score']:.3f}")
    st.plotly_chart(fig, width="stretch", key="score_lesion_fig",
                    config=figures.plotly_config("lesion_attention"))
    table = geometry.assign(weight=result["weights"], **{f"{kind} alone": result["alone"]})
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(f"{len(crops)} separate lesion(s) in the marked region (3-D connected parts), "
               f"each cropped as the cohort's CT crops. Lesion {result['driving_lesion'] + 1} "
               "carries the largest weight. Red patches: hiding them lowers the score "
               "(they pushed it up); blue: hiding them raises it.")
