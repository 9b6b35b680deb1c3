"""Schema of the store as an ordered list of migrations.

Migration N brings a store from schema version N-1 to N. A store at a version
newer than the last migration here is refused: this code cannot know what a
newer release changed.
"""
from __future__ import annotations

from crlm.config import PATIENT_COLUMNS


# contract columns added after the first schema: their migration adds them
LATER_PATIENT_COLUMNS = (
    "n_category", "ras_mutant", "ajcc_stage", "nordlinger_score", "nordlinger_group",
    "resection_margin_mm", "desmoplastic_growth", "pathological_response_percent",
    "major_pathological_response", "rfs_months", "rfs_event",
)


def _patients_ddl() -> str:
    cols = ",\n    ".join(f"{c.name} {c.sql_type}" for c in PATIENT_COLUMNS
                           if c.name not in LATER_PATIENT_COLUMNS)
    return (
        "CREATE TABLE patients (\n    cohort VARCHAR NOT NULL,\n    "
        + cols
        + ",\n    PRIMARY KEY (cohort, patient_id)\n)"
    )


MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "initial schema",
        [
            """CREATE TABLE cohorts (
                cohort VARCHAR PRIMARY KEY,
                kind VARCHAR NOT NULL,            -- 'synthetic' or 'imported'
                description VARCHAR,
                created_at TIMESTAMP NOT NULL,
                seed BIGINT,
                n_patients BIGINT,
                data_hash VARCHAR,
                unavailable_columns VARCHAR      -- JSON list of contract columns the source lacks
            )""",
            _patients_ddl(),
            """CREATE TABLE features (
                cohort VARCHAR NOT NULL,
                patient_id VARCHAR NOT NULL,
                feature_set VARCHAR NOT NULL,    -- 'radiomic', 'genomic', 'extra'
                feature VARCHAR NOT NULL,
                value DOUBLE,
                PRIMARY KEY (cohort, patient_id, feature_set, feature)
            )""",
            """CREATE TABLE images (
                cohort VARCHAR NOT NULL,
                patient_id VARCHAR NOT NULL,
                image_id VARCHAR NOT NULL,
                modality VARCHAR,
                series_uid VARCHAR,              -- remapped (de-identified) uid
                n_slices INTEGER,
                pixel_spacing_mm DOUBLE,
                slice_thickness_mm DOUBLE,
                n_lesions INTEGER,
                location VARCHAR,                -- where crops / pixels live, relative to data/
                metadata VARCHAR,                -- JSON of de-identified metadata
                PRIMARY KEY (cohort, image_id)
            )""",
            """CREATE TABLE models (
                model_id VARCHAR NOT NULL,       -- e.g. 'response.logistic'
                version INTEGER NOT NULL,
                name VARCHAR NOT NULL,
                family VARCHAR NOT NULL,
                task VARCHAR NOT NULL,
                cohort VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,           -- 'trained', 'clinical', 'fusion'
                feature_set VARCHAR,             -- JSON list of input columns
                training_hash VARCHAR,
                trained_at TIMESTAMP NOT NULL,
                threshold DOUBLE,
                metrics VARCHAR,                 -- JSON
                artefact_path VARCHAR,
                is_current BOOLEAN NOT NULL,
                PRIMARY KEY (model_id, version)
            )""",
            """CREATE TABLE predictions (
                cohort VARCHAR NOT NULL,
                patient_id VARCHAR NOT NULL,
                model_id VARCHAR NOT NULL,
                model_version INTEGER NOT NULL,
                task VARCHAR NOT NULL,
                split VARCHAR NOT NULL,          -- 'out-of-fold', 'external', 'scored-case'
                fold INTEGER,
                score DOUBLE NOT NULL,
                PRIMARY KEY (cohort, patient_id, model_id, model_version, split)
            )""",
            "CREATE SEQUENCE case_seq START 1",
            """CREATE TABLE cases (
                case_id BIGINT PRIMARY KEY DEFAULT nextval('case_seq'),
                created_at TIMESTAMP NOT NULL,
                created_by VARCHAR NOT NULL,
                label VARCHAR,                   -- free text, screened for identifiers
                cohort VARCHAR,
                inputs VARCHAR NOT NULL,         -- JSON of de-identified inputs
                scores VARCHAR NOT NULL,         -- JSON of scores and model versions
                image_metadata VARCHAR
            )""",
            "CREATE SEQUENCE audit_seq START 1",
            """CREATE TABLE audit_log (
                event_id BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
                logged_at TIMESTAMP NOT NULL,
                actor VARCHAR NOT NULL,
                action VARCHAR NOT NULL,
                object VARCHAR,                  -- store ids only, never patient identifiers
                detail VARCHAR
            )""",
            """CREATE TABLE imports (
                import_id VARCHAR PRIMARY KEY,
                cohort VARCHAR NOT NULL,
                source_name VARCHAR,
                source_hash VARCHAR NOT NULL,
                mapping VARCHAR,
                rows_read BIGINT,
                rows_accepted BIGINT,
                imported_at TIMESTAMP NOT NULL,
                imported_by VARCHAR,
                report VARCHAR
            )""",
        ],
    ),
    (
        "decision time of features; lesion crops and imaging time points in images",
        [
            """CREATE TABLE feature_info (
                cohort VARCHAR NOT NULL,
                feature_set VARCHAR NOT NULL,
                feature VARCHAR NOT NULL,
                known_at VARCHAR NOT NULL,       -- a config.KNOWN_AT_LEVELS value
                label VARCHAR,
                unit VARCHAR,
                PRIMARY KEY (cohort, feature_set, feature)
            )""",
            # time_point: 'baseline' (pre-treatment CT), ...; lesions: JSON list per lesion;
            # crops: the lesion crops as a compressed int16 array (crlm.store.images)
            "ALTER TABLE images ADD COLUMN time_point VARCHAR",
            "ALTER TABLE images ADD COLUMN known_at VARCHAR",
            "ALTER TABLE images ADD COLUMN lesions VARCHAR",
            "ALTER TABLE images ADD COLUMN crops BLOB",
            "ALTER TABLE images ADD COLUMN crops_sha256 VARCHAR",
        ],
    ),
    (
        "measurements over time (serial CEA, target-lesion sums, lesion counts)",
        [
            # long format, one value per patient, kind and day; day = days from the start
            # of first-line treatment (0 = baseline, before the first cycle)
            """CREATE TABLE measurements (
                cohort VARCHAR NOT NULL,
                patient_id VARCHAR NOT NULL,
                day INTEGER NOT NULL,
                kind VARCHAR NOT NULL,           -- a crlm.store.measurements.KINDS key
                value DOUBLE NOT NULL,
                unit VARCHAR NOT NULL,           -- the kind's unit, after conversion
                source VARCHAR,                  -- 'synthetic', an import id, 'case'
                PRIMARY KEY (cohort, patient_id, kind, day)
            )""",
        ],
    ),
    (
        "the board's session: cases of a meeting in order, and notes on saved cases",
        [
            """CREATE TABLE board_items (
                meeting_date DATE NOT NULL,
                board VARCHAR NOT NULL,          -- the board's label, screened for identifiers
                case_id BIGINT NOT NULL,         -- cases.case_id
                position INTEGER NOT NULL,       -- order of discussion, 1 first
                added_by VARCHAR NOT NULL,
                added_at TIMESTAMP NOT NULL,
                PRIMARY KEY (meeting_date, board, case_id)
            )""",
            "CREATE SEQUENCE case_note_seq START 1",
            """CREATE TABLE case_notes (
                note_id BIGINT PRIMARY KEY DEFAULT nextval('case_note_seq'),
                case_id BIGINT NOT NULL,
                created_at TIMESTAMP NOT NULL,
                created_by VARCHAR NOT NULL,
                meeting_date DATE,
                board VARCHAR,
                note VARCHAR NOT NULL            -- free text, screened for identifiers
            )""",
        ],
    ),
    (
        "imported extra variables: numeric or categorical, with their level names",
        [
            # kind: 'numeric' or 'categorical'; levels: JSON list of level names, a
            # categorical feature's value being the code (0, 1, ...) of its level
            "ALTER TABLE feature_info ADD COLUMN kind VARCHAR",
            "ALTER TABLE feature_info ADD COLUMN levels VARCHAR",
        ],
    ),
]

