import io
import os

import pytest

from storyteller.fsutil import atomic_output, atomic_write_bytes
from storyteller.store.vault import TooLarge, Vault, VaultError


def test_put_and_read_back_with_random_name(tmp_path):
    v = Vault(tmp_path / "vault")
    name = v.put_bytes(b"hello", ".webm")
    assert name.endswith(".webm") and len(name) == 32 + 5
    assert v.open(name).read() == b"hello"
    assert v.put_bytes(b"hello", ".webm") != name


@pytest.mark.parametrize("bad", ["../secret", "/etc/passwd", "abc", "0" * 32 + "/../x", ""])
def test_path_traversal_refused(tmp_path, bad):
    with pytest.raises(VaultError):
        Vault(tmp_path).path(bad)


def test_unsafe_suffix_refused(tmp_path):
    with pytest.raises(VaultError):
        Vault(tmp_path).put_bytes(b"x", ".sh;rm")


def test_too_large_upload_leaves_nothing(tmp_path):
    v = Vault(tmp_path)
    with pytest.raises(TooLarge):
        v.put_stream(io.BytesIO(b"x" * (3 << 20)), ".wav", max_bytes=1 << 20)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "story.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["story.json"]


def test_new_file_appears_only_on_success(tmp_path):
    v = Vault(tmp_path)
    with v.new_file(".mp4") as (name, tmp):
        tmp.write_bytes(b"video")
        assert not v.exists(name)
    assert v.exists(name)


def test_sweep_partials(tmp_path):
    v = Vault(tmp_path)
    (tmp_path / ".abc.123.part.wav").write_bytes(b"x")
    (tmp_path / ("0" * 32 + ".wav")).write_bytes(b"kept")
    assert v.sweep_partials() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["0" * 32 + ".wav"]


def test_full_disk_is_plain(tmp_path, monkeypatch):
    from storyteller import fsutil

    real_replace = os.replace

    def no_space(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", no_space)
    with pytest.raises(fsutil.DiskFullError, match="disk is full"):
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    monkeypatch.setattr(fsutil.os, "replace", real_replace)
    assert not any(".part" in p.name for p in tmp_path.iterdir())
