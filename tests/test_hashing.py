"""The package manifest's sha256 digests, computed by the hashing child (validator.readers.hashing): the same
digests as hashlib, for every kind of file name; nothing but regular files; and the same answers when the
child cannot run."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from validator.readers import hashing
from validator.readers.hashing import FileHasher
from validator.readers.package import ModelPackage


def _expected(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


@pytest.fixture()
def files(tmp_path: Path) -> list[Path]:
    made = {
        "empty.bin": b"",
        "small.txt": b"hello\n",
        "large.bin": os.urandom(3 * 2**20 + 17),  # more than one read of hashlib.file_digest
        "name with spaces.txt": b"a",
        "line\nbreak.txt": b"b",  # a newline in a name must not break the child's line protocol
        "ümlaut.txt": b"c",
    }
    paths = []
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    raw = os.fsencode(tmp_path) + b"/latin1-\xe9.txt"  # not UTF-8: passed as bytes, never decoded
    with open(raw, "wb") as handle:
        handle.write(b"d")
    paths.append(Path(os.fsdecode(raw)))
    return paths


def test_child_digests_match_hashlib(files: list[Path]) -> None:
    hasher = FileHasher(files)
    assert hasher.results() == [_expected(path) for path in files]
    assert hasher._process is not None and hasher._process.returncode == 0  # the child answered, not the fallback


def test_no_symlink_fifo_or_missing_file_is_hashed(tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("not part of the package")
    link = tmp_path / "link.txt"
    link.symlink_to(secret)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it must neither block nor read anything
    regular = tmp_path / "regular.txt"
    regular.write_text("x")
    hasher = FileHasher([link, fifo, tmp_path / "gone.txt", regular])
    assert hasher.results() == [None, None, None, _expected(regular)]


def test_results_when_the_child_cannot_run(files: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "broken_child.py"
    broken.write_text("import sys\nsys.stdout.write('0 1 ' + 'z' * 64 + '\\n99 1 ' + 'a' * 64 + '\\n')\nsys.exit(3)\n")
    monkeypatch.setattr(hashing, "CHILD", broken)  # dies after answering garbage: every file is hashed here
    assert FileHasher(files).results() == [_expected(path) for path in files]


def test_package_manifest_lists_regular_files_with_their_digests(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "labels.json").write_text("[]")
    (tmp_path / "link.txt").symlink_to(tmp_path / "model.onnx")
    pkg = ModelPackage(tmp_path)
    try:
        manifest = {a.path: (a.bytes, a.sha256) for a in pkg.manifest}
    finally:
        pkg.close()
    assert manifest == {"model.onnx": _expected(tmp_path / "model.onnx"),
                        "sub/labels.json": _expected(tmp_path / "sub" / "labels.json")}


def test_close_stops_a_child_still_hashing(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(2**30)  # sparse: a second or so of hashing
    hasher = FileHasher([big] * 4)
    hasher.close()
    assert hasher._process is not None and hasher._process.poll() is not None
