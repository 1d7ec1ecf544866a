"""A real worker process killed with SIGKILL in the middle of her render, then started again.

The kill points are read from the job's own rows (stage and progress), and the final mux
is caught by a wrapper around the real ffmpeg that, once the mux has written its output,
holds before returning: the worker is then killed while it waits on the mux, with a whole
but unrenamed video in its work folder. After the restart the job must run again to done
(attempt 2), her originals must be byte for byte the same, no half-made video may be kept,
and no work or temp folder may keep anything. ``tests/bench/soak_kill.py`` loops over many
more kill points with the same helpers.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from storyteller.jobs import state, story_build
from storyteller.jobs.queue import enqueue, make_huey
from storyteller.jobs.runner import run_job
from storyteller.jobs.tasks import HANDLERS
from storyteller.jobs.unlock import send_key
from storyteller.pipeline.media.ffmpeg import ffmpeg_binary
from storyteller.pipeline.media.probe import probe
from storyteller.store import plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.vault import plaintext_folders
from tests.journey_helpers import spawn_cli, stop_process
from tests.render_helpers import picture, tone
from tests.test_story_build import KEY, StoryVaults, add_picture, add_take, new_story

STALE_AFTER = 3.0
NARRATION_SECONDS = 24.0


# The stages of her render job in order (tasks.render_her_story), with the share of the job each takes.
STAGES = ("subtitles", "voice", "rendering")


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: a stage and a fraction of the whole job (or later, if the job skips past it), or inside the final mux."""

    stage: str
    progress: float = 0.0

    @property
    def in_mux(self) -> bool:
        return self.stage == "mux"

    def reached(self, job: state.Job) -> bool:
        if job.state != "running" or job.stage not in STAGES:
            return False
        here, there = STAGES.index(job.stage), STAGES.index(self.stage)
        return here > there or (here == there and job.progress >= self.progress)

    def __str__(self) -> str:
        return "final mux" if self.in_mux else f"{self.stage} at {self.progress:.0%}"


# The render stage spans 40..100% of her render job (tasks.render_her_story): 10% and 50% of the render.
RENDER_AT_10 = KillPoint("rendering", 0.4 + 0.6 * 0.10)
RENDER_AT_50 = KillPoint("rendering", 0.4 + 0.6 * 0.50)
IN_MUX = KillPoint("mux")


@dataclass(frozen=True)
class HerStory:
    """A story with her narration and two masked pictures in the vault, ready to render."""

    story_id: int
    originals: dict[str, str]  # vault name -> sha256 of the sealed file
    narration_seconds: float
    workshop_key: bytes = KEY  # what the worker is unlocked with


class HerVaults(StoryVaults):
    """The data folder's vault, opened with a story's key made from ``workshop_key``."""

    def __init__(self, conn, data_dir: Path, workshop_key: bytes):
        super().__init__(conn, data_dir)
        self.workshop_key = workshop_key

    def of(self, story_id):
        return self.keyless.with_key(stories.media_key(self.conn, story_id, self.workshop_key))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_her_story(
    data_dir: Path, scratch: Path, narration: Path | None = None, subtitles: bool = False, workshop_key: bytes = KEY
) -> HerStory:
    """Her story, built the way the journey builds it (pictures checked for faces in-process).

    Without ``subtitles`` the subtitles count as made for her take, so the job goes straight
    to the voice and the render. Her media is sealed with a story key made from ``workshop_key``.
    """
    conn = open_database(db_path(data_dir))
    vault = HerVaults(conn, data_dir, workshop_key)
    story = new_story(conn, key=workshop_key)
    scratch.mkdir(parents=True, exist_ok=True)
    narration = narration or tone(scratch / "take.wav", NARRATION_SECONDS, 220.0)
    add_take(conn, vault, story.id, narration, "whole")
    pictures = [add_picture(conn, vault, story.id, picture(scratch / f"p{i}.png", size=(1024, 768), seed=i)) for i in range(2)]
    for asset in pictures:
        job = state.create_job(conn, "photo_faces", {"asset": asset}, story_id=story.id)
        assert run_job(job, str(data_dir), HANDLERS, workshop_key) == "done", state.get_job(conn, job).error
    parts = story_build.narration_parts(conn, story.id)
    plan = plans.Plan(pictures=tuple(plans.Picture(a) for a in pictures), voice="own", title="My story", end_card="Made in a workshop")
    if not subtitles:
        plan = plan.with_changes(cues_for=story_build.narration_key(parts))
    stories.save_plan(conn, story.id, plan.to_dict(), workshop_key)
    originals = {a.vault_name: sha256(vault.root / a.vault_name) for a in stories.story_assets(conn, story.id)}
    conn.close()
    return HerStory(story.id, originals, probe(narration).duration, workshop_key)


def mux_holding_ffmpeg(folder: Path) -> tuple[Path, Path]:
    """A wrapper around the real ffmpeg that holds after the render's final mux, once; returns (wrapper, marker).

    Every other call execs the real binary. The mux is recognised by its output, the
    atomic temp file of the job's video (``.story.<hex>.part.mp4``).
    """
    marker = folder / "mux-finished"
    wrapper = folder / "ffmpeg"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *.story.*.part.mp4*) if [ ! -e "{marker}" ]; then\n'
        f'  "{ffmpeg_binary()}" "$@"; touch "{marker}"; exec sleep 120; fi;; esac\n'
        f'exec "{ffmpeg_binary()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, marker


