"""The Flask application factory.

Storyteller runs on the participant's own laptop and is reached only at
127.0.0.1. The factory wires the data folder (Flask's instance folder), the
database, the job queue, CSRF protection and strict security headers, then
registers the blueprints in ``storyteller.web``.
"""

from __future__ import annotations

import errno
import secrets
import sqlite3
import tempfile
from pathlib import Path

from flask import Flask, Request, abort, current_app, render_template, request, session
from flask_babel import Babel, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import CSRFProtect
from werkzeug.exceptions import SecurityError

from storyteller import config
from storyteller.errors import UserError, disk_fault, plain_message
from storyteller.fsutil import atomic_write_text
from storyteller.jobs.queue import make_huey
from storyteller.jobs.runner import sweep_workdirs
from storyteller.jobs.uploads import BODY_LIMITS, DEFAULT_BODY_LIMIT
from storyteller.store import phone_uploads
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import WorkshopLocked, spill_folder, vault_for
from storyteller.web.context import HUEY_EXTENSION, WORKSHOP_KEY_EXTENSION, close_db

csrf = CSRFProtect()
babel = Babel()

UI_LANGUAGES = ("en", "ur")
RTL_LANGUAGES = ("ur", "ps", "sd", "fa", "pa", "ar")


def select_locale() -> str:
    """The interface language: ?lang= (remembered in the session), else the browser's."""
    asked = request.args.get("lang")
    if asked in UI_LANGUAGES:
        session["lang"] = asked
    return session.get("lang") or request.accept_languages.best_match(UI_LANGUAGES) or "en"


# OnionShare's policy, plus media from our own origin and blob: for recordings.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Microphone for her narration, camera for a photo she takes herself; never her location.
    "Permissions-Policy": "microphone=(self), camera=(self), geolocation=(), interest-cohort=()",
}
# No answer is kept in the browser's cache (a story must not reappear after a lock or a quick
# exit): only the app's own scripts, styles and fonts, which say nothing about anyone.
CACHEABLE_ENDPOINTS = frozenset({"static", "home.font"})
# A lock or a quick exit also empties what the browser holds for this site: its cache, any
# storage and the cookie. The next page starts a fresh session.
CLEARS_SITE_DATA = frozenset({"journey.lock", "home.quick_exit"})
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


