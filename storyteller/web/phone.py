"""Phone pages (LAN mode): a participant's own phone as a private recorder.

Reached only through the laptop's Wi-Fi address (``lan._guard`` refuses them on
127.0.0.1 and refuses everything else from the LAN). A phone joins with the code
on the facilitator's screen, then she signs in with her pseudonym and PIN, as at
the laptop; she sees her own story only: her script, her recordings and her photos.

Recording in the page needs a secure context, which a LAN address over plain HTTP
is not, so sound and photos come from the phone's own recorder and camera through
file inputs. Files go up in pieces into the laptop's vault (its growing-file API);
a piece that did not arrive is sent again, and a page reloaded mid-upload, or a
laptop restarted mid-upload, picks up where the laptop got to (the uploads in
progress are in the database: store/phone_uploads.py). Nothing is stored on the phone.
"""

from __future__ import annotations

import functools
import math
import re

from flask import Blueprint, abort, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from storyteller.jobs import intake, uploads
from storyteller.store import participants as people
from storyteller.store import phone_uploads, plans, stories
from storyteller.store.phone_uploads import PhoneUpload
from storyteller.store.vault import TooLarge, VaultError
from storyteller.web.context import get_db, get_vault, unlocked_key
from storyteller.web.journey.access import (
    choose_workshop_and_sign_in,
    current_participant,
    current_story,
    is_fetch,
    lock_session,
    story_asset_or_404,
)
from storyteller.web.journey.media import add_picture
from storyteller.web.journey.words import MAX_RECORDING_BYTES, WORDS_PER_MINUTE, receive_narration, writing_prompts
from storyteller.web.lan import SESSION_LAN, lan_mode, phone_joined
from storyteller.web.vault_media import send_from_vault

bp = Blueprint("phone", __name__, url_prefix="/phone")

CHUNK_BYTES = 1 << 20  # a piece small enough to resend cheaply on a weak Wi-Fi
LIMITS = {"narration": MAX_RECORDING_BYTES, "photo": intake.MAX_UPLOAD_BYTES}
OPEN_WITHOUT_JOINING = ("phone.join", "phone.quick_exit")


@bp.before_request
def _joined_phones_only():
    if request.endpoint in OPEN_WITHOUT_JOINING or phone_joined():
        return None
    if is_fetch():
        abort(401)
    return redirect(url_for("phone.join"))


