"""The board's session: which saved cases a meeting discusses, in which order, and the
notes recorded on them (tables ``board_items`` and ``case_notes``).

A meeting is a date and a board label ("HPB MDT"). Every write goes with its audit row
in one transaction; audit rows name store ids only (``case:<id>``, ``note:<id>``),
never a patient identifier or a note's text. Labels and notes are screened by the
caller (``crlm.board``) before they reach here.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from crlm.store.connection import Store
from crlm.store.queries import _audit, _now


def _meeting(meeting_date: dt.date, board: str) -> str:
    return f"{meeting_date.isoformat()} {board}"


def add_board_item(store: Store, *, meeting_date: dt.date, board: str, case_id: int,
                   actor: str) -> bool:
    """Put a saved case last on the meeting's list; False when it is already there.
    ``ValueError`` when the case does not exist."""
    with store.transaction() as cur:
        if not cur.execute("SELECT count(*) FROM cases WHERE case_id = ?",
                           [int(case_id)]).fetchone()[0]:
            raise ValueError(f"case {case_id} does not exist")
        if cur.execute("SELECT count(*) FROM board_items WHERE meeting_date = ? AND board = ? "
                       "AND case_id = ?", [meeting_date, board, int(case_id)]).fetchone()[0]:
            return False
        position = cur.execute("SELECT coalesce(max(position), 0) + 1 FROM board_items "
                               "WHERE meeting_date = ? AND board = ?",
                               [meeting_date, board]).fetchone()[0]
        cur.execute("INSERT INTO board_items VALUES (?, ?, ?, ?, ?, ?)",
                    [meeting_date, board, int(case_id), int(position), actor, _now()])
        _audit(cur, actor, "board_add_case", f"case:{int(case_id)}",
               _meeting(meeting_date, board))
        return True


def remove_board_item(store: Store, *, meeting_date: dt.date, board: str, case_id: int,
                      actor: str) -> bool:
    with store.transaction() as cur:
        n = cur.execute("SELECT count(*) FROM board_items WHERE meeting_date = ? AND board = ? "
                        "AND case_id = ?", [meeting_date, board, int(case_id)]).fetchone()[0]
        if not n:
            return False
        cur.execute("DELETE FROM board_items WHERE meeting_date = ? AND board = ? "
                    "AND case_id = ?", [meeting_date, board, int(case_id)])
        _audit(cur, actor, "board_remove_case", f"case:{int(case_id)}",
               _meeting(meeting_date, board))
        return True


def move_board_item(store: Store, *, meeting_date: dt.date, board: str, case_id: int,
                    step: int, actor: str) -> bool:
    """Move a case ``step`` places (−1 up, +1 down) in the meeting's order; False when it
    cannot move (first, last or not on the list)."""
    with store.transaction() as cur:
        rows = cur.execute("SELECT case_id FROM board_items WHERE meeting_date = ? AND "
                           "board = ? ORDER BY position, case_id",
                           [meeting_date, board]).fetchall()
        order = [int(r[0]) for r in rows]
        if int(case_id) not in order:
            return False
        i = order.index(int(case_id))
        j = i + int(step)
        if j < 0 or j >= len(order) or j == i:
            return False
        order.insert(j, order.pop(i))
        for position, cid in enumerate(order, start=1):
            cur.execute("UPDATE board_items SET position = ? WHERE meeting_date = ? AND "
                        "board = ? AND case_id = ?", [position, meeting_date, board, cid])
        _audit(cur, actor, "board_reorder", f"case:{int(case_id)}",
               f"{_meeting(meeting_date, board)}: position {i + 1} -> {j + 1}")
        return True


def load_board(store: Store, meeting_date: dt.date, board: str) -> pd.DataFrame:
    """The meeting's cases in order: position, case_id, label, created_at, created_by,
    cohort and the saved scores (JSON text) of each."""
    return store.cursor().execute(
        "SELECT b.position, c.case_id, c.label, c.created_at, c.created_by, c.cohort, "
        "c.scores FROM board_items b JOIN cases c ON c.case_id = b.case_id "
        "WHERE b.meeting_date = ? AND b.board = ? ORDER BY b.position, c.case_id",
        [meeting_date, board]).df()


def load_meetings(store: Store) -> pd.DataFrame:
    """Every meeting with its number of cases, latest first."""
    return store.cursor().execute(
        "SELECT meeting_date, board, count(*) AS n_cases FROM board_items "
        "GROUP BY meeting_date, board ORDER BY meeting_date DESC, board").df()


def add_case_note(store: Store, *, case_id: int, note: str, actor: str,
                  meeting_date: dt.date | None = None, board: str | None = None) -> int:
    """Record a note on a saved case with its audit row; returns the note id."""
    with store.transaction() as cur:
        if not cur.execute("SELECT count(*) FROM cases WHERE case_id = ?",
                           [int(case_id)]).fetchone()[0]:
            raise ValueError(f"case {case_id} does not exist")
        note_id = cur.execute(
            "INSERT INTO case_notes (case_id, created_at, created_by, meeting_date, board, note) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING note_id",
            [int(case_id), _now(), actor, meeting_date, board, note]).fetchone()[0]
        _audit(cur, actor, "case_note", f"case:{int(case_id)}", f"note:{int(note_id)}"
               + (f" ({_meeting(meeting_date, board)})" if meeting_date and board else ""))
        return int(note_id)


def load_case_notes(store: Store, case_ids) -> pd.DataFrame:
    """Notes of the given cases, oldest first."""
    ids = [int(i) for i in case_ids]
    if not ids:
        return pd.DataFrame(columns=["note_id", "case_id", "created_at", "created_by",
                                     "meeting_date", "board", "note"])
    marks = ", ".join("?" for _ in ids)
    return store.cursor().execute(
        f"SELECT note_id, case_id, created_at, created_by, meeting_date, board, note "
        f"FROM case_notes WHERE case_id IN ({marks}) ORDER BY created_at, note_id", ids).df()
