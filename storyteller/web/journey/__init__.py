"""The participant's journey, one calm step at a time: sign in, consent, story, record, media, screening.

Every view here is reached only by a signed-in participant (``access.participant_required``)
and sees only her own story. ``words`` holds steps 1-4, ``media`` steps 5-10.
"""

from __future__ import annotations

# Importing the views registers them on the blueprint.
from storyteller.web.journey import media, words  # noqa: F401
from storyteller.web.journey.blueprint import bp

__all__ = ["bp"]
