"""Board session: the saved cases of one meeting (a date and a board label) in the order
they are discussed, each with its one-line summary and notes, and the board pack (one
PDF, a page per case). Clinicians prepare the session (add, reorder, remove, note);
viewers read it and download the pack."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from crlm import board as boards
from crlm import cases, figures, store, ui
from crlm.auth import PermissionDenied, check_permission

MESSAGE = "board_message"
CLEAR_NOTE = "board_clear_note"

user = ui.require_role("browse")
ui.page_header("Board session", "The cases of a meeting in the order the board discusses "
               "them, with what each model says and what is missing; a printable board pack.")
st.caption(cases.RESEARCH_NOTICE)
the_store = ui.get_store()
can_prepare = ui.user_can("save_case")
actor = user.name

left, right = st.columns(2)
meeting_date = left.date_input("Meeting date", value=dt.date.today(), key="board_date")
board_name = right.text_input("Board", value=boards.DEFAULT_BOARD, key="board_name",
                              max_chars=cases.MAX_LABEL_CHARS)
meetings = store.load_meetings(the_store)
if len(meetings):
    st.caption("Meetings with cases: " + "; ".join(
        f"{r['board']}, {r['meeting_date']:%Y-%m-%d} ({int(r['n_cases'])})"
        for r in meetings.head(8).to_dict("records")))
try:
    meeting_date, board_name = boards.check_meeting(meeting_date, board_name)
except ValueError as exc:
    ui.show_error(str(exc))
    st.stop()

if st.session_state.get(CLEAR_NOTE):  # a recorded note leaves its box empty
    st.session_state[st.session_state.pop(CLEAR_NOTE)] = ""
if st.session_state.get(MESSAGE):
    st.success(st.session_state.pop(MESSAGE))


def _act(fn, done: str, **kwargs) -> None:
    """Run one preparing action for a clinician, with the permission checked again."""
    try:
        check_permission(user, "save_case")
        fn(the_store, actor=actor, **kwargs)
        st.session_state[MESSAGE] = done
        st.rerun()
    except (ValueError, PermissionDenied) as exc:
        st.session_state.pop(CLEAR_NOTE, None)
        ui.show_error(f"Not done: {exc}")


session = boards.load_session(the_store, meeting_date, board_name)
st.subheader(session.title)
if not session.entries:
    st.info("No case on this meeting's list yet."
            + (" Add saved cases below." if can_prepare else ""))
else:
    st.dataframe(session.table(), hide_index=True, width="stretch", key="board_table")

    def _pack() -> bytes:
        store.log_action(the_store, actor, "board_pack", None,
                         f"{meeting_date.isoformat()} {board_name}: "
                         f"{len(session.entries)} cases")
        return boards.board_pack(the_store, session)

    st.download_button("Download the board pack (PDF)", data=_pack,
                       file_name=figures.safe_filename("board_pack", board_name,
                                                       meeting_date.isoformat()) + ".pdf",
                       mime="application/pdf", key="board_pack", on_click="ignore")
    for entry in session.entries:
        with st.expander(f"{entry.position}. Case {entry.case_id}: "
                         f"{entry.label or '(no label)'}", expanded=True):
            st.markdown(entry.summary)
            for note in entry.notes:
                st.caption(note)
            if not can_prepare:
                continue
            c1, c2, c3, _ = st.columns([1, 1, 1, 3])
            if c1.button("Move up", key=f"board_up_{entry.case_id}",
                         disabled=entry.position == 1):
                _act(store.move_board_item, f"Moved case {entry.case_id} up.",
                     meeting_date=meeting_date, board=board_name, case_id=entry.case_id,
                     step=-1)
            if c2.button("Move down", key=f"board_down_{entry.case_id}",
                         disabled=entry.position == len(session.entries)):
                _act(store.move_board_item, f"Moved case {entry.case_id} down.",
                     meeting_date=meeting_date, board=board_name, case_id=entry.case_id,
                     step=1)
            if c3.button("Remove", key=f"board_remove_{entry.case_id}"):
                _act(store.remove_board_item, f"Removed case {entry.case_id} from the list.",
                     meeting_date=meeting_date, board=board_name, case_id=entry.case_id)
            note = st.text_area("Note (recorded with your name in the audit trail; no "
                                "names, numbers or dates)", key=f"board_note_{entry.case_id}",
                                max_chars=cases.MAX_NOTE_CHARS, height=80)
            if st.button("Add note", key=f"board_add_note_{entry.case_id}"):
                st.session_state[CLEAR_NOTE] = f"board_note_{entry.case_id}"
                _act(boards.add_note, f"Note recorded on case {entry.case_id}.",
                     case_id=entry.case_id, note=note, meeting_date=meeting_date,
                     board=board_name)

if can_prepare:
    st.subheader("Add a saved case")
    saved = store.load_cases(the_store)
    listed = {e.case_id for e in session.entries}
    choices = [int(i) for i in saved["case_id"] if int(i) not in listed] if len(saved) else []
    if not choices:
        st.caption("Every saved case is on the list (save cases on the Score a case page).")
    else:
        labels = dict(zip(saved["case_id"].astype(int), saved["label"].fillna("")))
        chosen = st.selectbox("Saved case", choices, key="board_add_choice",
                              format_func=lambda i: f"{i}: {labels.get(i) or '(no label)'}")
        if st.button("Add to this meeting", key="board_add", type="primary"):
            _act(store.add_board_item, f"Added case {chosen} to {session.title}.",
                 meeting_date=meeting_date, board=board_name, case_id=int(chosen))
else:
    st.caption(f"Your role ({user.role}) reads the session; clinicians prepare it.")
