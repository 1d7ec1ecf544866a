"""Home and facilitator pages: the workshops, one workshop with its participants, quick exit."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, send_from_directory, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, ValidationError

from storyteller.config import PROJECT_ROOT
from storyteller.store.participants import ALIAS_MAX, ParticipantError, add_participant, list_participants
from storyteller.store.workshops import LANGUAGES, create_workshop, list_workshops
from storyteller.web.context import get_db
from storyteller.web.journey.access import lock_session

bp = Blueprint("home", __name__)

BUNDLED_FONTS = ("NotoNastaliqUrdu-Regular.ttf", "NotoNaskhArabic-Regular.ttf")


class MaxChars:
    """Refuse text longer than ``limit``, with a translated sentence.

    Unlike WTForms' Length it sets no ``maxlength`` on the input, which would make
    the browser cut a long paste silently: she sees the whole text and the reason.
    """

    def __init__(self, limit: int, message):
        self.limit, self.message = limit, message

    def __call__(self, form, field) -> None:
        if field.data and len(field.data.strip()) > self.limit:
            raise ValidationError(self.message)


class WorkshopForm(FlaskForm):
    name = StringField(
        _l("Workshop name"),
        validators=[
            DataRequired(message=_l("Give the workshop a name.")),
            MaxChars(120, _l("The name is too long: use at most 120 letters.")),
        ],
    )
    language = SelectField(
        _l("Main language"),
        choices=[SelectChoice(code, f"{english} — {own}" if english != own else english) for code, (english, own) in LANGUAGES.items()],
        validate_choice=False,  # WTForms' own message is English only; AnyOf says it in her language
        validators=[AnyOf(list(LANGUAGES), message=_l("Choose one of the offered languages."))],
    )
    place = StringField(
        _l("Place (optional, kept on this laptop only)"),
        validators=[
            MaxChars(120, _l("The place is too long: use at most 120 letters.")),
        ],
    )


class ParticipantForm(FlaskForm):
    alias = StringField(
        _l("Pseudonym (never a real name)"),
        validators=[
            DataRequired(message=_l("Give a pseudonym (not a real name).")),
            MaxChars(ALIAS_MAX, _l("The pseudonym is too long: use at most 40 letters.")),
        ],
    )
    pin = StringField(_l("PIN (4 to 12 digits; leave empty for a new random one)"))


@bp.get("/")
def index():
    return render_template("home/index.html", workshops=list_workshops(get_db()))


@bp.route("/workshops/new", methods=["GET", "POST"])
def new_workshop():
    form = WorkshopForm()
    if form.validate_on_submit():
        try:
            workshop_id = create_workshop(get_db(), form.name.data, form.language.data, form.place.data or "")
        except ValueError as exc:
            form.name.errors.append(_(str(exc)))
        else:
            flash(_("Workshop “%(name)s” created.", name=form.name.data.strip()))
            return redirect(url_for("home.workshop", workshop_id=workshop_id))
    return render_template("home/new_workshop.html", form=form)


def _workshop_or_404(workshop_id: int):
    workshop = next((w for w in list_workshops(get_db()) if w.id == workshop_id), None)
    if workshop is None:
        abort(404)
    return workshop


@bp.route("/workshops/<int:workshop_id>", methods=["GET", "POST"])
def workshop(workshop_id: int):
    """One workshop: its participants, and adding one (her PIN is shown once, here)."""
    db = get_db()
    workshop = _workshop_or_404(workshop_id)
    form = ParticipantForm()
    added = None
    if form.validate_on_submit():
        pin = (form.pin.data or "").strip() or f"{secrets.randbelow(10_000):04d}"
        try:
            add_participant(db, workshop.id, form.alias.data, pin)
        except ParticipantError as exc:
            (form.pin if "PIN" in str(exc) else form.alias).errors.append(_(str(exc)))
        else:
            added = {"alias": " ".join(form.alias.data.split()), "pin": pin}
            form = ParticipantForm(formdata=None)
    return render_template("home/workshop.html", workshop=workshop, participants=list_participants(db, workshop.id), form=form, added=added)


@bp.get("/fonts/<name>")
def font(name: str):
    """The bundled Noto fonts, so Urdu shows correctly with no system fonts and no CDN."""
    if name not in BUNDLED_FONTS:
        abort(404)
    return send_from_directory(PROJECT_ROOT / "media" / "fonts", name, mimetype="font/ttf", max_age=86400)


@bp.get("/exit")
def quick_exit():
    """Where the quick-exit button leads: a neutral page, with her session dropped (the language stays)."""
    lock_session()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return render_template("home/neutral.html")
