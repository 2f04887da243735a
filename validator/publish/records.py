"""Offline checks of the provenance chain's records: each workflow/experiment record against the
bundled schema of what the Open Science Catalog requires (validator/schemas/osc/), and the links
between the records written together (each relative link to a product, workflow or experiment of
the publication resolves to a written file, and each record points back at the others it names).
"""

from __future__ import annotations

import posixpath
from typing import Any

from validator.readers.osc_records import problems


def validate_record(record: Any, kind: str) -> list[str]:
    """Problems of one record against its schema, each `/json/pointer: message` (empty when valid)."""
    return ["/" + "/".join(str(p) for p in path) + f": {message}" for path, message in problems(record, kind)]


def chain_problems(files: dict[str, dict[str, Any]]) -> list[str]:
    """Links between the records of one publication, keyed by their path in the catalog tree
    (products/<id>/collection.json, workflows/<id>/record.json, experiments/<id>/record.json): a link
    resolves when its target, relative to the record's folder, is one of them."""
    problems: list[str] = []
    entries = {path: _kind(path) for path in files}
    for path, record in files.items():
        folder = posixpath.dirname(path)
        targets = []
        for link in record.get("links", []):
            href = str(link.get("href", ""))
            if "://" in href or not href:
                continue
            targets.append((str(link.get("rel")), posixpath.normpath(posixpath.join(folder, href))))
        problems += _back_links(path, record, targets, entries)
    return problems


def _back_links(path: str, record: dict[str, Any], targets: list[tuple[str, str]], entries: dict[str, str | None]) -> list[str]:
    """Each record written together points at the others, with the rel types the catalog uses."""
    wanted = {
        ("product", "workflow"): "related", ("product", "experiment"): "related",
        ("workflow", "experiment"): "child", ("workflow", "product"): "related",
        ("experiment", "workflow"): "related", ("experiment", "product"): "child",
    }
    kind = entries[path]
    problems = []
    for other, other_kind in entries.items():
        rel = wanted.get((kind or "", other_kind or ""))
        if other != path and rel is not None and (rel, other) not in targets:
            problems.append(f"{path}: no '{rel}' link to {other}")
    props = record.get("properties", record)
    if kind == "experiment":
        workflow = next((p for p, k in entries.items() if k == "workflow"), None)
        if workflow is not None and props.get("osc:workflow") != workflow.split("/")[1]:
            problems.append(f"{path}: osc:workflow {props.get('osc:workflow')!r} is not the workflow {workflow}")
    if kind == "product":
        experiment = next((p for p, k in entries.items() if k == "experiment"), None)
        if experiment is not None and props.get("osc:experiment") != experiment.split("/")[1]:
            problems.append(f"{path}: osc:experiment {props.get('osc:experiment')!r} is not the experiment {experiment}")
    return problems


def _kind(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) != 3:
        return None
    return {("products", "collection.json"): "product", ("workflows", "record.json"): "workflow",
            ("experiments", "record.json"): "experiment"}.get((parts[0], parts[2]))
