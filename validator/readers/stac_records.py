"""STAC / OSC records shipped in a package: any *.json with "stac_version", or a "Feature"/"Collection" with assets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from validator.readers.json_strict import parse_json_strict
from validator.readers.locate import json_line

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage

URL_NAME = {"sci": "scientific"}  # extension prefixes whose schema URL names them otherwise


@dataclass
class Record:
    rel: str
    text: str
    data: dict[str, Any]

    def line(self, *path: str | int) -> int | None:
        return json_line(self.text, path)

    @property
    def assets(self) -> dict[str, dict[str, Any]]:
        found = self.data.get("assets")
        return {k: v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}

    @property
    def properties(self) -> dict[str, Any]:
        props = self.data.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def is_item(self) -> bool:
        return self.data.get("type") == "Feature"

    @property
    def fields(self) -> dict[str, Any]:
        """Where common fields live: an item's properties, a collection's top level."""
        return self.properties if self.is_item else self.data

    @property
    def field_path(self) -> tuple[str, ...]:
        return ("properties",) if self.is_item else ()

    def declares(self, extension: str) -> bool:
        name = URL_NAME.get(extension, extension)
        declared = self.data.get("stac_extensions")
        return isinstance(declared, list) and any(isinstance(u, str) and f"/{name}/" in u for u in declared)


@dataclass(frozen=True)
class UnreadableRecord:
    """A *.json with "stac_version" that is not valid JSON."""

    rel: str
    problem: str
    line: int | None


@dataclass(frozen=True)
class StacRecords:
    records: list[Record]
    unreadable: list[UnreadableRecord]


def is_record(data: Any) -> bool:
    return isinstance(data, dict) and ("stac_version" in data or (
        data.get("type") in ("Feature", "Collection") and isinstance(data.get("assets"), dict)))


def find_records(pkg: ModelPackage) -> StacRecords:
    records: list[Record] = []
    unreadable: list[UnreadableRecord] = []
    for rel in pkg.with_suffix(".json"):
        text = pkg.read_text(rel).text
        if text is None or not any(word in text for word in ('"stac_version"', '"Feature"', '"Collection"')):
            continue
        data, problem = parse_json_strict(text, rel)
        if problem is not None:
            if '"stac_version"' in text:
                unreadable.append(UnreadableRecord(rel, problem, _problem_line(problem)))
            continue
        if is_record(data):
            records.append(Record(rel, text, data))
    return StacRecords(records, unreadable)


def _problem_line(problem: str) -> int | None:
    m = re.search(r"at line (\d+)", problem)
    return int(m.group(1)) if m else None