def _her_story_only(view):
    """Pages for a signed-in participant; the sign-in page otherwise (401 for scripts)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        participant = current_participant()
        if participant is None:
            if is_fetch():
                abort(401)
            return redirect(url_for("phone.signin"))
        people.mark_seen(get_db(), participant.id)
        return view(*args, **kwargs)

    return wrapped


def _keep_only(*keys: str) -> None:
    kept = {key: session[key] for key in keys if key in session}
    session.clear()
    session.update(kept)


# ----------------------------------------------------------------- joining and signing in
@bp.route("/", methods=["GET", "POST"])
def join():
    if phone_joined() and request.method == "GET":
        return redirect(url_for("phone.signin"))
    error = None
    if request.method == "POST":
        joined, wait = lan_mode().try_code(request.remote_addr or "", request.form.get("code", ""))
        if joined:
            _keep_only("lang", "csrf_token")
            session[SESSION_LAN] = lan_mode().generation
            return redirect(url_for("phone.signin"))
        if wait > 0:
            error = _("Too many wrong codes. Wait %(seconds)d seconds, then try again, or ask your facilitator.", seconds=math.ceil(wait))
        else:
            error = _("That code is not right. Type the code that the facilitator's screen shows.")
    return render_template("phone/join.html", error=error), 400 if error else 200


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """As at the laptop; her phone stays joined to the laptop once she is signed in."""
    return choose_workshop_and_sign_in("phone/signin.html", lambda: "phone.story", only_workshop_is_chosen=True, keep=(SESSION_LAN,))


@bp.route("/lock", methods=["GET", "POST"])
def lock():
    lock_session()
    return redirect(url_for("phone.signin"))


@bp.route("/exit")
def quick_exit():
    """The quick exit: her story leaves the screen and this phone must join again (the language stays)."""
    lock_session()
    _keep_only("lang")
    return render_template("home/neutral.html")


@bp.post("/seen")
@_her_story_only
def seen():
    return "", 204


# ----------------------------------------------------------------- her story
def _pictures(story: stories.Story) -> list[stories.Asset]:
    in_plan = plans.plan_or_new(story.plan).pictures
    by_id = {a.id: a for a in stories.story_assets(get_db(), story.id) if a.kind in ("photo", "drawing")}
    return [by_id[p.asset_id] for p in in_plan if p.asset_id in by_id]


@bp.get("/story")
@_her_story_only
def story():
    story = current_story()
    return render_template(
        "phone/story.html",
        story=story,
        words=len(story.script.split()),
        takes=stories.narration_takes(get_db(), story.id),
        pictures=_pictures(story),
    )


@bp.get("/write")
@_her_story_only
def write():
    """The laptop's story editor (autosave, word count, another tab's text kept), on the phone."""
    return render_template("phone/write.html", story=current_story(), prompts=writing_prompts(), words_per_minute=WORDS_PER_MINUTE)


@bp.post("/write/save")
@_her_story_only
def save_script():
    """Autosave, answered as the laptop's editor expects (web/journey/words.save_story)."""
    base = request.form.get("revision", type=int)
    script = request.form.get("script")
    if script is None or base is None:
        abort(400)
    try:
        saved = stories.save_script(
            get_db(), current_story().id, script.replace("\r\n", "\n"), base, request.form.get("title"), workshop_key=unlocked_key()
        )
    except stories.StoryError as exc:
        return jsonify(saved=False, message=_(str(exc))), 413
    return jsonify(saved=True, revision=saved.revision, other_tab_text=saved.replaced_other_tab)


@bp.get("/record")
@_her_story_only
def record():
    story = current_story()
    takes = stories.narration_takes(get_db(), story.id)
    return render_template("phone/record.html", story=story, takes=takes, max_bytes=LIMITS["narration"], chunk_bytes=CHUNK_BYTES)


@bp.get("/photos")
@_her_story_only
def photos():
    story = current_story()
    return render_template("phone/photos.html", story=story, pictures=_pictures(story), max_bytes=LIMITS["photo"], chunk_bytes=CHUNK_BYTES)


@bp.get("/media/<int:asset_id>")
@_her_story_only
def media(asset_id: int):
    """Her own recording or photo (the photo's pixels only, as the laptop keeps them)."""
    asset = story_asset_or_404(asset_id)
    if asset.kind not in ("narration", "photo", "drawing") or asset.meta.get("growing"):
        abort(404)
    vault = get_vault(asset.story_id)
    if not vault.exists(asset.vault_name):
        abort(404)
    return send_from_vault(vault, asset.vault_name, asset.media_type or "application/octet-stream")


# ----------------------------------------------------------------- uploads in pieces
def _her_upload_or_404(token: str) -> PhoneUpload:
    upload = phone_uploads.find(get_db(), token)
    if upload is None or upload.story_id != current_story().id:
        abort(404)
    return upload


def _too_large(kind: str) -> str:
    if kind == "photo":
        return _("This photo is too large: a photo can be at most %(mb)d MB.", mb=LIMITS["photo"] >> 20)
    return _("This recording is too large: a recording can be at most %(mb)d MB (about 20 minutes).", mb=LIMITS["narration"] >> 20)


