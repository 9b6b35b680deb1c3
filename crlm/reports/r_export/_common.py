"""What every R export shares: the result type, the zip, R literals, the script's frame."""
from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from crlm.privacy import csv_bytes, neutralise_cell

# the versions the scripts were checked with (Debian 12: r-base-core, r-cran-survival, r-cran-proc)
EXPECTED_R_VERSIONS = {"R": "4.2.2", "survival": "3.5.3", "pROC": "1.18.0"}
RTOL = 1e-6
ATOL = 1e-12


class ExportInputError(ValueError):
    """Analysis inputs that cannot be exported; the message names the column or choice."""


@dataclass(frozen=True)
class Quantity:
    """One number the page shows: ``kind`` "number" is printed side by side with R's,
    "curve" (points of a plotted curve) is summarised per curve."""

    name: str
    value: float
    kind: str = "number"


@dataclass(frozen=True)
class AnalysisExport:
    """A page's analysis as data + R script + our numbers (see the package doc)."""

    name: str
    title: str
    data: pd.DataFrame
    script: str
    quantities: tuple[Quantity, ...]
    notes: tuple[str, ...] = ()

    @property
    def numbers(self) -> dict[str, float]:
        return {q.name: q.value for q in self.quantities}

    def data_csv(self) -> bytes:
        return csv_bytes(self.data)  # the one CSV writer: formula cells made inert

    def ours_csv(self) -> bytes:
        buf = io.StringIO()
        buf.write("quantity,kind,value\n")
        for q in self.quantities:
            buf.write(f"{_csv_text(q.name)},{q.kind},{_r_number_text(q.value)}\n")
        return buf.getvalue().encode("utf-8")

    def readme(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in EXPECTED_R_VERSIONS.items())
        lines = [
            self.title, "",
            "data.csv    the de-identified analysis data: only the columns the analysis uses;",
            "            pid is a row pseudonym of this export and links to nothing else",
            "ours.csv    every number the page shows, at full precision",
            "analysis.R  recomputes each of them with R and prints ours and R's side by side",
            "",
            "Run in this folder:  Rscript analysis.R",
            f"Checked with {versions} (Debian 12: r-base-core r-cran-survival r-cran-proc).",
            "The script writes comparison.csv and exits with status 1 when a number differs",
            f"by more than {RTOL:g} relative ({ATOL:g} absolute).",
        ]
        if self.notes:
            lines += ["", "Notes:"] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def files(self) -> dict[str, bytes]:
        return {"data.csv": self.data_csv(), "analysis.R": self.script.encode("utf-8"),
                "ours.csv": self.ours_csv(), "README.txt": self.readme().encode("utf-8")}

    def zip_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in self.files().items():
                zf.writestr(f"{self.name}/{name}", content)
        return buf.getvalue()

    def write_to(self, folder: str | Path) -> Path:
        """Write the four files into ``folder`` (created); returns the folder."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name, content in self.files().items():
            (out / name).write_bytes(content)
        return out


def problem_zip(name: str, message: str) -> bytes:
    """A zip holding only README.txt with why the export could not be built (what a
    download button hands over instead of failing silently)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}/README.txt", f"No R export: {message}\n")
    return buf.getvalue()


# --------------------------------------------------------------------------- literals
def _csv_text(text: str) -> str:
    return '"' + str(text).replace('"', '""') + '"'


def _r_number_text(value) -> str:
    v = float(value)
    if math.isnan(v):
        return "NA"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return repr(v)


def r_str(text) -> str:
    """An R string literal (JSON escapes are valid R escapes)."""
    return json.dumps(str(text))


def r_scalar(value) -> str:
    """An R number literal (NA, Inf and -Inf as R writes them)."""
    return _r_number_text(value)


def r_chr(values: Iterable) -> str:
    return "c(" + ", ".join(r_str(v) for v in values) + ")"


def r_num(values: Iterable) -> str:
    return "c(" + ", ".join(_r_number_text(v) for v in values) + ")"


def safe_label(text) -> str:
    """A group or level label as it is written to the data (spreadsheet formulas made inert)."""
    return neutralise_cell(str(text))


def pseudonym_ids(n: int) -> list[str]:
    width = max(4, len(str(n)))
    return [f"P{i:0{width}d}" for i in range(1, n + 1)]


class Collector:
    """Our numbers in the order the page shows them."""

    def __init__(self) -> None:
        self._items: list[Quantity] = []

    def put(self, name: str, value, kind: str = "number") -> None:
        self._items.append(Quantity(name, float(value) if value is not None else float("nan"), kind))

    def put_curve(self, prefix: str, values: Sequence[float]) -> None:
        for i, v in enumerate(np.asarray(values, dtype=float), start=1):
            self._items.append(Quantity(f"{prefix}[{i}]", float(v), "curve"))

    def quantities(self) -> tuple[Quantity, ...]:
        if not self._items:
            raise ExportInputError("nothing to export: no number can be computed on these patients")
        names = [q.name for q in self._items]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ExportInputError(f"two numbers named {dup!r}: labels must be distinct")
        return tuple(self._items)


