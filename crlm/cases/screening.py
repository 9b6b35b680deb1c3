"""Screening of the free text kept with a case (its label, a board note): refused
when it looks like it identifies a patient."""
from __future__ import annotations

import re

from crlm.privacy import describe_findings, screen_free_text

MAX_LABEL_CHARS = 60
MAX_NOTE_CHARS = 500

_IDENTIFIER_PATTERNS = (
    (re.compile(r"\d{5,}"), "a long number (record, hospital or NHS number)"),
    (re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"), "a date"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "an e-mail address"),
    (re.compile(r"\b(mr|mrs|ms|miss|dr|prof)\.?\s+[a-z]", re.I), "a name with a title"),
    (re.compile(r"\b[A-Z][a-z]+,\s*[A-Z][a-z]+\b"), "a name (Surname, Firstname)"),
    (re.compile(r"\b(dob|mrn|nhs|born)\b", re.I), "an identifier keyword"),
    (re.compile(r"\+?\d[\d ()-]{7,}\d"), "a phone number"),
)


def screen_note(note: str) -> str:
    """A board note, stripped, or ``ValueError`` when it is empty, too long or looks like it
    identifies a patient (the label's screening, ``screen_label``, on up to 500 characters)."""
    text = (note or "").strip()
    if not text:
        raise ValueError("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"the note is {len(text)} characters; keep it under {MAX_NOTE_CHARS}")
    return _screen(text, "note")


def screen_label(label: str) -> str:
    """The label, stripped, or ``ValueError`` when it looks like it identifies a patient.

    Screens with ``crlm.privacy.screen_free_text`` and these patterns besides: long
    numbers, dates, e-mail addresses, titled names, "Surname, Firstname", DOB/MRN/NHS
    and phone numbers.
    """
    text = (label or "").strip()
    if len(text) > MAX_LABEL_CHARS:
        raise ValueError(f"the case label is {len(text)} characters; keep it under "
                         f"{MAX_LABEL_CHARS} (a short non-identifying note)")
    return _screen(text, "case label")


def _screen(text: str, what_text: str) -> str:
    if text:
        _clean, findings = screen_free_text(text)
        if findings:
            raise ValueError(f"the {what_text} looks like it identifies a patient "
                             f"({describe_findings(findings)}); use a non-identifying note "
                             "such as 'MDT week 12, case 3'")
    for pattern, what in _IDENTIFIER_PATTERNS:
        if pattern.search(text):
            raise ValueError(f"the {what_text} looks like it holds {what}; it must not "
                             "identify a patient (e.g. 'MDT week 12, case 3')")
    return text
