"""sha256 of a package's files, computed in a child process from the moment the package is opened.

Hashing threads in model-check's own process would share the GIL with the checks: a thread must take
it back after every read and every update, and waits up to the switch interval (5 ms) while the checks
run Python code, so a 1 GiB file that hashes in 0.7 s alone took 37 s beside a busy thread (measured;
benchmarks/bench_static.py shows the effect on a whole run). The child
(validator.readers.hash_child, `python -I -S`, an empty environment, standard library only) hashes
with two threads of its own; it only reads the files it is given, never follows a symlink, and runs
no package content. Whatever it does not answer (it could not start, or it died) is hashed here,
when the results are asked for.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from validator.readers.hash_child import digest_of

CHILD = Path(__file__).with_name("hash_child.py")
_LINE = re.compile(r"(\d+) (?:(\d+) ([0-9a-f]{64})|-)")

Digest = tuple[int, str] | None  # (size, hex sha256); None: not a regular file, or unreadable


class FileHasher:
    """Starts hashing `paths` at once; `results()` waits and gives one Digest per path, in order."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths
        self._answers: dict[int, Digest] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._talker: threading.Thread | None = None
        if not paths:
            return
        try:
            self._process = subprocess.Popen([sys.executable, "-I", "-S", str(CHILD)], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={}, cwd="/")
        except OSError:
            return  # hashed in this process by results()
        self._talker = threading.Thread(target=self._talk, name="manifest", daemon=True)
        self._talker.start()

    def _talk(self) -> None:
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(b"".join(os.fsencode(path) + b"\0" for path in self._paths))
            process.stdin.close()
            for raw in process.stdout:
                found = _LINE.fullmatch(raw.decode("ascii", "replace").rstrip("\n"))
                if found is None or int(found[1]) >= len(self._paths):
                    continue
                self._answers[int(found[1])] = (int(found[2]), found[3]) if found[2] else None
        except (OSError, ValueError):
            pass  # a child that died: what it did not answer is hashed by results()
        finally:
            process.stdout.close()
            process.wait()

    def results(self) -> list[Digest]:
        """One Digest per path, waiting for the child; a path the child did not answer is hashed here."""
        if self._talker is not None:
            self._talker.join()
        return [self._answers[index] if index in self._answers else digest_of(path)
                for index, path in enumerate(self._paths)]

    def close(self) -> None:
        """Stop the child if it is still hashing (a run that ends early does not wait for it)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._talker is not None:
            self._talker.join()
