"""Workshop kits: the shipped kits are complete, and every broken kit says which file and field to fix."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from storyteller.cli import main
from storyteller.store.kits import CONSENT_LEVELS, KitError, list_kits, load_kit
from tests.conftest import ROOT

SHIPPED = ROOT / "workshops"
ARABIC_LETTER = re.compile(r"[\u0600-\u06ff]")
LATIN_LETTER = re.compile(r"[A-Za-z]")


def urdu_words(text: str) -> bool:
    """Mostly Arabic script: the Urdu file was translated, not left in English."""
    return len(ARABIC_LETTER.findall(text)) > 3 * len(LATIN_LETTER.findall(text))


def test_both_shipped_kits_load_complete_in_english_and_urdu():
    shelf = list_kits(SHIPPED)
    assert shelf.broken == ()
    assert {k.id for k in shelf.kits} == {"online-harassment", "story-circle"}
    for kit in shelf.kits:
        assert kit.languages == ("en", "ur")
        english, urdu = kit.text("en"), kit.text("ur")
        assert (english.language, urdu.language) == ("en", "ur")
        assert len(urdu.prompts) == len(english.prompts) >= 5
        assert len(urdu.end_card.tips) == len(english.end_card.tips)
        urdu_text = [
            urdu.name,
            urdu.welcome,
            *urdu.prompts,
            urdu.consent.intro,
            *(urdu.consent.level(c) for c in CONSENT_LEVELS),
            *urdu.end_card.tips,
        ]
        assert all(urdu_words(t) for t in urdu_text), [t for t in urdu_text if not urdu_words(t)]
        assert not any(ARABIC_LETTER.search(t) for t in [english.name, english.welcome, *english.prompts])
        assert kit.voice in ("disguise", "synthetic", "double", "pitch") and kit.shape in ("16:9", "9:16", "1:1")
        # No phone numbers nobody here can check: the organisation fills the helplines in.
        assert english.end_card.helplines == urdu.end_card.helplines == ()
        assert any("helplines" in gap for gap in kit.public_gaps("ur"))


def test_harassment_kit_end_card_carries_the_digital_safety_tips():
    kit = load_kit(SHIPPED / "online-harassment")
    tips = " ".join(kit.text("en").end_card.tips)
    assert "2-step verification" in tips and "evidence" in tips and "report" in tips
    assert not re.search(r"\d{3,}", tips + " ".join(kit.text("ur").end_card.tips))
    assert kit.text("ur").end_card.hashtag == "#TakeBackTheTech"


def test_a_language_the_kit_lacks_falls_back_to_english():
    kit = load_kit(SHIPPED / "story-circle")
    assert kit.text("ps") == kit.text("en")
    assert kit.name == "Story circle"


def test_a_kit_is_frozen():
    kit = load_kit(SHIPPED / "story-circle")
    with pytest.raises(AttributeError):
        kit.voice = "pitch"  # type: ignore[misc]


# ----------------------------------------------------------------- bad kits
@pytest.fixture(autouse=True)
def from_the_project_folder(monkeypatch):
    """Messages show paths relative to the current folder when they can; fix it so every run reads the same."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def kit_copy(tmp_path: Path) -> Path:
    """A copy of the story-circle kit to break."""
    folder = tmp_path / "my-circle"
    shutil.copytree(SHIPPED / "story-circle", folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_of(folder: Path) -> tuple[str, ...]:
    with pytest.raises(KitError) as caught:
        load_kit(folder)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_the_copy_is_a_good_kit(kit_copy):
    assert load_kit(kit_copy).id == "my-circle"


def test_a_missing_field_is_named(kit_copy):
    edit(kit_copy / "text.ur.toml", 'hashtag = ""\n', "")
    edit(kit_copy / "kit.toml", 'voice = "disguise"\n', "")
    problems = problems_of(kit_copy)
    assert any(
        p.endswith("my-circle/text.ur.toml: end_card.hashtag: is missing; it must be text in quotes of at most 200 characters.")
        for p in problems
    ), problems
    assert any('my-circle/kit.toml: defaults.voice: is missing; it must be one of "disguise"' in p for p in problems), problems
    assert len(problems) == 2


def test_a_missing_table_is_named_once(kit_copy):
    text = (kit_copy / "text.en.toml").read_text(encoding="utf-8")
    (kit_copy / "text.en.toml").write_text(text[: text.index("[consent]")] + text[text.index("[end_card]") :], encoding="utf-8")
    assert problems_of(kit_copy) == (
        f"{kit_copy / 'text.en.toml'}: consent: is missing; add a [consent] table with intro, workshop, organisation, public.",
    )


def test_a_wrong_type_is_named(kit_copy):
    edit(kit_copy / "kit.toml", 'shape = "16:9"', "shape = 16")
    edit(kit_copy / "kit.toml", 'version = "2026-11-30"', "version = 2026-11-30")
    edit(kit_copy / "text.en.toml", 'hashtag = ""', "hashtag = true")
    problems = problems_of(kit_copy)
    assert f'{kit_copy / "kit.toml"}: defaults.shape: must be one of "16:9", "9:16", "1:1", not a number.' in problems
    assert any(p.startswith(f"{kit_copy / 'kit.toml'}: consent.version: must be text in quotes") and "not a date" in p for p in problems)
    assert any(p.startswith(f"{kit_copy / 'text.en.toml'}: end_card.hashtag: must be text") and "not true/false" in p for p in problems)


def test_a_wrong_choice_is_named(kit_copy):
    edit(kit_copy / "kit.toml", 'voice = "disguise"', 'voice = "robot"')
    assert problems_of(kit_copy) == (
        f'{kit_copy / "kit.toml"}: defaults.voice: must be one of "disguise", "synthetic", "double", "pitch", not "robot".',
    )


def test_an_unknown_language_is_named(kit_copy):
    edit(kit_copy / "kit.toml", 'languages = ["en", "ur"]', 'languages = ["en", "ur", "xx"]')
    assert problems_of(kit_copy) == (
        f'{kit_copy / "kit.toml"}: languages[3]: "xx" is not a language Storyteller offers; use one of ur, en, ps, pa, sd, fa.',
    )


def test_a_kit_without_english_is_refused(kit_copy):
    edit(kit_copy / "kit.toml", 'languages = ["en", "ur"]', 'languages = ["ur"]')
    problems = problems_of(kit_copy)
    assert (
        f'{kit_copy / "kit.toml"}: languages: must include "en": English is shown wherever the kit has no words in a language.' in problems
    )
    assert f'{kit_copy / "text.en.toml"}: "en" is not listed in languages in kit.toml.' in problems


def test_a_listed_language_without_its_file_is_named(kit_copy):
    (kit_copy / "text.ur.toml").rename(kit_copy / "text.ur.toml.txt")
    assert problems_of(kit_copy) == (
        f'{kit_copy / "kit.toml"}: languages: lists "ur" but text.ur.toml is missing (there is text.ur.toml.txt: rename it to text.ur.toml).',
    )


def test_a_prompt_of_fifty_thousand_characters_is_refused(kit_copy):
    edit(kit_copy / "text.ur.toml", "prompts = [\n", 'prompts = [\n    "' + "ک" * 50_000 + '",\n')
    assert problems_of(kit_copy) == (
        f"{kit_copy / 'text.ur.toml'}: prompts[1]: must be text in quotes of at most 2,000 characters (this one has 50,000).",
    )


def test_a_typo_in_a_field_name_is_named(kit_copy):
    edit(kit_copy / "text.en.toml", "prompts = [", "promts = [")
    problems = problems_of(kit_copy)
    assert any(p.startswith(f"{kit_copy / 'text.en.toml'}: promts: is not a field of a kit; check the spelling") for p in problems)
    assert (
        f'{kit_copy / "text.en.toml"}: prompts: is missing; it must be a list of texts in quotes, like ["first", "second"], '
        "with at most 20 items." in problems
    )


def test_a_broken_toml_file_names_its_line(kit_copy):
    lines = (kit_copy / "text.en.toml").read_text(encoding="utf-8").splitlines()
    broken_at = next(i for i, line in enumerate(lines, start=1) if line.startswith("hashtag"))
    lines[broken_at - 1] = 'hashtag = "#oops'  # the closing quote is missing
    (kit_copy / "text.en.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert problems_of(kit_copy) == (
        f"{kit_copy / 'text.en.toml'}: line {broken_at}: is not valid TOML; check the quotes, commas, brackets and the '=' "
        "on that line and the one before it.",
    )


def test_a_file_not_saved_as_utf8_is_named(kit_copy):
    (kit_copy / "text.ur.toml").write_bytes('name = "حلقہ"\n'.encode("cp1256"))
    assert problems_of(kit_copy) == (f"{kit_copy / 'text.ur.toml'}: is not UTF-8 text; save it again choosing the UTF-8 encoding.",)


def test_a_folder_without_kit_toml_is_named(tmp_path):
    folder = tmp_path / "empty-kit"
    folder.mkdir()
    assert problems_of(folder) == (f"{folder}: there is no kit.toml in this folder; a kit folder needs one (copy a shipped kit to start).",)
    assert problems_of(tmp_path / "no-such-kit") == (f"{tmp_path / 'no-such-kit'}: there is no such folder.",)


def test_checking_the_folder_of_kits_points_to_one_kit():
    assert problems_of(SHIPPED) == (
        "workshops: this is a folder of kits, not one kit; check them one by one, like workshops/online-harassment.",
    )


def test_messages_name_files_as_typed_from_the_current_folder(kit_copy, monkeypatch):
    monkeypatch.chdir(kit_copy.parent)
    edit(kit_copy / "kit.toml", 'shape = "16:9"', 'shape = "4:3"')
    assert problems_of(Path("my-circle")) == ('my-circle/kit.toml: defaults.shape: must be one of "16:9", "9:16", "1:1", not "4:3".',)


def test_list_sets_a_broken_kit_aside_without_hiding_it(kit_copy):
    shutil.copytree(SHIPPED / "online-harassment", kit_copy.parent / "harassment")
    edit(kit_copy / "kit.toml", 'languages = ["en", "ur"]', 'languages = "en"')
    shelf = list_kits(kit_copy.parent)
    assert [k.id for k in shelf.kits] == ["harassment"]
    assert len(shelf.broken) == 1 and "my-circle/kit.toml: languages: must be a list" in str(shelf.broken[0])


# ----------------------------------------------------------------- the command
def test_kit_check_says_ok_for_a_good_kit():
    result = CliRunner().invoke(main, ["kit", "check", str(SHIPPED / "online-harassment")])
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: Online harassment and blackmail (en, ur)\n"
    assert "note: No helplines are on the end card yet" in result.stderr


def test_kit_check_lists_what_to_fix_in_a_bad_kit(kit_copy):
    edit(kit_copy / "kit.toml", 'languages = ["en", "ur"]', 'languages = ["en", "ur", "xx"]')
    edit(kit_copy / "text.ur.toml", 'hashtag = ""', 'hashtag = "two words"')
    result = CliRunner().invoke(main, ["kit", "check", str(kit_copy)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f'{kit_copy / "kit.toml"}: languages[3]: "xx" is not a language Storyteller offers; use one of ur, en, ps, pa, sd, fa.',
        f'{kit_copy / "text.ur.toml"}: end_card.hashtag: must be one word starting with #, like "#TakeBackTheTech", '
        'or "" for none; not "two words".',
    ]


def test_kit_list_shows_the_shipped_kits():
    result = CliRunner().invoke(main, ["kit", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "online-harassment\ten, ur\tOnline harassment and blackmail",
        "story-circle\ten, ur\tStory circle",
    ]
