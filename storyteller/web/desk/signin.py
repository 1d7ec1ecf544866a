"""The desk's door: set the passphrase on first run, sign in, lock."""

from __future__ import annotations

import math

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from storyteller.store import passphrase
from storyteller.web.context import get_db
from storyteller.web.desk.access import desk_required, desk_signed_in, end_desk_session, start_desk_session
from storyteller.web.desk.blueprint import bp


@bp.get("/")
@desk_required
def index():
    return redirect(url_for("desk.workshops"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """First run: the facilitator chooses the passphrase, typed twice."""
    db = get_db()
    if passphrase.is_set(db):
        return redirect(url_for("desk.signin"))
    error = None
    if request.method == "POST":
        chosen, again = request.form.get("passphrase", ""), request.form.get("again", "")
        if chosen != again:
            error = _("The two passphrases are not the same. Type it twice again.")
        else:
            try:
                key = passphrase.set_first(db, chosen)
            except passphrase.PassphraseError as exc:
                error = _(str(exc))
            else:
                start_desk_session(key)
                flash(_("The passphrase is set. Keep it safe: without it nobody can open the desk or the stories."))
                return redirect(url_for("desk.workshops"))
    return render_template("desk/setup.html", error=error, minimum=passphrase.PASSPHRASE_MIN)


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    db = get_db()
    if not passphrase.is_set(db):
        return redirect(url_for("desk.setup"))
    error = None
    if request.method == "POST":
        result = passphrase.unlock(db, request.form.get("passphrase", ""))
        if result.workshop_key is not None:
            start_desk_session(result.workshop_key)
            return redirect(url_for("desk.workshops"))
        seconds = math.ceil(result.wait_seconds)
        if not result.checked:
            error = _("Too many wrong tries. Wait %(seconds)d seconds, then try again.", seconds=seconds)
        elif seconds:
            error = _("That passphrase is not right. You can try again in %(seconds)d seconds.", seconds=seconds)
        else:
            error = _("That passphrase is not right. Try again.")
    elif desk_signed_in():
        return redirect(url_for("desk.workshops"))
    return render_template("desk/signin.html", error=error, locked=request.args.get("locked") == "1")


@bp.route("/lock", methods=["GET", "POST"])
def lock():
    """The Lock button and the idle timer: the desk closes; stories and jobs go on."""
    end_desk_session()
    return redirect(url_for("desk.signin", locked=1))


@bp.post("/seen")
@desk_required
def seen():
    """The facilitator is reading the page: keep the desk open."""
    return "", 204
