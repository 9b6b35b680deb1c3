"""Failed sign-ins per user name in a sliding window (in-process, thread-safe)."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

MAX_FAILURES = 5
LOCK_WINDOW_S = 300.0


@dataclass
class SignInLimiter:
    """Failed sign-ins per user name in a sliding window; thread-safe, in-process.

    After ``max_failures`` failures within ``window_s`` seconds the name is
    locked until the oldest of them leaves the window.
    """

    max_failures: int = MAX_FAILURES
    window_s: float = LOCK_WINDOW_S
    clock: object = time.monotonic

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, deque] = {}

    def _key(self, name: str) -> str:
        return str(name).strip().lower()[:256]

    def _prune(self, key: str, now: float) -> deque:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] >= self.window_s:
            q.popleft()
        return q

    def retry_after(self, name: str) -> float:
        """Seconds until ``name`` may try again (0 when not locked)."""
        with self._lock:
            now = self.clock()
            q = self._prune(self._key(name), now)
            if len(q) < self.max_failures:
                return 0.0
            return max(0.0, self.window_s - (now - q[-self.max_failures]))

    def record_failure(self, name: str) -> int:
        """Count one failure; returns the failures now in the window."""
        with self._lock:
            now = self.clock()
            q = self._prune(self._key(name), now)
            q.append(now)
            return len(q)

    def reset(self, name: str) -> None:
        with self._lock:
            self._failures.pop(self._key(name), None)


_LIMITER = SignInLimiter()


def default_limiter() -> SignInLimiter:
    """The process-wide limiter the app uses."""
    return _LIMITER
