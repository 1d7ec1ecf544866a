"""Title and end cards: still frames with large, correctly shaped text.

The title card sits on a blurred, darkened copy of the first picture so it
belongs to the story; the end card (campaign hashtag, helpline lines from the
workshop kit) sits on a calm dark background. Text stays inside the title-safe area.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from storyteller.pipeline.media.images import blurred_fill
from storyteller.pipeline.render.story import Card
from storyteller.pipeline.render.textlayout import layout_text, text_mask_rgba


def _background(w: int, h: int, picture: np.ndarray | None) -> Image.Image:
    if picture is not None:
        return Image.fromarray(blurred_fill(picture, w, h, darken=0.45))
    # A quiet vertical gradient, dark teal to near black.
    top, bottom = np.array([22, 48, 58], np.float32), np.array([8, 12, 18], np.float32)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    col = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    return Image.fromarray(np.repeat(col[:, None, :], w, axis=1))


def card_frame(card: Card, w: int, h: int, language: str, rtl: bool | None, picture: np.ndarray | None = None) -> np.ndarray:
    """Render a card to an RGB uint8 frame of w x h."""
    img = _background(w, h, picture).convert("RGBA")
    short = min(w, h)
    safe_w = round(w * 0.8)
    blocks = [
        layout_text(
            card.text, size=round(short * 0.085), max_width=safe_w, language=language, rtl=rtl, max_lines=3, max_chars=32, bold=True
        )
    ]
    for line in card.lines:
        if line.strip():
            blocks.append(
                layout_text(line, size=round(short * 0.05), max_width=safe_w, language=language, rtl=rtl, max_lines=2, max_chars=48)
            )
    gap = round(short * 0.045)
    total = sum(b.height for b in blocks) + gap * (len(blocks) - 1)
    # Centre the text in the part of the card that subtitles never cover (they sit in the
    # bottom ~30% on a square or tall frame), so the helpline is never hidden under a cue.
    top, bottom = round(h * 0.08), round(h * (0.68 if h >= w else 0.78))
    y = max(top, top + (bottom - top - total) // 2)
    for i, mask in enumerate(blocks):
        color = (255, 255, 255) if i == 0 else (225, 232, 235)
        layer = text_mask_rgba(mask, color)
        img.alpha_composite(layer, ((w - mask.width) // 2, y))
        y += mask.height + gap
    return np.asarray(img.convert("RGB"))
