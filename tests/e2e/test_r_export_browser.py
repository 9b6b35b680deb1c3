"""The "R script (zip)" buttons in a real browser: the zip is built on click (off the page's
script thread) and R agrees with every number in it."""
from __future__ import annotations

import io
import shutil
import subprocess
import zipfile

import pytest

from tests.e2e.conftest import wait_for_app, wait_for_plots

pytestmark = pytest.mark.e2e

PAGES = [("survival", 1, "survival"), ("models", 3, "models"), ("subgroups", 3, "subgroups"),
         ("cohort", 0, "table1")]


@pytest.mark.parametrize("slug,charts,folder", PAGES)
def test_r_script_zip_downloads_and_r_agrees(app_url, page, tmp_path, slug, charts, folder):
    page.goto(f"{app_url}/{slug}")
    wait_for_app(page)
    if charts:
        wait_for_plots(page, charts)
    button = page.get_by_role("button", name="R script (zip)").first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=120_000) as info:
        button.click()
    assert info.value.suggested_filename.endswith("_R.zip")
    path = tmp_path / "export.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
        assert {f"{folder}/{n}" for n in ("analysis.R", "data.csv", "ours.csv", "README.txt")} \
            == set(zf.namelist())
        zf.extractall(tmp_path)
    rscript = shutil.which("Rscript")
    if rscript is None:  # the zip itself is checked; R's agreement is the reference tests' job
        return
    proc = subprocess.run([rscript, str(tmp_path / folder / "analysis.R")], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
