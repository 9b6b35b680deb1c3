"""``python -m crlm`` (and the ``crlm`` console script): build the demo, import, train,
score, DICOM tools, backups.

Every subcommand validates its arguments before it opens the store, prints one
clear line on failure and exits non-zero, and writes nothing when it fails.

Layout: this module builds the parser and runs a command; each command group is a
module beside it with its ``cmd_*`` functions and a ``register(sub)`` that adds its
sub-commands to the ``argparse`` sub-parsers ``sub``:

* :mod:`crlm.cli.training` — ``demo``, ``train``
* :mod:`crlm.cli.data` — ``samples``, ``dicom``, ``import``, ``import-measurements``,
  ``import-images``
* :mod:`crlm.cli.analysis` — ``audit``, ``export``, ``export-analysis``
* :mod:`crlm.cli.admin` — ``users``, ``backup``, ``restore``
* :mod:`crlm.cli.common` — :class:`CliError`, ``positive_int``, ``open_store``

Adding a group is two lines here: import its module and append it to ``GROUPS``
(sub-commands are listed in ``--help`` in that order). A command reports a user-facing
failure by raising :class:`CliError`; ``--db`` after the sub-command is added for it.
"""
from __future__ import annotations

import argparse
import logging
import sys

from crlm import config
from crlm.cli import admin, analysis, data, federated, training
from crlm.cli.common import CliError

__all__ = ["GROUPS", "CliError", "build_parser", "main"]

log = logging.getLogger("crlm")

GROUPS = (training, data, analysis, admin, federated)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crlm",
        description="CRLM Cohort Explorer command line: build the demo cohort, import, train, "
                    "score, DICOM tools, backups.",
    )
    parser.add_argument("--db", help=f"store file (default: $CRLM_DB or {config.DEFAULT_DB})")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    _accept_db_after_command(sub)
    return parser


def _accept_db_after_command(sub) -> None:
    """``--db`` also after the sub-command (``crlm import FILE --db X``). It is added with a
    suppressed default, so it sets ``args.db`` only when given there and otherwise leaves the
    value given before the sub-command. ``restore`` keeps its own ``--db`` (the new file)."""
    for name, command in sub.choices.items():
        if any("--db" in action.option_strings for action in command._actions):
            continue
        command.add_argument("--db", default=argparse.SUPPRESS,
                             help="store file (as before the sub-command)")


def main(argv: list[str] | None = None) -> int:
    from crlm.privacy import install_log_filter
    from crlm.process import tune_process
    from crlm.store import StoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_filter()
    tune_process()
    try:
        return int(args.func(args) or 0)
    except (CliError, StoreError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was committed by the interrupted step", file=sys.stderr)
        return 130