def start_worker(data_dir: Path, tmp: Path, ffmpeg: Path | None = None, workshop_key: bytes = KEY) -> subprocess.Popen:
    """`storyteller worker` on this checkout, with its own temp folder (checked empty afterwards).

    The workshop key goes down its stdin, as `storyteller serve` hands it over.
    """
    env = {"TMPDIR": str(tmp), **({"IMAGEIO_FFMPEG_EXE": str(ffmpeg)} if ffmpeg is not None else {})}
    proc = spawn_cli(
        ["worker", "--stale-after", str(STALE_AFTER), "--key-from-stdin"],
        data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **env,
    )
    send_key(proc.stdin, workshop_key)
    return proc


def processes() -> dict[int, list[str]]:
    """Every process now: pid -> the fields of /proc/PID/stat after its name (state, parent, group, ...)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended meanwhile
    return table


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, whatever process group it put itself in."""
    parents = {child: int(fields[1]) for child, fields in processes().items()}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state_letter = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state_letter != "Z"


def wait_for(conn, job_id: int, until, timeout: float, what: str) -> state.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = state.get_job(conn, job_id)
        if until(job):
            return job
        if job.finished:
            raise AssertionError(f"the job ended ({job.state} {job.error!r}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout:.0f} s: {state.get_job(conn, job_id)}")


@dataclass(frozen=True)
class Survival:
    """What one kill and restart came to; ``problems`` is empty when everything held."""

    point: str
    killed_at: str  # the stage and progress the job had reported when it was killed
    attempt: int
    problems: tuple[str, ...]


def kill_and_recover(data_dir: Path, tmp_path: Path, her: HerStory, point: KillPoint, quality: str = "final") -> Survival:
    """Render her story on a real worker, SIGKILL it at ``point``, restart it, and check what is left."""
    conn = open_database(db_path(data_dir))
    vault = HerVaults(conn, data_dir, her.workshop_key)
    temp = tmp_path / "worker-tmp"
    temp.mkdir(exist_ok=True)
    wrapper, marker = mux_holding_ffmpeg(tmp_path) if point.in_mux else (None, None)
    job_id = state.create_job(conn, "render_story", {"quality": quality}, story_id=her.story_id)
    enqueue(make_huey(data_dir), job_id, data_dir)
    exports_before = {a.id for a in stories.story_assets(conn, her.story_id, "export")}
    problems: list[str] = []

    worker = start_worker(data_dir, temp, wrapper, her.workshop_key)
    try:
        if point.in_mux:
            deadline = time.monotonic() + 600
            while not marker.exists():
                assert time.monotonic() < deadline and not state.get_job(conn, job_id).finished, "the mux was never reached"
                time.sleep(0.05)
            seen = "final mux"
        else:
            at = wait_for(conn, job_id, point.reached, 600, str(point))
            seen = f"{at.stage} at {at.progress:.0%}"
        children = descendants(worker.pid)
        worker.kill()  # SIGKILL to the worker alone, as the out-of-memory killer would
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    killed_at = state.get_job(conn, job_id)
    if killed_at.state != "running":
        problems.append(f"after the kill the job was {killed_at.state}, not running")
    deadline = time.monotonic() + 5
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = [p for p in children if alive(p)]
    if orphans:
        problems.append(f"processes outlived the killed worker: {orphans}")
    # Restart once the heartbeat is stale, as after a power cut: the new worker must see the job as interrupted.
    while time.time() - (state.get_job(conn, job_id).heartbeat or 0) <= STALE_AFTER:
        time.sleep(0.1)
    worker = start_worker(data_dir, temp, workshop_key=her.workshop_key)
    try:
        job = wait_for(conn, job_id, lambda j: j.finished, 600, "end of the job")
    finally:
        log = stop_process(worker)
    if f"queued again after restart: [{job_id}]" not in log:
        problems.append("the restarted worker did not take the job up as interrupted")
    if job.state != "done" or job.attempt != 2:
        problems.append(f"the job ended {job.state} on attempt {job.attempt}: {job.error}")

    for name, digest in her.originals.items():
        if sha256(vault.root / name) != digest:
            problems.append(f"her original {name} changed")
    exports = [a for a in stories.story_assets(conn, her.story_id, "export") if a.id not in exports_before]
    if job.state == "done":
        if [a.id for a in exports] != [job.result["asset"]]:
            problems.append(f"expected one new video, found {len(exports)}")
        info = None
        if exports:
            with vault.of(her.story_id).plain(exports[-1].vault_name) as video:
                info = probe(video)
        if info is None or not (info.has_video and info.has_audio and info.duration > her.narration_seconds):
            problems.append("the kept video is not whole")
    partials = [p.name for p in vault.root.rglob("*") if ".part" in p.name and p.parent.name != "recording"]
    if partials:
        problems.append(f"half-written files in the vault: {partials}")
    leftovers = (
        [str(p.relative_to(data_dir)) for p in (data_dir / "work").rglob("*")]
        + [str(p) for p in plaintext_folders(data_dir)]  # the job's plain copies, in memory or in work/
        + [p.name for p in temp.iterdir()]
    )
    if leftovers:
        problems.append(f"work or temp folders not empty: {leftovers}")
    conn.close()
    return Survival(str(point), seen, job.attempt, tuple(problems))


@pytest.mark.slow
@pytest.mark.parametrize("point", [RENDER_AT_10, RENDER_AT_50, IN_MUX], ids=["render-10", "render-50", "mux"])
def test_kill_worker_mid_render_then_restart(data_dir, tmp_path, point):
    her = make_her_story(data_dir, tmp_path / "her")
    survival = kill_and_recover(data_dir, tmp_path, her, point)
    assert survival.problems == (), survival
