"""A corpus of bad inputs, generated on demand into a temporary folder.

Nothing big is committed: huge files and the zip bomb are written by
``make_corpus`` when a test asks for them.
"""
from __future__ import annotations

import io
import os
import random
import zipfile
from pathlib import Path

GOOD_HEADER = "patient_id,center,age_years,sex,os_months,os_event\n"
GOOD_ROW = "P{i},A,{age},female,{os},1\n"


def _good_rows(n: int) -> str:
    return "".join(GOOD_ROW.format(i=i, age=40 + i % 40, os=6 + i % 50) for i in range(n))


# a source patient id of 230 characters (over the 200 allowed); it must never be echoed
LONG_PATIENT_ID = "".join("hospitalnumber"[(i * 5) % 14] for i in range(222)) + "RX123456"
DATE_HEADER = "patient_id,center,age_years,os_months,os_event,diagnosis_date\n"
# (data row, cell, what the report must say); row 1 is the only good one
DATE_CELLS = (
    (1, "2021-03-04", None),
    (2, "1850-01-01", "before the plausible window"),
    (3, "2999-12-31", "after the plausible window"),
    (4, "2021/03/04", "written with '/'"),
    (5, "20210304", "YYYYMMDD"),
    (6, "04/03/2021", "ambiguous"),
    (7, "2021-02-30", "no such day"),
)


def _dates_table() -> bytes:
    return (DATE_HEADER + "".join(f"D{row},A,60,10,1,{cell}\n" for row, cell, _ in DATE_CELLS)
            ).encode()


def _xlsx_with_uncached_formulas() -> bytes:
    """A workbook as a script writes it (openpyxl): formulas without a saved result."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["patient_id", "center", "age_years", "cea_ng_ml", "os_months", "os_event"])
    sheet.append(["F1", "A", 61, "=10*2", 12, 1])       # row 1: CEA is a formula, no result
    sheet.append(["F2", "A", "=50+5", 8.5, 10, 0])      # row 2: age is a formula, no result
    sheet.append(["F3", "A", 70, 3.5, 20, 1])           # row 3: fine
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


TABLES: dict[str, bytes] = {
    "empty.csv": b"",
    "whitespace.csv": b"  \n\n \t\n",
    "header_only.csv": GOOD_HEADER.encode(),
    "wrong_types.csv": (GOOD_HEADER + "P1,A,old,female,twelve,yes please\n"
                        "P2,A,55,female,10,1\n").encode(),
    "wrong_units_mm_days.csv": ("patient_id,center,age_years,max_diameter_cm,os_months,os_event\n"
                                "P1,A,60,45,900,1\nP2,A,61,52,1200,0\n").encode(),
    "out_of_range.csv": ("patient_id,center,age_years,n_liver_lesions,cea_ng_ml,os_months,os_event\n"
                         "P1,A,500,-3,-1,-5,7\nP2,A,-20,0,1e308,1e9,2\n").encode(),
    "duplicate_ids.csv": (GOOD_HEADER + "P1,A,50,male,10,1\nP1,A,51,female,11,0\n").encode(),
    "utf16.csv": (GOOD_HEADER + _good_rows(3)).encode("utf-16"),
    "latin1_invalid.csv": GOOD_HEADER.encode() + b"P\xe91,Z\xfcrich\x81\x8d,50,male,10,1\n",
    "binary_garbage.csv": bytes(range(256)) * 64,
    "nul_bytes.csv": GOOD_HEADER.encode() + b"P1\x00,A,50,male,10,1\n",
    "only_unknown_columns.csv": b"foo,bar\n1,2\n",
    "formula_cells.csv": (GOOD_HEADER + "=cmd|' /C calc'!A0,@SUM(1),50,male,10,1\n").encode(),
    "fake_excel.xlsx": b"PK\x03\x04 this is not a workbook",
    "fake_parquet.parquet": b"PAR1 not really parquet PAR1",
    "no_extension": GOOD_HEADER.encode(),
    # a hospital export's edge cases (issue 18): read, or each cell named
    "long_patient_id.csv": (GOOD_HEADER + f"{LONG_PATIENT_ID},A,50,male,10,1\n"
                            + _good_rows(1)).encode(),
    "excel_unicode_text.txt": ("\r\n".join(
        line.replace(",", "\t") for line in (GOOD_HEADER + _good_rows(3)).splitlines())
        + "\r\n").encode("utf-16"),  # Excel "Unicode text": UTF-16 LE with BOM, tabs
    "utf16_no_bom.tsv": (GOOD_HEADER + _good_rows(3)).replace(",", "\t").encode("utf-16-le"),
    "decimal_comma.csv": ("patient_id;center;age_years;max_diameter_cm;cea_ng_ml;os_months;"
                          "os_event\nP1;A;61;3,5;12,25;10,5;1\nP2;A;55;1,2;4;20,75;0\n").encode(),
    "decimal_comma_mixed.csv": ("patient_id;center;age_years;cea_ng_ml;os_months;os_event\n"
                                "P1;A;61;12,5;10;1\nP2;A;55;4.5;20;0\n").encode(),
    "decimal_comma_quoted.csv": (GOOD_HEADER.replace("sex", "cea_ng_ml")
                                 + 'P1,A,61,"12,5",10,1\nP2,A,55,4.5,20,0\n').encode(),
    "dates.csv": _dates_table(),
    "formula_no_result.xlsx": _xlsx_with_uncached_formulas(),
}

DICOM: dict[str, bytes] = {
    "empty.dcm": b"",
    "text.dcm": b"hello, I am not a DICOM file\n",
    "preamble_only.dcm": b"\x00" * 128 + b"DICM",
    "truncated.dcm": b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00",
}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def junk_zip(path: Path, n_members: int = 12, member_bytes: int = 2 * 1024 * 1024,
             dicom_preamble: bool = False) -> Path:
    """Members that compress about 50-fold (under the ratio limit), so only their number
    and size are hostile: like 12 x 100 MB of non-DICOM files in a 16 MB upload."""
    rng = random.Random(18)  # 64 random bytes in every 3 KB: deflate shrinks it ~40-fold
    body = b"".join(rng.randbytes(64) + b"\x00" * 3008
                    for _ in range(member_bytes // 3072 + 1))[:member_bytes]
    if dicom_preamble:
        body = b"\x00" * 128 + b"DICM" + body[132:]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(n_members):
            zf.writestr(f"series/junk{i:02d}.dat", body)
    return path


def many_members_zip(path: Path, n_members: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n_members):
            zf.writestr(f"series/{i:05d}.dcm", b"x")
    return path


def zip_bomb(path: Path, expanded_bytes: int = 64 * 1024 * 1024) -> Path:
    """One member of zeros that expands about 1000-fold."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("series/slice0001.dcm", "w") as fh:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(expanded_bytes // len(chunk)):
                fh.write(chunk)
    return path


