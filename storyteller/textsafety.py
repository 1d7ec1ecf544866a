"""Labels that cannot lie about themselves: names, pseudonyms, titles, file names.

A workshop named with U+202E (right-to-left override) displays its letters in another
order than they are stored: "Rose\u202eexe.gpj" shows as "Rosejpg.exe". Invisible text
(only zero-width or other format characters) looks empty yet is not, so two names that
look the same are different. Control characters and NUL break file systems, logs and
terminals. ``clean_label`` removes all of these before a label is stored, and keeps
what a name in Urdu, Pashto or Dari needs: the zero-width non-joiner and joiner inside
a word shape its letters.
"""

from __future__ import annotations

import unicodedata

# Inside a word these change how Arabic-script letters join (Dari and Persian need ZWNJ).
_JOINERS = frozenset("\u200c\u200d")
# Characters drawn as nothing that Unicode files as letters or symbols rather than format characters.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")


def _kept(ch: str) -> bool:
    category = unicodedata.category(ch)
    if ch in _JOINERS:
        return True
    # Cf: bidi embeddings, overrides, isolates and marks, zero-width space, BOM, word joiner...
    # Cc: NUL and the other control characters; Cs, Co, Cn: surrogates, private and unassigned.
    return not (category.startswith("C") or ch in _BLANK_LOOKING)


def clean_label(text: str) -> str:
    """``text`` as it looks: no direction overrides, no control or invisible characters, single spaces.

    Line breaks and tabs become spaces. A label made only of invisible characters comes
    back empty, so the caller's "give a name" check refuses it.
    """
    text = unicodedata.normalize("NFC", text or "")
    text = "".join(" " if ch.isspace() else ch for ch in text)
    text = "".join(ch for ch in text if _kept(ch))
    words = []
    for word in text.split():
        word = word.strip("".join(_JOINERS))  # a joiner at the edge of a word joins nothing
        if word:
            words.append(word)
    return " ".join(words)
