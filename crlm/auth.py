"""Users, password hashes, roles and sign-in rate limiting (no Streamlit here).

The users file (``CRLM_USERS``, default ``data/users.toml``) lists who may use
the app and with which role::

    [users."alice"]
    role = "clinician"
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."

Passwords are stored only as argon2id hashes (random salt per hash). A user
without ``password_hash`` can only sign in through the hospital's OIDC provider
(the user name is then the e-mail address the provider reports).

Roles are ordered ``viewer < clinician < admin``; ``ACTIONS`` names the least
role each action needs. ``check_permission`` is the guard every action that
writes (save a case, import, retrain, manage users) calls first.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crlm import config

log = logging.getLogger("crlm.auth")

ROLES: tuple[str, ...] = ("viewer", "clinician", "admin")
ACTIONS: dict[str, str] = {
    "browse": "viewer",
    "export": "viewer",
    "score": "clinician",
    "save_case": "clinician",
    "import": "admin",
    "retrain": "admin",
    "manage_users": "admin",
}
DEFAULT_ROLE = "viewer"
USERS_ENV = "CRLM_USERS"
DEFAULT_USERS_FILE = config.DATA_DIR / "users.toml"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_FAILURES = 5
LOCK_WINDOW_S = 300.0
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")

_HASHER = PasswordHasher()
# Verifying against this hash when the name is unknown keeps the time of a
# failed sign-in the same whether or not the user exists.
_DUMMY_HASH = _HASHER.hash("crlm-no-such-user-placeholder")
_FILE_LOCK = threading.RLock()


class UsersFileError(ValueError):
    """The users file or a user-management request is invalid; one-line message."""


class SignInFailed(Exception):
    """Wrong user name or password (deliberately not saying which)."""


class AccountLocked(SignInFailed):
    """Too many failed sign-ins for this name; ``retry_after_s`` says how long to wait."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        self.name = name
        self.retry_after_s = retry_after_s
        minutes = max(1, int(round(retry_after_s / 60.0 + 0.49)))
        super().__init__(
            f"Too many failed sign-ins for this user name: locked for about {minutes} "
            f"minute{'s' if minutes != 1 else ''}. Try again later or ask an admin."
        )


class PermissionDenied(PermissionError):
    """The user's role does not allow the action."""


