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

A person using the app is a :class:`User` (name, role, how they signed in, no
password material); an entry of the users file is an :class:`Account` (with the
hash, for the checks); ``list_users`` gives :class:`UserListing` rows (whether a
password is set, never the hash).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crlm import config
from crlm.signin_limiter import (  # noqa: F401  (re-exported: callers read them here)
    LOCK_WINDOW_S,
    MAX_FAILURES,
    SignInLimiter,
    default_limiter,
)

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
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")

_HASHER = PasswordHasher()
# Verifying against this hash when the name is unknown keeps the time of a
# failed sign-in the same whether or not the user exists.
_DUMMY_HASH = _HASHER.hash("crlm-no-such-user-placeholder")
_FILE_LOCK = threading.RLock()


@dataclass(frozen=True)
class User:
    """Who is using the app.

    ``source``: ``"local"`` (users file and password), ``"oidc"`` (the hospital's
    identity provider), ``"demo"`` (demo mode) or ``"none"`` (nobody signed in).
    A local sign-in also carries when it happened, its session id and the
    fingerprint of the password hash (``crlm.sessions.fingerprint``, which
    changes with the password), so that every run can re-check the session;
    no password and no hash.
    """

    name: str
    role: str
    source: str = "local"
    signed_in_at: float = 0.0
    session_id: str = ""
    fingerprint: str = field(default="", repr=False)

    @property
    def signed_in(self) -> bool:
        """Whether this is a user with a known role (not the anonymous placeholder)."""
        return self.role in ROLES

    @property
    def is_demo(self) -> bool:
        return self.source == "demo"

    def may(self, action_or_role: str) -> bool:
        """Whether this user's role allows ``action_or_role`` (see :func:`role_allows`)."""
        return role_allows(self.role, action_or_role)


ANONYMOUS = User("", "", source="none")


@dataclass(frozen=True)
class Account:
    """One entry of the users file; ``password_hash`` is ``None`` for a single sign-on user."""

    name: str
    role: str
    password_hash: str | None = field(default=None, repr=False)

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)


@dataclass(frozen=True)
class UserListing:
    """A row of :func:`list_users`: the name, the role and whether a password is set."""

    name: str
    role: str
    has_password: bool


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


def check_permission(user: User | None, action: str) -> None:
    """Raise ``PermissionDenied`` unless ``user`` may do ``action``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    role = user.role if user is not None else None
    if not role_allows(role, action):
        name = (user.name if user is not None else "") or "anonymous"
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


def load_users(path: str | os.PathLike | None = None) -> dict[str, Account]:
    """``{name: Account}``; empty if there is no file."""
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
        key = str(name).lower()
        users[key] = Account(key, entry["role"], entry.get("password_hash"))
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


def _write_users(p: Path, users: dict[str, Account]) -> None:
    lines = ["# CRLM Cohort Explorer users: manage with `python -m crlm users ...`.",
             "# Passwords are argon2id hashes; keep this file readable by the app only.", ""]
    for name in sorted(users):
        entry = users[name]
        lines.append(f"[users.{_quote(name)}]")
        lines.append(f"role = {_quote(entry.role)}")
        if entry.password_hash:
            lines.append(f"password_hash = {_quote(entry.password_hash)}")
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
             password: str | None) -> User:
    """Add a user; ``password=None`` makes an OIDC-only user. Returns the new user."""
    name = normalise_name(name)
    _check_role(role)
    password_hash = None
    if password is not None:
        password_hash = _HASHER.hash(_check_password(name, password))
    entry = Account(name, role, password_hash)
    p = users_path(path)
    with _FILE_LOCK:
        users = load_users(p)
        if name in users:
            raise UsersFileError(f"user {name!r} exists already; use set-role or remove it first")
        users[name] = entry
        _write_users(p, users)
    log.info("user added: %s (role %s)", name, role)
    return User(name, role)


@contextlib.contextmanager
def _editing(path: str | os.PathLike | None, name: str):
    """The users of the file, under the lock, for a change to the listed user ``name``;
    written back when the block ends without an error."""
    p = users_path(path)
    with _FILE_LOCK:
        users = load_users(p)
        if name not in users:
            raise UsersFileError(f"no user {name!r} in {p}")
        yield users
        _write_users(p, users)


def set_role(path: str | os.PathLike | None, name: str, role: str) -> User:
    name = normalise_name(name)
    _check_role(role)
    with _editing(path, name) as users:
        users[name] = replace(users[name], role=role)
    log.info("user role changed: %s -> %s", name, role)
    return User(name, role)


def set_password(path: str | os.PathLike | None, name: str, password: str) -> None:
    name = normalise_name(name)
    with _editing(path, name) as users:
        users[name] = replace(
            users[name], password_hash=_HASHER.hash(_check_password(name, password)))
    log.info("password changed: %s", name)


def remove_user(path: str | os.PathLike | None, name: str) -> None:
    name = normalise_name(name)
    with _editing(path, name) as users:
        del users[name]
    log.info("user removed: %s", name)


def list_users(path: str | os.PathLike | None = None) -> list[UserListing]:
    """The users sorted by name, each with whether a password is set (never the hashes)."""
    return [UserListing(n, e.role, e.has_password) for n, e in sorted(load_users(path).items())]


def lookup_role(path: str | os.PathLike | None, name: str) -> str | None:
    """The role of a listed user, ``None`` if not listed (or the name is not allowed)."""
    try:
        entry = load_users(path).get(normalise_name(name))
    except UsersFileError:
        return None
    return entry.role if entry is not None else None


def verify(path: str | os.PathLike | None, name: str, password: str) -> User | None:
    """The user if the password is right, else ``None`` (no rate limiting here)."""
    try:
        name = normalise_name(name)
    except UsersFileError:
        name = None
    entry = load_users(path).get(name) if name else None
    stored = (entry.password_hash if entry is not None else None) or _DUMMY_HASH
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        password = ""
    try:
        ok = _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or entry is None or not entry.has_password:
        return None
    return User(name, entry.role)


# -- sign-in (rate limited, crlm.signin_limiter) ------------------------------
def sign_in(path: str | os.PathLike | None, name: str, password: str, *,
            limiter: SignInLimiter | None = None) -> User:
    """Check a local sign-in: returns the user or raises ``SignInFailed``
    (``AccountLocked`` after too many failures). Logs the user name, never the password."""
    limiter = limiter or default_limiter()
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
    log.info("signed in: %s (role %s)", user.name, user.role)
    return user
