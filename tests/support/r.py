"""Running an "R script" export with Rscript and checking R's numbers against ours."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

RTOL, ATOL = 1e-6, 1e-12


def r_ready() -> bool:
    path = shutil.which("Rscript")
    return path is not None and subprocess.run(
        [path, "-e", "suppressPackageStartupMessages({library(survival); library(pROC)})"],
        capture_output=True).returncode == 0


def run_in_r(export, folder: Path, rscript: str) -> pd.DataFrame:
    export.write_to(folder)
    proc = subprocess.run([rscript, str(folder / "analysis.R")], capture_output=True, text=True,
                          timeout=600)
    cmp_path = folder / "comparison.csv"
    assert cmp_path.exists(), f"the R script failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    cmp = pd.read_csv(cmp_path, keep_default_na=True)
    bad = cmp[~cmp["agree"]]
    assert proc.returncode == 0 and bad.empty, \
        f"R disagrees on {len(bad)} numbers:\n{bad.head(20).to_string()}\n{proc.stderr[-2000:]}"
    # and independently of the script's own verdict: every number of ours has R's twin
    assert list(cmp["quantity"]) == [q.name for q in export.quantities]
    ours = np.array([q.value for q in export.quantities])
    theirs = cmp["R"].to_numpy(float)
    both_nan = np.isnan(ours) & np.isnan(theirs)
    # comparison.csv holds 15 significant digits of R's numbers: enough for 1e-6
    np.testing.assert_allclose(ours[~both_nan], theirs[~both_nan], rtol=RTOL, atol=ATOL)
    return cmp
