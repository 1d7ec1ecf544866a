"""The facilitator's desk end to end in a real Chromium, in Urdu (issue 12).

The facilitator sets the passphrase on the laptop's first run, creates a workshop
from each kit, adds participants (one by one and as printable PIN cards), and
watches the dashboard while a participant, in a second browser, consents, writes
and makes her final video with the real worker. The participant marks it ready;
the screening playlist plays it, then a second story, one after the other. The
laptop check asks Chromium about the microphone and camera and times a render.

Rose's recording and picture are put in her story through the store (the journey
test records and masks them through the pages); everything after that, the voice
protection, the render and the playback, is real.

Every desk page leaves a screenshot in test-artifacts/desk/NN-<page>.png and is
checked for sideways overflow (nothing cut off) and, when axe-core is installed,
for serious accessibility problems.
"""

from __future__ import annotations

import shutil

import pytest

from storyteller.config import PROJECT_ROOT
from storyteller.store import participants as people
from storyteller.store import passphrase, plans, stories
from storyteller.store.db import db_path, open_database
from storyteller.store.kits import list_kits
from storyteller.store.vault import vault_for
from tests import journey_helpers as jh
from tests.conftest import DESK_PASSPHRASE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT = {"width": 1100, "height": 800}
ARTIFACTS = jh.ROOT / "test-artifacts" / "desk"


class DeskShots:
    """Numbered full-page screenshots, each page also checked for overflow and with axe."""

    def __init__(self, browser):
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)
        self.count = 0
        self.problems: list[str] = []
        self.axe = jh.AxeChecker(browser, VIEWPORT) if jh.axe_available() else None

    def take(self, page, name: str, *, axe: bool = True) -> None:
        self.count += 1
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / f"{self.count:02d}-{name}.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            self.problems.append(f"{name}: the page is {overflow}px wider than the window (something is cut off)")
        if axe and self.axe is not None:
            self.axe.check(page, name)


def urdu(live, english: str) -> str:
    """What the Urdu page says for ``english`` (from the catalog, as the app looks it up)."""
    from flask_babel import force_locale, gettext

    with live.app.test_request_context(), force_locale("ur"):
        return gettext(english)


def _step_of(page, alias: str) -> str:
    return page.locator(f"#dashboard tr:has(th:has-text('{alias}')) .cell-step").inner_text().strip()


def _jobs_of(page, alias: str) -> str:
    return page.locator(f"#dashboard tr:has(th:has-text('{alias}')) .cell-jobs").inner_text().strip()


def _desk_key(conn) -> bytes:
    """The workshop key the desk's passphrase gives (as the app holds it)."""
    return passphrase.unlock(conn, DESK_PASSPHRASE).workshop_key


def _her_vault(conn, data_dir, story_id: int):
    """Her story's vault, opened with the key the desk's passphrase gives."""
    return vault_for(data_dir).with_key(stories.media_key(conn, story_id, _desk_key(conn)))


def _give_rose_a_recording_and_a_picture(data_dir, participant_id: int) -> None:
    """Her narration and a picture, as the record and pictures steps leave them (the sample story's)."""
    conn = open_database(db_path(data_dir))
    story = stories.story_of(conn, participant_id, "ur", _desk_key(conn))
    vault = _her_vault(conn, data_dir, story.id)
    narration = stories.add_asset(
        conn,
        story.id,
        "narration",
        vault.put_file(PROJECT_ROOT / "media" / "sample" / "narration.ogg", ".ogg"),
        media_type="audio/ogg",
        meta={"part": "whole"},
    )
    picture = PROJECT_ROOT / "media" / "sample" / "01.jpg"  # a drawn picture: no face to cover
    photo = stories.add_asset(conn, story.id, "photo", vault.put_file(picture, ".jpg"), meta={"masked": vault.put_file(picture, ".jpg")})
    parts = [stories.story_asset(conn, story.id, narration)]
    from storyteller.jobs.story_build import narration_key

    plan = plans.plan_or_new({}).with_changes(pictures=[{"asset_id": photo, "motion": "auto"}], cues_for=narration_key(parts))
    stories.save_plan(conn, story.id, plan.to_dict(), _desk_key(conn))
    conn.close()


