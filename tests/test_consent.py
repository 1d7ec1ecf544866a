"""The consent ledger: every choice and every withdrawal is a row; the newest governs, at the moment of use."""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from storyteller.store import participants as people
from storyteller.store import stories
from storyteller.store.db import db_path, open_database
from storyteller.store.workshops import create_workshop
from tests.conftest import workshop_key

KEY = os.urandom(32)  # the workshop key of the store-level tests


@pytest.fixture
def conn(data_dir):
    conn = open_database(db_path(data_dir))
    yield conn
    conn.close()


@pytest.fixture
def story_id(conn) -> int:
    workshop = create_workshop(conn, "Quetta circle", "ur")
    rose = people.add_participant(conn, workshop, "Rose", "4821")
    return stories.story_of(conn, rose, "ur", KEY).id


def test_no_consent_allows_nothing(conn, story_id):
    assert stories.consent_now(conn, story_id, KEY) is None
    assert not any(stories.consent_allows(conn, story_id, use, KEY) for use in stories.CONSENT_LEVELS)
    with pytest.raises(stories.StoryError):
        stories.consent_receipt(conn, story_id, KEY)


def test_a_level_allows_its_own_use_and_narrower_ones_only(conn, story_id):
    stories.record_consent(conn, story_id, "organisation", "v1", "ur", text="Inside the organisation", workshop_key=KEY)
    assert stories.consent_now(conn, story_id, KEY) == "organisation"
    assert stories.consent_allows(conn, story_id, "workshop", KEY)
    assert stories.consent_allows(conn, story_id, "organisation", KEY)
    assert not stories.consent_allows(conn, story_id, "public", KEY)


def test_withdrawal_is_a_row_and_takes_effect_at_once(conn, story_id):
    stories.record_consent(conn, story_id, "public", "v1", "ur", workshop_key=KEY)
    assert stories.consent_allows(conn, story_id, "public", KEY)
    stories.withdraw_consent(conn, story_id, KEY, recorded_by="facilitator")
    assert stories.consent_now(conn, story_id, KEY) is None
    assert not stories.consent_allows(conn, story_id, "workshop", KEY)
    history = stories.consent_history(conn, story_id, KEY)
    assert [(c.level, c.withdrawn, c.recorded_by) for c in history] == [("public", True, "facilitator"), ("public", False, "participant")]
    # Consent given again after a withdrawal is in force again: the newest row governs.
    stories.record_consent(conn, story_id, "workshop", "v2", "en", recorded_by="facilitator", workshop_key=KEY)
    assert stories.consent_now(conn, story_id, KEY) == "workshop"


def test_receipt_names_the_role_version_and_text_hash_never_the_pseudonym(conn, story_id):
    words = "A public campaign\nYour video may be shared on the internet."
    stories.record_consent(conn, story_id, "public", "2026-11-30", "ur", recorded_by="facilitator", text=words, workshop_key=KEY)
    receipt = stories.consent_receipt(conn, story_id, KEY)
    assert receipt["level"] == "public" and receipt["recorded_by"] == "facilitator"
    assert receipt["text_version"] == "2026-11-30" and receipt["text_language"] == "ur"
    assert receipt["text_sha256"] == hashlib.sha256(words.encode()).hexdigest()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", receipt["recorded_at"])
    assert "Rose" not in repr(receipt)


def test_unknown_role_or_level_is_refused(conn, story_id):
    with pytest.raises(ValueError):
        stories.record_consent(conn, story_id, "public", "v1", "ur", recorded_by="her brother", workshop_key=KEY)
    with pytest.raises(stories.StoryError):
        stories.record_consent(conn, story_id, "everyone", "v1", "ur", workshop_key=KEY)
    assert stories.consent_history(conn, story_id, KEY) == []


def test_she_withdraws_on_her_consent_page_and_the_words_she_saw_are_hashed(app, client, conn):
    workshop = create_workshop(conn, "Quetta circle", "en")
    rose = people.add_participant(conn, workshop, "Rose", "4821")
    client.get(f"/story/signin?workshop={workshop}")
    client.post("/story/signin", data={"participant": rose, "pin": "4821"})
    client.post("/story/consent", data={"level": "organisation"})
    key = workshop_key(app)
    story = stories.story_of(conn, rose, "en", key)
    (given,) = stories.consent_history(conn, story.id, key)
    assert given.recorded_by == "participant" and len(given.text_sha256) == 64
    assert 'id="withdraw-consent"' in client.get("/story/consent").get_data(as_text=True)
    client.post("/story/consent", data={"level": "withdraw"})
    assert stories.consent_now(conn, story.id, key) is None
    # Her next sign-in starts at the consent page again: nothing is in force.
    assert client.get("/story/signin").headers["Location"].endswith("/story/consent")
