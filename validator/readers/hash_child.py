"""The child process that hashes a package's files for validator.readers.hashing (`python -I -S` this file).

stdin: the files' absolute paths, each followed by a NUL byte. stdout: one line per file, in the order
the files finish, `INDEX SIZE SHA256` or `INDEX -` (not a regular file, or unreadable). Two threads hash,
each with hashlib.file_digest, which releases the GIL while it reads and hashes; in this process no
other thread runs Python code, so neither waits for the GIL the way they would beside the checks.
Standard library only: it runs without site-packages.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading

WORKERS = 2


def digest_of(path: bytes | str | os.PathLike[str]) -> tuple[int, str] | None:
    """Size and hex sha256 of the regular file at path (never following a symlink, never blocking on a FIFO);
    None when it is not a regular file or cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            digest = hashlib.file_digest(handle, "sha256")
            return handle.tell(), digest.hexdigest()
    except OSError:
        return None


def main() -> int:
    paths = sys.stdin.buffer.read().split(b"\0")[:-1]
    lock = threading.Lock()
    taken = 0

    def work() -> None:
        nonlocal taken
        while True:
            with lock:
                index, taken = taken, taken + 1
            if index >= len(paths):
                return
            found = digest_of(paths[index])
            line = f"{index} {found[0]} {found[1]}\n" if found else f"{index} -\n"
            with lock:
                sys.stdout.write(line)
                sys.stdout.flush()

    workers = [threading.Thread(target=work) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
