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