# --------------------------------------------------------------------------- the script
_HEADER = """\
# {title}
#
# Recomputes, with R, every number that the {page} page of the CRLM Cohort Explorer
# showed for this analysis, and prints ours and R's side by side.
# {method}
#
# Expects R {R} with survival {survival} and pROC {pROC} (Debian 12:
# apt-get install r-base-core r-cran-survival r-cran-proc); other versions run too,
# with a note. Files, in the folder of this script:
#   data.csv  the de-identified analysis data (pid: a row pseudonym of this export)
#   ours.csv  our numbers at full precision (quantity, kind, value)
# Run:  Rscript analysis.R
# Writes comparison.csv; exits with status 1 if a number differs by more than
# {rtol:g} relative ({atol:g} absolute).
suppressPackageStartupMessages({{
  library(survival)
  library(pROC)
}})
here <- local({{
  f <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  # Rscript writes a space in the script's path as "~+~"
  if (length(f)) dirname(normalizePath(gsub("~+~", " ", sub("^--file=", "", f[1]), fixed = TRUE)))
  else getwd()
}})
expected <- c(R = "{R}", survival = "{survival}", pROC = "{pROC}")
installed <- c(R = paste(R.version$major, R.version$minor, sep = "."),
               survival = as.character(packageVersion("survival")),
               pROC = as.character(packageVersion("pROC")))
for (p in names(expected)) if (installed[[p]] != expected[[p]])
  message(sprintf("note: %s %s installed; this script was checked with %s", p, installed[[p]], expected[[p]]))
d <- read.csv(file.path(here, "data.csv"), stringsAsFactors = FALSE, check.names = FALSE,
              fileEncoding = "UTF-8", na.strings = "")
.r_numbers <- list()
put <- function(name, value) {{
  value <- as.numeric(value)
  if (length(name) == 1 && length(value) > 1) name <- sprintf("%s[%d]", name, seq_along(value))
  if (length(value) == 0) value <- NA_real_
  stopifnot(length(name) == length(value))
  .r_numbers[[length(.r_numbers) + 1]] <<- data.frame(quantity = name, R = value, stringsAsFactors = FALSE)
}}
"""

_FOOTER = """\

# ---------------------------------------------------------------- ours and R's, side by side
r <- do.call(rbind, c(list(data.frame(quantity = character(0), R = numeric(0))), .r_numbers))
ours <- read.csv(file.path(here, "ours.csv"), stringsAsFactors = FALSE, fileEncoding = "UTF-8")
cmp <- data.frame(quantity = ours$quantity, kind = ours$kind, ours = ours$value,
                  R = r$R[match(ours$quantity, r$quantity)], stringsAsFactors = FALSE)
rtol <- {rtol}
atol <- {atol}
cmp$agree <- (is.na(cmp$ours) & is.na(cmp$R)) |
  (!is.na(cmp$ours) & !is.na(cmp$R) &
     (cmp$ours == cmp$R | abs(cmp$ours - cmp$R) <= atol + rtol * abs(cmp$R)))
cmp$agree[is.na(cmp$agree)] <- FALSE
shown <- cmp[cmp$kind == "number", c("quantity", "ours", "R", "agree")]
old <- options(width = 200, digits = 10)
print(shown, row.names = FALSE)
curves <- cmp[cmp$kind == "curve", ]
if (nrow(curves)) {{
  curve <- sub("\\\\[[0-9]+\\\\]$", "", curves$quantity)
  for (k in unique(curve)) {{
    m <- curves[curve == k, ]
    cat(sprintf("%s: %d points, %d agree, largest |ours - R| = %.3g\\n", k, nrow(m), sum(m$agree),
                suppressWarnings(max(c(0, abs(m$ours - m$R)), na.rm = TRUE))))
  }}
}}
options(old)
write.csv(cmp, file.path(here, "comparison.csv"), row.names = FALSE, fileEncoding = "UTF-8")
cat(sprintf("%d of %d numbers agree (%g relative, %g absolute)\\n", sum(cmp$agree), nrow(cmp), rtol, atol))
if (!all(cmp$agree)) quit(status = 1)
"""


def build_script(*, title: str, page: str, method: str, body: str) -> str:
    """The whole R script: the shared header, the analysis ``body``, the comparison."""
    method = "\n# ".join(method.strip().splitlines())
    head = _HEADER.format(title=title, page=page, method=method, rtol=RTOL, atol=ATOL,
                          **EXPECTED_R_VERSIONS)
    return head + "\n" + body.strip("\n") + "\n" + _FOOTER.format(rtol=repr(RTOL), atol=repr(ATOL))