MIGRATIONS.append((
    "staging, resection and pathology columns, recurrence-free survival and the Nordlinger "
    "score",
    [f"ALTER TABLE patients ADD COLUMN {c.name} {c.sql_type}" for c in PATIENT_COLUMNS
     if c.name in LATER_PATIENT_COLUMNS],
))



def _without_key_index(table: str, order: str, not_null: tuple[str, ...]) -> list[str]:
    """Rebuild a long table without its primary-key index (the index of a long table took
    about ten times the space of its rows); its writers check uniqueness instead."""
    return [f"CREATE TABLE {table}__rebuilt AS SELECT * FROM {table} ORDER BY {order}",
            f"DROP TABLE {table}",
            f"ALTER TABLE {table}__rebuilt RENAME TO {table}",
            *(f"ALTER TABLE {table} ALTER COLUMN {c} SET NOT NULL" for c in not_null)]


MIGRATIONS.append((
    "the long tables (features, predictions, measurements) without primary-key indexes; "
    "their writers refuse duplicate keys",
    [*_without_key_index("features", "cohort, feature_set, feature, patient_id",
                         ("cohort", "patient_id", "feature_set", "feature")),
     *_without_key_index("predictions", "cohort, model_id, model_version, split, patient_id",
                         ("cohort", "patient_id", "model_id", "model_version", "task", "split",
                          "score")),
     *_without_key_index("measurements", "cohort, patient_id, kind, day",
                         ("cohort", "patient_id", "day", "kind", "value", "unit"))],
))

SCHEMA_VERSION = len(MIGRATIONS)