def _copy_final_video_to(data_dir, from_participant: int, to_participant: int) -> None:
    """A second finished story for the playlist: the same video file under another story, ready and consented."""
    conn = open_database(db_path(data_dir))
    source = conn.execute(
        "SELECT a.vault_name FROM assets a JOIN stories s ON s.id = a.story_id WHERE s.participant_id = ? AND a.kind = 'export' "
        "AND json_extract(a.meta, '$.quality') = 'final' ORDER BY a.id DESC",
        (from_participant,),
    ).fetchone()[0]
    source_story = conn.execute("SELECT story_id FROM assets WHERE vault_name = ?", (source,)).fetchone()[0]
    story = stories.story_of(conn, to_participant, "ur", _desk_key(conn))
    with _her_vault(conn, data_dir, source_story).open(source) as video:
        copy = _her_vault(conn, data_dir, story.id).put_stream(video, ".mp4")
    stories.add_asset(conn, story.id, "export", copy, media_type="video/mp4", meta={"quality": "final"})
    stories.record_consent(conn, story.id, "organisation", "v1", "ur", workshop_key=_desk_key(conn))
    stories.set_status(conn, story.id, "ready")
    conn.close()


def test_the_desk_in_urdu(tmp_path):
    from playwright.sync_api import sync_playwright

    jh.chromium_or_skip()
    kits = list_kits().kits
    assert len(kits) >= 2
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    outside: list[str] = []
    with jh.serve_app(data_dir) as live, sync_playwright() as p:
        browser = jh.launch_chromium(p)
        desk = browser.new_context(viewport=VIEWPORT, locale="ur-PK").new_page()
        jh.watch_for_outside_requests(desk, outside)
        shots = DeskShots(browser)
        url = live.url

        # -- first run: the passphrase, typed twice, with the reason it matters.
        desk.goto(url + "/?lang=ur")
        shots.take(desk, "start-page")
        desk.click("#to-desk")
        desk.wait_for_url("**/desk/setup")
        assert desk.get_attribute("html", "dir") == "rtl"
        desk.fill("#passphrase", DESK_PASSPHRASE)
        desk.fill("#again", "quiet river evening")
        desk.click("#set-passphrase")
        assert desk.locator("#desk-error").is_visible()
        shots.take(desk, "setup-mismatch")
        jh.desk_sign_in_page(desk, url)

        # -- a workshop from each kit, in Urdu.
        workshop_ids = {}
        for kit in kits:
            desk.click("#new-workshop")
            desk.select_option("#kit", kit.id)
            desk.fill("#name", f"{kit.text('ur').name} · لاہور")
            desk.select_option("#language", "ur")
            if kit is kits[0]:
                shots.take(desk, "new-workshop")
            desk.click("#create-workshop")
            desk.wait_for_url("**/desk/workshops/*")
            workshop_ids[kit.id] = int(desk.url.rsplit("/", 1)[1])
            assert desk.locator("#kit-gaps").is_visible(), "the helplines are empty in the shipped kits: the desk warns"
            desk.click(".desk-nav a[href='/desk/workshops']")
        shots.take(desk, "workshops")
        first = kits[0]
        workshop = workshop_ids[first.id]

        # -- participants: one with her PIN shown once, then two on printable cards.
        desk.goto(f"{url}/desk/workshops/{workshop}")
        desk.fill("#alias", "گلاب")
        desk.fill("#pin", "4821")
        desk.click("#add-participant-button")
        assert desk.inner_text("#pin-cards .pin-once").strip() == "4821"
        desk.fill("#alias", "گلاب")  # the same pseudonym again: a plain sentence, in Urdu
        desk.click("#add-participant-button")
        assert desk.locator("#add-participant .error").is_visible()
        assert any(ch for ch in desk.inner_text("#add-participant .error") if "\u0600" <= ch <= "\u06ff")
        shots.take(desk, "participant-added")
        desk.click("#to-cards")
        desk.fill("#aliases", "چنبیلی\nنرگس")
        desk.click("#make-cards")
        assert desk.locator("#pin-cards .pin-card").count() == 2
        jasmine_pin = desk.locator("#pin-cards .pin-card:has-text('چنبیلی') .pin-once").inner_text().strip()
        shots.take(desk, "pin-cards")
        desk.emulate_media(media="print")
        desk.screenshot(path=str(ARTIFACTS / "pin-cards-print.png"), full_page=True)
        assert not desk.locator(".topbar").is_visible() and desk.locator("#pin-cards").is_visible()
        desk.emulate_media(media="screen")

        conn = open_database(db_path(data_dir))
        ids = {r["alias"]: r["id"] for r in conn.execute("SELECT id, alias FROM participants WHERE workshop_id = ?", (workshop,))}
        conn.close()
        rose, jasmine = ids["گلاب"], ids["چنبیلی"]

        # -- the dashboard moves while she works in her own browser.
        desk.goto(f"{url}/desk/workshops/{workshop}")
        her = browser.new_context(viewport=VIEWPORT, locale="ur-PK").new_page()
        jh.watch_for_outside_requests(her, outside)
        her.goto(f"{url}/story/signin?workshop={workshop}")
        her.check(f"input[name=participant][value='{rose}']")
        her.fill("#pin", "4821")
        her.click("#signin")
        her.wait_for_url("**/story/consent")
        assert first.text("ur").consent.workshop in her.inner_text("main"), "her consent page speaks with the kit's words"
        jh.wait_for(lambda: _step_of(desk, "گلاب") == urdu(live, "Consent"), 15, "the dashboard to show her at consent")
        her.check("input[name=level][value=workshop]")
        her.click("#save-consent")
        her.wait_for_url("**/story/write")
        assert first.text("ur").prompts[0] in her.inner_text("main"), "her prompts are the kit's"
        jh.wait_for(lambda: _step_of(desk, "گلاب") == urdu(live, "Story"), 15, "the dashboard to follow her to the story step")
        shots.take(desk, "dashboard-story-step")

        _give_rose_a_recording_and_a_picture(data_dir, rose)
        her.goto(url + "/story/render")
        her.click("#make-final")
        her_jobs = f"#dashboard tr[data-participant='{rose}'] .desk-job"
        jh.wait_for(lambda: desk.locator(f"{her_jobs} progress").count(), 120, "her job's bar on the dashboard")
        shots.take(desk, "dashboard-rendering")
        jh.wait_for(lambda: desk.locator(f"{her_jobs}[data-state=done], {her_jobs}[data-state=failed]").count(), 600, "her video to finish")
        assert desk.locator(f"{her_jobs}[data-state=failed]").count() == 0, _jobs_of(desk, "گلاب")
        assert urdu(live, "Finished.") in _jobs_of(desk, "گلاب")
        her.goto(url + "/story/screening")
        her.click("#mark-ready")
        her.wait_for_selector("#ready-state")
        jh.wait_for(
            lambda: desk.locator(f"#dashboard tr[data-participant='{rose}'] .cell-status[data-status='ready']").count(),
            15,
            "ready on the dashboard",
        )
        shots.take(desk, "dashboard-ready")

        # -- a weaker voice than her audience needs waits for the facilitator, who sees its honest label.
        jas = browser.new_context(viewport=VIEWPORT, locale="ur-PK").new_page()
        jh.watch_for_outside_requests(jas, outside)
        jas.goto(f"{url}/story/signin?workshop={workshop}")
        jas.check(f"input[name=participant][value='{jasmine}']")
        jas.fill("#pin", jasmine_pin)
        jas.click("#signin")
        jas.wait_for_url("**/story/consent")
        jas.check("input[name=level][value=organisation]")
        jas.click("#save-consent")
        jas.wait_for_url("**/story/write")
        jas.goto(url + "/story/voice")
        jas.check("#voice-pitch")
        jas.click("#save-voice")
        jas.wait_for_selector("#voice-used")
        voice_link = f"#dashboard tr[data-participant='{jasmine}'] .voice-link"
        jh.wait_for(lambda: desk.locator(voice_link).is_visible(), 15, "her voice request on the dashboard")
        assert urdu(live, "Her voice") == desk.inner_text(voice_link).strip()
        shots.take(desk, "dashboard-voice-request")
        desk.click(voice_link)
        desk.wait_for_url("**/voice")
        assert urdu(live, "Changes the sound, does not hide who you are.") in desk.inner_text("#voice-request")
        shots.take(desk, "voice-request")
        desk.click("#confirm-voice")
        desk.wait_for_selector("#withdraw-voice")
        shots.take(desk, "voice-agreed")
        jas.reload()
        assert jas.locator("#voice-confirmed").is_visible() and not jas.locator("#voice-used").count()
        jas.screenshot(path=str(ARTIFACTS / "her-voice-agreed.png"), full_page=True)
        conn = open_database(db_path(data_dir))
        jasmine_plan = plans.plan_or_new(stories.story_of(conn, jasmine, "ur", _desk_key(conn)).plan)
        assert plans.voice_for_render(jasmine_plan, "organisation") == "pitch"
        conn.close()
        jas.context.close()

        # -- help without reading: a new PIN; removing asks once.
        desk.goto(f"{url}/desk/participants/{ids['نرگس']}/pin")
        desk.click("#reset-pin")
        assert desk.locator("#pin-cards .pin-once").count() == 1
        shots.take(desk, "new-pin")
        desk.goto(f"{url}/desk/participants/{ids['نرگس']}/remove")
        shots.take(desk, "remove-confirm")
        desk.click("#confirm-remove")
        desk.wait_for_url(f"**/desk/workshops/{workshop}")
        assert "نرگس" not in desk.inner_text("#dashboard")

        # -- the screening: two stories, in the order she sets, one after the other.
        _copy_final_video_to(data_dir, rose, jasmine)
        desk.goto(f"{url}/desk/workshops/{workshop}/screening")
        order = [int(s) for s in desk.locator("#playlist li").evaluate_all("els => els.map(e => e.dataset.story)")]
        assert len(order) == 2
        desk.locator("#playlist li").nth(1).locator("button[value=up]").click()
        desk.wait_for_url("**/screening")
        assert [int(s) for s in desk.locator("#playlist li").evaluate_all("els => els.map(e => e.dataset.story)")] == order[::-1]
        shots.take(desk, "playlist")
        desk.click("#play-all")
        desk.wait_for_url("**/screening/play")
        shots.take(desk, "screening-ready-to-start")
        desk.click("#screen-start")
        jh.wait_for(lambda: desk.evaluate("() => document.getElementById('screen-video').currentTime") > 1.0, 30, "the first story to play")
        assert desk.get_attribute("#screen", "data-index") == "0"
        desk.screenshot(path=str(ARTIFACTS / "screening-playing.png"))
        # Skip to the last second: the page goes on to the next story by itself when one ends.
        desk.evaluate("() => { const v = document.getElementById('screen-video'); v.currentTime = v.duration - 0.3; }")
        jh.wait_for(lambda: desk.get_attribute("#screen", "data-index") == "1", 20, "the next story")
        jh.wait_for(
            lambda: desk.evaluate("() => document.getElementById('screen-video').currentTime") > 0.5, 30, "the second story to play"
        )
        desk.evaluate("() => { const v = document.getElementById('screen-video'); v.currentTime = v.duration - 0.3; }")
        jh.wait_for(lambda: desk.get_attribute("#screen", "data-state") == "ended", 20, "the end of the screening")
        shots.take(desk, "screening-ended", axe=False)

        # -- check this laptop: disk, models, fonts, microphone and camera, and a timed render.
        desk.goto(url + "/desk/laptop")
        jh.wait_for(lambda: "جانچ ہو رہی ہے" not in desk.inner_text("#check-microphone"), 10, "the microphone check")
        desk.click("#time-render")
        result = jh.wait_for(
            lambda: desk.inner_text("#timing-result") if desk.get_attribute("#timing-result", "data-state") else "", 300, "the timed render"
        )
        assert desk.get_attribute("#timing-result", "data-state") == "done", result
        (ARTIFACTS / "timing.txt").write_text(result + "\n", encoding="utf-8")
        shots.take(desk, "laptop-check")

        # -- Lock: the desk closes; the dashboard's page cannot be reached again without the passphrase.
        desk.goto(f"{url}/desk/workshops/{workshop}")
        desk.click("#lock")
        desk.wait_for_url("**/desk/signin?locked=1")
        shots.take(desk, "locked")
        desk.go_back()
        desk.wait_for_load_state()
        assert "/desk/signin" in desk.url
        conn = open_database(db_path(data_dir))
        assert people.get_participant(conn, rose) is not None
        conn.close()
        axe = shots.axe
        browser.close()
    assert not outside, f"the pages tried to reach outside: {outside}"
    assert not shots.problems, "\n".join(shots.problems)
    if axe is not None:
        axe.assert_clean()