def huge_table(path: Path, n_bytes: int) -> Path:
    """A valid-looking CSV of at least ``n_bytes`` bytes."""
    row = GOOD_ROW.format(i=1, age=50, os=10).encode()
    with open(path, "wb") as fh:
        fh.write(GOOD_HEADER.encode())
        written = 0
        block = row * 10_000
        while written < n_bytes:
            fh.write(block)
            written += len(block)
    return path


def make_corpus(root: str | os.PathLike, *, bomb_bytes: int = 64 * 1024 * 1024) -> dict[str, Path]:
    """Write every bad input under ``root``; returns ``{name: path}``."""
    root = Path(root)
    (root / "tables").mkdir(parents=True, exist_ok=True)
    (root / "dicom").mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, data in TABLES.items():
        p = root / "tables" / name
        p.write_bytes(data)
        out[f"table:{name}"] = p
    for name, data in DICOM.items():
        p = root / "dicom" / name
        p.write_bytes(data)
        out[f"dicom:{name}"] = p
    traversal = root / "dicom" / "traversal.zip"
    traversal.write_bytes(_zip({"../../evil.dcm": DICOM["text.dcm"],
                                "/etc/evil.dcm": DICOM["text.dcm"]}))
    out["dicom:traversal.zip"] = traversal
    not_zip = root / "dicom" / "broken.zip"
    not_zip.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    out["dicom:broken.zip"] = not_zip
    out["dicom:bomb.zip"] = zip_bomb(root / "dicom" / "bomb.zip", bomb_bytes)
    out["dicom:junk_members.zip"] = junk_zip(root / "dicom" / "junk_members.zip")
    out["dicom:preamble_members.zip"] = junk_zip(root / "dicom" / "preamble_members.zip",
                                                 n_members=4, dicom_preamble=True)
    out["dicom:2001_members.zip"] = many_members_zip(root / "dicom" / "2001_members.zip", 2001)
    empty_dir = root / "dicom" / "empty_folder"
    empty_dir.mkdir(exist_ok=True)
    out["dicom:empty_folder"] = empty_dir
    return out
