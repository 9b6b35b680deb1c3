"""Reading a generated PDF back: its page count and the text its pages show."""
from __future__ import annotations

import re
import zlib


def pdf_pages(pdf: bytes) -> int:
    """Page objects (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def _inflate(data: bytes) -> bytes:
    """A stream's bytes, inflated when they are deflated. A deflated stream may itself end
    in a carriage return, which the pattern above takes as part of the line end: put it
    back before giving up; and read what inflates when the checksum is cut off."""
    for candidate in (data, data + b"\r"):
        try:
            return zlib.decompress(candidate)
        except zlib.error:
            continue
    try:
        return zlib.decompressobj().decompress(data)
    except zlib.error:
        return data  # not deflated: shown as it is


def pdf_text(pdf: bytes) -> str:
    """The text shown by the page's content streams (compressed or not)."""
    chunks = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        data = _inflate(m.group(1))
        if b"BT" not in data or b"Tj" not in data:
            continue  # an image or a font, not page text
        for s in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", data):
            chunks.append(s.replace(rb"\(", b"(").replace(rb"\)", b")")
                          .replace(rb"\\", b"\\").decode("latin-1"))
    return re.sub(r"\s+", " ", " ".join(chunks))