@bp.post("/upload")
@_her_story_only
def upload_start():
    """A new upload: the phone says what and how big first, so a file that is too large is refused before it is sent."""
    story = current_story()
    kind = request.form.get("kind", "")
    size = request.form.get("size", type=int)
    if kind not in LIMITS or size is None or size < 0:
        abort(400)
    if size == 0:
        return jsonify(message=_("This file is empty. Choose another one.")), 400
    if size > LIMITS[kind]:
        return jsonify(message=_too_large(kind)), 413
    if kind == "photo" and len(plans.plan_or_new(story.plan).pictures) >= plans.MAX_PICTURES:
        return jsonify(message=_(plans.TOO_MANY_PICTURES)), 400
    found = re.search(r"\.[A-Za-z0-9]{1,5}$", request.form.get("name", ""))
    suffix = found.group(0).lower() if found else ".bin"
    upload = PhoneUpload(story.id, kind, get_vault(story.id).start_growing(suffix), size, (request.form.get("type") or "")[:100])
    return jsonify(upload=phone_uploads.start(get_db(), upload), size=0)


@bp.get("/upload/<token>")
@_her_story_only
def upload_status(token: str):
    """How much of this upload the laptop has: a reloaded page goes on from here."""
    upload = _her_upload_or_404(token)
    try:
        return jsonify(size=get_vault(upload.story_id).growing_size(upload.vault_name), total=upload.size)
    except VaultError:
        abort(404)


@bp.post("/upload/<token>/piece")
@_her_story_only
def upload_piece(token: str):
    upload = _her_upload_or_404(token)
    piece, offset = request.files.get("piece"), request.form.get("offset", type=int)
    if piece is None or offset is None or offset < 0:
        abort(400)
    vault = get_vault(upload.story_id)
    try:
        size = vault.append_growing(upload.vault_name, piece.read(CHUNK_BYTES + 1), offset, max_bytes=upload.size)
    except TooLarge:
        return jsonify(message=_too_large(upload.kind)), 413
    except VaultError:
        try:
            return jsonify(size=vault.growing_size(upload.vault_name)), 409  # a piece went missing: resend from here
        except VaultError:
            abort(404)
    return jsonify(size=size)


@bp.post("/upload/<token>/finish")
@_her_story_only
def upload_finish(token: str):
    upload = _her_upload_or_404(token)
    vault = get_vault(upload.story_id)
    try:
        arrived = vault.growing_size(upload.vault_name)
        if arrived != upload.size:
            return jsonify(message=_("Part of the file has not arrived yet. It is being sent again."), size=arrived), 409
        vault.finish_growing(upload.vault_name)
    except VaultError:
        abort(404)
    phone_uploads.end(get_db(), token)
    if upload.kind == "narration":
        return _keep_narration(upload)
    return _keep_photo(upload)


def _keep_narration(upload: PhoneUpload):
    """Kept as a recording from the laptop is (the same intake and checks); the file as it came is destroyed."""
    vault = get_vault(upload.story_id)
    try:
        with vault.open(upload.vault_name) as raw:
            asset_id = receive_narration(raw, phone=True)
    except uploads.UploadRefused as exc:
        return jsonify(message=_(str(exc))), 422
    finally:
        vault.delete(upload.vault_name)
    return jsonify(message=_("Your recording is saved on the laptop."), asset=asset_id, url=url_for("phone.media", asset_id=asset_id))


def _keep_photo(upload: PhoneUpload):
    """Kept as a picture from the laptop is (only its pixels); the file as it came is destroyed."""
    vault = get_vault(upload.story_id)
    try:
        with vault.open(upload.vault_name) as raw:
            asset_id, _job = add_picture(raw, "photo", phone=True)
    except intake.PictureRefused as exc:
        return jsonify(message=_(str(exc))), 422
    except plans.PlanError as exc:  # her storyboard filled up while this photo was on its way
        return jsonify(message=_(str(exc))), 400
    finally:
        vault.delete(upload.vault_name)
    return jsonify(
        message=_("Your photo is saved on the laptop. Faces in it are being covered."),
        asset=asset_id,
        url=url_for("phone.media", asset_id=asset_id),
    )
