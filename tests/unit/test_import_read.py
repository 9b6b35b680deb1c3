"""Reading source tables: formats, encodings and refusals."""
from __future__ import annotations

import pandas as pd
import pytest

from crlm.ingest.importer import TableReadError, read_table

ROWS = pd.DataFrame({"patient_id": ["a", "b"], "centre": ["Zürich", "Créteil"],
                     "age_years": [61, 70]})


def test_utf8_with_and_without_bom(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text(ROWS.to_csv(index=False), encoding="utf-8")
    bom = tmp_path / "bom.csv"
    bom.write_text(ROWS.to_csv(index=False), encoding="utf-8-sig")
    for path in (plain, bom):
        frame = read_table(path)
        assert list(frame.columns) == ["patient_id", "centre", "age_years"]
        assert frame["centre"].tolist() == ["Zürich", "Créteil"]
        assert frame.attrs["warnings"] == []


def test_latin1_falls_back_with_a_warning(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(ROWS.to_csv(index=False).encode("latin-1"))
    frame = read_table(path)
    assert frame["centre"].tolist() == ["Zürich", "Créteil"]
    assert any("Latin-1" in w for w in frame.attrs["warnings"])


def test_tsv_semicolon_parquet_and_excel(tmp_path):
    tsv = tmp_path / "t.tsv"
    ROWS.to_csv(tsv, sep="\t", index=False)
    semi = tmp_path / "s.csv"
    ROWS.to_csv(semi, sep=";", index=False)
    pq = tmp_path / "p.parquet"
    ROWS.to_parquet(pq, index=False)
    xlsx = tmp_path / "x.xlsx"
    ROWS.to_excel(xlsx, index=False)
    for path in (tsv, semi, pq, xlsx):
        frame = read_table(path)
        assert frame.shape == (2, 3), path
        assert frame["patient_id"].tolist() == ["a", "b"]


def test_bytes_need_a_name_and_read_like_files(tmp_path):
    data = ROWS.to_csv(index=False).encode()
    assert read_table(data, "upload.csv").shape == (2, 3)
    with pytest.raises(TableReadError, match="needs a name"):
        read_table(data)


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "the file is empty"),
    ("blank.csv", b"\n\n  \n", "the file is empty"),
    ("header.csv", b"patient_id,age_years\n", "no data rows"),
    ("table.json", b"{}", "unknown file type '.json'"),
    ("old.xls", b"\xd0\xcf\x11\xe0", "save it as .xlsx"),
    ("fake.parquet", b"not parquet", "not a Parquet file"),
    ("fake.xlsx", b"not a zip", "not an Excel .xlsx file"),
    ("broken.xlsx", b"PK\x03\x04garbage", "cannot read Excel"),
    ("binary.csv", b"\x00\x01\x02patient_id", "binary file"),
])
def test_bad_files_are_refused_with_a_clear_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TableReadError) as info:
        read_table(path)
    assert message in str(info.value)
    assert name in str(info.value)


def test_size_limit_and_missing_file(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(ROWS.to_csv(index=False))
    with pytest.raises(TableReadError, match="over the import limit"):
        read_table(path, max_bytes=10)
    with pytest.raises(TableReadError, match="over the import limit"):
        read_table(path.read_bytes(), "big.csv", max_bytes=10)
    with pytest.raises(TableReadError, match="no such file"):
        read_table(tmp_path / "absent.csv")


def test_neutralising_quote_is_stripped_only_before_formula_characters(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("patient_id,center\na,'=SUM(A1)\nb,'-x\nc,'plain\nd,O'Brien\n")
    frame = read_table(path)
    assert frame["center"].tolist() == ["=SUM(A1)", "-x", "'plain", "O'Brien"]
