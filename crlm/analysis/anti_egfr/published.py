"""What the paper reports (Liu et al. 2026, abstract), kept apart from every number
computed here."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crlm.stats._result import ResultMixin

from .tables import TABLE_COLUMNS, _row


# -- the paper's numbers, never mixed with ours ---------------------------------------------
@dataclass(frozen=True)
class PublishedStudy(ResultMixin):
    """What the paper's abstract reports (Liu et al. 2026). Not computed here."""

    citation: str
    auc_anti_egfr_radiomic: float
    auc_anti_egfr_genomic: float
    auc_anti_egfr_fusion: float
    auc_chemotherapy_fusion: float
    pfs_median_high_months: float
    pfs_median_low_months: float
    pfs_hr: float
    pfs_hr_ci: tuple[float, float]
    pfs_p: float
    multivariable_ratio: float
    multivariable_ci: tuple[float, float]
    multivariable_p: float


PUBLISHED = PublishedStudy(
    citation=("Liu Y, Chen Y, Zhou G, et al. Multi-omics signature predicts anti-EGFR therapy "
              "benefit in colorectal cancer liver metastases: a multi-center cohort study. 2026 "
              "(abstract)"),
    auc_anti_egfr_radiomic=0.75, auc_anti_egfr_genomic=0.81, auc_anti_egfr_fusion=0.86,
    auc_chemotherapy_fusion=0.54, pfs_median_high_months=9.0, pfs_median_low_months=5.0,
    pfs_hr=0.44, pfs_hr_ci=(0.20, 0.99), pfs_p=0.047,
    multivariable_ratio=17.9, multivariable_ci=(3.22, 154.31), multivariable_p=0.003,
)
NOT_REPORTED = "not reported in the abstract"


def published_table(published: PublishedStudy = PUBLISHED) -> pd.DataFrame:
    """The paper's numbers in the layout of :func:`study_table` (``source`` = the paper)."""
    p = published
    rows = [
        _row("discrimination", "Anti-EGFR (cetuximab)", "AUC of the fusion signature for response",
             p.auc_anti_egfr_fusion, note="radiomic model 0.75, genomic model 0.81"),
        _row("discrimination", "Chemotherapy alone", "AUC of the fusion signature for response",
             p.auc_chemotherapy_fusion),
        _row("response interaction", "both", "Interaction likelihood-ratio test (response)",
             note=NOT_REPORTED),
        _row("PFS by signature", "Anti-EGFR (cetuximab)", "Median PFS, signature-high (months)",
             p.pfs_median_high_months),
        _row("PFS by signature", "Anti-EGFR (cetuximab)", "Median PFS, signature-low (months)",
             p.pfs_median_low_months),
        _row("PFS by signature", "Anti-EGFR (cetuximab)", "HR signature-high vs low", p.pfs_hr,
             *p.pfs_hr_ci, p.pfs_p),
        _row("PFS by signature", "Chemotherapy alone", "HR signature-high vs low",
             note=NOT_REPORTED),
        _row("response multivariable", "Anti-EGFR (cetuximab)",
             "Signature vs established biomarkers", p.multivariable_ratio, *p.multivariable_ci,
             p.multivariable_p, note="reported as 'HR' in the abstract for treatment sensitivity"),
    ]
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    frame["source"] = p.citation
    return frame
