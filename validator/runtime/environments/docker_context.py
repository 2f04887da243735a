"""Tar archives for the docker builder: the build context sent to the engine and the working folder
put into a probe container (the engine may run on another host, or be the host of the container
model-check runs in: nothing is ever bind-mounted, files travel as tar streams).

Archives are deterministic (sorted names, zero mtimes, one owner, normalised modes), so the same
files give the same bytes and an image can be cached under a hash of its context. Only regular
files and folders go in, opened without following symlinks; the archive is spooled to a temporary
file once it outgrows memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import IO

SPOOL_BYTES = 32 * 1024 * 1024  # archives up to this size stay in memory


class TarBuilder:
    """Add folders, bytes and files, then `finish()` for the archive (rewound) and its sha256."""

    def __init__(self, owner: int = 0) -> None:
        self.owner = owner
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)
        self._dirs: set[str] = set()

    def _info(self, name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
        info.uid = info.gid = self.owner
        info.uname = info.gname = ""
        return info

    def add_dir(self, name: str) -> None:
        """A folder and its missing parents."""
        parts = PurePosixPath(name).parts
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path not in self._dirs:
                self._dirs.add(path)
                self._tar.addfile(self._info(path, tarfile.DIRTYPE, 0o755))

    def add_bytes(self, name: str, data: bytes, executable: bool = False) -> None:
        self._parent(name)
        self._tar.addfile(self._info(name, tarfile.REGTYPE, 0o755 if executable else 0o644, len(data)), io.BytesIO(data))

    def add_file(self, name: str, path: Path) -> bool:
        """A regular file read without following a symlink; False (nothing added) for anything else."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return False
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return False
            self._parent(name)
            executable = bool(info.st_mode & stat.S_IXUSR)
            self._tar.addfile(self._info(name, tarfile.REGTYPE, 0o755 if executable else 0o644, info.st_size), handle)
        return True

    def add_archive(self, handle: IO[bytes], rename: Callable[[str], str | None]) -> int:
        """The folders and regular files of another tar archive (read as a stream), each under `rename(name)`,
        left out where that is None; links and special files always left out. Returns the files added."""
        added = 0
        with tarfile.open(fileobj=handle, mode="r|") as archive:
            for member in archive:
                name = rename(member.name)
                if name is None or not (member.isdir() or member.isreg()):
                    continue
                parts = PurePosixPath(name).parts
                if not parts or name.startswith("/") or ".." in parts:
                    continue
                if member.isdir():
                    self.add_dir(name)
                    continue
                source = archive.extractfile(member)
                if source is None:
                    continue
                self._parent(name)
                mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
                self._tar.addfile(self._info(name, tarfile.REGTYPE, mode, member.size), source)
                added += 1
        return added

    def add_tree(self, prefix: str, root: Path) -> int:
        """Every regular file and folder under `root` (symlinks and special files left out), under
        `prefix`; returns the number of files added."""
        self.add_dir(prefix)
        added = 0
        for rel in sorted(_walk(root)):
            path = root / rel
            name = f"{prefix}/{rel}"
            if path.is_dir() and not path.is_symlink():
                self.add_dir(name)
            elif self.add_file(name, path):
                added += 1
        return added

    def _parent(self, name: str) -> None:
        parent = str(PurePosixPath(name).parent)
        if parent != ".":
            self.add_dir(parent)

    def finish(self) -> tuple[IO[bytes], str]:
        """The archive, rewound, and the sha256 of its bytes; the caller closes the file."""
        self._tar.close()
        self._file.seek(0)
        digest = hashlib.sha256()
        for chunk in iter(lambda: self._file.read(1 << 20), b""):
            digest.update(chunk)
        self._file.seek(0)
        return self._file, digest.hexdigest()

    def close(self) -> None:
        self._tar.close()
        self._file.close()


def _walk(root: Path) -> Iterable[str]:
    """Relative POSIX paths of the folders and files under root, not entering symlinked folders."""
    for current, dirs, files in os.walk(root, followlinks=False):
        base = Path(current).relative_to(root)
        for name in dirs + files:
            yield (base / name).as_posix()
