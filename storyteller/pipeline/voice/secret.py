"""The story's secret: every random choice of a voice method is drawn from it, so every
take of a story sounds like the same person and another story like another one."""

from __future__ import annotations

import hashlib
import secrets

import numpy as np


def new_secret() -> str:
    """A fresh story secret (store it with the story, never export it)."""
    return secrets.token_hex(16)


def secret_rng(secret: int | str | bytes, method: str) -> np.random.Generator:
    """A random generator that depends only on (secret, method)."""
    raw = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
    digest = hashlib.sha256(b"storyteller-voice\0" + method.encode() + b"\0" + raw).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def signed(rng: np.random.Generator, low: float, high: float) -> float:
    """A value with random sign and magnitude in [low, high]: never near 'no change'."""
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(low, high))
