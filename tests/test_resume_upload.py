"""`storyteller serve` killed (SIGKILL) while her recording is arriving, and started again.

Real processes throughout: the `storyteller serve` command on a free loopback port (its
worker too), Debian's Chromium driven by Playwright, a fake microphone playing the
project's sample narration. The server is killed once it has sealed a known number of
pieces (read from the vault file itself, never a guessed sleep), then started again on
the same port and data folder. The same tab goes on by itself; afterwards the kept take
decodes whole, holds the very pieces sealed before the kill, and no file anywhere holds
her sound in plain form.

- The laptop: MediaRecorder pieces every 2.5 s into a growing vault recording.
- The phone (LAN mode, in Urdu): a file sent in 1 MB pieces. A route handler holds the
  piece after the Nth, so the kill lands mid-upload every time.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from storyteller.config import PROJECT_ROOT
from storyteller.pipeline.media.ffmpeg import run_ffmpeg
from storyteller.store import crypto, passphrase, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.participants import add_participant
from storyteller.store.vault import plaintext_folders, vault_for
from storyteller.store.workshops import create_workshop
from storyteller.web.phone import CHUNK_BYTES
from tests.conftest import free_port
from tests.journey_helpers import spawn_cli
from tests.test_kill import alive, descendants
from tests.test_vault import _places_holding

PASSPHRASE = "a long facilitator passphrase"
PIN = "4821"
NARRATION = PROJECT_ROOT / "media" / "sample" / "narration.ogg"
SCRIPT = "My name is Sitara.\n\nI am telling my story in my own words."
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "resume"
PIECES_BEFORE_THE_KILL = 3


# ----------------------------------------------------------------- her workshop and the server
def her_story(data_dir: Path, language: str) -> tuple[bytes, int]:
    """A workshop with Sitara in it, her script written and her consent given; (workshop key, story id)."""
    conn = open_database(db_path(data_dir))
    try:
        workshop_key = passphrase.set_first(conn, PASSPHRASE)
        participant = add_participant(conn, create_workshop(conn, "Quetta circle", language), "Sitara", PIN)
        story = stories.story_of(conn, participant, language, workshop_key)
        stories.save_script(conn, story.id, SCRIPT, story.revision, workshop_key=workshop_key)
        stories.record_consent(conn, story.id, "workshop", "test", language, workshop_key=workshop_key)
        return workshop_key, story.id
    finally:
        conn.close()


class Serve:
    """`storyteller serve --unlock` (the passphrase on its stdin), killed and started again on one port."""

    def __init__(self, data_dir: Path, log: Path, lan: bool = False):
        self.data_dir, self.log, self.lan = data_dir, log, lan
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.started: set[int] = set()

    def start(self) -> str:
        """Start and wait until it answers; returns what it printed (the join code, with --lan)."""
        lan = ["--lan", "--lan-address", "127.0.0.2"] if self.lan else []
        with open(self.log, "w") as out:
            self.proc = spawn_cli(
                ["serve", "--port", str(self.port), "--unlock", *lan], self.data_dir, feed=PASSPHRASE.encode() + b"\n", stdout=out
            )
        host = "127.0.0.2" if self.lan else "127.0.0.1"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(
                    f"http://{host}:{self.port}/phone/" if self.lan else f"http://{host}:{self.port}/", timeout=2
                ).close()
                break
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "serve did not answer: " + self.log.read_text()
                time.sleep(0.2)
        # Its worker too, so that a kill takes everything it started.
        deadline = time.monotonic() + 30
        while not descendants(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.started = descendants(self.proc.pid)
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs (the worker goes too, as with a power cut)."""
        for pid in [self.proc.pid, *self.started]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# ----------------------------------------------------------------- what the vault holds
def sealed_prefix(part_file: Path) -> tuple[int, bytes]:
    """(whole records, their bytes) of a growing vault file: what the server had sealed."""
    with open(part_file, "rb") as f:
        _header, records, end = crypto.scan(f)
        f.seek(0)
        return len(records), f.read(end)


