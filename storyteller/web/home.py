"""Home and facilitator pages: the list of workshops, and creating one."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from storyteller.app import get_db
from storyteller.store.workshops import LANGUAGES, create_workshop, list_workshops

bp = Blueprint("home", __name__)


class WorkshopForm(FlaskForm):
    name = StringField("Workshop name", validators=[DataRequired(message="Give the workshop a name."), Length(max=120)])
    language = SelectField(
        "Main language",
        choices=[SelectChoice(code, f"{english} — {own}" if english != own else english) for code, (english, own) in LANGUAGES.items()],
    )
    place = StringField("Place (optional, kept on this laptop only)", validators=[Length(max=120)])


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
            form.name.errors.append(str(exc))
        else:
            flash(f"Workshop “{form.name.data.strip()}” created.")
            return redirect(url_for("home.index"))
    return render_template("home/new_workshop.html", form=form)


@bp.get("/exit")
def quick_exit():
    """Where the quick-exit button leads: a neutral page, with the session dropped."""
    session.clear()
    return render_template("home/neutral.html")
