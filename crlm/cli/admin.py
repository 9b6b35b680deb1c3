"""Administration commands: ``users`` (local users and roles), ``backup`` and ``restore``."""
from __future__ import annotations

import sys

from crlm import config
from crlm.cli.common import CliError

ROLES = ["viewer", "clinician", "admin"]


def _read_password(args) -> str | None:
    if getattr(args, "oidc", False):
        return None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass("Password (10 characters or more): ")
        if getpass.getpass("Password again: ") != password:
            raise CliError("the two passwords differ; nothing was changed")
    if not password:
        raise CliError("empty password; nothing was changed")
    return password


def _users(fn):
    def run(args) -> int:
        from crlm import auth

        try:
            return fn(auth, args) or 0
        except auth.UsersFileError as exc:
            raise CliError(str(exc)) from None
    return run


@_users
def cmd_users_add(auth, args):
    user = auth.add_user(args.users, args.name, args.role, _read_password(args))
    print(f"added {user.name} ({user.role}) to {auth.users_path(args.users)}")


@_users
def cmd_users_set_role(auth, args):
    user = auth.set_role(args.users, args.name, args.role)
    print(f"{user.name} is now {user.role}")


@_users
def cmd_users_passwd(auth, args):
    auth.set_password(args.users, args.name, _read_password(args))
    print(f"password changed for {auth.normalise_name(args.name)}")


@_users
def cmd_users_remove(auth, args):
    auth.remove_user(args.users, args.name)
    print(f"removed {auth.normalise_name(args.name)}")


@_users
def cmd_users_list(auth, args):
    users = auth.list_users(args.users)
    if not users:
        print(f"no users in {auth.users_path(args.users)}")
    for u in users:
        print(f"{u.name}\t{u.role}\t{'password' if u.has_password else 'single sign-on'}")


def cmd_backup(args) -> int:
    from crlm.store.backup import backup

    path = config.db_path(args.db)
    if not path.is_file():
        raise CliError(f"no store at {path}")
    manifest = backup(path, args.dest)
    tables = manifest.get("tables", {})
    print(f"backup of {path} written to {args.dest} ({len(tables)} tables)")
    return 0


def cmd_restore(args) -> int:
    from crlm.store.backup import restore

    target = args.target or args.db
    if not target:
        raise CliError("restore needs --db NEW_STORE_PATH (a file that does not exist yet)")
    restore(args.src, target)
    print(f"restored {args.src} into {target}; every table matches the manifest")
    return 0


def register(sub) -> None:
    p = sub.add_parser("users", help="local users and roles: add, set-role, passwd, remove, list")
    p.add_argument("--users", help="users file (default: $CRLM_USERS or data/users.toml)")
    usub = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    q = usub.add_parser("add", help="add a user (asks for the password twice)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--role", required=True, choices=ROLES)
    q.add_argument("--oidc", action="store_true",
                   help="single sign-on user (an e-mail address): no password")
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    q.set_defaults(func=cmd_users_add)
    q = usub.add_parser("set-role", help="change a user's role")
    q.add_argument("name", metavar="NAME")
    q.add_argument("role", choices=ROLES)
    q.set_defaults(func=cmd_users_set_role)
    q = usub.add_parser("passwd", help="set a user's password")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    q.set_defaults(func=cmd_users_passwd)
    q = usub.add_parser("remove", help="remove a user (signed out at once)")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(func=cmd_users_remove)
    q = usub.add_parser("list", help="list users and roles (never the hashes)")
    q.set_defaults(func=cmd_users_list)

    p = sub.add_parser("backup", help="back up the store to a new or empty folder")
    p.add_argument("dest", metavar="DEST")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup folder into a NEW store file (--db)")
    p.add_argument("src", metavar="SRC")
    p.add_argument("--db", dest="target", metavar="NEW_DB",
                   help="the new store file to write (must not exist)")
    p.set_defaults(func=cmd_restore)
