"""The desk's blueprint, and what base.html needs on desk pages: the Lock button and the idle lock."""

from __future__ import annotations

from flask import Blueprint, request, url_for

from storyteller.web.desk.access import desk_signed_in

bp = Blueprint("desk", __name__, url_prefix="/desk")

# Pages that must not lock themselves while nobody touches the laptop: the screening plays for long.
NO_IDLE_LOCK = frozenset({"desk.screening_play"})


@bp.app_context_processor
def _desk_context() -> dict:
    on_desk = request.blueprint == "desk" and request.endpoint not in NO_IDLE_LOCK and desk_signed_in()
    return {
        "desk_lock_url": url_for("desk.lock") if on_desk else None,
        "desk_seen_url": url_for("desk.seen") if on_desk else None,
    }
