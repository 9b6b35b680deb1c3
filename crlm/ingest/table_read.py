"""Reading a source table: CSV, TSV, Parquet or Excel, as text cells, nothing parsed yet.

``read_table`` finds the format from the file name, the text encoding (UTF-8,
UTF-16 with or without a byte-order mark, Latin-1) and the separator, reads
decimal commas in ``;``-, tab- or ``|``-separated files, names ``.xlsx`` formula
cells that have no saved result, and strips the quote that the app's own
exports put before formula-like text. Every failure is one ``TableReadError``
naming the file and why.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd

from crlm.privacy import FORMULA_PREFIXES, NEUTRALISING_QUOTE

MAX_FILE_BYTES = 200 * 1024 * 1024
TABLE_TYPES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv",
               ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}


class TableReadError(ValueError):
    """A source file that cannot be read as a table; the message names the file and why."""

def read_table(source: str | os.PathLike | bytes, name: str | None = None, *,
               max_bytes: int = MAX_FILE_BYTES) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or Excel (.xlsx) table from a path or from bytes.

    ``name`` (needed with bytes) gives the file type by its suffix. CSV/TSV text is
    decoded as UTF-8 (with or without a byte-order mark), else Latin-1 with a warning;
    every CSV cell is read as text. Notes about the read are in ``frame.attrs["warnings"]``.
    Raises :class:`TableReadError` for an empty, too large, unknown or unreadable file.
    """
    data, name = _source_bytes(source, name, max_bytes)
    suffix = Path(name).suffix.lower()
    kind = TABLE_TYPES.get(suffix)
    if kind is None:
        if suffix == ".xls":
            raise TableReadError(f"{name}: old Excel .xls files are not read; save it as .xlsx")
        raise TableReadError(f"{name}: unknown file type {suffix or '(no suffix)'!r}; use "
                             f"{', '.join(sorted(set(TABLE_TYPES)))}")
    if not data:
        raise TableReadError(f"{name}: the file is empty")
    notes: list[str] = []
    if kind in ("csv", "tsv"):
        frame = _read_text_table(data, name, kind, notes)
    elif kind == "parquet":
        if not data.startswith(b"PAR1"):
            raise TableReadError(f"{name}: not a Parquet file")
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise TableReadError(f"{name}: cannot read Parquet ({_first_line(exc)})") from None
    else:
        if not data.startswith(b"PK"):
            raise TableReadError(f"{name}: not an Excel .xlsx file")
        try:
            sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, engine="openpyxl")
        except Exception as exc:  # openpyxl / zipfile errors on corrupt files
            raise TableReadError(f"{name}: cannot read Excel ({_first_line(exc)})") from None
        if not sheets:
            raise TableReadError(f"{name}: the workbook has no sheet")
        first = next(iter(sheets))
        if len(sheets) > 1:
            notes.append(f"{name}: the workbook has {len(sheets)} sheets; only the first "
                         f"({first!r}) was read")
        frame = sheets[first]
        _strip_neutralising_quote(frame, all_text=False)
        formulas = _uncached_formulas(data, first, frame)
        if formulas:
            notes.append(f"{name}: {len(formulas)} formula cell(s) have no saved result (the "
                         "workbook was not recalculated in Excel); their values are unknown "
                         "— open and save the file in Excel, or paste the values")
            frame.attrs["uncached_formulas"] = formulas
    if frame.shape[1] == 0:
        raise TableReadError(f"{name}: no columns found")
    if len(frame) == 0:
        raise TableReadError(f"{name}: has a header but no data rows")
    frame.columns = [str(c) for c in frame.columns]
    if "uncached_formulas" in frame.attrs:
        frame.attrs["uncached_formulas"] = [(row, frame.columns[col])
                                            for row, col in frame.attrs["uncached_formulas"]]
    frame.attrs["warnings"] = notes
    frame.attrs["source_name"] = name
    return frame


UNCACHED_FORMULA = ("formula without a saved result, so its value is unknown (open and save "
                    "the file in Excel, or paste the values)")


