"""Step outputs through the GITHUB_OUTPUT file, in the `name<<DELIMITER` form for every value."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_output(name: str, value: str) -> str:
    """One output in the multi-line form; the delimiter is random and absent from the value."""
    if not _NAME.match(name):
        raise ValueError(f"invalid output name {name!r}")
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    while delimiter in value:  # pragma: no cover - a random UUID colliding with the value
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for name, value in values.items():
            handle.write(format_output(name, value))
