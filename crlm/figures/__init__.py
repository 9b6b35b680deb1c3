"""Pure figure builders: statistics results in, ``plotly.graph_objects.Figure`` out.

No query, no fit, no Streamlit here. One house style (``style``), curves
thinned before they reach the browser (``thinning``), and export to PNG / SVG /
PDF / CSV (``export``).
"""
from crlm.figures.ct import make_ct_slice_figure, make_lesion_explanation_figure
from crlm.figures.diagnostic import (
    make_calibration_figure, make_decision_curve_figure, make_roc_figure, roc_legend_text,
)
from crlm.figures.distribution import (
    make_contribution_figure, make_distribution_figure, make_score_distribution_figure,
)
from crlm.figures.export import (
    ExportError, export_figure, figure_data_csv, plotly_config, prepare_for_export, safe_filename,
)
from crlm.figures.forest import auc_rows, forest_rows, make_auc_forest_figure, make_forest_figure
from crlm.figures.prediction import make_case_survival_figure
from crlm.figures.style import OKABE_ITO, PALETTE, TEMPLATE, apply_house_style, color
from crlm.figures.survival import at_risk_at, make_km_figure, make_km_grid_figure, yearly_ticks
from crlm.figures.thinning import step_value, thin_curve, thin_step, thin_step_indices
from crlm.figures._format import format_auc, format_estimate, format_p

__all__ = [
    "ExportError", "OKABE_ITO", "PALETTE", "TEMPLATE", "apply_house_style", "at_risk_at",
    "auc_rows", "color", "export_figure", "figure_data_csv", "format_auc", "format_estimate",
    "format_p", "forest_rows", "make_auc_forest_figure", "make_calibration_figure",
    "make_case_survival_figure", "make_contribution_figure", "make_ct_slice_figure", "make_lesion_explanation_figure", "make_decision_curve_figure", "make_distribution_figure",
    "make_forest_figure", "make_km_figure", "make_km_grid_figure", "make_roc_figure",
    "make_score_distribution_figure", "plotly_config", "prepare_for_export", "roc_legend_text",
    "safe_filename", "step_value", "thin_curve", "thin_step", "thin_step_indices", "yearly_ticks",
]
