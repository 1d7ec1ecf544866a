"""Text layout: Urdu shaped and right to left, mixed Urdu/English, width breaking, safe area."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from storyteller.config import PROJECT_ROOT
from storyteller.pipeline.render import textlayout as tl

URDU = "ہم سب کی آواز اہم ہے"


def test_fonts_ship_with_the_app() -> None:
    for p in (tl.NASTALIQ, tl.NASKH, tl.latin_font_path()):
        assert p.is_file(), p
    assert tl.NASTALIQ.is_relative_to(PROJECT_ROOT / "media" / "fonts")
    assert "shared" not in tl.NASTALIQ.parts
    assert "SIL Open Font License" in (tl.FONT_DIR / "COPYRIGHT-noto-fonts.txt").read_text(encoding="utf-8")


def test_mixed_line_splits_into_font_runs() -> None:
    runs = tl.split_runs("میں نے WhatsApp پر block کیا", "ur", rtl=True)
    assert [r.direction for r in runs] == ["rtl", "ltr", "rtl", "ltr", "rtl"]
    assert runs[1].text == "WhatsApp" and runs[1].font == tl.latin_font_path()
    assert runs[0].font == tl.NASTALIQ
    # Spaces between an Urdu and an English word go with the paragraph's (Urdu) side.
    assert runs[0].text.endswith(" ") and runs[2].text.startswith(" ")


def test_pashto_and_sindhi_use_naskh_with_their_letters() -> None:
    runs = tl.split_runs("ځ ښ ږ ڄ ڃ", "ps")
    assert {r.font for r in runs} == {tl.NASKH}
    assert "".join(r.text for r in runs) == "ځ ښ ږ ڄ ڃ"


def test_emoji_is_dropped_and_special_characters_kept() -> None:
    runs = tl.split_runs("a: 'b' \\ 100% 🙂 done", "en", rtl=False)
    text = "".join(r.text for r in runs)
    assert "🙂" not in text and "  " not in text
    for ch in ":'\\%":
        assert ch in text


def _ink(mask: Image.Image) -> np.ndarray:
    return (np.asarray(mask) > 0).astype(np.uint8)


def test_urdu_is_joined_not_isolated_letters() -> None:
    """raqm joins the letters; Pillow's BASIC layout would draw isolated forms (wider, more blobs)."""
    shaped = tl.layout_text(URDU, size=40, max_width=2000, language="ur")
    basic_font = ImageFont.truetype(str(tl.NASTALIQ), round(40 * tl.ARABIC_SCALE), layout_engine=ImageFont.Layout.BASIC)
    canvas = Image.new("L", (2000, 200))
    ImageDraw.Draw(canvas).text((10, 50), URDU, font=basic_font, fill=255)
    basic = canvas.crop(canvas.getbbox())
    n_shaped = cv2.connectedComponents(_ink(shaped))[0]
    n_basic = cv2.connectedComponents(_ink(basic))[0]
    assert n_shaped < n_basic, (n_shaped, n_basic)


def test_urdu_runs_right_to_left() -> None:
    """The first word of the sentence must be drawn at the right end of the line."""
    ts = tl.Typesetter(40, "ur", rtl=True)
    line = np.asarray(ts.draw_line("ہم سب", rtl=True)).astype(np.float32)
    first = np.asarray(ts.draw_line("ہم", rtl=True)).astype(np.float32)
    pad = np.zeros((line.shape[0] + 40, line.shape[1] + 40), np.float32)
    pad[20 : 20 + line.shape[0], 20 : 20 + line.shape[1]] = line
    score = cv2.matchTemplate(pad, first, cv2.TM_CCORR_NORMED)
    x = cv2.minMaxLoc(score)[3][0] - 20
    assert x + first.shape[1] / 2 > line.shape[1] / 2, (x, line.shape[1])


def _find(line: np.ndarray, part: np.ndarray) -> float:
    """Centre x (0..1 of the line width) where ``part`` best matches inside ``line``."""
    pad = np.zeros((line.shape[0] + 40, line.shape[1] + 40), np.float32)
    pad[20 : 20 + line.shape[0], 20 : 20 + line.shape[1]] = line
    x = cv2.minMaxLoc(cv2.matchTemplate(pad, part, cv2.TM_CCORR_NORMED))[3][0] - 20
    return (x + part.shape[1] / 2) / line.shape[1]


@pytest.mark.parametrize("rtl, english_on_left", [(True, True), (False, False)])
def test_paragraph_direction_orders_the_runs(rtl: bool, english_on_left: bool) -> None:
    """In an Urdu (RTL) line, an English word that comes after the Urdu one sits to its left."""
    ts = tl.Typesetter(40, "ur", rtl=rtl)
    line = np.asarray(ts.draw_line("میں WhatsApp", rtl=rtl)).astype(np.float32)
    word = np.asarray(ts.draw_line("WhatsApp", rtl=False)).astype(np.float32)
    assert (_find(line, word) < 0.5) == english_on_left


def test_long_text_breaks_into_at_most_two_lines_that_fit() -> None:
    text = "This is a long subtitle that a participant wrote, and it keeps going well past one line of text"
    ts = tl.Typesetter(36, "en")
    lines, fitted = ts.wrap(text, 900, 2)
    assert not fitted or len(lines) <= 2
    mask = tl.layout_text(text, size=36, max_width=900)
    assert mask.width <= 900
    assert mask.height < 36 * 2 * 2.2  # two lines at most (three would be taller)
    huge = " ".join(["word"] * 200)
    m2 = tl.layout_text(huge, size=36, max_width=900)
    assert m2.width <= 900 and m2.height < 36 * 2 * 2.2


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (720, 1280), (1080, 1080), (640, 360)])
@pytest.mark.parametrize(
    "text, lang", [(URDU + " — every voice matters, always and everywhere.", "ur"), ("She said: 'don't give up' — 100% true 🙂", "en")]
)
def test_subtitle_stays_in_title_safe_area(size, text: str, lang: str) -> None:
    w, h = size
    rgba, x, y = tl.subtitle_image(text, w, h, lang)
    bh, bw = rgba.shape[:2]
    assert x >= 0.05 * w and x + bw <= 0.95 * w, (x, bw, w)
    assert y >= 0.05 * h and y + bh <= 0.95 * h, (y, bh, h)
    alpha = rgba[:, :, 3]
    assert 100 < alpha[bh // 2, 2] < 255  # translucent band
    assert (alpha == 255).any()  # opaque text on it


def test_blank_subtitle_has_no_image() -> None:
    assert tl.subtitle_image("   ", 1280, 720) is None
    assert tl.subtitle_image("🙂🙂", 1280, 720) is None


def _bracket_ends(text: str) -> str:
    """Which way the leftmost and rightmost glyphs of a drawn line curve: "(" or ")"."""
    ts = tl.Typesetter(60, "ur", rtl=True)
    m = (np.asarray(ts.draw_line(text, True)) > 100).astype(np.uint8)
    n, _, stats, cent = cv2.connectedComponentsWithStats(m)
    comps = sorted((stats[i, 0], i) for i in range(1, n) if stats[i, 4] > 30)
    out = ""
    for _, i in (comps[0], comps[-1]):
        x, _, w, _, _ = stats[i]
        out += "(" if cent[i][0] < x + w / 2 else ")"
    return out


def test_brackets_split_across_runs_still_face_inward() -> None:
    """Digits make separate runs; the brackets around them must look like a single-run pair."""
    assert _bracket_ends("(مفت 24 گھنٹے)") == _bracket_ends("(مفت)") == "()"
