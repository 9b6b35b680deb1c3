"""Patient data: identifier screening, log masking, hostile text stored as data."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from crlm import privacy
from crlm.store import Store, load_case, load_cases, save_case, table_checksums

ROOT = Path(__file__).resolve().parents[2]

IDENTIFYING = [
    ("Patient John Smith reviewed", "John Smith", "name"),
    ("seen by Mr O'Neil", "O'Neil", "name"),
    ("Mrs JONES, CT today", "JONES", "name"),
    ("SMITH^JOHN^^^ series", "SMITH^JOHN", "dicom_name"),
    ("DOB 12/03/1961", "12/03/1961", "date"),
    ("born 1961-03-12", "1961-03-12", "date"),
    ("date of birth: 12 March 1961", "12 March 1961", "date"),
    ("NHS 943 476 5919", "943 476 5919", None),
    ("MRN: A12345", "A12345", "id"),
    ("hospital number RX1234567", "RX1234567", "id"),
    ("call 07700 900123", "07700 900123", "phone"),
    ("tel +44 20 7946 0958", "+44 20 7946 0958", "phone"),
    ("mail j.smith@nhs.example.org", "j.smith@nhs.example.org", "email"),
]
CLINICAL = [
    "T3 N1, 6 lesions, largest 12.5 cm, CEA 1200 ng/mL",
    "KRAS G12D, RAS-mutant, right-sided, FOLFOX + bevacizumab 2024",
    "patient responded well after 4 cycles",
    "TBS 9.2 (high), Fong 3",
    "<script>alert(1)</script>",
    "'; DROP TABLE patients; --",
]


@pytest.mark.parametrize("text, value, kind", IDENTIFYING)
def test_identifiers_are_masked(text, value, kind):
    clean, findings = privacy.screen_free_text(text)
    assert value not in clean
    assert findings and (kind is None or any(f.kind == kind for f in findings))
    assert all(value not in repr(f) for f in findings)  # findings never carry the value


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_text_is_left_alone(text):
    assert privacy.screen_free_text(text) == (text, [])


def test_screening_is_idempotent_and_total():
    for text, _, _ in IDENTIFYING:
        once = privacy.screen_free_text(text)[0]
        assert privacy.screen_free_text(once)[0] == once
    assert privacy.screen_free_text(None) == ("", [])
    assert privacy.screen_free_text("") == ("", [])
    assert "date" in privacy.describe_findings(privacy.screen_free_text("DOB 1.2.1960")[1])


def test_log_filter_masks_messages_args_and_tracebacks(caplog):
    privacy.install_log_filter()
    try:
        log = logging.getLogger("crlm.test_privacy")
        with caplog.at_level(logging.INFO, logger="crlm.test_privacy"):
            log.info("case for %s born %s", "Patient Jane Doe", "03/04/1950")
            log.warning("lookup MRN 7654321 failed")
            try:
                raise ValueError("bad id 99887766 for jane.doe@example.org")
            except ValueError:
                log.exception("import failed")
        text = "\n".join(caplog.text.splitlines())
        for secret in ("Jane Doe", "03/04/1950", "7654321", "99887766", "jane.doe@example.org"):
            assert secret not in text
        assert "[name]" in text and "[date]" in text and "[id]" in text
        assert privacy.install_log_filter() is privacy.install_log_filter()  # idempotent
    finally:
        privacy.uninstall_log_filter()
    assert "filter" not in privacy._installed


@pytest.mark.parametrize("label", [
    "<script>alert(1)</script>",
    "'; DROP TABLE patients; --",
    "Robert'); DROP TABLE cases;--",
    '" OR 1=1 --',
    "\x00\x1b[31mred\u202e",
    "ünïcødé ✓ 日本語",
])
def test_hostile_labels_are_stored_as_data(store_path, label):
    with Store(store_path) as store:
        before = table_checksums(store)
        case_id = save_case(store, actor="clara", inputs={"note": label}, scores={},
                            label=label)
        assert load_case(store, case_id)["label"] == label
        assert load_case(store, case_id)["inputs"] == {"note": label}
        assert label in set(load_cases(store)["label"])
        after = table_checksums(store)
    assert {t: v for t, v in after.items() if t not in ("cases", "audit_log")} == \
        {t: v for t, v in before.items() if t not in ("cases", "audit_log")}
    assert after["cases"][0] == before["cases"][0] + 1
    assert after["patients"][0] == before["patients"][0] > 0


def test_no_unsafe_html_in_the_ui():
    offenders = []
    for folder in ("pages", "crlm/ui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if re.search(r"unsafe_allow_html\s*=\s*True", text) or "st.html(" in text \
                    or "components.html(" in text:
                offenders.append(str(path.relative_to(ROOT)))
    if (ROOT / "app.py").read_text(encoding="utf-8").find("unsafe_allow_html=True") >= 0:
        offenders.append("app.py")
    assert not offenders, f"raw HTML rendering in: {offenders}"
