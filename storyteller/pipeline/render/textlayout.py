"""Text to pixels, with Arabic script shaped right: Pillow + raqm, our own bidi runs.

Why not one ``draw.text`` call: no single font covers Urdu and English. Noto
Nastaliq Urdu and Noto Naskh Arabic have no Latin letters, Noto Sans has no Arabic.
So a line is split into runs, each run gets the first font that has its letters,
each run is shaped by raqm with an explicit direction and language, and the runs
are placed in visual order: right to left in an RTL paragraph, left to right
otherwise. (Do not add arabic-reshaper/python-bidi: raqm already reorders and
joins inside a run; doing it twice would reverse the text.)

Characters no bundled font has (emoji, for example) are left out of the picture;
they stay in the .srt/.vtt files, where the viewer's own fonts draw them.

Lines are broken at spaces by measured width, with at most ``max_lines`` lines and
about 42 characters a line; text that still does not fit is drawn smaller and, as a
last resort, cut with an ellipsis.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from storyteller.config import PROJECT_ROOT
from storyteller.errors import UserError

FONT_DIR = PROJECT_ROOT / "media" / "fonts"
NASTALIQ = FONT_DIR / "NotoNastaliqUrdu-Regular.ttf"
NASKH = FONT_DIR / "NotoNaskhArabic-Regular.ttf"
# Urdu and Punjabi (Shahmukhi) are read in Nastaliq; Pashto, Sindhi, Dari and Arabic in Naskh.
NASTALIQ_LANGUAGES = ("ur", "pa")
MAX_CHARS = 42
# Arabic-script fonts look smaller than Latin at the same pixel size.
ARABIC_SCALE = 1.15


class TextLayoutError(UserError):
    """Text could not be drawn (a font is missing or the text engine lacks raqm)."""


@cache
def latin_font_path() -> Path:
    """Noto Sans from the ``fontpkg-noto-sans`` wheel (OFL), the Latin font."""
    try:
        import fontpkg_noto_sans
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise TextLayoutError("The Latin font package fontpkg-noto-sans is not installed.") from exc
    files = sorted((Path(fontpkg_noto_sans.ROOT) / "files").glob("NotoSans[[]*.ttf"))
    if not files:  # pragma: no cover
        raise TextLayoutError("The Noto Sans font file is missing from fontpkg-noto-sans.")
    return files[0]


@cache
def _coverage(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    if not path.exists():
        raise TextLayoutError(f"The font {path.name} is missing from {path.parent}.")
    with TTFont(str(path), lazy=True) as tt:
        return frozenset(tt.getBestCmap())


@lru_cache(maxsize=64)
def _font(path: Path, size: int, bold: bool) -> ImageFont.FreeTypeFont:
    if not features.check("raqm"):
        raise TextLayoutError("Pillow was built without raqm, so Urdu cannot be shaped correctly.")
    f = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)
    if path == latin_font_path():
        try:
            f.set_variation_by_name("Bold" if bold else "Regular")
        except (OSError, ValueError):
            pass
    return f


def _is_arabic(ch: str) -> bool:
    o = ord(ch)
    return 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF


def _strong(ch: str) -> str | None:
    b = unicodedata.bidirectional(ch)
    if b in ("R", "AL"):
        return "rtl"
    if b == "L":
        return "ltr"
    return None


def is_rtl_text(text: str) -> bool:
    """True when the first letter with a direction is right-to-left."""
    for ch in text:
        d = _strong(ch)
        if d:
            return d == "rtl"
    return False


def has_rtl_letters(text: str) -> bool:
    """True when any letter is written right to left (Arabic script and the like)."""
    return any(_strong(ch) == "rtl" for ch in text)


@dataclass(frozen=True)
class Run:
    text: str
    font: Path
    direction: str  # "rtl" or "ltr"


def _chains(language: str) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    arabic = (NASTALIQ, NASKH) if language in NASTALIQ_LANGUAGES else (NASKH, NASTALIQ)
    latin = (latin_font_path(), NASKH)
    return arabic, latin


def split_runs(text: str, language: str = "ur", rtl: bool | None = None) -> list[Run]:
    """Split one line into font runs in logical order; uncovered characters are dropped.

    ``rtl`` is the paragraph direction (default: from the first letter). As in the
    Unicode bidi rules, a space or mark between an English and an Urdu word takes
    the paragraph's direction, and digits are written left to right.
    """
    arabic_chain, latin_chain = _chains(language)
    latin = latin_chain[0]
    if rtl is None:
        rtl = is_rtl_text(text)

    def pick(ch: str, chain: tuple[Path, ...]) -> Path | None:
        return next((p for p in chain if ord(ch) in _coverage(p)), None)

    chars = [c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co") or c == "\u200c"]
    fonts: list[Path | None] = []
    for ch in chars:
        if _is_arabic(ch):
            fonts.append(pick(ch, arabic_chain))
        elif _strong(ch) == "ltr" or ch.isascii() and ch.isdigit():
            fonts.append(pick(ch, latin_chain))
        else:
            fonts.append(None)  # neutral: decided below from its neighbours
    strong = [f is not None for f in fonts]
    # A neutral between two runs of one direction joins them; between opposite directions
    # it takes the paragraph direction; a "%" after a digit stays with the number.
    resolved: list[Path | None] = list(fonts)
    for i, ch in enumerate(chars):
        if strong[i]:
            continue
        before = next((fonts[j] for j in range(i - 1, -1, -1) if strong[j]), None)
        after = next((fonts[j] for j in range(i + 1, len(chars)) if strong[j]), None)
        dir_b = None if before is None else ("ltr" if before == latin else "rtl")
        dir_a = None if after is None else ("ltr" if after == latin else "rtl")
        para_fonts = arabic_chain if rtl else (latin,)
        if dir_b is None and dir_a is None:
            cands: tuple = para_fonts
        elif dir_b == dir_a:
            cands = (before, after)
        elif dir_b is None:
            cands = (after,) if dir_a == ("rtl" if rtl else "ltr") else para_fonts
        elif dir_a is None:
            cands = (before,) if dir_b == ("rtl" if rtl else "ltr") else para_fonts
        else:
            cands = (before,) if dir_b == ("rtl" if rtl else "ltr") else (after,)
        if i and chars[i - 1].isdigit() and before == latin and not ch.isspace():
            cands = (latin,) + tuple(cands)
        # Fallbacks keep the side's direction, so an Urdu "(" missing from Nastaliq comes
        # from Naskh (and is mirrored by raqm), not from the Latin font.
        rtl_side = cands and cands[0] is not None and cands[0] != latin
        fallbacks = (*arabic_chain, latin) if rtl_side else (*latin_chain, *arabic_chain)
        for cand in (*cands, *fallbacks):
            if cand is not None and ord(ch) in _coverage(cand):
                resolved[i] = cand
                break
    runs: list[Run] = []
    for ch, font in zip(chars, resolved):
        if font is None:
            continue  # no bundled font draws it (emoji, for example): leave it out of the picture
        if ch.isspace() and runs and runs[-1].text.endswith(" "):
            continue  # a dropped emoji must not leave a double space
        direction = "ltr" if font == latin else "rtl"
        if runs and runs[-1].font == font:
            runs[-1] = Run(runs[-1].text + ch, font, direction)
        else:
            runs.append(Run(ch, font, direction))
    return runs


class Typesetter:
    """Measures and draws lines for one language at one pixel size."""

    def __init__(self, size: int, language: str = "en", rtl: bool | None = None, bold: bool = False):
        self.size = max(6, int(size))
        self.language = language
        self.rtl = rtl
        self.bold = bold
        self._widths: dict[str, float] = {}  # wrap() and _balance() measure the same lines again

    def _run_font(self, run: Run) -> ImageFont.FreeTypeFont:
        size = self.size if run.font == latin_font_path() else round(self.size * ARABIC_SCALE)
        return _font(run.font, size, self.bold)

    def _lang(self, run: Run) -> str | None:
        if run.direction != "rtl":
            return "en"
        return self.language if self.language != "en" else "ur"

    def _runs(self, line: str, rtl: bool | None = None) -> list[Run]:
        return split_runs(line, self.language if self.language != "en" else "ur", rtl if rtl is not None else self.rtl)

    def width(self, line: str) -> float:
        """Advance width of one line in pixels."""
        if line not in self._widths:
            self._widths[line] = sum(self._advances(self._runs(line)))
        return self._widths[line]

    def _advances(self, runs: list[Run]) -> list[float]:
        # Nastaliq's space is narrow: add a little air where the direction changes
        # so "WhatsApp" does not touch the Urdu word beside it.
        out = []
        for i, r in enumerate(runs):
            w = self._run_font(r).getlength(r.text, direction=r.direction, language=self._lang(r))
            if i + 1 < len(runs) and runs[i + 1].direction != r.direction:
                w += self.size * 0.2
            out.append(w)
        return out

    def draw_line(self, line: str, rtl: bool) -> Image.Image:
        """One line as an 'L' (alpha) image cropped to its ink, baselines aligned across fonts."""
        runs = self._runs(line, rtl)
        widths = self._advances(runs)
        total = sum(widths)
        pad = self.size
        # Nastaliq reaches far above and below the line (ascent 1.9 em, descent 0.6 em).
        canvas = Image.new("L", (int(total) + 2 * pad, int(self.size * 3.6)), 0)
        draw = ImageDraw.Draw(canvas)
        baseline = int(self.size * 2.3)
        x = pad + total if rtl else float(pad)
        for run, w in zip(runs, widths):
            if rtl:
                x -= w
                natural = self._run_font(run).getlength(run.text, direction=run.direction, language=self._lang(run))
                pos = x + (w - natural)  # the extra air sits on the left, towards the next run
            else:
                pos = x
                x += w
            draw.text(
                (pos, baseline),
                run.text,
                fill=255,
                font=self._run_font(run),
                anchor="ls",
                direction=run.direction,
                language=self._lang(run),
            )
        bbox = canvas.getbbox()
        if bbox is None:
            return Image.new("L", (1, 1), 0)
        return canvas.crop((bbox[0], bbox[1], bbox[2], bbox[3]))

    def wrap(self, text: str, max_width: float, max_lines: int, max_chars: int = MAX_CHARS) -> tuple[list[str], bool]:
        """Width-based line breaks, as a person would make them. Returns (lines, fitted).

        Greedy first; a paragraph that takes two lines is then broken where the two come
        out most even, preferring a break after punctuation or where the script changes
        (Urdu to English), so a last word or a full stop is never left on a line alone.
        """
        lines: list[str] = []
        for para in text.replace("\r", "").split("\n"):
            words = para.split()
            greedy: list[str] = []
            current = ""
            for word in words:
                trial = f"{current} {word}" if current else word
                if current and (len(trial) > max_chars or self.width(trial) > max_width):
                    greedy.append(current)
                    current = word
                else:
                    current = trial
            if current:
                greedy.append(current)
            lines += self._balance(words, max_width, max_chars) if len(greedy) == 2 else greedy
        fitted = len(lines) <= max_lines and all(self.width(line) <= max_width for line in lines)
        return lines, fitted

    def _balance(self, words: list[str], max_width: float, max_chars: int) -> list[str]:
        """The two lines (of ``words``, which need two) whose longer one is shortest; a break
        after punctuation or at a change of script counts as a fifth shorter."""
        best: tuple[float, list[str]] | None = None
        for k in range(1, len(words)):
            first, second = " ".join(words[:k]), " ".join(words[k:])
            w1, w2 = self.width(first), self.width(second)
            if max(w1, w2) > max_width or max(len(first), len(second)) > max_chars:
                continue
            natural = words[k - 1][-1] in ",;:.!?،؛۔—–" or has_rtl_letters(words[k - 1]) != has_rtl_letters(words[k])
            cost = max(w1, w2) * (0.8 if natural else 1.0)
            if best is None or cost < best[0]:
                best = (cost, [first, second])
        return best[1] if best else [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]


def layout_text(
    text: str,
    *,
    size: int,
    max_width: int,
    language: str = "en",
    rtl: bool | None = None,
    max_lines: int = 2,
    max_chars: int = MAX_CHARS,
    bold: bool = False,
    min_scale: float = 0.7,
    align: str = "center",
) -> Image.Image:
    """Lay out ``text`` as an 'L' mask: width-broken lines, shrunk if needed, ellipsis last.

    ``rtl`` forces the paragraph direction; ``None`` takes it from the first letter.
    """
    if rtl is None:
        rtl = is_rtl_text(text)
    scale = 1.0
    while True:
        ts = Typesetter(round(size * scale), language, rtl, bold)
        lines, fitted = ts.wrap(text, max_width, max_lines, max_chars if scale == 1.0 else 10_000)
        if fitted or scale <= min_scale:
            break
        scale = max(min_scale, scale - 0.1)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip() + "…"
    for i, line in enumerate(lines):
        while ts.width(line) > max_width and len(line) > 1:
            line = line[:-2].rstrip() + "…"
        lines[i] = line
    is_rtl = rtl
    # A line of an Urdu paragraph that holds only English reads left to right: its full
    # stop stays after its last word instead of jumping to the far (left) end.
    images = [ts.draw_line(line, is_rtl and has_rtl_letters(line)) for line in lines if line.strip()]
    if not images:
        return Image.new("L", (1, 1), 0)
    gap = max(2, round(ts.size * 0.35))
    w = max(im.width for im in images)
    h = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("L", (w, h), 0)
    y = 0
    for im in images:
        if align == "center":
            x = (w - im.width) // 2
        else:  # start edge follows the paragraph direction
            x = w - im.width if is_rtl else 0
        out.paste(im, (x, y))
        y += im.height + gap
    return out


def subtitle_image(
    text: str, frame_w: int, frame_h: int, language: str = "en", rtl: bool | None = None
) -> tuple[np.ndarray, int, int] | None:
    """A subtitle on a translucent band: (RGBA array, x, y), bottom-centred inside the title-safe area."""
    if not text.strip():
        return None
    short = min(frame_w, frame_h)
    size = max(12, round(short * 0.05))
    safe_x = round(frame_w * 0.08)
    mask = layout_text(text, size=size, max_width=frame_w - 2 * safe_x - size, language=language, rtl=rtl)
    if mask.width <= 1:
        return None
    pad_x, pad_y = round(size * 0.5), round(size * 0.35)
    bw, bh = mask.width + 2 * pad_x, mask.height + 2 * pad_y
    band = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    ImageDraw.Draw(band).rounded_rectangle((0, 0, bw - 1, bh - 1), radius=round(size * 0.3), fill=(0, 0, 0, 150))
    white = Image.new("RGBA", mask.size, (255, 255, 255, 255))
    band.paste(white, (pad_x, pad_y), mask)
    # Vertical phone formats: WhatsApp/TikTok put their own buttons over the bottom fifth.
    bottom_margin = round(frame_h * (0.2 if frame_h > frame_w else 0.08))
    x = (frame_w - bw) // 2
    y = frame_h - bottom_margin - bh
    return np.asarray(band), x, max(0, y)


def text_mask_rgba(mask: Image.Image, color: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Colour an 'L' text mask into an RGBA image."""
    img = Image.new("RGBA", mask.size, color + (0,))
    img.putalpha(mask)
    return img
