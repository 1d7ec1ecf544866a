"""What the journey tests share: a live app with a real worker, Chromium with a fake microphone, axe-core.

The app runs in this process (waitress on a free loopback port, in a thread) over a
temporary data folder, and the background worker is the real `storyteller worker`
process over the same folder, as `storyteller serve` starts it. Chromium is Debian's,
driven by Playwright; its fake microphone plays a WAV that the project's own
text-to-speech made from the script, so the recording says words we know.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The journey's microphone: Chromium's fake device, fed from a WAV file, and no permission prompt.
FAKE_MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
AXE_JS = ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "journey"
FAKE_MIC_RATE = 48000  # Chromium's fake capture reads 16-bit PCM; 48 kHz is what a real microphone gives


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (the CI script installs it)")
    return CHROMIUM


# --- the app --------------------------------------------------------------------------------


@dataclass
class LiveApp:
    url: str
    data_dir: Path
    app: object  # the Flask app, for reading the database the way the views do


def _wait_until_up(url: str) -> None:
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the app did not answer on " + url)


def spawn_cli(
    args: list[str],
    data_dir: Path | None = None,
    *,
    feed: bytes | None = None,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    **env: str,
) -> subprocess.Popen:
    """`python -m storyteller.cli ARGS --data DATA_DIR` on this checkout's code, in a process group of its own.

    The one way the tests start the command: PYTHONPATH points at this checkout (the venv's
    editable install may point at another), ``env`` is added to this process's environment,
    and ``os.killpg(proc.pid, ...)`` (``stop_process``) stops it with all it started. Its stdin
    is a pipe, kept open (a worker stops when it closes): ``feed`` is written to it at once,
    as the facilitator types the passphrase for ``--unlock``; ``jobs.unlock.send_key`` hands
    a worker the workshop key.
    """
    data = ["--data", str(data_dir)] if data_dir is not None else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyteller.cli", *args, *data],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        start_new_session=True,
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=stderr,
    )
    if feed is not None:
        proc.stdin.write(feed)
        proc.stdin.flush()
    return proc


def start_worker(data_dir: Path, key: bytes | None = None, *extra: str) -> subprocess.Popen:
    """The real background worker (`storyteller worker`), on this checkout's code, in its own group.

    As under `storyteller serve`, the workshop key goes down its stdin (``send_key``),
    now when ``key`` is given, else later.
    """
    from storyteller.jobs.unlock import send_key

    proc = spawn_cli(["worker", "--key-from-stdin", *extra], data_dir)
    if key is not None:
        send_key(proc.stdin, key)
    return proc


def stop_process(proc: subprocess.Popen) -> str:
    """Stop a process started with start_new_session (SIGTERM, then SIGKILL); returns what it printed (its piped output)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    printed = proc.stdout or proc.stderr
    return printed.read().decode(errors="replace") if printed else ""


def serve_app(data_dir: Path, test_config: dict | None = None):
    """Context manager: the app on waitress in a thread plus a worker process; yields a LiveApp."""
    from contextlib import contextmanager

    @contextmanager
    def _running():
        from waitress import wasyncore
        from waitress.server import create_server

        from storyteller.app import create_app
        from storyteller.jobs.unlock import WorkerKeyPipe
        from storyteller.web.context import hand_keys_to
        from tests.conftest import unlock

        app = create_app({"DATA_DIR": str(data_dir), **(test_config or {})})
        server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="", clear_untrusted_proxy_headers=True)
        thread = threading.Thread(target=server.run, name="waitress", daemon=True)
        thread.start()
        worker = start_worker(data_dir)
        # As `storyteller serve` does: the key reaches the worker through its stdin when the app learns it.
        hand_keys_to(app, WorkerKeyPipe(worker).send)
        unlock(app)
        url = f"http://127.0.0.1:{server.effective_port}"
        try:
            _wait_until_up(url)
            yield LiveApp(url=url, data_dir=data_dir, app=app)
        finally:
            output = stop_process(worker)
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map)
            thread.join(timeout=10)
            if output.strip():
                # The worker's log is the first thing to read when a job failed.
                sys.stderr.write("--- worker output ---\n" + output[-4000:] + "\n")

    return _running()


# --- the fake microphone and the photo ------------------------------------------------------


