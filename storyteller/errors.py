"""The errors a participant may read, the one "stopped on request", and the callback types of long work.

An error that subclasses :class:`UserError` carries a plain sentence meant for the person at
the laptop (no errno, no library text), so it may be shown as it is; anything else is a bug
or a library's own message and is not.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

# Long work reports the fraction done (0..1) and polls whether the person asked to stop.
ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]


def N_(message: str) -> str:
    """Marks an English sentence for the catalog (``pybabel extract -k N_``); the page translates it."""
    return message


class UserError(ValueError):
    """Something a participant or facilitator can act on; ``str(err)`` is a plain sentence."""


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


def plain_message(exc: BaseException) -> str:
    """What a person may read about ``exc``: its own sentence for a UserError, else a plain one."""
    if isinstance(exc, UserError) and str(exc):
        return str(exc)
    if isinstance(exc, OSError):
        return _OS_MESSAGES.get(exc.errno, N_("A file could not be read or written. Nothing already saved was lost; try again."))
    return SOMETHING_WENT_WRONG
