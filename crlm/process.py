"""Settings of a crlm process (the server, the command line) that concern all its work.

Huge pages for large arrays. NumPy asks the kernel for transparent huge pages on every
array of 4 MiB or more (``madvise``). Where the kernel is set to defragment on such a
request (``/sys/kernel/mm/transparent_hugepage/defrag`` = ``madvise``, a common default),
each new 2 MiB page of a new array may wait while the kernel compacts memory. A page of
a registry-sized cohort allocates tens of such arrays per filter (a frame of 10^6 patients
is about 100 MB), and on a server whose memory is filled with the store's file cache the
waits dominated: taking one filter's rows from a 10^6-patient cohort took 0.35–0.45 s of
system time, against 0.01–0.05 s with ordinary pages, for the same 0.15 s of work. The
server and the command line therefore ask NumPy for ordinary pages (``tune_process``);
the arrays are the same."""
from __future__ import annotations

import threading

_DONE: list[bool] = []
_LOCK = threading.Lock()


def huge_pages_for_arrays(enabled: bool) -> bool | None:
    """Whether NumPy asks for transparent huge pages for large arrays from now on; returns
    the previous setting (None where this NumPy has no such setting)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:   # an older layout
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return None
    return bool(_set_madvise_hugepage(bool(enabled)))


def tune_process() -> None:
    """The settings above, once per process (later calls do nothing)."""
    with _LOCK:
        if _DONE:
            return
        huge_pages_for_arrays(False)
        _DONE.append(True)


__all__ = ["huge_pages_for_arrays", "tune_process"]
