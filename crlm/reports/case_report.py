"""The one-page PDF report of a scored case (fpdf2).

The page holds: the notice, the date, the cohort filter in words, the case's
entries and clinical scores, each model's score with its version, threshold,
predicted class and cohort percentile, the models that could not score and why,
the flags (imputed, outside the training range, stale), and two figures — the
Kaplan–Meier curves of the case's predicted group and the feature contributions —
exported as PNG by ``crlm.figures.export_figure`` from the same figure builders
the page uses. Everything is fitted to one A4 page: long tables are cut with a
note of how many rows were left out. Only the core PDF fonts are used, so text
is Latin-1 (other characters are replaced by near equivalents).
"""
from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from crlm.cases import RESEARCH_NOTICE

PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 10.0
FIGURE_WIDTH_IN = 4.6
FIGURE_HEIGHT_PX = 420
_REPLACE = {"–": "-", "—": "-", "−": "-", "≥": ">=", "≤": "<=", "×": "x", "·": "-",
            "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "→": "->", "≈": "~",
            "α": "alpha", "β": "beta", "²": "2", "µ": "u"}


def latin1(text) -> str:
    """``text`` as Latin-1 for the core fonts (common symbols spelt out)."""
    s = "" if text is None else str(text)
    for a, b in _REPLACE.items():
        s = s.replace(a, b)
    return s.encode("latin-1", "replace").decode("latin-1")


def figure_png(fig, *, title: str = "", caption: str = "",
               width_in: float = FIGURE_WIDTH_IN, height_px: int = FIGURE_HEIGHT_PX) -> bytes:
    """A figure as PNG for the report, through the project's exporter (kaleido),
    at the report's aspect ratio."""
    from crlm.figures import export_figure

    return export_figure(fig, "png", title=title, caption=caption, width_in=width_in,
                         height_px=height_px)


@dataclass
class CaseReport:
    """What the report shows; every field is already de-identified text or numbers.

    ``scores``: ``crlm.cases.scores_table`` rows (task, model, version, shown_score,
    threshold, predicted_class, percentile, flags). ``could_not_score``: task,
    model_id, reason. ``figures``: title → PNG bytes (at most two are placed).
    """

    entries: Mapping[str, str]
    clinical: Mapping[str, str]
    scores: pd.DataFrame
    could_not_score: pd.DataFrame
    cohort_text: str
    figures: Mapping[str, bytes] = field(default_factory=dict)
    flags: Mapping[str, Sequence[str]] = field(default_factory=dict)
    label: str = ""
    user: str = ""
    created: dt.datetime | None = None
    chosen_model: str = ""
    notes: Sequence[str] = ()


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "-"
    return f"{v:.{digits}f}"


