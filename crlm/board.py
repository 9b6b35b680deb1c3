"""The board's session, without any UI: the saved cases of one meeting (a date and a
board label) in their order, each with its one-line summary and its notes, and the
printable board pack (one PDF, a page per case, laid out as the one-page case report).

What a case says is what was saved with it (``crlm.cases.case_record``: entries,
clinical scores, the board's answers and the summary line), so the pack shows the
answers the preparing clinician saw. Labels and notes are screened for identifiers
(``crlm.cases.screen_label`` / ``screen_note``) before they are stored. Writes go
through ``crlm.store`` with an audit row each.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from crlm import cases
from crlm import store as st
from crlm.reports import CaseReport, build_board_pack

DEFAULT_BOARD = "Tumour board"
NO_SUMMARY = "saved without the board's answers: reopen the case, score it and save it again"


@dataclass(frozen=True)
class BoardEntry:
    """One case of a meeting: its place, store id, label, who saved it, its summary line
    and its notes (``"YYYY-MM-DD HH:MM name: text"``)."""

    position: int
    case_id: int
    label: str
    created_by: str
    summary: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class BoardSession:
    meeting_date: dt.date
    board: str
    entries: tuple[BoardEntry, ...]

    @property
    def title(self) -> str:
        return f"{self.board}, {self.meeting_date.isoformat()}"

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"#": e.position, "case": e.case_id, "label": e.label,
                              "summary": e.summary, "notes": len(e.notes)}
                             for e in self.entries],
                            columns=["#", "case", "label", "summary", "notes"])


def check_meeting(meeting_date, board: str) -> tuple[dt.date, str]:
    """A meeting's date and screened board label, or ``ValueError``."""
    if not isinstance(meeting_date, dt.date):
        raise ValueError("choose the meeting's date")
    label = cases.screen_label(board or "")
    if not label:
        raise ValueError("name the board (e.g. 'HPB MDT')")
    return meeting_date, label


def _note_line(row: Mapping) -> str:
    when = pd.Timestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M")
    return f"{when} {row['created_by']}: {row['note']}"


def load_session(store, meeting_date: dt.date, board: str) -> BoardSession:
    rows = st.load_board(store, meeting_date, board)
    notes = st.load_case_notes(store, rows["case_id"].tolist() if len(rows) else [])
    by_case: dict[int, list[str]] = {}
    for r in notes.to_dict("records"):
        by_case.setdefault(int(r["case_id"]), []).append(_note_line(r))
    entries = []
    for r in rows.to_dict("records"):
        saved = json.loads(r["scores"]) if r.get("scores") else {}
        entries.append(BoardEntry(
            position=int(r["position"]), case_id=int(r["case_id"]), label=r["label"] or "",
            created_by=str(r["created_by"]), summary=saved.get("summary") or NO_SUMMARY,
            notes=tuple(by_case.get(int(r["case_id"]), ()))))
    return BoardSession(meeting_date=meeting_date, board=board, entries=tuple(entries))


def add_note(store, *, case_id: int, note: str, actor: str, meeting_date: dt.date | None = None,
             board: str | None = None) -> int:
    """Screen and record a note on a saved case (with its audit row)."""
    return st.add_case_note(store, case_id=case_id, note=cases.screen_note(note), actor=actor,
                            meeting_date=meeting_date, board=board)


def _entries_text(inputs: Mapping) -> dict[str, str]:
    out = {}
    for col in cases.ENTRY_COLUMNS:
        v = inputs.get(col.name)
        if v is None:
            text = "unknown"
        elif col.kind == "bool":
            text = "yes" if v else "no"
        elif isinstance(v, float):
            text = f"{v:g}"
        else:
            text = str(v)
        out[cases.entry_label(col)] = text
    return out


def case_report_from_record(record: Mapping, *, cohort_text: str, notes: Sequence[str] = (),
                            summary: str = "") -> CaseReport:
    """The one-page report of a saved case, from what was saved with it."""
    saved = record.get("scores") or {}
    answers = pd.DataFrame(saved.get("answers") or [],
                           columns=["task_id", "model_id", "model", "answered", "answer",
                                    "interval", "calibration"])
    answers["task"] = answers["task_id"].map(cases.task_label)
    clinical = cases.clinical_summary(cases.case_from_record(record))
    missing = pd.DataFrame(saved.get("could_not_score") or [],
                           columns=["case", "task", "model_id", "reason"])
    lines = [f"Summary: {summary}"] if summary else []
    lines += [f"Note {n}" for n in notes]
    return CaseReport(
        entries=_entries_text(record.get("inputs") or {}), clinical=clinical,
        scores=answers if len(answers) else cases.saved_scores_table(record),
        could_not_score=missing, cohort_text=cohort_text, label=record.get("label") or "",
        user=str(record.get("created_by") or ""), created=record.get("created_at"),
        notes=lines)


def board_pack(store, session: BoardSession) -> bytes:
    """The meeting's board pack: one PDF page per case, in the meeting's order."""
    if not session.entries:
        raise ValueError(f"no case on the list of {session.title}")
    reports = []
    for entry in session.entries:
        record = st.load_case(store, entry.case_id)
        if record is None:
            continue
        cohort = (record.get("scores") or {}).get("cohort") or record.get("cohort") or ""
        reports.append(case_report_from_record(
            record, cohort_text=f"cohort {cohort}" if cohort else "",
            notes=entry.notes, summary=entry.summary))
    return build_board_pack(reports, heading=f"Board pack: {session.title}")
