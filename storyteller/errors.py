"""The errors a participant may read, the one "stopped on request", and the callback types of long work.

An error that subclasses :class:`UserError` carries a plain sentence meant for the person at
the laptop (no errno, no library text), so it may be shown as it is; anything else is a bug
or a library's own message and is not.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable

# Long work reports the fraction done (0..1) and polls whether the person asked to stop.
ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]


def N_(message: str) -> str:
    """Marks an English sentence for the catalog (``pybabel extract -k N_``); the page translates it."""
    return message


# Direction marks, embeddings, overrides and isolates: inside a file name echoed in a message they
# would turn the rest of the sentence around ("photo\u202egnp.exe" reads as "photoexe.png").
_DIRECTION_CONTROLS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


class UserError(ValueError):
    """Something a participant or facilitator can act on; ``str(err)`` is a plain sentence."""

    def __init__(self, message: str = "", *args):
        super().__init__(str(message).translate(_DIRECTION_CONTROLS), *args)


class Cancelled(RuntimeError):
    """The work stopped because ``cancel()`` returned True; nothing partial was left behind."""


# What an OSError means to a person; errno numbers and library text are never shown.
_OS_MESSAGES = {
    errno.ENOSPC: N_("The disk is full. Nothing already saved was lost; free some space and try again."),
    errno.EDQUOT: N_("The disk is full. Nothing already saved was lost; free some space and try again."),
    errno.EACCES: N_("Storyteller is not allowed to use that file or folder. Choose another place."),
    errno.EPERM: N_("Storyteller is not allowed to use that file or folder. Choose another place."),
    errno.ENOENT: N_("A file that was needed is missing."),
    errno.EIO: N_("The disk could not be read or written. Nothing already saved was lost; try again."),
}
SOMETHING_WENT_WRONG = N_("Something went wrong. Your files are safe; please tell the facilitator.")


# SQLite meets the same full or failing disk but reports it as its own error, not an OSError.
_SQLITE_DISK_ERRNOS = {sqlite3.SQLITE_FULL: errno.ENOSPC, sqlite3.SQLITE_IOERR: errno.EIO}


def disk_fault(exc: BaseException) -> int | None:
    """The errno of the disk trouble behind ``exc``, whether the OS or SQLite met it; None for anything else.

    An OSError without an errno (a library's own) counts as disk trouble of no known kind (0).
    """
    if isinstance(exc, OSError):
        return exc.errno or 0
    code = getattr(exc, "sqlite_errorcode", None)  # set by SQLite only, not on one raised by hand
    if isinstance(exc, sqlite3.Error) and code is not None:
        return _SQLITE_DISK_ERRNOS.get(code & 0xFF)  # the primary code of an extended one
    return None


def plain_message(exc: BaseException) -> str:
    """What a person may read about ``exc``: its own sentence for a UserError, else a plain one."""
    if isinstance(exc, UserError) and str(exc):
        return str(exc)
    fault = disk_fault(exc)
    if fault is not None:
        return _OS_MESSAGES.get(fault, N_("A file could not be read or written. Nothing already saved was lost; try again."))
    return SOMETHING_WENT_WRONG
