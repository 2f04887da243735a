"""Where every value of a generated record comes from, and which values were left out and why.

Written beside the item as `<item-id>.provenance.json` (a sidecar rather than a field of the item:
an undeclared `model-check:` prefix would be one more unregistered extension in the record).
Keys are JSON Pointers into the record, e.g. `/properties/mlm:input/0/bands`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from validator.readers.declared import Fact


@dataclass(frozen=True)
class Source:
    source: str  # "model card", "safetensors metadata", "ONNX graph", "artefact manifest", "--project", …
    file: str | None = None
    line: int | None = None
    detail: str = ""  # how the value was derived, when it is not copied as written

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source, "file": self.file, "line": self.line}
        if self.detail:
            data["detail"] = self.detail
        return data


def from_fact(fact: Fact, detail: str = "") -> Source:
    return Source(fact.source, fact.file, fact.line, detail)


@dataclass(frozen=True)
class Omission:
    field: str  # JSON Pointer of the value that is not in the record
    reason: str  # what the author can add so it is written next time

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class Provenance:
    sources: dict[str, Source] = field(default_factory=dict)
    omitted: list[Omission] = field(default_factory=list)
    placeholders: list[Omission] = field(default_factory=list)  # written, but to be replaced by the author

    def add(self, pointer: str, source: Source) -> None:
        self.sources[pointer] = source

    def omit(self, pointer: str, reason: str) -> None:
        self.omitted.append(Omission(pointer, reason))

    def placeholder(self, pointer: str, reason: str) -> None:
        self.placeholders.append(Omission(pointer, reason))

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": {pointer: source.to_dict() for pointer, source in self.sources.items()},
            "omitted": [o.to_dict() for o in self.omitted],
            "placeholders": [p.to_dict() for p in self.placeholders],
        }


def pointer(*parts: str | int) -> str:
    """A JSON Pointer from its parts (RFC 6901 escaping of ~ and /)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
