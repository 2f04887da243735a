"""A log's steps as collapsible groups (`::group::` / `::endgroup::`), safe inside the caller's stop-commands.

entrypoint.py stops workflow commands around each package's `model-check check` (the output quotes the
package) and hands the child its token in STOP_TOKEN_ENV (never to package code: the sandbox and the
containers get environments of their own, and the value is redacted from their output). A group switch
then resumes commands with that token, ends the open group, starts the next and stops commands again with
the same token, in one write: nothing else is read as a command, and a child that dies mid-run leaves
commands stopped with the token the entrypoint resumes with. Without a token (model-check run directly in
a workflow step) the switches are the group commands alone; everything model-check prints around them is
escaped (validator.core.escape.log_line), so no line of it is read as a command either.

GitHub does not nest groups: each switch ends the open group first.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from validator.core.escape import log_line
from validator.github.annotations import clean, escape_data

STOP_TOKEN_ENV = "MODEL_CHECK_STOP_TOKEN"
_TOKEN = re.compile(r"[0-9A-Za-z_-]{16,128}")
TITLE_LIMIT = 200

Write = Callable[[str], None]


class GroupedLog:
    """Opens and ends groups with `write` (whole lines, one call per switch)."""

    def __init__(self, write: Write, token: str | None = None) -> None:
        if token is not None and not _TOKEN.fullmatch(token):
            raise ValueError("not a stop-commands token")
        self._write = write
        self._token = token
        self.open = False

    def group(self, title: str) -> None:
        """End the open group, if any, and start one titled `title` (package-derived text is escaped)."""
        shown = escape_data(clean(log_line(title).replace("\n", " "), TITLE_LIMIT))
        self._switch([*(["::endgroup::"] if self.open else []), f"::group::{shown}"])
        self.open = True

    def end(self) -> None:
        """End the open group."""
        if self.open:
            self._switch(["::endgroup::"])
            self.open = False

    def _switch(self, commands: list[str]) -> None:
        if self._token:
            commands = [f"::{self._token}::", *commands, f"::stop-commands::{self._token}"]
        self._write("\n".join(commands) + "\n")
