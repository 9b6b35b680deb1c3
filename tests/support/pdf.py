"""Reading a generated PDF back: its page count and the text its pages show."""
from __future__ import annotations

import re
import zlib


def pdf_pages(pdf: bytes) -> int:
    """Page objects (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def pdf_text(pdf: bytes) -> str:
    """The text shown by the page's content streams (compressed or not)."""
    chunks = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        data = m.group(1)
        try:
            data = zlib.decompress(data)
        except zlib.error:
            pass
        if b"BT" not in data or b"Tj" not in data:
            continue  # an image or a font, not page text
        for s in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", data):
            chunks.append(s.replace(rb"\(", b"(").replace(rb"\)", b")")
                          .replace(rb"\\", b"\\").decode("latin-1"))
    return re.sub(r"\s+", " ", " ".join(chunks))
