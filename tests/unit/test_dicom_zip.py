"""Safe handling of uploaded zip archives: traversal, bombs, limits, empty archives."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from crlm.ingest.dicom import DicomError, ZipLimits, deidentify_tree, read_series, write_ct_series

KEY = b"zip-test"


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture()
def series_members(tmp_path):
    vol = np.random.default_rng(1).integers(-200, 300, size=(4, 16, 16)).astype(np.float32)
    paths = write_ct_series(tmp_path / "ct", vol, (2.0, 1.0, 1.0), 2.0, seed=1, patient_label="z")
    return {f"CT/{p.name}": p.read_bytes() for p in paths}


@pytest.mark.parametrize("bad_name", ["../evil.dcm", "CT/../../evil.dcm", "/etc/evil.dcm", "C:/evil.dcm", "..\\evil.dcm"])
def test_path_traversal_is_rejected(series_members, bad_name):
    data = _zip({**series_members, bad_name: b"x"})
    with pytest.raises(DicomError, match="path traversal"):
        read_series(data, key=KEY)


def test_empty_zip_is_rejected():
    with pytest.raises(DicomError, match="empty"):
        read_series(_zip({}), key=KEY)


def test_zip_bomb_ratio_is_rejected(series_members):
    data = _zip({**series_members, "zeros.bin": b"\x00" * (8 << 20)})
    with pytest.raises(DicomError, match="zip bomb"):
        read_series(data, key=KEY)


def test_member_count_and_size_limits(series_members):
    data = _zip(series_members)
    with pytest.raises(DicomError, match="more than the limit of 3"):
        read_series(data, key=KEY, limits=ZipLimits(max_members=3))
    with pytest.raises(DicomError, match="MB"):
        read_series(data, key=KEY, limits=ZipLimits(max_total_bytes=1000))
    hu, _ = read_series(data, key=KEY)
    assert hu.shape == (4, 16, 16)


def test_lying_size_header_is_caught(series_members):
    data = bytearray(_zip({"CT/a.dcm": b"A" * 5000}, compression=zipfile.ZIP_STORED))
    # shrink the declared uncompressed size in the central directory to 100 bytes
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (100).to_bytes(4, "little")
    with pytest.raises(DicomError):
        read_series(bytes(data), key=KEY)


def test_damaged_zip(series_members):
    data = _zip(series_members)
    with pytest.raises(DicomError):
        read_series(data[: len(data) // 2] + data[-22:], key=KEY)


def test_nothing_written_on_error(tmp_path, series_members):
    out = tmp_path / "out" / "deid"
    with pytest.raises(DicomError, match="path traversal"):
        deidentify_tree(_zip({**series_members, "../x": b"1"}), out, KEY)
    assert not out.exists()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
