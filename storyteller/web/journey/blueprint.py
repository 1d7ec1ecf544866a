"""The journey's blueprint and what every journey page needs to draw the stepper and the Lock button."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from storyteller.web.journey.access import current_participant, idle_lock_seconds

bp = Blueprint("journey", __name__, url_prefix="/story")


@bp.app_context_processor
def _journey_context() -> dict:
    """What base.html needs to draw the stepper and the Lock button on journey pages."""
    on_journey = request.blueprint == "journey" and request.endpoint != "journey.signin"
    return {
        "journey_endpoints": frozenset(current_app.view_functions),
        "signed_in": on_journey and current_participant() is not None,
        "idle_lock_seconds": idle_lock_seconds(),
    }