def growing_records(part_file: Path) -> int:
    try:
        return sealed_prefix(part_file)[0]
    except (OSError, ValueError, crypto.VaultError):
        return 0


def decoded_seconds(plain: bytes) -> float:
    """Decode the whole take with PyAV from memory (no plain copy on disk): its length in seconds."""
    import av

    with av.open(io.BytesIO(plain)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.sample_rate


def marker_in(plain: bytes, before: int) -> bytes:
    """64 varied bytes of her sound from the first ``before`` bytes (silence would be found everywhere)."""
    for start in range(before // 2, before - 64, 16):
        window = plain[start : start + 64]
        if len(set(window)) >= 20:
            return window
    raise AssertionError("no varied bytes to look for")


def assert_no_plain_copy(plain: bytes, before: int, data_dir: Path, since: float) -> None:
    marker = marker_in(plain, before)
    assert not _places_holding(marker, data_dir, since), "her sound lies on disk in plain form"
    assert not list(plaintext_folders(data_dir))


def wait_until(page, predicate, timeout: float, what: str):
    """Poll from Python while letting Playwright dispatch its events (a held route needs that)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        page.wait_for_timeout(200)


def shot(page, name: str) -> None:
    """A full-page screenshot from the top (a scrolled page draws its sticky header mid-page)."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def launch(playwright, fake_mic: Path | None = None):
    from tests.journey_helpers import CHROMIUM_ARGS, FAKE_MEDIA_ARGS, chromium_or_skip

    args = [*CHROMIUM_ARGS]
    if fake_mic is not None:
        args += [*FAKE_MEDIA_ARGS, f"--use-file-for-fake-audio-capture={fake_mic}%noloop"]
    return playwright.chromium.launch(executable_path=chromium_or_skip(), args=args, headless=True)


# ----------------------------------------------------------------- the laptop
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ur"])
def test_resume_laptop_recording_after_the_server_is_killed(data_dir, tmp_path, lang):
    from playwright.sync_api import sync_playwright

    since = time.time() - 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workshop_key, story_id = her_story(data_dir, lang)
    fake_mic = tmp_path / "mic.wav"  # the sample narration twice, 30 s: long enough to span a kill and a restart
    run_ffmpeg(["-stream_loop", "1", "-i", str(NARRATION), "-t", "30", "-ar", "48000", "-ac", "1", "-c:a", "pcm_s16le", str(fake_mic)])
    mic_seconds = 30.0
    conn = open_database(db_path(data_dir))
    serve = Serve(data_dir, tmp_path / "serve.log")
    try:
        serve.start()
        base = f"http://127.0.0.1:{serve.port}"
        with sync_playwright() as p:
            browser = launch(p, fake_mic)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(base + f"/story/signin?lang={lang}")
            if page.locator("#workshop-list").count():
                page.click("#workshop-list a")
            page.check("label.choice:has-text('Sitara') input[name=participant]")
            page.fill("#pin", PIN)
            page.click("#signin")
            page.goto(base + "/story/record")
            words = page.locator("#recorder")
            paused, recording = words.get_attribute("data-words-offline"), words.get_attribute("data-words-recording")

            page.click("#record-whole")
            started = time.monotonic()
            take = wait_until(
                page, lambda: next(iter(stories.story_assets(conn, story_id, "narration", growing=True)), None), 30, "the take to start"
            )
            part_file = data_dir / "vault" / "recording" / f"{take.vault_name}.part"
            wait_until(page, lambda: growing_records(part_file) >= PIECES_BEFORE_THE_KILL, 30, "pieces on the laptop")
            serve.kill()
            pieces_at_kill, sealed_at_kill = sealed_prefix(part_file)
            assert pieces_at_kill >= PIECES_BEFORE_THE_KILL

            # While the server is away the page says that saving is paused, and the recording goes on.
            wait_until(page, lambda: page.inner_text("#record-status") == paused, 15, "the page to say saving is paused")
            shot(page, f"laptop-1-paused-{lang}.png")
            assert page.locator("#stop").is_visible() and page.locator("#record-error").is_hidden()

            serve.start()
            wait_until(page, lambda: growing_records(part_file) > pieces_at_kill + 1, 30, "pieces after the restart")
            wait_until(page, lambda: page.inner_text("#record-status") == recording, 10, "the page to say it records again")
            shot(page, f"laptop-2-back-{lang}.png")
            while time.monotonic() - started < mic_seconds + 1.0:  # let the whole WAV play into the take
                page.wait_for_timeout(250)
            page.click("#stop")
            saved = words.get_attribute("data-words-saved")
            wait_until(
                page, lambda: page.inner_text("#record-status") == saved or not page.locator("#record-error").is_hidden(), 60, "the save"
            )
            assert page.inner_text("#record-status") == saved, page.inner_text("#record-error")
            shot(page, f"laptop-3-saved-{lang}.png")
            browser.close()
        serve.stop()

        kept = stories.narration_takes(conn, story_id)["whole"]
        assert kept.id == take.id and not kept.meta.get("growing")  # the same take, not a new one
        sealed = (data_dir / "vault" / kept.vault_name).read_bytes()
        assert sealed.startswith(sealed_at_kill), "the pieces sealed before the kill are not the take's first"
        vault = vault_for(data_dir).with_key(stories.media_key(conn, story_id, workshop_key))
        with vault.open(kept.vault_name) as f:
            plain = f.read()
        seconds = decoded_seconds(plain)
        assert mic_seconds - 0.5 <= seconds <= mic_seconds + 4.0, seconds
        before_kill = sum(record.plain_size for record in crypto.scan(io.BytesIO(sealed_at_kill))[1])
        assert_no_plain_copy(plain, before_kill, data_dir, since)
    finally:
        serve.stop()
        conn.close()


# ----------------------------------------------------------------- the phone
@pytest.mark.slow
@pytest.mark.browser
def test_resume_phone_upload_after_the_server_is_killed(data_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    since = time.time() - 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workshop_key, story_id = her_story(data_dir, "ur")
    recording = tmp_path / "Recording 9.wav"  # as a phone's recorder saves it: 48 kHz stereo, 40 s, 7.8 MB
    run_ffmpeg(["-stream_loop", "1", "-i", str(NARRATION), "-t", "40", "-ar", "48000", "-ac", "2", "-c:a", "pcm_s16le", str(recording)])
    pieces_in_all = -(-recording.stat().st_size // CHUNK_BYTES)
    assert pieces_in_all >= PIECES_BEFORE_THE_KILL + 3
    conn = open_database(db_path(data_dir))
    serve = Serve(data_dir, tmp_path / "serve.log", lan=True)
    try:
        code = re.search(r"join code (\d{3} \d{3})", serve.start()).group(1)
        base = f"http://127.0.0.2:{serve.port}"
        with sync_playwright() as p:
            browser = launch(p)
            context = browser.new_context(**p.devices["Pixel 7"])
            page = context.new_page()
            page.goto(base + "/phone/?lang=ur")
            page.fill("#code", code)
            page.click("#join")
            page.check("text=Sitara")
            page.fill("#pin", PIN)
            page.click("#signin")
            assert page.url.endswith("/phone/story")
            page.goto(base + "/phone/record")
            box = page.locator(".phone-upload")
            paused = box.get_attribute("data-words-offline")

            # Pieces after the Nth are held in the browser until the server is dead.
            sent, held, holding = [], [], [True]

            def hold_after_n(route):
                sent.append(route.request.url)
                if holding[0] and len(sent) > PIECES_BEFORE_THE_KILL:
                    held.append(route)
                else:
                    route.continue_()

            page.route("**/piece", hold_after_n)
            page.set_input_files("#narration-file", str(recording))
            arriving = data_dir / "vault" / "recording"
            part_file = wait_until(page, lambda: next(arriving.glob("*.part"), None), 30, "the upload to start")
            wait_until(page, lambda: held and growing_records(part_file) == PIECES_BEFORE_THE_KILL, 30, "pieces on the laptop")
            serve.kill()
            pieces_at_kill, _sealed = sealed_prefix(part_file)
            assert pieces_at_kill == PIECES_BEFORE_THE_KILL
            holding[0] = False
            for route in held:
                route.continue_()  # into a dead server
            wait_until(page, lambda: page.inner_text(".phone-upload .status") == paused, 15, "the phone to say sending is paused")
            assert page.get_attribute("html", "dir") == "rtl"
            shot(page, "phone-1-paused-ur.png")

            sent_before_restart = len(sent)
            serve.start()  # a new join code; her phone stays joined and signed in
            error = page.locator(".phone-upload .error")
            wait_until(page, lambda: page.locator("#upload-done").count() or error.is_visible(), 90, "the upload to finish")
            assert page.locator("#upload-done").count(), error.inner_text()
            shot(page, "phone-2-saved-ur.png")
            assert page.locator("#takes audio").count() == 1
            browser.close()
        serve.stop()

        takes = stories.narration_takes(conn, story_id)
        kept = takes["whole"]
        # It went on from what the laptop had sealed: only the pieces after those were sent again.
        # (The finished file is then kept through the laptop's one intake, under a name of its own.)
        assert len(sent) - sent_before_restart == pieces_in_all - pieces_at_kill, "the upload started again instead of going on"
        vault = vault_for(data_dir).with_key(stories.media_key(conn, story_id, workshop_key))
        with vault.open(kept.vault_name) as f:
            plain = f.read()
        assert plain == recording.read_bytes()  # whole, byte for byte
        assert abs(decoded_seconds(plain) - 40.0) < 0.05
        assert_no_plain_copy(plain, PIECES_BEFORE_THE_KILL * CHUNK_BYTES, data_dir, since)
        assert not list(arriving.iterdir())  # nothing half-sent is left
    finally:
        serve.stop()
        conn.close()


# ----------------------------------------------------------------- the phone's upload, without a browser
def test_resume_phone_upload_in_a_new_app_and_gone_with_her_story(data_dir):
    """A new app over the same data folder (a restart: nothing of the old one's memory) goes on with
    the upload where the pieces got to; deleting her story takes the half-sent file with it."""
    from storyteller.app import create_app
    from storyteller.web import lan
    from tests.conftest import unlock
    from tests.test_lan import FETCH, LAN, _go_on, _upload, joined_and_signed_in

    data = NARRATION.read_bytes()
    first = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    key = unlock(first)
    conn = open_database(db_path(data_dir))
    workshop = create_workshop(conn, "Karachi circle", "ur")
    rose = add_participant(conn, workshop, "Rose", PIN)
    phone = joined_and_signed_in(first.test_client(), lan.configure(first, "127.0.0.2", 5000), {"rose": rose}, pin=PIN)
    token = _upload(phone, "narration", data, "Recording 1.ogg", piece=16 * 1024, stop_after=32 * 1024)

    second = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    unlock(second, key)
    lan.configure(second, "127.0.0.2", 5000)
    again = second.test_client()
    again.set_cookie("session", phone.get_cookie("session", domain="127.0.0.2").value, domain="127.0.0.2")
    assert again.get(f"/phone/upload/{token}", headers=FETCH, base_url=LAN).get_json() == {"size": 32 * 1024, "total": len(data)}
    done = _go_on(again, token, data, piece=16 * 1024)
    assert done.status_code == 200, done.get_json()
    story = stories.story_of(conn, rose, "ur", key)
    kept = stories.narration_takes(conn, story.id)["whole"]
    with vault_for(data_dir).with_key(stories.media_key(conn, story.id, key)).open(kept.vault_name) as f:
        assert f.read() == data

    half_sent = _upload(again, "narration", data, "Recording 2.ogg", piece=16 * 1024, stop_after=16 * 1024)
    assert list((data_dir / "vault" / "recording").glob("*.part"))
    stories.delete_story(conn, vault_for(data_dir), story.id)
    assert not list((data_dir / "vault" / "recording").glob("*.part"))
    assert again.get(f"/phone/upload/{half_sent}", headers=FETCH, base_url=LAN).status_code in (401, 404)
    conn.close()
