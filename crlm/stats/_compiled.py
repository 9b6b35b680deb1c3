"""``_jit``: compile a loop with numba when it is installed (it is in requirements);
without numba the same Python runs and gives the same numbers, only slower."""
from __future__ import annotations

try:
    from numba import njit as _njit

    def _jit(fn):
        return _njit(cache=True, nogil=True)(fn)
except ImportError:  # pragma: no cover - numba is in requirements
    def _jit(fn):
        return fn
