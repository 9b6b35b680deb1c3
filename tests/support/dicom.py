"""A small CT phantom (liver, two tumours and a portal vein, as HU values and masks), and
a zipped CT upload with its DICOM SEG changed."""
from __future__ import annotations

import io
import zipfile

import numpy as np

SHAPE = (10, 48, 48)


def phantom():
    zz, yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1], 0:SHAPE[2]]
    liver = np.hypot(yy - 24, xx - 22) <= 18
    tumour = np.sqrt(((zz - 5) * 2.5) ** 2 + ((yy - 24) * 0.8) ** 2
                     + ((xx - 18) * 0.8) ** 2) <= 5.0
    second = np.sqrt(((zz - 4) * 2.5) ** 2 + ((yy - 18) * 0.8) ** 2
                     + ((xx - 30) * 0.8) ** 2) <= 4.0
    portal = (np.hypot(yy - 32, xx - 14) <= 2) & liver
    hu = np.where(liver, 58.0, -80.0)
    hu = np.where(tumour | second, 35.0, hu)
    hu = np.where(portal, 160.0, hu).astype(np.float32)
    return hu, liver, tumour, second, portal


def with_seg(data: bytes, change, member: str = "SEG/lesion_seg.dcm") -> bytes:
    """A zipped upload (``crlm.ingest.synthetic_ct.make_sample_cases``) with its SEG
    ``member`` rewritten by ``change(dataset)``."""
    import pydicom

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            content = src.read(name)
            if name == member:
                ds = pydicom.dcmread(io.BytesIO(content))
                change(ds)
                buf = io.BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                content = buf.getvalue()
            dst.writestr(name, content)
    return out.getvalue()
