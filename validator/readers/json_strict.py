"""Strict JSON: no NaN or Infinity, no duplicate keys (readers disagree on which value wins).

`parse_json_strict` reads a whole document and says why it cannot; the safetensors header reader
builds its own decoder from `strict_decoder`, `repeated_keys` and `NonStandardConstant`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

ObjectHook = Callable[[list[tuple[str, Any]]], Any]


class StrictJSONError(ValueError):
    """Valid for Python's json module, invalid JSON (RFC 8259) or ambiguous."""


class NonStandardConstant(StrictJSONError):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not valid JSON")
        self.name = name  # "NaN", "Infinity" or "-Infinity"


def reject_constant(name: str) -> NoReturn:
    raise NonStandardConstant(name)


def repeated_keys(pairs: list[tuple[str, Any]]) -> Iterator[str]:
    """Each key of an object's pairs that an earlier pair already had, in order."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            yield key
        seen.add(key)


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise StrictJSONError(f"duplicate key {next(repeated_keys(pairs))!r}")
    return result


def strict_decoder(object_pairs_hook: ObjectHook = unique_object) -> json.JSONDecoder:
    return json.JSONDecoder(object_pairs_hook=object_pairs_hook, parse_constant=reject_constant)


def parse_json_strict(text: str, rel: str) -> tuple[Any, str | None]:
    """(value, None), or (None, why `rel` is not strict JSON)."""
    try:
        return json.loads(text, object_pairs_hook=unique_object, parse_constant=reject_constant), None
    except StrictJSONError as exc:
        return None, f"{rel}: {exc}"
    except json.JSONDecodeError as exc:
        return None, f"{rel} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    except RecursionError:
        return None, f"{rel} is nested too deeply to parse"
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's int conversion limit)
        return None, f"{rel} is not valid JSON: {str(exc)[:200]}"
