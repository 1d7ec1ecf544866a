"""Workshop kits: the words and defaults a facilitator starts a workshop from.

A kit is a folder of plain TOML files that a facilitator copies and edits
(``workshops/README.md`` shows the format)::

    workshops/<kit-id>/kit.toml           languages offered, default voice and video shape, consent version
    workshops/<kit-id>/text.<lang>.toml   the words in one language: name, welcome, prompts, consent, end card

The words sit in one file per language, so that a translator edits a single file
and adding a language means copying ``text.en.toml``. Every problem is reported,
not just the first, each naming the file, the field and what is expected, so that
a copy can be fixed in one pass (``storyteller kit check DIR``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyteller import config
from storyteller.errors import UserError
from storyteller.store.workshops import LANGUAGES

# The same choices the voice and render commands offer.
VOICE_METHODS = ("disguise", "synthetic", "double", "pitch")
VIDEO_SHAPES = ("16:9", "9:16", "1:1")
CONSENT_LEVELS = ("workshop", "organisation", "public")  # as the consents table names them

# Limits that keep a kit readable on a screen and an end card: a prompt is a
# question, not a chapter, and a 50,000-character paste is a mistake.
MAX_NAME = 120
MAX_PROMPT = 2_000
MAX_PROMPTS = 20
MAX_CONSENT = 4_000
MAX_END_CARD_LINE = 200
MAX_END_CARD_LINES = 8
MAX_FILE_BYTES = 200_000
KIT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")

KIT_FILE = "kit.toml"
KIT_FIELDS = {"languages": None, "defaults": ("voice", "shape"), "consent": ("version",)}
TEXT_FIELDS = {
    "name": None,
    "welcome": None,
    "prompts": None,
    "consent": ("intro", *CONSENT_LEVELS),
    "end_card": ("organisation", "hashtag", "helplines", "tips"),
}


class KitError(UserError):
    """A kit that cannot be used; ``problems`` holds one plain line per thing to fix."""

    def __init__(self, problems: list[str] | tuple[str, ...]):
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class ConsentText:
    """The consent words in one language: an introduction, then one choice per use."""

    intro: str
    workshop: str  # shown in this workshop's closing circle only
    organisation: str  # seen inside the organisation, never online
    public: str  # shared in a public campaign

    def level(self, level: str) -> str:
        if level not in CONSENT_LEVELS:
            raise ValueError(f"Consent levels are {', '.join(CONSENT_LEVELS)}, not {level!r}.")
        return getattr(self, level)


@dataclass(frozen=True)
class EndCard:
    """The closing card of a video; empty fields are left off the card."""

    organisation: str
    hashtag: str
    helplines: tuple[str, ...]  # filled in by the organisation, who can check the numbers
    tips: tuple[str, ...]


@dataclass(frozen=True)
class KitText:
    """Everything a kit says, in one language."""

    language: str
    name: str
    welcome: str  # shown to the participant above the prompts
    prompts: tuple[str, ...]
    consent: ConsentText
    end_card: EndCard
    source: Path


@dataclass(frozen=True)
class Kit:
    id: str  # the folder's name
    folder: Path
    languages: tuple[str, ...]  # English first: the fallback for a language the kit lacks
    voice: str  # default voice protection, one of VOICE_METHODS
    shape: str  # default video shape, one of VIDEO_SHAPES
    consent_version: str  # recorded with every consent, so a changed text is a new consent
    texts: tuple[KitText, ...]

    @property
    def name(self) -> str:
        return self.text("en").name

    def text(self, language: str) -> KitText:
        """The kit's words in ``language``, or in English when the kit does not offer it."""
        by_language = {t.language: t for t in self.texts}
        return by_language.get(language, by_language["en"])

    def public_gaps(self, language: str) -> tuple[str, ...]:
        """What the organisation still has to fill in before a video in ``language`` goes to a public campaign."""
        text = self.text(language)
        where = f"in {shown_path(text.source)}"
        gaps = []
        if not text.end_card.helplines:
            gaps.append(f"No helplines are on the end card yet: add the ones your organisation has checked to end_card.helplines {where}.")
        if not text.end_card.organisation:
            gaps.append(f"No organisation is named on the end card yet: fill in end_card.organisation {where}.")
        return tuple(gaps)


@dataclass(frozen=True)
class Shelf:
    """The kits in a workshops folder: those that load, and the errors of those that do not."""

    kits: tuple[Kit, ...]
    broken: tuple[KitError, ...]