def _secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        atomic_write_text(path, secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


# What each error says to her, in her language (looked up when the page is drawn).
ERROR_WORDS = {
    400: (
        _l("Something in this request was not right"),
        _l("The page may have been open for a long time. Go back, reload the page and try again. Nothing you saved is lost."),
    ),
    401: (_l("Please sign in again"), _l("Your story is locked and safe. Sign in again to go on.")),
    403: (_l("This is not open to you"), _l("Go back to your own story.")),
    404: (_l("This page is not here"), _l("The address may be mistyped, or the page does not exist.")),
    405: (_l("This page is not here"), _l("The address may be mistyped, or the page does not exist.")),
    413: (_l("This file is too large"), _l("Choose a smaller file. Nothing you saved is lost.")),
    500: (
        _l("Something went wrong inside Storyteller"),
        _l("Nothing you saved is lost. Go back and try again; if it happens again, tell your facilitator."),
    ),
}


LOCKED_WORDS = (
    _l("The workshop is locked"),
    _l("Ask your facilitator to unlock the workshop. Nothing you saved is lost."),
)


def _register_error_pages(app: Flask) -> None:
    """Error pages in her language, with the Exit button, instead of the framework's English ones."""

    def error_page(exc):
        code = getattr(exc, "code", None) or 500
        if code not in ERROR_WORDS or isinstance(exc, SecurityError):
            return exc  # an untrusted Host (DNS rebinding) gets no page of ours at all
        title, explanation = ERROR_WORDS[code]
        if request.headers.get("X-Requested-With") == "fetch":
            return {"message": str(explanation)}, code
        return render_template("errors/error.html", code=code, title=title, explanation=explanation), code

    for code in ERROR_WORDS:
        app.register_error_handler(code, error_page)

    def disk_trouble(exc: OSError | sqlite3.OperationalError):
        """A full or failing disk: say so in her words (never the errno), and that nothing saved is lost.

        The same page whether the OS met the disk (an OSError) or SQLite did (SQLITE_FULL,
        SQLITE_IOERR): a full disk often shows first as the database failing to grow.
        """
        fault = disk_fault(exc)
        if fault is None:
            raise exc  # a database error that is not the disk's (a bug): the 500 page, logged as one
        app.logger.warning("a request failed on the disk: %r", exc)
        code = 507 if fault in (errno.ENOSPC, errno.EDQUOT) else 500
        explanation = gettext(plain_message(exc))
        if request.headers.get("X-Requested-With") == "fetch":
            return {"message": explanation}, code
        return render_template("errors/error.html", code=code, title=_l("This could not be saved"), explanation=explanation), code

    app.register_error_handler(OSError, disk_trouble)
    app.register_error_handler(sqlite3.OperationalError, disk_trouble)

    def locked_page(_exc):
        """Her media cannot be opened until the facilitator unlocks the workshop (after a restart)."""
        title, explanation = LOCKED_WORDS
        if request.headers.get("X-Requested-With") == "fetch":
            return {"message": str(explanation)}, 503
        return render_template("errors/error.html", code=503, title=title, explanation=explanation), 503

    app.register_error_handler(WorkshopLocked, locked_page)

    def plain_refusal(exc: UserError):
        """A refusal a view did not catch (a storyboard that filled up meanwhile): its own sentence, not a 500."""
        title, _explanation = ERROR_WORDS[400]
        explanation = gettext(plain_message(exc))
        if request.headers.get("X-Requested-With") == "fetch":
            return {"message": explanation}, 400
        return render_template("errors/error.html", code=400, title=title, explanation=explanation), 400

    app.register_error_handler(UserError, plain_refusal)  # WorkshopLocked, more precise, keeps its own page


class _Request(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        """An upload (her recording, her photo) larger than 500 kB spills into RAM or the data folder, not /tmp."""
        folder = spill_folder(current_app.config["DATA_DIR"], total_content_length or 0)
        return tempfile.SpooledTemporaryFile(max_size=500 * 1024, dir=folder)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app; ``test_config`` may set DATA_DIR, JOBS_IMMEDIATE and Flask keys."""
    test_config = test_config or {}
    data_dir = Path(test_config.get("DATA_DIR") or config.default_data_dir()).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=str(data_dir),
        template_folder=str(config.PROJECT_ROOT / "templates"),
        static_folder=str(config.PROJECT_ROOT / "media" / "static"),
    )
    app.config.from_mapping(
        SECRET_KEY=_secret_key(data_dir),
        DATA_DIR=str(data_dir),
        TRUSTED_HOSTS=["127.0.0.1", "localhost", "::1"],
        MAX_CONTENT_LENGTH=1024 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=None,
        JOBS_IMMEDIATE=False,
    )
    app.config.update(test_config)
    app.request_class = _Request

    conn = open_database(db_path(data_dir))  # create or migrate once at start
    try:
        sweep_workdirs(conn, data_dir)  # plain copies left by a process that was killed
        phone_uploads.sweep_abandoned(conn, vault_for(data_dir))  # sealed pieces of phones that never came back
    finally:
        conn.close()
    vault_for(data_dir).sweep_partials()
    # Tasks run in this process only when JOBS_IMMEDIATE (tests): then with the app's own key.
    app.extensions[HUEY_EXTENSION] = make_huey(
        data_dir, immediate=app.config["JOBS_IMMEDIATE"], workshop_key=lambda: app.extensions.get(WORKSHOP_KEY_EXTENSION)
    )

    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(Path(__file__).parent / "translations"))

    @app.context_processor
    def _language():
        lang = select_locale()
        return {"lang": lang, "dir": "rtl" if lang in RTL_LANGUAGES else "ltr"}

    app.teardown_appcontext(close_db)

    @app.before_request
    def _body_limit():
        limit = BODY_LIMITS.get(request.endpoint, DEFAULT_BODY_LIMIT)
        request.max_content_length = limit  # a body read past it fails (413)
        if (request.content_length or 0) > limit:
            abort(413)  # and one that says it is larger is refused even where the view would not read it

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            # send_file says "no-cache" with an ETag (keep, but ask again): not enough for her video.
            response.headers["Cache-Control"] = "no-store"
            for name in ("ETag", "Last-Modified", "Expires"):
                response.headers.pop(name, None)
        if request.endpoint in CLEARS_SITE_DATA:
            response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
        return response

    _register_error_pages(app)

    from storyteller.web import desk, guide, home, jobs, journey, lan, phone

    lan.init_app(app)  # first: its guard decides what the LAN address may reach
    app.register_blueprint(home.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(journey.bp)
    app.register_blueprint(phone.bp)
    app.register_blueprint(guide.bp)
    return app
