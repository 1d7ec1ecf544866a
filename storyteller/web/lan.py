"""LAN mode: phones on the workshop's Wi-Fi join the laptop as recorders.

Off by default. `storyteller serve --lan` binds the laptop's Wi-Fi address beside
127.0.0.1 and calls ``configure``. The join code (new each time the server starts
and each time phone joining starts) and the wrong codes tried live in this process's
memory. Every phone's session carries a generation number: turning phone joining off
(or on again) moves it on, so every phone session ends at once, whatever its cookie
says. The generation is kept in the data folder (``lan_generation``), so a phone sent
away stays away after the laptop restarts (its cookie is signed with the same key),
while a phone that was joined goes on with its upload; the first one is random, so
no cookie made before the file existed names it.

A request counts as coming from the LAN when it arrived on the LAN socket (the
server marks it, see ``mark_lan``) or names a host that is not the laptop's own.
From the LAN only the phone pages and static files answer; the desk, the
facilitator's pages and the laptop's journey are refused.
"""

from __future__ import annotations

import hmac
import io
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from storyteller.fsutil import atomic_write_text
from storyteller.store import phone_uploads
from storyteller.store.vault import vault_for
from storyteller.web.context import get_db
from storyteller.web.desk.access import desk_required

LAN_EXTENSION = "storyteller.lan"
VIA_LAN = "storyteller.via_lan"  # set in the WSGI environ of every request that came in on the LAN socket
SESSION_LAN = "lan"  # the generation a phone joined in
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Besides the phone pages, only what draws them: the static files and the bundled Urdu fonts.
OPEN_TO_THE_LAN = ("static", "home.font")

# Wrong join codes: after FREE_CODE_TRIES of them from one phone, each further try waits twice
# as long as the last, up to MAX_CODE_WAIT_SECONDS; a new code (joining started again) forgives.
# So one phone gets about 170 guesses a day at a code of a million values.
FREE_CODE_TRIES = 20
MAX_CODE_WAIT_SECONDS = 600.0
CODE_DIGITS = 6


def new_join_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def shown_code(code: str) -> str:
    """The code as people read it aloud: two groups of three digits."""
    return f"{code[:3]} {code[3:]}"


@dataclass
class CodeTries:
    wrong: int = 0
    retry_after: float = 0.0


@dataclass
class LanMode:
    """Phone joining, as this process knows it. Changed only under ``lock``."""

    address: str | None = None  # the Wi-Fi address the server listens on; None without --lan
    port: int = 0
    accepting: bool = False
    join_code: str = ""
    generation: int = 0
    generation_file: Path | None = None  # where the generation outlives the process (see the module's docstring)
    tries: dict[str, CodeTries] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def join_url(self) -> str:
        host = f"[{self.address}]" if ":" in (self.address or "") else self.address  # an IPv6 address
        return f"http://{host}:{self.port}/phone/"

    def open(self) -> None:
        """Let phones join with a new code; the phones joined before (a restart) stay joined."""
        with self.lock:
            if self.generation_file is not None and self.generation_file.is_file():
                self.generation = int(self.generation_file.read_text(encoding="utf-8"))
            else:
                self._keep_generation(secrets.randbits(64))
            self.accepting = True
            self.join_code = new_join_code()
            self.tries.clear()

    def start(self) -> None:
        """Let phones join again with a new code; every phone joins anew."""
        with self.lock:
            self.accepting = True
            self.join_code = new_join_code()
            self._keep_generation(self.generation + 1)
            self.tries.clear()

    def stop(self) -> None:
        """Close the door (the uploads still arriving are dropped by the view, from the database)."""
        with self.lock:
            self.accepting = False
            self.join_code = ""
            self._keep_generation(self.generation + 1)
            self.tries.clear()

    def _keep_generation(self, generation: int) -> None:
        self.generation = generation
        if self.generation_file is not None:
            atomic_write_text(self.generation_file, str(generation))

    def try_code(self, who: str, code: str, now: float | None = None) -> tuple[bool, float]:
        """(joined, seconds to wait). While ``who`` must wait, the code is not even looked at."""
        now = time.monotonic() if now is None else now
        typed = "".join(code.split())
        with self.lock:
            tries = self.tries.setdefault(who, CodeTries())
            if tries.retry_after > now:
                return False, tries.retry_after - now
            if self.accepting and self.join_code and hmac.compare_digest(typed.encode(), self.join_code.encode()):
                tries.wrong = 0
                return True, 0.0
            tries.wrong += 1
            wait = 0.0 if tries.wrong < FREE_CODE_TRIES else min(MAX_CODE_WAIT_SECONDS, 2.0 ** (tries.wrong - FREE_CODE_TRIES + 1))
            tries.retry_after = now + wait
            return False, wait


