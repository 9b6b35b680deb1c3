"""Enumerate the files of a DICOM upload safely: a folder, a single file or a zip.

A zip may be given as a path, as ``bytes`` or as a binary file-like object (an
upload). Members are read into memory, never extracted to disk, so a hostile
archive cannot write anywhere. Before anything is read the archive is checked:

* no member name may be absolute or contain a ``..`` component (path traversal);
* at most ``max_members`` members;
* total uncompressed size at most ``max_total_bytes`` (counted while reading,
  so a header that lies about sizes is caught as well);
* compression ratio (uncompressed / compressed) at most ``max_ratio``, both for
  the whole archive and for any member larger than 1 MiB (zip bomb);
* no encrypted members; an archive with no file members is an error.

Then each member's first 132 bytes are read: only a member with the DICOM
preamble (``DICM`` at byte 128) is read whole; any other member keeps just those
bytes (the reader lists it as "not a DICOM file"), so junk in an archive costs no
memory. The bytes held in memory together stay under ``max_memory_bytes``.

Folders are walked without following symbolic links, under the same member and
size limits.
"""
from __future__ import annotations

import io
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Union

from crlm.ingest.dicom.errors import DicomError

Source = Union[str, os.PathLike, bytes, bytearray, BinaryIO]

_RATIO_MEMBER_MIN_BYTES = 1 << 20
DICOM_PREAMBLE_BYTES = 132  # 128-byte preamble, then b"DICM"


@dataclass(frozen=True)
class ZipLimits:
    """Limits applied to an upload (zip or folder)."""

    max_members: int = 2_000
    max_total_bytes: int = 2 * 1024**3
    max_ratio: float = 100.0
    max_memory_bytes: int = 800_000_000

    def to_dict(self) -> dict:
        return {
            "max_members": self.max_members,
            "max_total_bytes": self.max_total_bytes,
            "max_ratio": self.max_ratio,
            "max_memory_bytes": self.max_memory_bytes,
        }


DEFAULT_LIMITS = ZipLimits()


@dataclass(frozen=True)
class Member:
    """One file of an upload: its name inside the upload and either a path or its bytes."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


def describe_source(source: Source) -> str:
    """A short human name for a source, for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes upload>"
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, str) and name else "<uploaded file>"


def _unsafe_name(name: str) -> bool:
    if not name:
        return True
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return True
    return any(part == ".." for part in PurePosixPath(normalised).parts)


def _is_symlink_member(info: zipfile.ZipInfo) -> bool:
    mode = (info.external_attr >> 16) & 0xFFFF
    return info.create_system == 3 and stat.S_ISLNK(mode)


