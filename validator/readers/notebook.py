"""Which notebook cell, and which part of it, a line of an .ipynb file belongs to.

Jupyter writes notebooks as indented JSON, one cell key per line ("cell_type" first, keys
sorted), so a text scanner's line number can be named as "cell 3 output" for the author.
A notebook saved on one line gets no cell label: its line number is all there is.
`is_base64_payload` recognises the lines of embedded images, which text scanners skip.
"""

from __future__ import annotations

import bisect
import re

_KEY = re.compile(r'^(\s*)"([a-z_]+)"\s*:')
_BASE64_PAYLOAD = re.compile(r'\s*(?:"[\w/+.-]+"\s*:\s*)?"?[A-Za-z0-9+/=]{256,}(?:\\n)?"?,?\s*')
_PART_NAMES = {"outputs": "output", "source": "source", "metadata": "metadata", "attachments": "attachment"}


class NotebookLines:
    def __init__(self, text: str) -> None:
        self._starts: list[int] = []  # first line of each labelled stretch
        self._labels: list[str] = []
        lines = text.splitlines()
        if len(lines) < 2:
            return
        cell, indent = 0, -1
        for number, line in enumerate(lines, start=1):
            key = _KEY.match(line)
            if key is None:
                continue
            depth, name = len(key.group(1)), key.group(2)
            if name == "cell_type":
                cell, indent = cell + 1, depth
                self._mark(number, f"cell {cell}")
            elif cell and depth == indent and name in _PART_NAMES:
                self._mark(number, f"cell {cell} {_PART_NAMES[name]}")
            elif cell and depth < indent:  # back at the notebook's own keys, after the cells
                cell, indent = 0, -1
                self._mark(number, "")

    def _mark(self, line: int, label: str) -> None:
        self._starts.append(line)
        self._labels.append(label)

    def label(self, line: int | None) -> str:
        """e.g. "cell 3 output" (cells counted from 1), or "" outside the cells."""
        if line is None:
            return ""
        index = bisect.bisect_right(self._starts, line) - 1
        return self._labels[index] if index >= 0 else ""


def is_base64_payload(line: str) -> bool:
    """A line that is one long base64 string (optionally a JSON `"image/png": "…",` pair): binary data."""
    return len(line) >= 256 and bool(_BASE64_PAYLOAD.fullmatch(line))
