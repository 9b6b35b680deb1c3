"""Keeping patient identifiers out of free text and out of the logs.

``screen_free_text`` finds text that looks like an identifier (dates, long
digit runs such as NHS or hospital numbers, e-mail addresses, phone numbers,
DICOM-style ``Family^Given`` names, capitalised names after a title or after
words like "patient") and replaces each with a placeholder. It is used on case
labels before they are stored. ``IdentifierLogFilter`` applies the same
screening to every log record once ``install_log_filter()`` has run.

``neutralise_formulas`` makes text cells that a spreadsheet would run as a
formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) inert with a leading
quote; every CSV or Excel the app or the CLI writes goes through it (downloads through
``csv_bytes``, cohort exports through ``crlm.ingest.export.write_frame``).

Screening is deliberately eager: masking a harmless number costs little, a
stored hospital number costs a breach.

The secret keys behind every pseudonym live here too: ``secret_key`` reads a key
from its environment variable or its key file, creating the file once (32 random
bytes as hex, mode 0600, never overwritten); ``pseudonym_key`` is the store's key
for patient ids (``<store>.id-key`` or ``CRLM_ID_KEY``) and ``pseudonymise_ids``
turns source ids into store pseudonyms. The DICOM de-identification key
(``crlm.ingest.dicom.deid.default_key``) is read the same way.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|"
           r"aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_CAP = r"[A-Z][a-z]*(?:['-][A-Z]?[a-z]+)*"  # Smith, O'Neil, Smith-Jones
_CAPS_OR_CAP = r"(?:[A-Z][a-z]*(?:['-][A-Z]?[a-z]+)*|[A-Z]{2,}(?:['-][A-Z]+)*)"

# (kind, placeholder, pattern, group holding the identifier). Earlier kinds win
# where matches overlap.
_PATTERNS: tuple[tuple[str, str, re.Pattern, int], ...] = (
    ("email", "[email]",
     re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), 0),
    ("dicom_name", "[name]",
     re.compile(r"[A-Za-z][A-Za-z'.-]*(?:\^[A-Za-z'. -]*[A-Za-z.])+\^*"), 0),
    ("date", "[date]", re.compile(
        r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"          # 1961-03-12
        r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"            # 12/03/1961, 12.3.61
        r"|\d{1,2}(?:st|nd|rd|th)?[ -]" + _MONTHS + r"\.?,?[ -]\d{2,4}"   # 12 March 1961
        r"|" + _MONTHS + r"\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}"          # March 12, 1961
        r")\b", re.IGNORECASE), 0),
    ("date", "[date]", re.compile(
        r"\b(?:dob|d\.o\.b\.?|born|date of birth)\s*[:=]?\s*(\S+(?: \S+){0,2})",
        re.IGNORECASE), 1),
    ("phone", "[phone]", re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?\(?0?\d{2,5}\)?(?:[ .-]?\d{2,4}){2,4}(?!\w)"), 0),
    ("id", "[id]", re.compile(
        r"\b(?:mrn|nhs(?: no\.?| number)?|hospital (?:no\.?|number)|patient id|pid|"
        r"case no\.?|chi)\s*[:#=]?\s*([A-Za-z0-9/-]*\d[A-Za-z0-9/-]*)", re.IGNORECASE), 1),
    ("id", "[id]", re.compile(r"(?<![\w])[A-Za-z]{0,4}\d(?:[ ./-]?\d){5,}[A-Za-z]?(?![\w])"), 0),
    ("name", "[name]", re.compile(
        r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?\s+(" + _CAPS_OR_CAP
        + r"(?:\s+" + _CAPS_OR_CAP + r"){0,2})"), 1),
    ("name", "[name]", re.compile(
        r"\b(?:[Pp]atient|[Pp]t\.?|[Nn]ame[ds]?|[Cc]alled|[Ss]urname|[Ff]amily name)\s*[:=]?\s+("
        + _CAP + r"(?:\s+" + _CAP + r")+)"), 1),
    ("name", "[name]", re.compile(
        r"\b(?:[Nn]ame|[Ss]urname|[Ff]amily name)\s*[:=]\s*(" + _CAPS_OR_CAP + r")"), 1),
)


@dataclass(frozen=True)
class Finding:
    """One identifier-like span of the screened text (positions in the original)."""

    kind: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start, "end": self.end}


def find_identifiers(text: str) -> list[Finding]:
    """Identifier-like spans of ``text``, sorted, not overlapping."""
    if not text:
        return []
    taken: list[tuple[int, int, str]] = []
    for kind, _placeholder, pattern, group in _PATTERNS:
        for m in pattern.finditer(text):
            start, end = m.span(group)
            if start < 0 or end <= start:
                continue
            if kind == "phone" and sum(ch.isdigit() for ch in m.group(0)) < 9:
                continue
            if any(start < e and s < end for s, e, _ in taken):
                continue
            taken.append((start, end, kind))
    return [Finding(kind, s, e) for s, e, kind in sorted(taken)]


_PLACEHOLDER = {kind: placeholder for kind, placeholder, _p, _g in _PATTERNS}


def screen_free_text(text: str | None) -> tuple[str, list[Finding]]:
    """``(clean_text, findings)``: ``text`` with every identifier-like span replaced
    by a placeholder such as ``[date]`` or ``[name]``; ``findings`` says what was
    replaced (kind and position, never the value)."""
    if text is None:
        return "", []
    text = str(text)
    findings = find_identifiers(text)
    if not findings:
        return text, []
    out, pos = [], 0
    for f in findings:
        out.append(text[pos:f.start])
        out.append(_PLACEHOLDER[f.kind])
        pos = f.end
    out.append(text[pos:])
    return "".join(out), findings


def describe_findings(findings: list[Finding]) -> str:
    """``"2 dates, 1 name"``: a message for the user about what was removed."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    words = {"email": "e-mail address", "dicom_name": "name", "name": "name", "date": "date",
             "phone": "phone number", "id": "identifier number"}
    merged: dict[str, int] = {}
    for kind, n in counts.items():
        merged[words[kind]] = merged.get(words[kind], 0) + n
    return ", ".join(f"{n} {w}{'es' if n != 1 and w.endswith('ss') else 's' if n != 1 else ''}"
                     for w, n in merged.items())


