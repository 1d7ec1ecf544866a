"""Where Storyteller keeps its data, and the offline switches set before any model loads."""

from __future__ import annotations

import os
from pathlib import Path

# Workshops are offline: no library may try to reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_SOURCE_TREE = Path(__file__).resolve().parent.parent
# Where templates/, media/ and workshops/ are: the source tree (a checkout or an
# editable install), else the copy a wheel carries inside the package (setup.py).
RUNNING_FROM_SOURCE = (_SOURCE_TREE / "templates").is_dir()
PROJECT_ROOT = _SOURCE_TREE if RUNNING_FROM_SOURCE else Path(__file__).resolve().parent / "_assets"


def default_data_dir() -> Path:
    """The data folder: $STORYTELLER_DATA, else ``instance/`` in a checkout, else the user's data folder."""
    env = os.environ.get("STORYTELLER_DATA")
    if env:
        return Path(env).expanduser().resolve()
    if RUNNING_FROM_SOURCE:
        return _SOURCE_TREE / "instance"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "storyteller"


def models_dir(data_dir: Path | None = None) -> Path:
    """Folder of installed speech models.

    An explicit data folder wins (``<data>/models``), then $STORYTELLER_MODELS,
    then ``<default data folder>/models``.
    """
    if data_dir is not None:
        return Path(data_dir) / "models"
    env = os.environ.get("STORYTELLER_MODELS")
    if env:
        return Path(env).expanduser().resolve()
    return default_data_dir() / "models"


def whisper_temperatures() -> tuple[float, ...]:
    """Whisper's decoding temperatures, first to last fallback.

    Falling back to sampled decodes rescues hard speech, but sampling writes
    different words on every run. $STORYTELLER_WHISPER_GREEDY=1 (set by the
    tests) keeps to greedy beam search, so one recording always gives one text.
    """
    if os.environ.get("STORYTELLER_WHISPER_GREEDY") == "1":
        return (0.0,)
    # Few fallbacks: on noise or a wrong language each one costs a full re-decode
    # with 5 samples, and the later ones rarely help.
    return (0.0, 0.3, 0.6)


def redis_url() -> str | None:
    """$STORYTELLER_REDIS_URL: a Redis queue instead of SQLite, for workers on other machines."""
    return os.environ.get("STORYTELLER_REDIS_URL") or None