def _read_zip(zf: zipfile.ZipFile, label: str, limits: ZipLimits) -> list[Member]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    for info in zf.infolist():
        if _unsafe_name(info.filename):
            raise DicomError(
                f"{label}: zip member name {info.filename!r} is absolute or contains '..' "
                "(path traversal); the archive was rejected"
            )
    if not infos:
        raise DicomError(f"{label}: the zip archive is empty (no files in it)")
    if len(infos) > limits.max_members:
        raise DicomError(
            f"{label}: the zip archive has {len(infos)} files, more than the limit of "
            f"{limits.max_members}"
        )
    declared = sum(i.file_size for i in infos)
    compressed = sum(i.compress_size for i in infos)
    if declared > limits.max_total_bytes:
        raise DicomError(
            f"{label}: the zip archive expands to {declared / 1e6:.1f} MB, more than the "
            f"limit of {limits.max_total_bytes / 1e6:.1f} MB"
        )
    if compressed > 0 and declared / compressed > limits.max_ratio and declared > _RATIO_MEMBER_MIN_BYTES:
        raise DicomError(
            f"{label}: the zip archive has a compression ratio of {declared / compressed:.0f}, "
            f"more than the limit of {limits.max_ratio:.0f} (zip bomb?)"
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise DicomError(f"{label}: zip member {info.filename!r} is encrypted")
        if (
            info.file_size > _RATIO_MEMBER_MIN_BYTES
            and info.file_size / max(info.compress_size, 1) > limits.max_ratio
        ):
            raise DicomError(
                f"{label}: zip member {info.filename!r} has a compression ratio of "
                f"{info.file_size / max(info.compress_size, 1):.0f}, more than the limit of "
                f"{limits.max_ratio:.0f} (zip bomb?)"
            )
    members: list[Member] = []
    total = 0  # bytes held in memory
    for info in infos:
        if _is_symlink_member(info):
            continue
        with zf.open(info) as fh:
            head = _read_up_to(fh, DICOM_PREAMBLE_BYTES)
            chunks = [head]
            size = len(head)
            total += size
            if head[128:132] == b"DICM":
                while True:
                    chunk = fh.read(1 << 20)
                    if not chunk:
                        break
                    size += len(chunk)
                    total += len(chunk)
                    if size > info.file_size or total > limits.max_total_bytes:
                        raise DicomError(
                            f"{label}: zip member {info.filename!r} expands beyond its "
                            "declared size or the archive beyond the size limit (zip bomb?)"
                        )
                    if total > limits.max_memory_bytes:
                        raise DicomError(
                            f"{label}: the DICOM files of the zip archive hold more than "
                            f"{limits.max_memory_bytes / 1e6:.0f} MB, the limit of one upload "
                            "read in memory; upload fewer slices, or read the folder with "
                            "python -m crlm dicom"
                        )
                    chunks.append(chunk)
        members.append(Member(name=info.filename, data=b"".join(chunks)))
    return members


def _read_up_to(fh: BinaryIO, n: int) -> bytes:
    """The first ``n`` bytes of ``fh`` (fewer at its end), however the stream chunks them."""
    parts, got = [], 0
    while got < n:
        part = fh.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _open_zip(source: Source, label: str, limits: ZipLimits) -> list[Member]:
    try:
        with zipfile.ZipFile(source) as zf:  # type: ignore[arg-type]
            return _read_zip(zf, label, limits)
    except zipfile.BadZipFile as exc:
        raise DicomError(f"{label}: damaged zip archive ({exc})") from exc
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
        raise DicomError(f"{label}: cannot read the zip archive ({exc})") from exc


def _walk_folder(root: Path, limits: ZipLimits) -> list[Member]:
    members: list[Member] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            if path.is_symlink() or not path.is_file():
                continue
            total += path.stat().st_size
            members.append(Member(name=str(path.relative_to(root)), path=path))
            if len(members) > limits.max_members:
                raise DicomError(
                    f"{root}: the folder has more than {limits.max_members} files"
                )
            if total > limits.max_total_bytes:
                raise DicomError(
                    f"{root}: the folder holds more than {limits.max_total_bytes / 1e6:.1f} MB"
                )
    if not members:
        raise DicomError(f"{root}: the folder has no files")
    return members


def is_zip(source: Source) -> bool:
    """Whether a path, bytes or file-like object is a zip archive (file position kept)."""
    if isinstance(source, (bytes, bytearray)):
        return zipfile.is_zipfile(io.BytesIO(source))
    if isinstance(source, (str, os.PathLike)):
        return Path(source).is_file() and zipfile.is_zipfile(source)
    pos = source.tell()
    try:
        return zipfile.is_zipfile(source)
    finally:
        source.seek(pos)


def collect_members(source: Source, limits: ZipLimits = DEFAULT_LIMITS) -> list[Member]:
    """Every file of a folder, zip (path, bytes or file-like) or single file, checked.

    Raises :class:`DicomError` for a missing path, an unsafe or empty archive.
    """
    label = describe_source(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DicomError(f"{path}: no such file or folder")
        if path.is_dir():
            return _walk_folder(path, limits)
        if is_zip(path):
            return _open_zip(path, label, limits)
        if path.stat().st_size > limits.max_total_bytes:
            raise DicomError(f"{path}: file larger than {limits.max_total_bytes / 1e6:.1f} MB")
        return [Member(name=path.name, path=path)]
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        if is_zip(data):
            return _open_zip(io.BytesIO(data), label, limits)
        if not data:
            raise DicomError(f"{label}: the upload is empty")
        return [Member(name="upload", data=data)]
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        if hasattr(source, "seek") and is_zip(source):
            return _open_zip(source, label, limits)
        data = source.read(limits.max_total_bytes + 1)
        if len(data) > limits.max_total_bytes:
            raise DicomError(f"{label}: upload larger than {limits.max_total_bytes / 1e6:.1f} MB")
        if not data:
            raise DicomError(f"{label}: the upload is empty")
        name = Path(getattr(source, "name", "upload") or "upload").name
        return [Member(name=name, data=data)]
    raise DicomError(f"unsupported input {type(source).__name__}: give a path, bytes or a file")
