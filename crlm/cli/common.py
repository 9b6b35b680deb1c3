"""What every command group of the command line shares: the user-facing error, the
bounded-integer argument type and opening the store named by ``--db``."""
from __future__ import annotations

import argparse
from typing import Callable

from crlm import config


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def positive_int(lo: int, hi: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number between ``lo`` and ``hi`` (inclusive)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be between {lo:,} and {hi:,}, got {value:,}")
        return value
    return parse


def open_store(args, *, create: bool = True, retry_s: float = 0.0):
    """The store of ``args.db`` (or the configured default)."""
    from crlm.store import Store

    return Store(config.db_path(args.db), create=create, retry_s=retry_s)


SEED = positive_int(0, 2**32 - 1, "--seed")
FOLDS = positive_int(2, 20, "--folds")
