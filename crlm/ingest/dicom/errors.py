"""The one error type of the DICOM intake."""
from __future__ import annotations


class DicomError(ValueError):
    """A DICOM input that cannot be used, with a message naming the file and the problem.

    Raised for: files that are not DICOM, truncated files, compressed transfer
    syntaxes without an installed decoder, series that are not CT, inconsistent
    geometry, unsafe or empty zip archives. Nothing is written when it is raised.
    """


class NoSegError(DicomError):
    """An input holding no DICOM SEG object at all (as opposed to one that cannot be read)."""


class GeometryChecks:
    """Mixin for a frozen dataclass of geometry checks: each field is ``None`` when its
    check passes, else the reason (one line)."""

    @property
    def problems(self) -> tuple[str, ...]:
        from dataclasses import fields

        return tuple(p for p in (getattr(self, f.name) for f in fields(self)) if p)

    @property
    def matches(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        from dataclasses import fields

        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "matches": self.matches}
