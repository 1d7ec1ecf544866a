"""The facilitator's guide as a printable page: docs/guide/facilitator.<lang>.md drawn as HTML.

The guide is written in a small part of Markdown (headings, lists, paragraphs,
**bold** and `code`), and this draws exactly that part. Every character of the
text is escaped first, so nothing in a guide can become markup or a script.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, render_template
from markupsafe import Markup, escape

from storyteller import config

bp = Blueprint("guide", __name__, url_prefix="/guide")

GUIDE_LANGUAGES = ("en", "ur")
_HEADING = re.compile(r"^(#{1,3})\s+(.*?)(?:\s+\{#([a-z0-9-]+)\})?\s*$")
_BULLET = re.compile(r"^[-*]\s+(.*)$")
_NUMBERED = re.compile(r"^\d+[.)]\s+(.*)$")


def guide_path(lang: str) -> Path:
    return config.PROJECT_ROOT / "docs" / "guide" / f"facilitator.{lang if lang in GUIDE_LANGUAGES else 'en'}.md"


def _inline(text: str) -> str:
    html = str(escape(text))
    html = re.sub(r"`([^`]+)`", r'<code dir="ltr">\1</code>', html)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)


def render_guide(markdown: str) -> tuple[str, Markup]:
    """The guide's title and its body as HTML."""
    out: list[str] = []
    title = ""
    paragraph: list[str] = []
    open_list = ""

    def close_paragraph():
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_list():
        nonlocal open_list
        if open_list:
            out.append(f"</{open_list}>")
            open_list = ""

    for line in markdown.splitlines():
        stripped = line.strip()
        heading, bullet, numbered = _HEADING.match(stripped), _BULLET.match(stripped), _NUMBERED.match(stripped)
        if not stripped:
            close_paragraph()
            close_list()
        elif heading:
            close_paragraph()
            close_list()
            level, text, anchor = len(heading.group(1)), heading.group(2), heading.group(3)
            if level == 1 and not title:
                title = text
                continue
            anchor_attr = f' id="{anchor}"' if anchor else ""
            out.append(f"<h{level}{anchor_attr}>{_inline(text)}</h{level}>")
        elif bullet or numbered:
            close_paragraph()
            kind = "ul" if bullet else "ol"
            if open_list != kind:
                close_list()
                out.append(f"<{kind}>")
                open_list = kind
            out.append(f"<li>{_inline((bullet or numbered).group(1))}</li>")
        elif open_list and line.startswith("  "):
            out[-1] = out[-1][: -len("</li>")] + " " + _inline(stripped) + "</li>"  # a list item that goes on
        else:
            close_list()
            paragraph.append(stripped)
    close_paragraph()
    close_list()
    return title, Markup("\n".join(out))  # nosec B704 - every piece of text in out was escaped above


@bp.get("/")
def show():
    """The guide in the interface language (English or Urdu), ready to print."""
    from flask_babel import get_locale

    lang = str(get_locale())
    lang = lang if lang in GUIDE_LANGUAGES else "en"
    title, body = render_guide(guide_path(lang).read_text(encoding="utf-8"))
    return render_template("guide/show.html", title=title, body=body, guide_lang=lang)
