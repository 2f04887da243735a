"""The 1-based line where something is written, for findings: by offset, text, pattern, YAML or JSON path.

Line numbers follow what each caller has always reported: `line_at` and `line_containing` count "\\n"
in the text, `search_lines` and `line_starting` count lines as str.splitlines() splits them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from validator.readers.json_lines import line_of as json_line

__all__ = ["json_line", "line_at", "line_containing", "line_starting", "search_lines", "yaml_line"]

PathPart = str | int


def line_at(text: str, offset: int) -> int:
    """The line of character `offset` of `text`."""
    return text.count("\n", 0, offset) + 1


def line_containing(text: str, needle: str) -> int | None:
    """The line of the first occurrence of `needle`, or None."""
    index = text.find(needle)
    return line_at(text, index) if index >= 0 else None


def search_lines(lines: Sequence[str], pattern: str | re.Pattern[str], start: int = 0, *,
                 skip_comments: bool = False) -> int | None:
    """The first of `lines` from index `start` holding `pattern` (a str: as a substring; a regex: re.search),
    optionally passing over lines that are `#` comments."""
    for index in range(start, len(lines)):
        line = lines[index]
        if skip_comments and line.lstrip().startswith("#"):
            continue
        if pattern in line if isinstance(pattern, str) else pattern.search(line):
            return index + 1
    return None


def line_starting(text: str, prefix: str) -> int | None:
    """The first line of `text` that starts with `prefix`, or None."""
    return next((n for n, line in enumerate(text.splitlines(), 1) if line.startswith(prefix)), None)


def yaml_line(node: yaml.Node | None, path: Sequence[PathPart]) -> int | None:
    """The line of the YAML node at `path` under `node` (of the deepest node found when the rest is absent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line