# -- logging -----------------------------------------------------------------
class IdentifierLogFilter(logging.Filter):
    """Masks identifier-like values in a record's message and exception text.

    Never drops a record; it rewrites ``msg``/``args`` so that every handler
    sees the screened text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_crlm_screened", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging to report
            return True
        clean, findings = screen_free_text(message)
        if findings:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = screen_free_text(record.exc_text)[0]
        if record.stack_info:
            record.stack_info = screen_free_text(record.stack_info)[0]
        record._crlm_screened = True
        return True


_INSTALL_LOCK = threading.Lock()
_installed: dict = {}


def install_log_filter() -> IdentifierLogFilter:
    """Screen every log record of the process, whichever logger or handler it goes to.

    Wraps the log-record factory (so records made by any logger, now or later,
    are screened when they are created) and adds the filter to the handlers the
    root logger has now. Calling it again does nothing more.
    """
    with _INSTALL_LOCK:
        if "filter" in _installed:
            return _installed["filter"]
        flt = IdentifierLogFilter()
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            flt.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        for handler in logging.getLogger().handlers:
            handler.addFilter(flt)
        _installed.update(filter=flt, previous=previous, factory=factory)
        return flt


def uninstall_log_filter() -> None:
    """Undo ``install_log_filter`` (for tests)."""
    with _INSTALL_LOCK:
        if "filter" not in _installed:
            return
        if logging.getLogRecordFactory() is _installed["factory"]:
            logging.setLogRecordFactory(_installed["previous"])
        for handler in logging.getLogger().handlers:
            handler.removeFilter(_installed["filter"])
        _installed.clear()


# -- spreadsheet formula injection ---------------------------------------------------------
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISING_QUOTE = "'"


def neutralise_cell(value):
    """``value`` with a leading quote when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return NEUTRALISING_QUOTE + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A copy of ``frame`` whose risky text cells and column names are neutralised, and
    the number of cells changed. Works by position, so repeated column names are fine."""
    out = frame.copy()
    out.columns = [neutralise_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    count = 0
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
                or isinstance(s.dtype, pd.CategoricalDtype)):
            continue
        text = s.astype(object)
        risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
        if risky.any():
            count += int(risky.sum())
            out.isetitem(i, text.map(neutralise_cell))
    return out, count


def csv_bytes(frame: pd.DataFrame | None) -> bytes:
    """``frame`` as UTF-8 CSV bytes, formula cells neutralised: the one CSV writer of
    every download button."""
    safe, _ = neutralise_formulas(pd.DataFrame(frame) if frame is not None else pd.DataFrame())
    return safe.to_csv(index=False).encode("utf-8")


# -- secret keys and pseudonyms ------------------------------------------------------
PSEUDONYM_KEY_ENV = "CRLM_ID_KEY"
PSEUDONYM_HEX_DIGITS = 12


class KeyFileError(ValueError):
    """A key file that exists but cannot be used."""


def secret_key(path: str | os.PathLike, env: str | None = None) -> bytes:
    """The secret in ``$env`` if set, else in the key file ``path`` (created once: 32
    random bytes as hex, mode 0600; an existing file is never overwritten)."""
    value = os.environ.get(env) if env else None
    if value:
        return value.encode("utf-8")
    path = Path(path)
    if path.exists():
        key = path.read_bytes().strip()
        if not key:
            raise KeyFileError(f"{path}: the key file is empty")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created meanwhile by another process: use that one
        return secret_key(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_hex(32).encode("ascii"))
    return path.read_bytes().strip()


def pseudonym_key(store) -> bytes:
    """The store's secret key for patient pseudonyms (env ``CRLM_ID_KEY`` or a key file).

    The key file sits next to the store file (``<store>.id-key``), is created on first
    use and must be kept (and backed up) with the store: without it a re-import of the
    same file gives new pseudonyms.
    """
    return secret_key(Path(str(store.path) + ".id-key"), PSEUDONYM_KEY_ENV)


def pseudonymise_ids(ids: Sequence[str] | pd.Series, cohort: str, key: bytes) -> pd.Series:
    """Store pseudonyms ``<cohort>-<hex>``: keyed SHA-256 of cohort and id, deterministic."""
    prefix = key + b"\x00" + cohort.encode() + b"\x00"
    out = [f"{cohort}-{hashlib.sha256(prefix + str(i).encode()).hexdigest()[:PSEUDONYM_HEX_DIGITS]}"
           for i in ids]
    return pd.Series(out, index=ids.index if isinstance(ids, pd.Series) else None, dtype=object)
