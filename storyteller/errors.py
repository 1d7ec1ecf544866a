"""The errors a participant may read, the one "stopped on request", and the callback types of long work.

An error that subclasses :class:`UserError` carries a plain sentence meant for the person at
the laptop (no errno, no library text), so it may be shown as it is; anything else is a bug
or a library's own message and is not.
"""

from __future__ import annotations

from collections.abc import Callable

# Long work reports the fraction done (0..1) and polls whether the person asked to stop.
ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]


class UserError(ValueError):
    """Something a participant or facilitator can act on; ``str(err)`` is a plain sentence."""


class Cancelled(RuntimeError):
    """The work stopped because ``cancel()`` returned True; nothing partial was left behind."""