def _opaque(png: bytes):
    """The PNG as an RGB image on white (an alpha channel makes embedding slow)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        if im.mode in ("RGBA", "LA", "P"):
            rgba = im.convert("RGBA")
            white = Image.new("RGB", rgba.size, (255, 255, 255))
            white.paste(rgba, mask=rgba.getchannel("A"))
            return white
        return im.convert("RGB")


def _new_pdf(title: str, created: dt.datetime):
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_title(title)
    pdf.set_creator("CRLM Cohort Explorer")
    pdf.set_creation_date(created if created.tzinfo else created.astimezone())
    return pdf


def build_case_report(report: CaseReport) -> bytes:
    """The report as PDF bytes: exactly one A4 page."""
    pdf = _new_pdf("CRLM case report", report.created or dt.datetime.now())
    _draw_case_page(pdf, report)
    return bytes(pdf.output())


def build_board_pack(reports: Sequence[CaseReport], *, heading: str = "") -> bytes:
    """One PDF for a board meeting: a page per case, each laid out as the one-page case
    report (``heading`` above each page's title, e.g. the meeting)."""
    if not reports:
        raise ValueError("the board pack needs at least one case")
    pdf = _new_pdf("CRLM board pack" + (f" - {latin1(heading)}" if heading else ""),
                   dt.datetime.now())
    for report in reports:
        _draw_case_page(pdf, report, heading=heading)
    return bytes(pdf.output())


def _draw_case_page(pdf, report: CaseReport, heading: str = "") -> None:
    """One case on a new A4 page of ``pdf``."""
    created = report.created or dt.datetime.now()
    pdf.add_page()
    width = PAGE_W - 2 * MARGIN
    bottom = PAGE_H - MARGIN

    def text(s, size=8, style="", h=None, w=0, align="L", ln=True):
        pdf.set_font("Helvetica", style, size)
        pdf.cell(w, h or size * 0.45, latin1(s), align=align,
                 new_x="LMARGIN" if ln else "RIGHT", new_y="NEXT" if ln else "TOP")

    # -- header and notice
    if heading:
        text(heading, 8, "I", h=4)
    text("CRLM Cohort Explorer - case report", 14, "B", h=7)
    meta = [f"Date: {created.strftime('%Y-%m-%d %H:%M')}"]
    if report.user:
        meta.append(f"Prepared by: {report.user}")
    if report.label:
        meta.append(f"Case: {report.label}")
    text("   ".join(meta), 8, h=4.5)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.multi_cell(width, 3.6, latin1(f"Cohort: {report.cohort_text}"),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_draw_color(213, 94, 0)
    pdf.set_line_width(0.5)
    pdf.set_font("Helvetica", "B", 9)
    pdf.multi_cell(width, 5, latin1(
        f"{RESEARCH_NOTICE} Model scores come from models trained on the cohort named above; "
        "they do not replace the tumour board's judgement."), border=1, align="C",
        new_x="LMARGIN", new_y="NEXT")
    pdf.set_line_width(0.2)
    pdf.set_draw_color(0, 0, 0)
    pdf.ln(1.5)

    # -- entries (three columns) and clinical scores
    text("Case entries", 9.5, "B", h=5)
    items = list(report.entries.items())
    col_w = width / 3
    rows = math.ceil(len(items) / 3)
    pdf.set_font("Helvetica", "", 7)
    for r in range(rows):
        for c in range(3):
            i = c * rows + r
            if i < len(items):
                k, v = items[i]
                pdf.cell(col_w, 3.3, latin1(f"{k}: {v}")[:62], new_x="RIGHT", new_y="TOP")
        pdf.ln(3.3)
    pdf.ln(1)
    clin = "   ".join(f"{k}: {v}" for k, v in report.clinical.items())
    pdf.set_font("Helvetica", "B", 7.5)
    pdf.multi_cell(width, 3.6, latin1(f"Clinical scores - {clin}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)

    # -- scores table (cut to what fits above the figures)
    figure_h = 64.0 if report.figures else 0.0
    tail_h = 26.0
    text("Model scores" + (f" (chosen model: {report.chosen_model})" if report.chosen_model else ""),
         9.5, "B", h=5)
    answers = "answer" in report.scores.columns
    if answers:  # the board's answers: probability or survival, interval or set
        cols = [("Task", 24), ("Model", 30), ("Answer", 96)]
        cols.append(("Interval / set", width - sum(w for _, w in cols)))
    else:
        cols = [("Task", 42), ("Model", 40), ("v", 6), ("Score", 13), ("Threshold", 15),
                ("Class", 19), ("Percentile", 15)]
        cols.append(("Flags", width - sum(w for _, w in cols)))
    row_h = 3.3
    pdf.set_font("Helvetica", "B", 6.8)
    pdf.set_fill_color(235, 235, 235)
    for name, w in cols:
        pdf.cell(w, row_h + 0.4, name, border="B", fill=True, new_x="RIGHT", new_y="TOP")
    pdf.ln(row_h + 0.4)
    available = bottom - figure_h - tail_h - pdf.get_y()
    max_rows = max(int(available // row_h), 1)
    table = report.scores.reset_index(drop=True)
    shown = table.iloc[:max_rows] if len(table) > max_rows else table
    pdf.set_font("Helvetica", "", 6.5)
    for rec in shown.to_dict("records"):
        pct = rec.get("percentile")
        if answers:
            values = [rec.get("task", ""), rec.get("model", rec.get("model_id", "")),
                      rec.get("answer", ""), rec.get("interval", "")]
            for (name, w), v in zip(cols, values):
                s = latin1(v)
                while s and pdf.get_string_width(s) > w - 1:
                    s = s[:-4] + "..." if len(s) > 4 else ""
                pdf.cell(w, row_h, s, new_x="RIGHT", new_y="TOP")
            pdf.ln(row_h)
            continue
        values = [rec.get("task", ""), rec.get("model", rec.get("model_id", "")),
                  str(rec.get("version", "")), _fmt(rec.get("shown_score", rec.get("score"))),
                  _fmt(rec.get("threshold")), rec.get("predicted_class", ""),
                  "-" if pct is None or (isinstance(pct, float) and math.isnan(pct))
                  else f"{float(pct):.0f}", rec.get("flags", "")]
        for (name, w), v in zip(cols, values):
            s = latin1(v)
            while s and pdf.get_string_width(s) > w - 1:
                s = s[:-4] + "..." if len(s) > 4 else ""
            pdf.cell(w, row_h, s, new_x="RIGHT", new_y="TOP")
        pdf.ln(row_h)
    if len(table) > len(shown):
        text(f"... {len(table) - len(shown)} more model rows are shown in the app.", 6.5, "I",
             h=row_h)
    pdf.ln(1)

    # -- could not score, flags, notes
    pdf.set_font("Helvetica", "", 6.8)
    lines = []
    if len(report.could_not_score):
        reasons = [f"{r['model_id']}: {r['reason']}" for r in report.could_not_score.to_dict("records")]
        lines.append("Could not score - " + "; ".join(reasons))
    flags = report.flags or {}
    if flags.get("imputed_inputs"):
        lines.append("Imputed (unknown) inputs: " + ", ".join(flags["imputed_inputs"]))
    if flags.get("imputed_features"):
        lines.append(f"Imputed imaging/genomic features: {len(flags['imputed_features'])}")
    if flags.get("out_of_range"):
        lines.append("Outside the training range: " + ", ".join(flags["out_of_range"]))
    if flags.get("stale_models"):
        lines.append("Trained on a different cohort version (stale): "
                     + ", ".join(flags["stale_models"]))
    lines.extend(report.notes)
    limit_y = bottom - figure_h - 2
    for line in lines:
        if pdf.get_y() + 3.3 > limit_y:
            break
        s = latin1(line)
        while pdf.get_string_width(s) > 3 * width and len(s) > 10:
            s = s[: int(len(s) * 0.9)] + "..."
        pdf.multi_cell(width, 3.1, s, new_x="LMARGIN", new_y="NEXT", max_line_height=3.1)

    # -- figures, side by side at the bottom
    if report.figures:
        y = bottom - figure_h
        items = list(report.figures.items())[:2]
        w = (width - 4) / 2
        for i, (title, png) in enumerate(items):
            x = MARGIN + i * (w + 4)
            pdf.image(_opaque(png), x=x, y=y, w=w, h=figure_h - 1, keep_aspect_ratio=True)
