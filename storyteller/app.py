"""The Flask application factory.

Storyteller runs on the participant's own laptop and is reached only at
127.0.0.1. The factory wires the data folder (Flask's instance folder), the
database, the job queue, CSRF protection and strict security headers, then
registers the blueprints in ``storyteller.web``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, render_template, request, session
from flask_babel import Babel
from flask_babel import lazy_gettext as _l
from flask_wtf import CSRFProtect
from werkzeug.exceptions import SecurityError

from storyteller import config
from storyteller.fsutil import atomic_write_text
from storyteller.jobs.queue import make_huey
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import vault_for
from storyteller.web.context import HUEY_EXTENSION, close_db

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
    # A story must not reappear from the browser cache after a quick exit.
    "Cache-Control": "no-store",
}


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

    open_database(db_path(data_dir)).close()  # create or migrate once at start
    vault_for(data_dir).sweep_partials()
    app.extensions[HUEY_EXTENSION] = make_huey(data_dir, immediate=app.config["JOBS_IMMEDIATE"])

    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories=str(Path(__file__).parent / "translations"))

    @app.context_processor
    def _language():
        lang = select_locale()
        return {"lang": lang, "dir": "rtl" if lang in RTL_LANGUAGES else "ltr"}

    app.teardown_appcontext(close_db)

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    _register_error_pages(app)

    from storyteller.web import home, jobs, journey

    app.register_blueprint(home.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(journey.bp)
    return app
