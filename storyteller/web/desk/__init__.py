"""The facilitator's desk, behind the passphrase: workshops from kits, participants, the dashboard,
the screening playlist, the laptop check, and the export and wipe buttons."""

from __future__ import annotations

# Importing the views registers them on the blueprint.
from storyteller.web.desk import laptop, people, privacy, screening, signin, voice, workshops  # noqa: F401
from storyteller.web.desk.blueprint import bp

__all__ = ["bp"]
