"""The report of one run, and its JSON form (schema_version 1, validated by schemas/report.schema.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from validator import __version__
from validator.core.findings import Area, Artefact, CheckRecord, CheckStatus, Finding, Note, NoteScope, Severity
from validator.core.options import Relaxation
from validator.core.records import EnvironmentRecord, ParityRecord

SCHEMA_VERSION = 1


@dataclass
class Report:
    package_path: str
    package_name: str | None
    package_version: str | None
    fail_on: Severity
    findings: list[Finding] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)
    artefacts: list[Artefact] = field(default_factory=list)
    parity: ParityRecord | None = None
    environment: EnvironmentRecord | None = None
    notes: list[Note] = field(default_factory=list)  # run-level remarks; machine ones stay out of the Markdown
    relaxations: list[Relaxation] = field(default_factory=list)  # rules a configuration disabled or lowered

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.severity.reaches(self.fail_on)]

    @property
    def status(self) -> str:
        return "failed" if self.failing else "passed"

    @property
    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        return counts

    @property
    def package_notes(self) -> list[str]:
        """The notes about the package (the Markdown report shows these only)."""
        return [n.text for n in self.notes if n.scope is NoteScope.PACKAGE]

    @property
    def machine_notes(self) -> list[str]:
        """The notes about the machine that ran model-check (terminal and JSON only)."""
        return [n.text for n in self.notes if n.scope is NoteScope.MACHINE]

    def by_area(self) -> dict[Area, list[Finding]]:
        grouped: dict[Area, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.area, []).append(finding)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "model-check", "version": __version__},
            "package": {"path": self.package_path, "name": self.package_name, "version": self.package_version},
            "status": self.status,
            "fail_on": self.fail_on.value,
            "summary": self.summary,
            "findings": [f.to_dict() for f in self.findings],
            "checks": [c.to_dict() for c in self.checks],
            "artefacts": [a.to_dict() for a in self.artefacts],
            "parity": self.parity,
            "relaxations": [r.to_dict() for r in self.relaxations],
        }
        if self.environment is not None:
            data["environment"] = self.environment
        if self.package_notes:
            data["notes"] = self.package_notes
        if self.machine_notes:
            data["machine_notes"] = self.machine_notes
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report from its JSON form; validate it against the schema first."""
        validate_report(data)
        report = cls(
            package_path=data["package"]["path"],
            package_name=data["package"].get("name"),
            package_version=data["package"].get("version"),
            fail_on=Severity(data.get("fail_on", "error")),
            parity=data.get("parity"),
            environment=data.get("environment"),
            # notes of a report written before machine_notes existed are read as package notes, as they were shown
            notes=[Note.package(n) for n in data.get("notes", [])] + [Note.machine(n) for n in data.get("machine_notes", [])],
            relaxations=[Relaxation.from_dict(r) for r in data.get("relaxations", [])],
        )
        report.findings = [
            Finding(f["rule"], Area(f["area"]), Severity(f["severity"]), f["message"], f.get("file"), f.get("line"), f.get("help", ""))
            for f in data["findings"]
        ]
        report.checks = [
            CheckRecord(Area(c["area"]), c["name"], CheckStatus(c["status"]), c.get("reason", ""), c.get("duration_s", 0.0))
            for c in data["checks"]
        ]
        report.artefacts = [Artefact(a["path"], a["bytes"], a["sha256"]) for a in data["artefacts"]]
        return report


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    text = resources.files("validator").joinpath("schemas/report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_report(data: Any) -> None:
    """Raise jsonschema.ValidationError when `data` is not a schema_version 1 report."""
    import jsonschema

    jsonschema.Draft202012Validator(report_schema()).validate(data)