# -- roles -------------------------------------------------------------------
def role_allows(role: str | None, action_or_role: str) -> bool:
    """Whether ``role`` may do ``action_or_role`` (an ACTIONS key or a role name)."""
    needed = ACTIONS.get(action_or_role, action_or_role)
    if needed not in ROLES:
        raise ValueError(f"unknown action or role {action_or_role!r}")
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def check_permission(user: dict | None, action: str) -> None:
    """Raise ``PermissionDenied`` unless ``user`` (``{"name", "role"}``) may do ``action``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    role = (user or {}).get("role")
    if not role_allows(role, action):
        name = (user or {}).get("name") or "anonymous"
        log.warning("permission denied: %s (role %s) tried %s", safe_name(name), role, action)
        raise PermissionDenied(
            f"{action}: needs role {ACTIONS[action]}, but {name} has role {role or 'none'}"
        )


# -- the users file ----------------------------------------------------------
def users_path(override: str | os.PathLike | None = None) -> Path:
    """The users file: explicit argument, else ``CRLM_USERS``, else ``data/users.toml``."""
    if override:
        return Path(override)
    env = os.environ.get(USERS_ENV)
    return Path(env) if env else DEFAULT_USERS_FILE


def normalise_name(name: str) -> str:
    """Lower-case, stripped user name; raises ``UsersFileError`` if it is not allowed."""
    if not isinstance(name, str):
        raise UsersFileError("user name must be text")
    clean = name.strip().lower()
    if not NAME_RE.match(clean):
        raise UsersFileError(
            "user name must be 1-128 characters: letters, digits and . _ @ + - "
            "(an e-mail address works)"
        )
    return clean


def safe_name(name: object) -> str:
    """A user name as it may appear in a log line (no control characters, bounded)."""
    text = str(name)
    text = re.sub(r"[\x00-\x1f\x7f]", "?", text)
    return text[:64] + ("..." if len(text) > 64 else "")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UsersFileError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def _check_password(name: str, password: str) -> str:
    if not isinstance(password, str):
        raise UsersFileError("password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsersFileError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsersFileError(f"password must have at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().lower() == name:
        raise UsersFileError("password must not be the user name")
    return password


def load_users(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """``{name: {"role": ..., "password_hash": ... (optional)}}``; empty if there is no file."""
    p = users_path(path)
    if not p.exists():
        return {}
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"users file {p} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsersFileError(f"cannot read users file {p}: {exc.strerror}") from None
    table = data.get("users", {})
    if not isinstance(table, dict):
        raise UsersFileError(f"users file {p}: [users] must be a table")
    users = {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            raise UsersFileError(f"users file {p}: user {safe_name(name)!r} needs a role "
                                 f"({', '.join(ROLES)})")
        users[str(name).lower()] = {k: v for k, v in entry.items()
                                    if k in ("role", "password_hash")}
    return users


def _quote(text: str) -> str:
    # TOML basic string: backslash, quote and control characters escaped.
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _write_users(p: Path, users: dict[str, dict]) -> None:
    lines = ["# CRLM Cohort Explorer users: manage with `python -m crlm users ...`.",
             "# Passwords are argon2id hashes; keep this file readable by the app only.", ""]
    for name in sorted(users):
        entry = users[name]
        lines.append(f"[users.{_quote(name)}]")
        lines.append(f"role = {_quote(entry['role'])}")
        if entry.get("password_hash"):
            lines.append(f"password_hash = {_quote(entry['password_hash'])}")
        lines.append("")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", suffix=".toml", dir=p.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def add_user(path: str | os.PathLike | None, name: str, role: str,
             password: str | None) -> dict:
    """Add a user; ``password=None`` makes an OIDC-only user. Returns ``{"name", "role"}``."""
    name = normalise_name(name)
    _check_role(role)
    entry = {"role": role}
    if password is not None:
        entry["password_hash"] = _HASHER.hash(_check_password(name, password))
    p = users_path(path)
    with _FILE_LOCK:
        users = load_users(p)
        if name in users:
            raise UsersFileError(f"user {name!r} exists already; use set-role or remove it first")
        users[name] = entry
        _write_users(p, users)
    log.info("user added: %s (role %s)", name, role)
    return {"name": name, "role": role}


def set_role(path: str | os.PathLike | None, name: str, role: str) -> dict:
    name = normalise_name(name)
    _check_role(role)
    p = users_path(path)
    with _FILE_LOCK:
        users = load_users(p)
        if name not in users:
            raise UsersFileError(f"no user {name!r} in {p}")
        users[name]["role"] = role
        _write_users(p, users)
    log.info("user role changed: %s -> %s", name, role)
    return {"name": name, "role": role}


def set_password(path: str | os.PathLike | None, name: str, password: str) -> None:
    name = normalise_name(name)
    p = users_path(path)
    with _FILE_LOCK:
        users = load_users(p)
        if name not in users:
            raise UsersFileError(f"no user {name!r} in {p}")
        users[name]["password_hash"] = _HASHER.hash(_check_password(name, password))
        _write_users(p, users)
    log.info("password changed: %s", name)


def remove_user(path: str | os.PathLike | None, name: str) -> None:
    name = normalise_name(name)
    p = users_path(path)
    with _FILE_LOCK:
        users = load_users(p)
        if name not in users:
            raise UsersFileError(f"no user {name!r} in {p}")
        del users[name]
        _write_users(p, users)
    log.info("user removed: %s", name)


def list_users(path: str | os.PathLike | None = None) -> list[dict]:
    """``[{"name", "role", "password": bool}]`` sorted by name (never the hashes)."""
    return [{"name": n, "role": e["role"], "password": bool(e.get("password_hash"))}
            for n, e in sorted(load_users(path).items())]


def lookup_role(path: str | os.PathLike | None, name: str) -> str | None:
    """The role of a listed user, ``None`` if not listed (or the name is not allowed)."""
    try:
        return load_users(path).get(normalise_name(name), {}).get("role")
    except UsersFileError:
        return None


def verify(path: str | os.PathLike | None, name: str, password: str) -> dict | None:
    """``{"name", "role"}`` if the password is right, else ``None`` (no rate limiting here)."""
    try:
        name = normalise_name(name)
    except UsersFileError:
        name = None
    entry = load_users(path).get(name) if name else None
    stored = (entry or {}).get("password_hash") or _DUMMY_HASH
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        password = ""
    try:
        ok = _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or entry is None or not entry.get("password_hash"):
        return None
    return {"name": name, "role": entry["role"]}


# -- rate limiting -----------------------------------------------------------
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


def sign_in(path: str | os.PathLike | None, name: str, password: str, *,
            limiter: SignInLimiter | None = None) -> dict:
    """Check a local sign-in: returns ``{"name", "role"}`` or raises ``SignInFailed``
    (``AccountLocked`` after too many failures). Logs the user name, never the password."""
    limiter = limiter or _LIMITER
    shown = safe_name(name)
    wait = limiter.retry_after(name)
    if wait > 0:
        log.warning("sign-in refused for %s: locked after %d failures (%.0f s left)",
                    shown, limiter.max_failures, wait)
        raise AccountLocked(shown, wait)
    user = verify(path, name, password)
    if user is None:
        n = limiter.record_failure(name)
        log.warning("sign-in failed for %s (%d of %d within %.0f min)",
                    shown, n, limiter.max_failures, limiter.window_s / 60)
        if n >= limiter.max_failures:
            log.warning("sign-in locked for %s for %.0f min", shown, limiter.window_s / 60)
            raise AccountLocked(shown, limiter.retry_after(name))
        raise SignInFailed("Wrong user name or password.")
    limiter.reset(name)
    log.info("signed in: %s (role %s)", user["name"], user["role"])
    return user
