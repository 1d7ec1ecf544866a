"""The participant's journey, one calm step at a time: sign in, consent, story, record, media, screening.

Every view here is reached only by a signed-in participant (``access.participant_required``)
and sees only her own story. ``words`` holds steps 1-4, ``media`` steps 5-10.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

bp = Blueprint("journey", __name__, url_prefix="/story")


@bp.app_context_processor
def _journey_context() -> dict:
    """What base.html needs to draw the stepper and the Lock button on journey pages."""
    from storyteller.web.journey.access import current_participant, idle_lock_seconds

    on_journey = request.blueprint == "journey" and request.endpoint != "journey.signin"
    return {
        "journey_endpoints": frozenset(current_app.view_functions),
        "signed_in": on_journey and current_participant() is not None,
        "idle_lock_seconds": idle_lock_seconds(),
    }

from storyteller.web.journey import words  # noqa: E402,F401
from storyteller.web.journey import media  # noqa: E402,F401
