"""Open Science Catalog workflow and experiment records (OGC API Records features with
`properties.type` workflow / experiment): finding them in a package and validating them offline
against model-check's schema of what the catalog requires (validator/schemas/osc/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from validator.readers.json_strict import parse_json_strict
from validator.readers.package import ModelPackage

KINDS = ("workflow", "experiment")
MAX_ERRORS = 20
MAX_NODES = 20_000  # values in one record (dicts, lists, scalars)


@dataclass(frozen=True)
class OscRecord:
    rel: str
    text: str
    data: dict[str, Any]
    kind: str  # "workflow" | "experiment"


@lru_cache(maxsize=2)
def schema(kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"no schema for {kind!r} records")
    text = resources.files("validator").joinpath(f"schemas/osc/{kind}-record.schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def record_kind(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("type") != "Feature" or not isinstance(data.get("properties"), dict):
        return None
    kind = data["properties"].get("type")
    return kind if kind in KINDS else None


def problems(record: Any, kind: str) -> list[tuple[tuple[str | int, ...], str]]:
    """(path in the record, message) of each schema violation, in document order; empty when valid."""
    import jsonschema

    if _nodes_over(record, MAX_NODES):  # validating 300,000 links took 76 s
        return [((), f"the record holds more than {MAX_NODES:,} values: model-check does not validate it (a catalog "
                     "record is a few hundred)")]
    validator = jsonschema.Draft7Validator(schema(kind))
    errors = sorted(validator.iter_errors(record), key=lambda e: [str(p) for p in e.absolute_path])[:MAX_ERRORS]
    return [(tuple(e.absolute_path), _message(e)) for e in errors]


def _nodes_over(value: Any, limit: int) -> bool:
    stack, seen = [value], 0
    while stack:
        current = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False


def _message(error: Any) -> str:
    """A `contains` failure names the link that is missing instead of echoing the whole array."""
    if error.validator == "contains" and isinstance(error.validator_value, dict):
        wanted = error.validator_value.get("properties", {})
        parts = [f"{key} {spec.get('const') or spec.get('pattern')!r}" for key, spec in wanted.items()
                 if isinstance(spec, dict) and (spec.get("const") or spec.get("pattern"))]
        return f"no link with {' and '.join(parts)}" if parts else "a required element is missing"
    return str(error.message)


def find_osc_records(pkg: ModelPackage) -> list[OscRecord]:
    found = []
    for rel in pkg.with_suffix(".json"):
        text = pkg.read_text(rel).text
        if text is None or '"Feature"' not in text or not any(f'"{kind}"' in text for kind in KINDS):
            continue
        data, problem = parse_json_strict(text, rel)
        kind = record_kind(data) if problem is None else None
        if kind is not None:
            found.append(OscRecord(rel, text, data, kind))
    return found
