"""What `model-check check` shows while it runs: a spinner on a terminal; in a log (no terminal: CI) plain
lines, each step with the time since the run started, the installer's and image build's own lines under
it, and a line every HEARTBEAT_S seconds while a step prints nothing; under GitHub Actions each step is a
collapsible group of the log (validator.github.log_groups).

Everything goes to stderr (stdout keeps the verdict and the report). Build output and file names come from
the package: each line is redacted (validator.core.redact) and escaped for the log (log_line), so none is
read as a workflow command.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

from validator.core.escape import log_line
from validator.core.progress import OutputLine, Progress
from validator.core.redact import redact
from validator.github.log_groups import STOP_TOKEN_ENV, GroupedLog

HEARTBEAT_S = 30.0  # a line at least this often while a step prints nothing
LINE_CHARS = 500  # of one line of build output

Write = Callable[[str], None]
Clock = Callable[[], float]


class LogProgress:
    """Progress as plain log lines: `[  12.3s] models/x: runtime: environment rebuild`, the build's lines under
    it as `  | …`, and `… still running` lines; with `groups`, every step in a group of its own."""

    def __init__(self, label: str, write: Write, clock: Clock = time.monotonic, groups: GroupedLog | None = None,
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        self.label = log_line(label).replace("\n", " ")
        self._write = write
        self._clock = clock
        self._groups = groups
        self._heartbeat_s = heartbeat_s
        self._started = clock()
        self._step = ""
        self._step_started = self._started
        self._last_line = self._started
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        with self._lock:
            now = self._clock()
            if isinstance(message, OutputLine):
                last = str(message).rstrip("\r").rsplit("\r", 1)[-1]  # what a terminal shows of a progress bar
                text = log_line(redact(last)).replace("\n", " ").rstrip()
                if text.strip():
                    self._line(f"  | {text[:LINE_CHARS]}{'…' if len(text) > LINE_CHARS else ''}", now)
                return
            self._step, self._step_started = log_line(redact(message)).replace("\n", " "), now
            line = f"[{self._elapsed(now)}] {self.label}: {self._step}"
            if self._groups is not None:  # the group's title is the step's line
                self._groups.group(line)
                self._last_line = now
            else:
                self._line(line, now)

    def heartbeat(self) -> None:
        """A line saying which step is still running, when nothing was printed for HEARTBEAT_S seconds."""
        with self._lock:
            now = self._clock()
            if self._step and now - self._last_line >= self._heartbeat_s:
                self._line(f"[{self._elapsed(now)}] {self.label}: still running: {self._step} "
                           f"(for {now - self._step_started:.0f} s)", now)

    def finish(self) -> None:
        """The last line (the time taken); the open group ends, so that the report printed next is in none."""
        if self._done.is_set():
            return
        self._done.set()
        with self._lock:
            now = self._clock()
            self._line(f"[{self._elapsed(now)}] {self.label}: checks done", now)
            if self._groups is not None:
                self._groups.end()
            self._step = ""

    def start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._done.wait(min(5.0, self._heartbeat_s)):
                self.heartbeat()

        self._thread = threading.Thread(target=beat, name="model-check-progress", daemon=True)
        self._thread.start()

    def _elapsed(self, now: float) -> str:
        return f"{now - self._started:7.1f}s"

    def _line(self, text: str, now: float) -> None:
        self._write(text + "\n")
        self._last_line = now


def _stderr(text: str) -> None:
    sys.stdout.flush()  # what the report printed so far comes first
    sys.stderr.write(text)
    sys.stderr.flush()


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


@contextmanager
def progress_for(label: str, quiet: bool = False) -> Iterator[Progress]:
    """The progress callback of one check (steps and output lines), ended on leaving the block: a spinner on
    a terminal; log lines otherwise (none with --quiet), each step a group of the log under GitHub Actions."""
    console = Console(stderr=True, highlight=False)
    if console.is_terminal and not in_github_actions():
        with console.status("checking…", spinner="dots") as status:
            step = [""]

            def spin(message: str) -> None:
                if isinstance(message, OutputLine):
                    shown = log_line(redact(str(message))).replace("\n", " ").strip()[:80]
                    status.update(f"checking: {step[0]}" + (f" | {shown}" if shown else ""))
                else:
                    step[0] = log_line(redact(message)).replace("\n", " ")
                    status.update(f"checking: {step[0]}")

            yield spin
        return
    if quiet:
        yield lambda _message: None
        return
    log = LogProgress(label, _stderr, groups=_groups() if in_github_actions() else None)
    log.start_heartbeat()
    try:
        yield log
    finally:
        log.finish()


def _groups() -> GroupedLog:
    """Groups written to stderr; inside the stop-commands of entrypoint.py when it handed over its token."""
    try:
        return GroupedLog(_stderr, os.environ.get(STOP_TOKEN_ENV) or None)
    except ValueError:  # not a token entrypoint.py makes: group commands alone
        return GroupedLog(_stderr)


__all__ = ["HEARTBEAT_S", "LogProgress", "Progress", "progress_for"]
