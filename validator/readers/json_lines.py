"""The line of a value inside JSON text, by its path (object keys and array indices).

Findings about a STAC record point at the line of the offending key. The text was already parsed
strictly; this walks it once more along one path, skipping every other value without recursion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]  # (missing from typeshed)

scanstring: Callable[[str, int], tuple[str, int]] = _scanstring  # (decoded string, offset past its closing quote)

_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def line_of(text: str, path: Sequence[str | int]) -> int | None:
    """1-based line of the key (or array element) at `path`; of its deepest ancestor found when
    the rest of the path is absent; None when the text is not JSON."""
    try:
        offset = _locate(text, path)
    except (ValueError, IndexError):
        return None
    return text.count("\n", 0, offset) + 1


def _locate(text: str, path: Sequence[str | int]) -> int:
    i = _ws(text, 0)
    if i < len(text) and text[i] == "\ufeff":
        i = _ws(text, i + 1)
    found = i
    for part in path:
        if text[i] == "{" and isinstance(part, str):
            hit = _member(text, i, part)
        elif text[i] == "[" and isinstance(part, int):
            hit = _element(text, i, part)
        else:
            hit = None
        if hit is None:
            return found
        found, i = hit
    return found


def _member(text: str, i: int, wanted: str) -> tuple[int, int] | None:
    """(offset of the key, offset of its value) of member `wanted` of the object at `i`."""
    i = _ws(text, i + 1)
    while text[i] != "}":
        key_at = i
        key, i = scanstring(text, i + 1)
        i = _ws(text, i)
        if text[i] != ":":
            raise ValueError("':' expected")
        i = _ws(text, i + 1)
        if key == wanted:
            return key_at, i
        i = _ws(text, _skip(text, i))
        if text[i] == ",":
            i = _ws(text, i + 1)
    return None


def _element(text: str, i: int, wanted: int) -> tuple[int, int] | None:
    i = _ws(text, i + 1)
    index = 0
    while text[i] != "]":
        if index == wanted:
            return i, i
        i = _ws(text, _skip(text, i))
        if text[i] == ",":
            i = _ws(text, i + 1)
        index += 1
    return None


def _skip(text: str, i: int) -> int:
    """The offset just past the value starting at `i`."""
    if text[i] == '"':
        return scanstring(text, i + 1)[1]
    if text[i] not in "{[":
        m = _SCALAR.match(text, i)
        if m is None:
            raise ValueError(f"unexpected character at {i}")
        return m.end()
    depth = 0
    while True:
        char = text[i]
        if char == '"':
            i = scanstring(text, i + 1)[1]
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


def _ws(text: str, i: int) -> int:
    m = _WS.match(text, i)
    return m.end() if m else i