def lan_mode(app: Flask | None = None) -> LanMode:
    return (app or current_app).extensions[LAN_EXTENSION]


def configure(app: Flask, address: str, port: int) -> LanMode:
    """Let phones reach the app at ``address``: trust that host and open phone joining with a new code."""
    mode = lan_mode(app)
    mode.address, mode.port = address, port
    if address not in app.config["TRUSTED_HOSTS"]:
        app.config["TRUSTED_HOSTS"] = [*app.config["TRUSTED_HOSTS"], address]
    mode.open()
    return mode


def mark_lan(wsgi_app):
    """The app as the LAN socket serves it: each request is marked as one from the LAN."""

    def marked(environ, start_response):
        environ[VIA_LAN] = True
        return wsgi_app(environ, start_response)

    return marked


def from_lan() -> bool:
    return bool(request.environ.get(VIA_LAN)) or urlsplit("//" + request.host).hostname not in LOOPBACK_HOSTS


def phone_joined() -> bool:
    """This phone joined with the code since phone joining last started."""
    mode = lan_mode()
    return mode.accepting and session.get(SESSION_LAN) == mode.generation


def _guard():
    """From the LAN only the phone pages (and static files); the phone pages only from the LAN."""
    if not from_lan():
        if request.blueprint == "phone":
            abort(404)
        return None
    if request.endpoint in OPEN_TO_THE_LAN:
        return None
    if request.blueprint != "phone":
        return render_template("phone/refused.html"), 403
    if not lan_mode().accepting:
        return render_template("phone/closed.html"), 403
    return None


def init_app(app: Flask) -> None:
    app.extensions[LAN_EXTENSION] = LanMode(generation_file=Path(app.config["DATA_DIR"]) / "lan_generation")
    app.before_request(_guard)
    app.register_blueprint(bp)


# ----------------------------------------------------------------- the desk's LAN page
bp = Blueprint("lan", __name__, url_prefix="/desk/lan")


@bp.get("/")
@desk_required
def status():
    mode = lan_mode()
    return render_template(
        "desk/lan.html",
        mode=mode,
        code=shown_code(mode.join_code) if mode.accepting else "",
    )


@bp.get("/qr.svg")
@desk_required
def qr_code():
    """The join address as a QR code, drawn here (segno is pure Python; nothing leaves the laptop)."""
    import segno

    mode = lan_mode()
    if not (mode.address and mode.accepting):
        return "", 404
    out = io.BytesIO()
    segno.make(mode.join_url, error="m").save(out, kind="svg", scale=10, border=2, title=mode.join_url)
    return out.getvalue(), 200, {"Content-Type": "image/svg+xml"}


@bp.post("/stop")
@desk_required
def stop():
    """Close the door: every phone's session ends now; media already sent stays on the laptop."""
    vault = vault_for(current_app.config["DATA_DIR"])  # throwing away half-sent files needs no key
    lan_mode().stop()
    for upload in phone_uploads.end_all(get_db()):  # the phones keep their files
        vault.discard_growing(upload.vault_name)
    flash(_("Phones are disconnected. Everything they finished sending is kept on this laptop."))
    return redirect(url_for("lan.status"))


@bp.post("/start")
@desk_required
def start():
    mode = lan_mode()
    if not mode.address:
        flash(_("Phones can join only when Storyteller was started with: storyteller serve --lan"))
    else:
        mode.start()
        flash(_("Phones can join again, with a new code."))
    return redirect(url_for("lan.status"))
