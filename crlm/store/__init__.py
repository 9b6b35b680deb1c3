"""The store: the only package that speaks SQL (DuckDB)."""
from crlm.store.connection import Store, StoreBusy, StoreError
from crlm.store.filters import (
    CATEGORY_FILTERS, RANGE_FILTERS, UNKNOWN, CohortFilter, FilterError,
)
from crlm.store.queries import (
    TABLES, append_patients, begin_cohort, count_patients, data_hash,
    delete_case, finish_cohort, list_cohorts, load_audit_log, load_case, load_cases,
    load_cohort, load_cohort_fingerprint, load_cohort_info, load_column_levels,
    load_imports, load_models, load_predictions, log_action,
    record_import, save_case, save_cohort, save_model, table_checksums,
)
from crlm.store.features import append_features, load_feature_names, load_features
from crlm.store.images import (
    decode_crops, encode_crops, load_feature_info, load_images, load_lesion_crops,
    replace_images, save_feature_info, save_images,
)
from crlm.store.cohorts import CohortRows, replace_cohort
from crlm.store.extras import load_extra_spans, load_recorded_columns
from crlm.store.measurements import (
    MEASUREMENT_COLUMNS, append_measurements, count_measurements, load_landmark_values,
    load_measurements, replace_measurements,
)
from crlm.store.board import (
    add_board_item, add_case_note, load_board, load_case_notes, load_meetings, move_board_item,
    remove_board_item,
)
from crlm.store.schema import SCHEMA_VERSION
from crlm.store.versions import data_version

__all__ = [name for name in dir() if not name.startswith("_")]
