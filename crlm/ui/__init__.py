"""Shared Streamlit helpers: the only crlm module besides pages that imports streamlit.

Cached loaders (``st.cache_resource`` for the store, ``st.cache_data`` for
query results keyed on the filter), the shared sidebar filter, the synthetic
notice, export buttons and the model threshold shared between pages.
"""
from __future__ import annotations

from crlm.ui.access import (
    current_user, require_role, return_to_requested_page, sign_in_gate, user_can,
)
from crlm.ui.loaders import (
    count_patients, filter_from_key, filter_key, get_store, load_cohort, load_cohort_info,
    load_features, load_models, load_predictions, snapshot, store_path,
)
from crlm.ui.widgets import (
    current_filter, endpoint_choices, export_buttons, get_threshold, page_header, selected_model,
    set_threshold, show_error, sidebar_filters,
)

__all__ = [
    "count_patients", "current_filter", "current_user", "endpoint_choices", "export_buttons",
    "filter_from_key",
    "filter_key", "get_store",
    "get_threshold", "load_cohort", "load_cohort_info", "load_features", "load_models",
    "load_predictions", "page_header", "require_role", "return_to_requested_page",
    "selected_model", "set_threshold",
    "show_error", "sidebar_filters", "snapshot", "sign_in_gate", "store_path", "user_can",
]