def _uncached_formulas(data: bytes, sheet: str, frame: pd.DataFrame) -> list[tuple[int, int]]:
    """``(data row from 0, column position)`` of the formula cells of ``sheet`` that have
    no saved result (openpyxl writes formulas so; pandas then reads them as empty)."""
    import zipfile

    import openpyxl

    def has_formula(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
        tail = b""
        with zf.open(info) as fh:
            while chunk := fh.read(1 << 20):
                if b"<f" in tail + chunk[:8] or b"<f" in chunk:
                    return True
                tail = chunk[-8:]
        return False

    try:  # cheap check first, streamed: does any worksheet hold a formula at all?
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if not any(has_formula(zf, i) for i in zf.infolist()
                       if i.filename.startswith("xl/worksheets/") and
                       i.filename.endswith(".xml")):
                return []
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # already read once by pandas; a second failure is not ours to report
        return []
    out = []
    try:
        n_rows, n_cols = frame.shape
        for row in workbook[sheet].iter_rows(min_row=2):
            for cell in row:
                if getattr(cell, "data_type", None) != "f":
                    continue
                r, c = cell.row - 2, cell.column - 1
                if 0 <= r < n_rows and 0 <= c < n_cols and pd.isna(frame.iat[r, c]):
                    out.append((r, c))
    finally:
        workbook.close()
    return out


def _source_bytes(source, name: str | None, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not name:
            raise TableReadError("a file given as bytes needs a name with its suffix (.csv ...)")
        data = bytes(source)
        if len(data) > max_bytes:
            raise TableReadError(f"{name}: {len(data) / 1e6:.1f} MB is over the import limit of "
                                 f"{max_bytes / 1e6:.0f} MB")
        return data, name
    path = Path(source)
    name = name or path.name
    if not path.exists():
        raise TableReadError(f"{path}: no such file")
    if not path.is_file():
        raise TableReadError(f"{path}: not a file")
    size = path.stat().st_size
    if size > max_bytes:
        raise TableReadError(f"{name}: {size / 1e6:.1f} MB is over the import limit of "
                             f"{max_bytes / 1e6:.0f} MB")
    try:
        return path.read_bytes(), name
    except OSError as exc:
        raise TableReadError(f"{path}: cannot be read ({exc.strerror})") from None


def _decode_text(data: bytes, name: str, notes: list[str]) -> str:
    """UTF-16 (Excel "Unicode text": a byte-order mark, or NULs between ASCII bytes),
    else UTF-8 with or without a byte-order mark, else Latin-1 with a note."""
    encoding = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        head = data[:4096]
        even, odd = head[0::2], head[1::2]
        if len(head) >= 4 and odd.count(0) > 0.4 * len(odd) and even.count(0) == 0:
            encoding = "utf-16-le"
        elif len(head) >= 4 and even.count(0) > 0.4 * len(even) and odd.count(0) == 0:
            encoding = "utf-16-be"
    if encoding:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            raise TableReadError(f"{name}: looks like UTF-16 text but cannot be decoded as "
                                 "UTF-16; save it as CSV UTF-8") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append(f"{name}: not valid UTF-8; read as Latin-1 — check accented characters")
        return data.decode("latin-1")


def _read_text_table(data: bytes, name: str, kind: str, notes: list[str]) -> pd.DataFrame:
    text = _decode_text(data, name, notes)
    if not text.strip():
        raise TableReadError(f"{name}: the file is empty")
    if "\x00" in text[:4096]:
        raise TableReadError(f"{name}: looks like a binary file, not {kind.upper()} text")
    sep = "\t" if kind == "tsv" else _sniff_separator(text)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_filter=False, skipinitialspace=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise TableReadError(f"{name}: cannot read {kind.upper()} ({_first_line(exc)})") from None
    _strip_neutralising_quote(frame)
    if sep != ",":
        _read_decimal_commas(frame, name, sep, notes)
    return frame


_DECIMAL_COMMA = r"^\s*[+-]?\d+,\d+(?:[eE][+-]?\d+)?\s*$"
_DECIMAL_POINT = r"^\s*[+-]?\d*\.\d+(?:[eE][+-]?\d+)?\s*$"


def _read_decimal_commas(frame: pd.DataFrame, name: str, sep: str, notes: list[str]) -> None:
    """In a file not separated by ',', a column whose numbers have decimal commas
    (``1,5``) and none with a decimal point is read with decimal points (``1.5``), and
    the report says so; a column mixing both forms is left as is and named."""
    converted, mixed = [], []
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object:
            continue
        comma = s.str.match(_DECIMAL_COMMA, na=False)
        if not comma.any():
            continue
        if s.str.match(_DECIMAL_POINT, na=False).any():
            mixed.append(str(col))
            continue
        frame.loc[comma, col] = s[comma].str.strip().str.replace(",", ".", regex=False)
        converted.append(str(col))
    shown = {"\t": "tab", ";": "';'", "|": "'|'"}.get(sep, repr(sep))
    if converted:
        notes.append(f"{name}: decimal commas read as decimal points ({shown}-separated file) "
                     f"in {len(converted)} column(s): {', '.join(converted)}")
    if mixed:
        notes.append(f"{name}: column(s) mixing decimal commas and decimal points: "
                     f"{', '.join(mixed)}; the values with a comma are not read as numbers")


def _sniff_separator(text: str) -> str:
    lines = text.splitlines()
    head = "\n".join(lines[:20])
    try:
        sep = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    header = lines[0] if lines else ""
    if sep not in header:  # decimal commas can look like the separator; the header cannot
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        if counts[best]:
            sep = best
    return sep


def _strip_neutralising_quote(frame: pd.DataFrame, all_text: bool = True) -> None:
    """Undo the export's formula neutralising: ``'=x`` -> ``=x`` (only that exact form)."""
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object:
            continue
        text = s if all_text else s.where(s.map(type) == str)
        mask = text.str.startswith(NEUTRALISING_QUOTE, na=False)
        if not mask.any():
            continue
        mask &= text.str[1:2].isin(FORMULA_PREFIXES)
        if mask.any():
            frame.loc[mask, col] = text[mask].str[1:]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
