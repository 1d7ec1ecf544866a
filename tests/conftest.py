"""Shared fixtures, flaskr style: every test gets its own temp data folder.

The whole suite runs with non-loopback connections blocked (pytest-socket,
configured in pyproject), so any network call at run time fails a test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Greedy Whisper decoding: sampled fallbacks word the same take differently on every
# run, and a test must not pass or fail by chance. The CLI subprocesses inherit it.
os.environ["STORYTELLER_WHISPER_GREEDY"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test cleanly when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data not present: {p}")
    return p


def whisper_model_or_skip(name: str | None = None):
    """The installed Whisper model ``name`` (the best installed one when None), or skip the test cleanly."""
    from storyteller import config
    from storyteller.pipeline.speech import models as whisper_models

    try:
        return whisper_models.resolve(config.models_dir(), name)
    except whisper_models.ModelError:
        pytest.skip(f"Whisper model {name or '(any)'} not installed (run `storyteller models install --tiny-en`)")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def unlock(app, key: bytes | None = None) -> bytes:
    """Put a workshop key in the app's memory, as the facilitator's sign-in at the desk does."""
    from storyteller.web.context import remember_workshop_key

    key = key or os.urandom(32)
    with app.app_context():
        remember_workshop_key(key)
    return key


@pytest.fixture
def app(data_dir: Path):
    """The app, unlocked (the vault opens); ``locked_app`` for the state after a restart."""
    from storyteller.app import create_app

    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})
    unlock(app)
    return app


@pytest.fixture
def locked_app(data_dir: Path):
    from storyteller.app import create_app

    return create_app({"TESTING": True, "DATA_DIR": str(data_dir), "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Click's runner for the `storyteller` command."""
    from click.testing import CliRunner

    return CliRunner()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def story_vault(app, story_id: int | None):
    """The vault with one story's key (the app must be unlocked), as a view gets it."""
    from storyteller.web.context import get_vault

    with app.app_context():
        return get_vault(story_id)


def workshop_key(app) -> bytes:
    """The key the app was unlocked with: her words in the database (title, script, plan, consent) need it."""
    from storyteller.web.context import get_workshop_key

    with app.app_context():
        key = get_workshop_key()
    assert key is not None, "the app is locked"
    return key


def vault_bytes(app, name: str) -> bytes:
    """The plain bytes of a vault item, opened with the key of the story that owns it."""
    from storyteller.store.db import db_path, open_database

    conn = open_database(db_path(app.config["DATA_DIR"]))
    try:
        row = conn.execute("SELECT story_id FROM assets WHERE vault_name = ?", (name,)).fetchone()
    finally:
        conn.close()
    with story_vault(app, row[0] if row else None).open(name) as f:
        return f.read()


DESK_PASSPHRASE = "quiet river morning"


def desk_sign_in(client, passphrase: str = DESK_PASSPHRASE) -> None:
    """Sign a test client in at the facilitator's desk, setting the passphrase first when none is set yet."""
    import re

    page = client.get("/desk/signin", follow_redirects=True)
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    data = {"passphrase": passphrase, "csrf_token": found.group(1) if found else ""}
    if page.request.path == "/desk/setup":
        r = client.post("/desk/setup", data={**data, "again": passphrase})
    else:
        r = client.post("/desk/signin", data=data)
    assert r.status_code == 302 and r.location.endswith("/desk/workshops"), r.get_data(as_text=True)[-500:]


@pytest.fixture
def desk(client):
    """The test client, signed in at the desk."""
    desk_sign_in(client)
    return client