def shown_path(path: Path) -> str:
    """A path as a facilitator would type it: relative to the current folder when it is inside it."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date (put it in quotes to make it text)"


class _Reader:
    """Reads the fields of one TOML file, noting every problem with the file and field it is in."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems

    def problem(self, field: str, message: str) -> None:
        self.problems.append(f"{shown_path(self.path)}: {field}: {message}" if field else f"{shown_path(self.path)}: {message}")

    def load(self, fields: dict[str, tuple[str, ...] | None]) -> dict | None:
        """The file's tables, or None (with the problem noted) when it cannot be read as TOML."""
        try:
            raw = self.path.read_bytes()
        except OSError:
            self.problem("", "cannot be read; check that the file is there and not open in another program.")
            return None
        if len(raw) > MAX_FILE_BYTES:
            self.problem("", f"is {len(raw):,} bytes; a kit file must be at most {MAX_FILE_BYTES:,}.")
            return None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            self.problem("", "is not UTF-8 text; save it again choosing the UTF-8 encoding.")
            return None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"line (\d+)", str(exc))
            where = f"line {found.group(1)}" if found else "the end of the file"
            self.problem(
                "", f"{where}: is not valid TOML; check the quotes, commas, brackets and the '=' on that line and the one before it."
            )
            return None
        self._unknown(data, fields, "")
        for table, keys in fields.items():
            if keys is not None and table in data and not isinstance(data[table], dict):
                self.problem(table, f"must be a table ([{table}] on a line of its own), not {_kind(data[table])}.")
                data[table] = {}
            elif keys is not None:
                self._unknown(data.get(table, {}), {k: None for k in keys}, f"{table}.")
        return data

    def _unknown(self, table: dict, fields: dict, prefix: str) -> None:
        for key in table:
            if key not in fields:
                self.problem(f"{prefix}{key}", f"is not a field of a kit; check the spelling (the fields here are {', '.join(fields)}).")

    def text(self, table: dict, key: str, field: str, limit: int, *, required: bool = True) -> str:
        expected = f"text in quotes of at most {limit:,} characters"
        if key not in table:
            self.problem(field, f"is missing; it must be {expected}.")
            return ""
        return self._text_value(table[key], field, limit, required=required)

    def _text_value(self, value: Any, field: str, limit: int, *, required: bool) -> str:
        expected = f"text in quotes of at most {limit:,} characters"
        if not isinstance(value, str):
            self.problem(field, f"must be {expected}, not {_kind(value)}.")
            return ""
        value = value.strip()
        if len(value) > limit:
            self.problem(field, f"must be {expected} (this one has {len(value):,}).")
        elif required and not value:
            self.problem(field, "is empty; write the words here.")
        return value

    def texts(self, table: dict, key: str, field: str, limit: int, most: int, *, at_least: int) -> tuple[str, ...]:
        """A list of texts; items are named from 1, as a facilitator counts them (prompts[1] is the first)."""
        expected = f'a list of texts in quotes, like ["first", "second"], with at most {most} items'
        if key not in table:
            self.problem(field, f"is missing; it must be {expected}.")
            return ()
        items = table[key]
        if not isinstance(items, list):
            self.problem(field, f"must be {expected}, not {_kind(items)}.")
            return ()
        if not at_least <= len(items) <= most:
            self.problem(field, f"has {len(items)} items; it must have {at_least} to {most}.")
        return tuple(self._text_value(item, f"{field}[{i}]", limit, required=True) for i, item in enumerate(items, start=1))

    def choice(self, table: dict, key: str, field: str, choices: tuple[str, ...]) -> str:
        expected = "one of " + ", ".join(f'"{c}"' for c in choices)
        value = table.get(key)
        if key not in table:
            self.problem(field, f"is missing; it must be {expected}.")
        elif value not in choices:
            self.problem(
                field, f'must be {expected}, not "{value}".' if isinstance(value, str) else f"must be {expected}, not {_kind(value)}."
            )
        return value if value in choices else choices[0]


def _offered(code: str) -> str:
    return f'"{code}" is not a language Storyteller offers; use one of {", ".join(LANGUAGES)}'