def write_fake_mic_wav(text: str, language: str, target: Path, lead: float = 0.4) -> Path:
    """``text`` spoken by the project's own TTS, as 48 kHz 16-bit mono WAV for Chromium's fake microphone."""
    from scipy.signal import resample_poly

    from storyteller.pipeline.media.audio import write_wav
    from storyteller.pipeline.voice import tts

    samples, rate = tts.synthesize(text, language)
    assert rate == 24000, "the resampling below assumes Kokoro's 24 kHz"
    samples = resample_poly(samples, FAKE_MIC_RATE // rate, 1).astype(np.float32)
    pad = np.zeros(int(lead * FAKE_MIC_RATE), np.float32)
    return write_wav(target, np.concatenate([pad, samples, pad]), FAKE_MIC_RATE)


def wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def two_faces_photo() -> Path:
    from tests.conftest import shared_data

    return shared_data("faces", "two_people.jpg")


# --- Chromium ---------------------------------------------------------------------------------


def launch_chromium(playwright, fake_mic_wav: Path | None = None):
    args = [*CHROMIUM_ARGS, *FAKE_MEDIA_ARGS]
    if fake_mic_wav is not None:
        # %noloop: the file plays once, then silence, so a take holds the script once.
        args.append(f"--use-file-for-fake-audio-capture={fake_mic_wav}%noloop")
    return playwright.chromium.launch(executable_path=chromium_or_skip(), args=args, headless=True)


def watch_for_outside_requests(page, sink: list[str]) -> None:
    """Collect every request that leaves the loopback app (there must be none)."""
    page.on("request", lambda r: sink.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)


class Screenshots:
    """Numbered screenshots in test-artifacts/journey/<lang>/NN-<step>.png, so anyone can see what the test saw."""

    def __init__(self, lang: str):
        self.folder = ARTIFACTS / lang
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.taken: list[Path] = []

    def take(self, page, step: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{step}.png"
        # From the top: a full-page shot of a scrolled page draws the sticky header mid-page.
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


# --- axe-core ---------------------------------------------------------------------------------


def axe_available() -> bool:
    return AXE_JS.exists()


class AxeChecker:
    """Runs axe-core on pages the journey visits, in a second browser context that shares its cookies.

    The app's CSP (script-src 'self') rightly refuses injected scripts, so axe runs in a
    context with bypass_csp=True. The journey itself runs in a normal context with the CSP
    enforced: only this checker's context bypasses it. axe-core comes from npm into the venv
    folder (`make test`), is used by the tests only and never served.
    """

    IMPACTS = ("serious", "critical")

    def __init__(self, browser, viewport: dict):
        self.context = browser.new_context(bypass_csp=True, viewport=viewport)
        self.page = self.context.new_page()
        self.checked: list[str] = []
        self.problems: list[str] = []

    def check(self, source_page, label: str = "") -> None:
        """Load ``source_page``'s URL as the same session sees it and record serious or critical violations."""
        url = source_page.url
        self.context.clear_cookies()
        self.context.add_cookies(source_page.context.cookies())
        self.page.goto(url)
        self.page.add_script_tag(path=str(AXE_JS))
        violations = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ['violations']});
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
                }));
            }"""
        )
        self.checked.append(url)
        for v in violations:
            if v["impact"] in self.IMPACTS:
                self.problems.append(f"{label or url}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}")

    def assert_clean(self) -> None:
        assert not self.problems, "axe-core found serious or critical violations:\n" + "\n".join(self.problems)

    def close(self) -> None:
        self.context.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll ``predicate`` from Python until it returns something truthy (the app's CSP forbids
    the string eval that Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- the facilitator's desk -------------------------------------------------------------------


def desk_sign_in_page(page, base_url: str, passphrase: str | None = None) -> None:
    """Open the desk in Chromium: set the passphrase on first run, else sign in with it."""
    from tests.conftest import DESK_PASSPHRASE

    passphrase = passphrase or DESK_PASSPHRASE
    page.goto(base_url + "/desk/")
    if page.locator("#setup-form").count():
        page.fill("#passphrase", passphrase)
        page.fill("#again", passphrase)
        page.click("#set-passphrase")
    else:
        page.fill("#passphrase", passphrase)
        page.click("#desk-signin")
    page.wait_for_url("**/desk/workshops")
