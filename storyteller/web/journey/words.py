"""Steps 1-4 of her journey: sign in, consent, write the story, record it.

Views only validate, call the store and render; media checks live in
``storyteller.jobs.checks``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import BinaryIO

from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from storyteller.jobs import checks, uploads
from storyteller.store import stories
from storyteller.store.kits import Kit, kit_of
from storyteller.store.vault import TooLarge, VaultError
from storyteller.store.workshops import get_workshop
from storyteller.web.context import get_db, get_vault, get_workshop_key, unlocked_key
from storyteller.web.journey.access import (
    SESSION_WORKSHOP,
    choose_workshop_and_sign_in,
    current_participant,
    current_story,
    is_fetch,
    lock_session,
    participant_required,
    story_asset_or_404,
)
from storyteller.web.journey.blueprint import bp
from storyteller.web.vault_media import send_from_vault

# Bump when the consent wording changes: each consent row records the version she was shown.
CONSENT_TEXT_VERSION = "2026-11-30"
CONSENT_CHOICES = (
    (
        "workshop",
        _l("Only at the workshop screening"),
        _l("Your video is shown once, to the people in this workshop. It is not copied anywhere else."),
    ),
    (
        "organisation",
        _l("Inside the organisation"),
        _l("The organisation's staff may watch it and show it in their trainings. It is not put on the internet."),
    ),
    (
        "public",
        _l("A public campaign"),
        _l("Your video may be shared on the internet and social media, with your face covered and your voice changed."),
    ),
)
# Spoken stories run at about 130 words a minute: 250-350 words make 2-3 minutes.
WORDS_PER_MINUTE = 130


def her_kit() -> Kit | None:
    """The kit her workshop was made from: its welcome, prompts and consent words are hers to read."""
    if "kit" not in g:
        participant = current_participant()
        g.kit = kit_of(get_workshop(get_db(), participant.workshop_id)) if participant else None
    return g.kit


def consent_choices() -> tuple[tuple, ...]:
    """The three choices, each explained in her kit's words when there is a kit."""
    kit = her_kit()
    if kit is None:
        return CONSENT_CHOICES
    words = kit.text(str(get_locale())).consent
    return tuple((level, title, words.level(level)) for level, title, _explanation in CONSENT_CHOICES)


def where_she_left_off() -> str:
    """The endpoint of the step she was last on; consent first until she has given it."""
    if get_workshop_key() is None:
        return "journey.consent"  # locked: her story cannot be read, and every step asks for the facilitator
    story = current_story()
    endpoint = f"journey.{story.step}" if stories.current_consent(get_db(), story.id, unlocked_key()) else "journey.consent"
    return endpoint if endpoint in current_app.view_functions else "journey.consent"


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    return choose_workshop_and_sign_in(
        "journey/signin.html", where_she_left_off, only_workshop_is_chosen=False, locked=request.args.get("locked") == "1"
    )


@bp.route("/lock", methods=["GET", "POST"])
def lock():
    """The Lock button and the idle timer: her story leaves the screen, sign-in shows.

    The answer tells the browser to clear its cookie and cache for the site (app.py), so
    the workshop and the language travel in the sign-in address instead.
    """
    workshop, lang = session.get(SESSION_WORKSHOP), session.get("lang")
    lock_session()
    session.clear()
    return redirect(url_for("journey.signin", locked=1, workshop=workshop, lang=lang))


@bp.post("/seen")
@participant_required
def seen():
    """She is at the page (reading, moving the mouse) though nothing needs saving: keep her session."""
    return "", 204


@bp.route("/consent", methods=["GET", "POST"])
@participant_required
def consent():
    db, story = get_db(), current_story()
    if request.method == "POST":
        level = request.form.get("level", "")
        if level == "withdraw":
            stories.withdraw_consent(db, story.id, unlocked_key())
            flash(_("Your consent is withdrawn. Your video will not be shown or shared."))
            return redirect(url_for("journey.consent"))
        if level not in stories.CONSENT_LEVELS:
            flash(_("Choose one of the three choices."))
            return redirect(url_for("journey.consent"))
        # The words she was shown, her kit's when there is one, are kept as a hash in the ledger.
        shown = next(f"{title}\n{words}" for choice, title, words in consent_choices() if choice == level)
        version = her_kit().consent_version if her_kit() else CONSENT_TEXT_VERSION
        stories.record_consent(db, story.id, level, version, str(get_locale()), text=shown, workshop_key=unlocked_key())
        flash(_("Your choice is saved. You can change it at any time."))
        return redirect(url_for("journey.story"))
    stories.set_step(db, story.id, "consent")
    return render_template(
        "journey/consent.html",
        story=story,
        choices=consent_choices(),
        intro=her_kit().text(str(get_locale())).consent.intro if her_kit() else None,
        current=stories.current_consent(db, story.id, unlocked_key()),
        history=stories.consent_history(db, story.id, unlocked_key()),
    )


