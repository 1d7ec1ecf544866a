"""The desk's forms: a workshop from a kit, a participant, several participants at once."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, ValidationError

from storyteller.store.participants import ALIAS_MAX
from storyteller.store.workshops import LANGUAGES


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
    kit = SelectField(_l("Workshop kit"), validate_choice=False)
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
        validators=[MaxChars(120, _l("The place is too long: use at most 120 letters."))],
    )

    def offer_kits(self, kits, language: str) -> None:
        """The kits on this laptop, named in the desk's language; a kit outside the list is refused in her words."""
        self.kit.choices = [SelectChoice(kit.id, kit.text(language).name) for kit in kits]
        self.kit.validators = [AnyOf([kit.id for kit in kits], message=_l("Choose one of the kits."))]


class ParticipantForm(FlaskForm):
    alias = StringField(
        _l("Pseudonym (never a real name)"),
        validators=[
            DataRequired(message=_l("Give a pseudonym (not a real name).")),
            MaxChars(ALIAS_MAX, _l("The pseudonym is too long: use at most 40 letters.")),
        ],
    )
    pin = StringField(_l("PIN (4 to 12 digits; leave empty for a new random one)"))


class ManyParticipantsForm(FlaskForm):
    aliases = TextAreaField(
        _l("Pseudonyms, one on each line"),
        validators=[DataRequired(message=_l("Write at least one pseudonym."))],
    )


class ResetPinForm(FlaskForm):
    pin = StringField(_l("New PIN (4 to 12 digits; leave empty for a new random one)"))
