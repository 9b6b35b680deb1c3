""""R script" downloads: a page's analysis, recomputed in R.

Each builder takes the analysis inputs a page uses (the de-identified rows and
the choices on the page), computes our numbers with ``crlm.stats`` exactly as
the page does, and returns an :class:`AnalysisExport`: the data (only the
columns used; ``pid`` is a row pseudonym of this export, not linkable to the
store), a self-contained R script that recomputes every number with R's
``survival`` and ``pROC`` and prints ours and R's side by side, and our numbers.

``AnalysisExport.zip_bytes()`` packs ``data.csv``, ``analysis.R``, ``ours.csv``
and ``README.txt``. Run ``Rscript analysis.R`` in the unzipped folder; it writes
``comparison.csv`` (quantity, ours, R, agree) next to itself and exits with
status 1 if a number differs by more than 1e-6 relative (1e-12 absolute).

Builders: :func:`survival_export` (Survival page), :func:`models_export` (Models
page; :func:`concordance_export` for its survival tasks), :func:`table_one_export`
(Cohort page, Table 1) and :func:`subgroups_export` (Subgroups page).
"""
from crlm.reports.r_export._common import (
    EXPECTED_R_VERSIONS,
    AnalysisExport,
    ExportInputError,
    problem_zip,
)
from crlm.reports.r_export.concordance import concordance_export
from crlm.reports.r_export.models import ModelScores, models_export
from crlm.reports.r_export.subgroups import subgroups_export
from crlm.reports.r_export.survival import survival_export
from crlm.reports.r_export.table_one import table_one_export

__all__ = ["AnalysisExport", "EXPECTED_R_VERSIONS", "ExportInputError", "ModelScores",
           "concordance_export",
           "models_export", "problem_zip", "subgroups_export", "survival_export",
           "table_one_export"]