@bp.get("/write")
@participant_required
def story():
    story = current_story()
    stories.set_step(get_db(), story.id, "story")
    kit = her_kit()
    return render_template(
        "journey/story.html",
        story=story,
        welcome=kit.text(str(get_locale())).welcome if kit else None,
        prompts=list(kit.text(str(get_locale())).prompts) if kit else writing_prompts(),
        words_per_minute=WORDS_PER_MINUTE,
    )


@bp.post("/write/save")
@participant_required
def save_story():
    """Autosave (fetch every few seconds, and a beacon when she leaves the page)."""
    story = current_story()
    script = request.form.get("script")
    base = request.form.get("revision", type=int)
    if script is None or base is None:
        abort(400)
    try:
        saved = stories.save_script(
            get_db(), story.id, script.replace("\r\n", "\n"), base, request.form.get("title"), workshop_key=unlocked_key()
        )
    except stories.StoryError as exc:
        return jsonify(saved=False, message=_(str(exc))), 413
    return jsonify(saved=True, revision=saved.revision, other_tab_text=saved.replaced_other_tab)


def writing_prompts() -> list[str]:
    """The gentle built-in set, for a workshop made without a kit."""
    return [
        _("Think of a moment that changed something for you. Where were you? What did you see and hear?"),
        _("Who or what gave you strength? Tell us about them."),
        _("What do you know now that you did not know before?"),
        _("What would you like another girl or woman to hear from you?"),
        _("You decide what to share. You do not have to tell anything you do not want to."),
    ]


# -- step 4: record ------------------------------------------------------------
MAX_RECORDING_BYTES = 300 << 20  # 20 minutes of WAV at 48 kHz stereo still fits
# A take still arriving whose last chunk is older than this was cut off (a closed tab,
# a crash, a restarted server): what arrived is kept as her take.
INTERRUPTED_AFTER_SECONDS = 10.0


def paragraphs_of(script: str) -> list[str]:
    """The script's paragraphs, as the teleprompter shows them (split at empty lines)."""
    return [p.strip() for p in re.split(r"\n\s*\n", script) if p.strip()]


def _take_json(asset: stories.Asset) -> dict:
    return {
        "take": asset.id,
        "part": asset.meta.get("part", "whole"),
        "seconds": asset.meta.get("seconds"),
        "url": url_for("journey.take_audio", asset_id=asset.id),
    }


def _finish_take(asset: stories.Asset) -> tuple[stories.Asset | None, str | None]:
    """Move a take into the vault and check it; a take that is no use is removed with the reason."""
    db, vault = get_db(), get_vault(asset.story_id)
    try:
        vault.finish_growing(asset.vault_name)
    except VaultError:
        stories.remove_asset(db, vault, asset)
        return None, checks.TOO_SHORT
    with vault.plain(asset.vault_name) as plain:
        try:
            seconds = usable_narration(plain, uploads.stored_kind(asset.vault_name))
        except uploads.UploadRefused as exc:
            stories.remove_asset(db, vault, asset)
            return None, str(exc)
        size = plain.stat().st_size
    meta = {k: v for k, v in asset.meta.items() if k != "growing"} | {"seconds": round(seconds, 2)}
    stories.set_asset_meta(db, asset.id, meta, size_bytes=size)
    stories.keep_narration(db, vault, asset.story_id, asset.id)
    return stories.story_asset(db, asset.story_id, asset.id), None


def _recover_interrupted_takes(story_id: int) -> list[str]:
    """Keep what arrived of takes that were cut off; return the messages for her."""
    db, vault = get_db(), get_vault(story_id)
    messages = []
    for asset in stories.story_assets(db, story_id, "narration", growing=True):
        try:
            idle = time.time() - vault.growing_mtime(asset.vault_name)
        except VaultError:
            stories.remove_asset(db, vault, asset)
            continue
        if idle < INTERRUPTED_AFTER_SECONDS:
            continue  # still arriving, perhaps from another tab
        kept, problem = _finish_take(asset)
        messages.append(
            _("Your last recording stopped before the end. What was recorded is kept: listen to it, and record again if you want.")
            if kept
            else _(problem)
        )
    return messages


def _part_or_400(value: str | None, paragraphs: list[str]) -> str | int:
    if value in (None, "", "whole"):
        return "whole"
    try:
        index = int(value)
    except ValueError:
        abort(400)
    if not 0 <= index < max(1, len(paragraphs)):
        abort(400)
    return index


@bp.get("/record")
@participant_required
def record():
    story = current_story()
    db = get_db()
    stories.set_step(db, story.id, "record")
    for message in _recover_interrupted_takes(story.id):
        flash(message)
    takes = stories.narration_takes(db, story.id)
    return render_template(
        "journey/record.html",
        story=story,
        paragraphs=paragraphs_of(story.script),
        takes=takes,
        take_urls={part: url_for("journey.take_audio", asset_id=a.id) for part, a in takes.items()},
        max_seconds=checks.MAX_SECONDS,
    )


