"""Stores of a centre's own cohorts for the page tests: R's survival::colon trial
(imported with its mapping: arm, nodes, differentiation, ...) and a table in the public
TCIA CRLM layout (recognised without a mapping, trained for survival only)."""
from __future__ import annotations

from pathlib import Path

from crlm import config
from crlm.store import CATEGORY_FILTERS, RANGE_FILTERS

DATA = Path(__file__).resolve().parent / "reference" / "data"
COLON_CSV = DATA / "colon_trial.csv"
PASSWORD = "clinician-password-1"
# Every contract column with a sidebar control (all CRLM-specific but age, sex, centre
# and split): one that a cohort does not record must have no control.
FILTER_COLUMNS = (*CATEGORY_FILTERS, *RANGE_FILTERS, "diagnosis_date")


def build_colon_store(root: Path) -> Path:
    from crlm.ingest.importer import import_file
    from crlm.store import Store
    from tests.support.colon import MAPPING

    (root / "colon.yaml").write_text(MAPPING)
    path = root / "crlm.duckdb"
    with Store(path) as store:
        assert import_file(store, COLON_CSV, mapping=root / "colon.yaml",
                           cohort="colon").written
    return path


def build_tcia_store(root: Path, *, n: int = 150) -> Path:
    """The TCIA layout imported as cohort ``tcia`` and its OS and RFS models trained
    (Cox and the Fong score: no response outcome in this table)."""
    from crlm.cli import main
    from crlm.ingest.importer import import_file
    from crlm.store import Store
    from tests.support.tcia import tcia_frame

    csv = root / "Colorectal-Liver-Metastases clinical.csv"
    tcia_frame(n=n, seed=11).to_csv(csv, index=False)
    path = root / "crlm.duckdb"
    with Store(path) as store:
        assert import_file(store, csv, cohort="tcia").written
    assert main(["--db", str(path), "-q", "train", "--cohort", "tcia", "--task", "os_risk",
                 "--task", "rfs_risk", "--family", "cox", "--family", "fong_score",
                 "--folds", "3", "--fast"]) == 0
    return path


def add_clinician(root: Path) -> Path:
    from crlm import auth

    users = root / "users.toml"
    auth.add_user(users, "cara", "clinician", PASSWORD)
    return users


def label(column: str) -> str:
    return config.COLUMNS_BY_NAME[column].label


def train_colon_cox(path: Path) -> None:
    """An OS Cox model on the colon trial: it reads the arm one-hot (known with the plan)."""
    from crlm.cli import main

    assert main(["--db", str(path), "-q", "train", "--cohort", "colon", "--task", "os_risk",
                 "--family", "cox", "--folds", "3", "--fast"]) == 0
