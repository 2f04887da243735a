"""Area publishing: Open Science Catalog workflow and experiment records a package ships (OGC API
Records features with `properties.type` workflow or experiment) meet what the catalog requires,
link what they name, and name the release the card states.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from validator.checks.base import Skip, StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.json_lines import line_of
from validator.readers.osc_records import OscRecord, find_osc_records, problems
from validator.readers.package import ModelPackage

MAX_SCHEMA_FINDINGS = 10


class OscRecordsCheck(StaticCheck):
    name = "OSC workflow and experiment records"
    area = Area.PUBLISHING

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        records = find_osc_records(pkg)
        if not records:
            return Skip("no OSC workflow or experiment record in the package (a Feature whose properties.type is "
                        "workflow or experiment)")
        return [f for record in records for f in self._record(pkg, record)]

    def _record(self, pkg: ModelPackage, record: OscRecord) -> Iterator[Finding]:
        for path, message in problems(record.data, record.kind)[:MAX_SCHEMA_FINDINGS]:
            where = "/" + "/".join(str(p) for p in path)
            yield rule("osc-record-invalid").finding(f"{where}: {message} (the catalog's {record.kind} record)",
                                                     file=record.rel, line=line_of(record.text, path))
        if record.kind == "experiment":
            yield from _workflow_link(record)
        if record.kind == "workflow":
            yield from _release(pkg, record)


def _workflow_link(record: OscRecord) -> Iterator[Finding]:
    workflow = record.data["properties"].get("osc:workflow")
    if not isinstance(workflow, str) or not workflow:
        return
    links = _links(record)
    wanted = f"/workflows/{workflow}/record.json"
    if not any(isinstance(link, dict) and link.get("rel") == "related" and str(link.get("href", "")).endswith(wanted)
               for link in links):
        yield rule("osc-record-unlinked").finding(
            f"osc:workflow is {workflow!r} but no 'related' link points at ../..{wanted}: add "
            f"{{\"rel\": \"related\", \"href\": \"../..{wanted}\", \"type\": \"application/json\", \"title\": \"Workflow: <title>\"}}",
            file=record.rel, line=line_of(record.text, ("properties", "osc:workflow")))


def _release(pkg: ModelPackage, record: OscRecord) -> Iterator[Finding]:
    facts = pkg.card_facts
    if facts is None:
        return
    readme = pkg.find("README.md") or "README.md"
    version = record.data["properties"].get("version")
    if facts.release_tag is not None and isinstance(version, str) and version.lstrip("v") != str(facts.release_tag.value).lstrip("v"):
        yield rule("osc-record-release-mismatch").finding(
            f"version {version!r} is not the card's release tag {facts.release_tag.value!r} ({readme}:{facts.release_tag.line}): "
            "write the tag of the release the package is", file=record.rel, line=line_of(record.text, ("properties", "version")))
    if facts.commit is None:
        return
    commit = str(facts.commit.value)
    links = _links(record)
    for index, link in enumerate(links):
        if not isinstance(link, dict) or link.get("rel") not in ("git", "vcs"):
            continue
        named = re.findall(r"\b[0-9a-f]{7,40}\b", f"{link.get('href', '')} {link.get('title', '')}")
        stale = [sha for sha in named if not (sha.startswith(commit) or commit.startswith(sha))]
        if stale:
            yield rule("osc-record-release-mismatch").finding(
                f"the {link.get('rel')} link names commit {stale[0]} but the card's commit is {commit} "
                f"({readme}:{facts.commit.line}): link the repository at the commit of this release",
                file=record.rel, line=line_of(record.text, ("links", index)))


def _links(record: OscRecord) -> list[Any]:
    links = record.data.get("links")
    return links if isinstance(links, list) else []