def _read_text(path: Path, language: str, problems: list[str]) -> KitText | None:
    reader = _Reader(path, problems)
    data = reader.load(TEXT_FIELDS)
    if data is None:
        return None
    name = reader.text(data, "name", "name", MAX_NAME)
    welcome = reader.text(data, "welcome", "welcome", MAX_PROMPT)
    prompts = reader.texts(data, "prompts", "prompts", MAX_PROMPT, MAX_PROMPTS, at_least=1)
    table_readers = {}
    for table in ("consent", "end_card"):
        table_readers[table] = reader
        if table not in data:
            reader.problem(table, f"is missing; add a [{table}] table with {', '.join(TEXT_FIELDS[table])}.")
            table_readers[table] = _Reader(path, [])  # its fields are not listed again one by one
    consent, card = data.get("consent", {}), data.get("end_card", {})
    check = table_readers["consent"]
    consent_text = ConsentText(**{key: check.text(consent, key, f"consent.{key}", MAX_CONSENT) for key in TEXT_FIELDS["consent"]})
    check = table_readers["end_card"]
    end_card = EndCard(
        organisation=check.text(card, "organisation", "end_card.organisation", MAX_END_CARD_LINE, required=False),
        hashtag=check.text(card, "hashtag", "end_card.hashtag", MAX_END_CARD_LINE, required=False),
        helplines=check.texts(card, "helplines", "end_card.helplines", MAX_END_CARD_LINE, MAX_END_CARD_LINES, at_least=0),
        tips=check.texts(card, "tips", "end_card.tips", MAX_END_CARD_LINE, MAX_END_CARD_LINES, at_least=0),
    )
    if end_card.hashtag and not re.fullmatch(r"#\w+", end_card.hashtag):
        reader.problem(
            "end_card.hashtag", f'must be one word starting with #, like "#TakeBackTheTech", or "" for none; not "{end_card.hashtag}".'
        )
    return KitText(language=language, name=name, welcome=welcome, prompts=prompts, consent=consent_text, end_card=end_card, source=path)


def _missing_file_hint(folder: Path, name: str) -> str:
    """Windows editors like to save ``kit.toml`` as ``kit.toml.txt``; say so when it happened."""
    near = sorted(p.name for p in folder.glob(f"{name}.*"))
    return f" (there is {near[0]}: rename it to {name})" if near else ""


def load_kit(folder: Path | str) -> Kit:
    """Read and check the kit in ``folder``; raise KitError listing every problem found."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KitError([f"{shown_path(folder)}: there is no such folder."])
    kit_file = folder / KIT_FILE
    if not kit_file.is_file():
        inner = sorted(p.parent for p in folder.glob(f"*/{KIT_FILE}"))
        if inner:
            raise KitError(
                [f"{shown_path(folder)}: this is a folder of kits, not one kit; check them one by one, like {shown_path(inner[0])}."]
            )
        raise KitError(
            [
                f"{shown_path(folder)}: there is no {KIT_FILE} in this folder{_missing_file_hint(folder, KIT_FILE)}; "
                "a kit folder needs one (copy a shipped kit to start)."
            ]
        )
    problems: list[str] = []
    if not KIT_ID.fullmatch(folder.name):
        problems.append(f"{shown_path(folder)}: the folder name must be small letters, digits and dashes, like lahore-circle.")
    reader = _Reader(kit_file, problems)
    data = reader.load(KIT_FIELDS)
    if data is None:
        raise KitError(problems)

    languages = reader.texts(data, "languages", "languages", 10, len(LANGUAGES), at_least=1)
    for i, code in enumerate(languages, start=1):
        if code and code not in LANGUAGES:
            reader.problem(f"languages[{i}]", _offered(code) + ".")
    if languages and "en" not in languages:
        reader.problem("languages", 'must include "en": English is shown wherever the kit has no words in a language.')
    if len(set(languages)) != len(languages):
        reader.problem("languages", "lists a language twice.")
    defaults, consent = data.get("defaults", {}), data.get("consent", {})
    voice = reader.choice(defaults, "voice", "defaults.voice", VOICE_METHODS)
    shape = reader.choice(defaults, "shape", "defaults.shape", VIDEO_SHAPES)
    version = reader.text(consent, "version", "consent.version", 40)

    texts = []
    for code in languages:
        path = folder / f"text.{code}.toml"
        if code not in LANGUAGES:
            continue
        if not path.is_file():
            reader.problem("languages", f'lists "{code}" but {path.name} is missing{_missing_file_hint(folder, path.name)}.')
            continue
        text = _read_text(path, code, problems)
        if text is not None:
            texts.append(text)
    for path in sorted(folder.glob("text.*.toml")):
        code = path.name.split(".")[1]
        if code not in languages:
            why = _offered(code) if code not in LANGUAGES else f'"{code}" is not listed in languages in {KIT_FILE}'
            problems.append(f"{shown_path(path)}: {why}.")
    if problems:
        raise KitError(problems)
    texts.sort(key=lambda t: t.language != "en")
    return Kit(
        id=folder.name,
        folder=folder,
        languages=tuple(t.language for t in texts),
        voice=voice,
        shape=shape,
        consent_version=version,
        texts=tuple(texts),
    )


def list_kits(root: Path | str = config.PROJECT_ROOT / "workshops") -> Shelf:
    """Every kit folder under ``root``, by id; a broken kit is set aside with its errors, never hidden."""
    kits, broken = [], []
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) if root.is_dir() else []
    for folder in folders:
        try:
            kits.append(load_kit(folder))
        except KitError as exc:
            broken.append(exc)
    return Shelf(kits=tuple(kits), broken=tuple(broken))
