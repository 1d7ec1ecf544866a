"""The start page (a participant chooses her workshop, a facilitator goes to the desk), the fonts, quick exit."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, send_from_directory, session

from storyteller.config import PROJECT_ROOT
from storyteller.store.workshops import list_workshops
from storyteller.web.context import get_db
from storyteller.web.desk.access import desk_signed_in, end_desk_session
from storyteller.web.journey.access import lock_session

bp = Blueprint("home", __name__)

BUNDLED_FONTS = ("NotoNastaliqUrdu-Regular.ttf", "NotoNaskhArabic-Regular.ttf")


@bp.get("/")
def index():
    return render_template("home/index.html", workshops=list_workshops(get_db()))


@bp.get("/fonts/<name>")
def font(name: str):
    """The bundled Noto fonts, so Urdu shows correctly with no system fonts and no CDN."""
    if name not in BUNDLED_FONTS:
        abort(404)
    return send_from_directory(PROJECT_ROOT / "media" / "fonts", name, mimetype="font/ttf", max_age=86400)


@bp.get("/exit")
def quick_exit():
    """Where the quick-exit button leads: a neutral page, with her session dropped.

    The answer also tells the browser to forget the cookie, cache and storage of the site (app.py).
    """
    lock_session()
    if desk_signed_in():  # the facilitator's own exit; a participant's exit leaves the desk alone
        end_desk_session()
    page = render_template("home/neutral.html")  # still in her language
    session.clear()
    return page
