"""Where Storyteller keeps its data, and the offline switches set before any model loads."""

from __future__ import annotations

import os
from pathlib import Path

# Workshops are offline: no library may try to reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """The data folder: $STORYTELLER_DATA, else ``instance/`` beside the package."""
    env = os.environ.get("STORYTELLER_DATA")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "instance"


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
