"""Writing systems: which script a text is in, and keeping Whisper in the right one.

Whisper may answer Urdu speech in Devanagari, Punjabi in Gurmukhi, or accented Urdu
in Latin letters; these helpers tell, and give the retry its prompt and banned tokens.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

# Languages written in Arabic script in Pakistan/Afghanistan, where Whisper
# may answer in Devanagari, Gurmukhi or Latin instead.
ARABIC_SCRIPT_LANGUAGES = frozenset({"ur", "ps", "sd", "fa", "pa", "ar"})

# A short prompt in the right script nudges the decoder towards it on retry.
SCRIPT_PROMPTS = {
    "ur": "یہ میری کہانی ہے۔",
    "ps": "دا زما کیسه ده.",
    "sd": "هي منهنجي ڪهاڻي آهي.",
    "fa": "این داستان من است.",
    "pa": "ایہہ میری کہانی اے۔",
    "ar": "هذه قصتي.",
}


def script_shares(text: str) -> dict[str, float]:
    """Fraction of letters in each script: arabic, devanagari, gurmukhi, latin, other."""
    counts = {"arabic": 0, "devanagari": 0, "gurmukhi": 0, "latin": 0, "other": 0}
    for ch in text:
        if not ch.isalpha():
            continue
        o = ord(ch)
        if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF or 0xFB50 <= o <= 0xFEFF:
            counts["arabic"] += 1
        elif 0x0900 <= o <= 0x097F:
            counts["devanagari"] += 1
        elif 0x0A00 <= o <= 0x0A7F:
            counts["gurmukhi"] += 1
        elif o < 0x0250 or 0x1E00 <= o <= 0x1EFF:
            counts["latin"] += 1
        else:
            counts["other"] += 1
    total = sum(counts.values())
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def wrong_script(text: str, language: str) -> str | None:
    """For an Arabic-script language, the script the text is mostly in if it is not Arabic."""
    if language not in ARABIC_SCRIPT_LANGUAGES:
        return None
    shares = script_shares(text)
    if sum(shares.values()) == 0 or shares["arabic"] >= 0.5:
        return None
    return max((k for k in shares if k != "arabic"), key=shares.get)


def _bytes_of_token():
    # GPT-2 byte-level BPE maps every byte to a printable character; invert it.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


@lru_cache(maxsize=4)
def non_arabic_indic_tokens(model_path: str) -> tuple[int, ...]:
    """Token ids that can start a U+0800..U+0FFF character (Devanagari, Gurmukhi, Bengali...).

    Arabic script lives in two-byte UTF-8, so banning the 0xE0 lead byte stops
    Whisper from writing Urdu speech in Hindi or Punjabi in Gurmukhi.
    """
    vocab = json.loads((Path(model_path) / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    table = _bytes_of_token()
    banned = []
    for token, idx in vocab.items():
        try:
            raw = bytes(table[c] for c in token)
        except KeyError:
            continue
        if 0xE0 in raw:
            banned.append(int(idx))
    return tuple(sorted(banned))


# Languages Whisper confuses with each other when spoken (same speech, other script).
_SOUND_ALIKE = {
    "ur": {"hi", "pa", "sd"},
    "pa": {"hi", "ur"},
    "sd": {"ur", "hi", "pa"},
    "ps": {"fa", "ur", "ar"},
    "fa": {"ps", "ar", "ur"},
    "ar": {"fa", "ur"},
}


def sounds_like(model, samples: np.ndarray, language: str) -> str | None:
    """The language the speech clearly is, if it is not ``language`` nor a close neighbour."""
    try:
        detected, prob, _ = model.detect_language(samples, vad_filter=True)
    except (RuntimeError, ValueError, IndexError):
        return None
    if detected == language or detected in _SOUND_ALIKE.get(language, set()) or prob < 0.6:
        return None
    return detected


def is_prompt_echo(text: str, prompt: str) -> bool:
    # On unclear audio Whisper may repeat its prompt; that text was never spoken.
    squash = lambda x: "".join(ch for ch in x if ch.isalpha())  # noqa: E731
    return bool(prompt) and bool(squash(text)) and squash(text) in squash(prompt)
