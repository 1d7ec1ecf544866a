"""Which voice protection her audience calls for: the one consent-to-method rule.

The CLI and the web ask the same two questions: which method is the default for
the audience she consented to, and is the method she (or the facilitator)
picked weaker than that? A weaker one is allowed only after the facilitator
confirms it, with the method's honest label in front of them.

* ``public`` campaign: nothing of her voice may remain (``synthetic``, or
  ``double``: a volunteer reading her script).
* ``organisation``: ``disguise``; people who know her may still recognise it.
* ``workshop`` screening only: the audience already knows her, so her own
  voice is allowed; ``disguise`` is offered as the default.
"""

from __future__ import annotations

AUDIENCES = ("public", "organisation", "workshop")

# How much of her voice each method hides (higher hides more); measured in tests/bench/bench_voice.py.
STRENGTH = {"own": 0, "pitch": 1, "disguise": 2, "synthetic": 3, "double": 3}

_DEFAULT = {"public": "synthetic", "organisation": "disguise", "workshop": "disguise"}
_WEAKEST_WITHOUT_CONFIRMATION = {"public": 3, "organisation": 2, "workshop": 0}


def _check(audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"Unknown audience {audience!r}; choose one of {', '.join(AUDIENCES)}.")


def default_method(audience: str) -> str:
    """The voice method her consent level calls for."""
    _check(audience)
    return _DEFAULT[audience]


def is_weaker(method: str, audience: str) -> bool:
    """True when ``method`` hides less than her audience needs (the facilitator must confirm it)."""
    _check(audience)
    if method not in STRENGTH:
        raise ValueError(f"Unknown voice method {method!r}; choose one of {', '.join(STRENGTH)}.")
    return STRENGTH[method] < _WEAKEST_WITHOUT_CONFIRMATION[audience]
