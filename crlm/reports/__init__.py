"""Printable reports built from the same figures and tables the pages show."""
from crlm.reports.case_report import CaseReport, build_board_pack, build_case_report, figure_png

__all__ = ["CaseReport", "build_board_pack", "build_case_report", "figure_png"]
