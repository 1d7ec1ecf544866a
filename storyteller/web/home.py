"""Home and facilitator pages: the list of workshops, and creating one."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, send_from_directory, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from storyteller.web.context import get_db
from storyteller.config import PROJECT_ROOT
from storyteller.store.workshops import LANGUAGES, create_workshop, list_workshops

bp = Blueprint("home", __name__)

BUNDLED_FONTS = ("NotoNastaliqUrdu-Regular.ttf", "NotoNaskhArabic-Regular.ttf")


class WorkshopForm(FlaskForm):
    name = StringField(_l("Workshop name"), validators=[DataRequired(message=_l("Give the workshop a name.")), Length(max=120)])
    language = SelectField(
        _l("Main language"),
        choices=[SelectChoice(code, f"{english} — {own}" if english != own else english) for code, (english, own) in LANGUAGES.items()],
    )
    place = StringField(_l("Place (optional, kept on this laptop only)"), validators=[Length(max=120)])


@bp.get("/")
def index():
    return render_template("home/index.html", workshops=list_workshops(get_db()))


@bp.route("/workshops/new", methods=["GET", "POST"])
def new_workshop():
    form = WorkshopForm()
    if form.validate_on_submit():
        try:
            create_workshop(get_db(), form.name.data, form.language.data, form.place.data or "")
        except ValueError as exc:
            form.name.errors.append(_(str(exc)))
        else:
            flash(_("Workshop “%(name)s” created.", name=form.name.data.strip()))
            return redirect(url_for("home.index"))
    return render_template("home/new_workshop.html", form=form)


@bp.get("/fonts/<name>")
def font(name: str):
    """The bundled Noto fonts, so Urdu shows correctly with no system fonts and no CDN."""
    if name not in BUNDLED_FONTS:
        abort(404)
    return send_from_directory(PROJECT_ROOT / "media" / "fonts", name, mimetype="font/ttf", max_age=86400)


@bp.get("/exit")
def quick_exit():
    """Where the quick-exit button leads: a neutral page, with the session dropped."""
    session.clear()
    return render_template("home/neutral.html")