@bp.post("/record/chunk")
@participant_required
def record_chunk():
    """One piece of a recording (every few seconds); the first piece starts the take."""
    db, story = get_db(), current_story()
    vault = get_vault(story.id)
    chunk = request.files.get("chunk")
    offset = request.form.get("offset", type=int)
    if chunk is None or offset is None or offset < 0:
        abort(400)
    take_id = request.form.get("take", type=int)
    if take_id is None:
        if offset != 0:
            abort(400)
        part = _part_or_400(request.form.get("part"), paragraphs_of(story.script))
        try:  # the first bytes say what the recording is, not the type the page declares
            kind = uploads.recording_kind(chunk.stream.read(uploads.SNIFF_BYTES))
        except uploads.UploadRefused as exc:
            return jsonify(message=_(str(exc))), 415
        chunk.stream.seek(0)
        name = vault.start_growing(kind.suffix)
        take_id = stories.add_asset(db, story.id, "narration", name, media_type=kind.media_type, meta={"part": part, "growing": True})
    asset = story_asset_or_404(take_id)
    if not asset.meta.get("growing"):
        return jsonify(message=_("This recording is already finished.")), 409
    try:
        size = vault.append_growing(asset.vault_name, chunk.read(), offset, max_bytes=MAX_RECORDING_BYTES)
    except TooLarge:
        return jsonify(message=_(checks.TOO_LONG)), 413
    except VaultError:
        return jsonify(message="resend", size=vault.growing_size(asset.vault_name)), 409
    return jsonify(take=asset.id, size=size)


@bp.post("/record/finish")
@participant_required
def record_finish():
    asset = story_asset_or_404(request.form.get("take", type=int) or 0)
    if not asset.meta.get("growing"):
        return jsonify(_take_json(asset))
    kept, problem = _finish_take(asset)
    if kept is None:
        return jsonify(message=_(problem)), 422
    return jsonify(_take_json(kept))


def usable_narration(plain: Path, kind: uploads.Kind) -> float:
    """The seconds of a recording fit to be her narration; UploadRefused with the sentence that tells her why not."""
    uploads.probe_recording(plain, kind)
    result = checks.check_narration(plain)
    if result.problem is not None:
        raise uploads.UploadRefused(result.problem)
    return result.seconds


def receive_narration(stream: BinaryIO, **meta) -> int:
    """Keep a whole recording sent as a file as her narration take; returns the asset.

    The one way a recording file comes in, from the laptop's upload and from her phone: what it
    is comes from its first bytes, and it is stored under the suffix of that (never of the name
    it was sent with), so every later step opens it with the right demuxer. Raises UploadRefused
    with a sentence she may read; nothing of a refused file stays in the vault.
    """
    db, story = get_db(), current_story()
    vault = get_vault(story.id)
    kind = uploads.recording_kind(stream.read(uploads.SNIFF_BYTES))
    stream.seek(0)
    try:
        name = vault.put_stream(stream, kind.suffix, max_bytes=MAX_RECORDING_BYTES)
    except TooLarge as exc:
        raise uploads.UploadRefused(checks.TOO_LONG) from exc
    try:
        with vault.plain(name) as plain:
            seconds = usable_narration(plain, kind)
            size = plain.stat().st_size
        asset_id = stories.add_asset(
            db,
            story.id,
            "narration",
            name,
            original_name="",
            media_type=kind.media_type,
            size_bytes=size,
            meta={"part": "whole", "seconds": round(seconds, 2), "uploaded": True, **meta},
        )
    except BaseException:
        vault.delete(name)
        raise
    stories.keep_narration(db, vault, story.id, asset_id)
    return asset_id


@bp.post("/record/upload")
@participant_required
def record_upload():
    """A sound file from the laptop instead of recording in the page."""
    upload = request.files.get("audio")
    if upload is None or not upload.filename:
        flash(_("Choose a sound file first."))
        return redirect(url_for("journey.record"))
    try:  # the name she gave it is never used
        receive_narration(upload.stream)
    except uploads.UploadRefused as exc:
        flash(_(str(exc)))
        return redirect(url_for("journey.record"))
    flash(_("Your recording is saved."))
    return redirect(url_for("journey.record"))


@bp.get("/record/take/<int:asset_id>")
@participant_required
def take_audio(asset_id: int):
    """Her own take, to listen back; nobody else's."""
    asset = story_asset_or_404(asset_id)
    if asset.kind != "narration" or asset.meta.get("growing"):
        abort(404)
    return send_from_vault(get_vault(asset.story_id), asset.vault_name, asset.media_type)


@bp.post("/record/take/<int:asset_id>/delete")
@participant_required
def delete_take(asset_id: int):
    asset = story_asset_or_404(asset_id)
    if asset.kind != "narration":
        abort(404)
    stories.remove_asset(get_db(), get_vault(asset.story_id), asset)
    if is_fetch():
        return jsonify(deleted=True)
    flash(_("The recording is deleted."))
    return redirect(url_for("journey.record"))
