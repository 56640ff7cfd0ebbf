"""The secret key file: created once (0600) and read back, refused with a line naming the file when it is
missing or not a key, and a ciphertext made with another key never decrypts to anything."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.common.secret_key import SecretKeyError, SecretKeyFile, load_or_create_secret_key, load_secret_key


def test_a_created_key_is_private_and_the_same_on_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secretkey"
    first = load_or_create_secret_key(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ciphertext = first.encrypt("s3cret pässword")
    assert "s3cret" not in ciphertext
    assert load_or_create_secret_key(str(path)).decrypt(ciphertext) == "s3cret pässword"
    assert load_secret_key(str(path)).decrypt(ciphertext) == "s3cret pässword"
    assert [p.name for p in path.parent.iterdir()] == ["secretkey"]  # nothing left aside


def test_a_missing_or_garbled_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "secretkey"
    with pytest.raises(SecretKeyError, match=f"{path} is missing"):
        load_secret_key(str(path))
    path.write_text("not a key\n")
    with pytest.raises(SecretKeyError, match=f"{path} is not a secret key"):
        load_or_create_secret_key(str(path))


def test_a_ciphertext_of_another_key_or_altered_is_refused(tmp_path: Path) -> None:
    one = load_or_create_secret_key(str(tmp_path / "one"))
    other = load_or_create_secret_key(str(tmp_path / "other"))
    ciphertext = one.encrypt("password")
    with pytest.raises(SecretKeyError, match="does not decrypt"):
        other.decrypt(ciphertext)
    with pytest.raises(SecretKeyError, match="does not decrypt"):
        one.decrypt(ciphertext[:-4] + "AAAA")


def test_the_file_object_reads_at_first_use_and_only_core_creates(tmp_path: Path) -> None:
    path = tmp_path / "secretkey"
    reader = SecretKeyFile(str(path))
    with pytest.raises(SecretKeyError, match="core creates it"):
        reader.encrypt("x")
    creator = SecretKeyFile(str(path), create=True)
    ciphertext = creator.encrypt("x")
    assert reader.decrypt(ciphertext) == "x"
