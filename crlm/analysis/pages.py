"""What the analysis pages analyse, in one place for the pages, the command line and the
R exports: Table 1's variables (Cohort page) and the subgroup variables with the minimum
sizes the Subgroups page uses."""
from __future__ import annotations

TABLE_ONE_VARIABLES = [
    ("age_years", "Age, years", "continuous"),
    ("sex", "Sex", "categorical"),
    ("primary_side", "Primary side", "categorical"),
    ("node_positive", "Node-positive primary", "categorical"),
    ("synchronous", "Synchronous metastases", "categorical"),
    ("disease_free_interval_months", "Disease-free interval, months", "continuous"),
    ("n_liver_lesions", "Liver lesions, n", "continuous"),
    ("max_diameter_cm", "Largest diameter, cm", "continuous"),
    ("bilobar", "Bilobar disease", "categorical"),
    ("extrahepatic_disease", "Extrahepatic disease", "categorical"),
    ("cea_ng_ml", "CEA, ng/mL", "continuous"),
    ("ras_status", "RAS status", "categorical"),
    ("braf_v600e", "BRAF V600E", "categorical"),
    ("msi", "MSI / MMR", "categorical"),
    ("tbs_zone", "TBS zone", "categorical"),
    ("fong_group", "Fong group", "categorical"),
    ("biologic", "Biologic", "categorical"),
    ("hepatectomy", "Hepatectomy", "categorical"),
    ("responder", "Objective response (CR/PR)", "categorical"),
]

SUBGROUP_COLUMNS = ["ras_status", "kras", "tbs_zone", "primary_side", "braf_v600e", "msi",
                    "fong_group", "center"]
SUBGROUP_MIN_EVENTS = 5          # per level, for a hazard ratio
SUBGROUP_MIN_PATIENTS_AUC = 10   # per level, with both responders and non-responders
SUBGROUP_MIN_PATIENTS_KM = 10    # per Kaplan–Meier panel
# a response model's two groups at its threshold (score below, score at or above)
PREDICTED = ("Predicted non-responder", "Predicted responder")


def subgroup_levels(series, column: str):
    """A subgroup column's values as level names: yes/no for booleans, "unknown" when missing."""
    from crlm import config

    if config.COLUMNS_BY_NAME[column].kind == "bool":
        series = series.map({True: "yes", False: "no"})
    return series.astype(object).where(series.notna(), "unknown").astype(str).to_numpy()
