"""The values every part of model-check exchanges: areas, severities, findings, check records."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypedDict


class Area(str, enum.Enum):
    LAYOUT = "layout"
    MODEL_CARD = "model-card"
    RUNTIME = "runtime"
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    CONSISTENCY = "consistency"
    PARITY = "parity"
    INFERENCE = "inference"
    SECURITY = "security"
    LICENSE = "license"
    PUBLISHING = "publishing"


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    def reaches(self, threshold: Severity) -> bool:
        return self.rank >= threshold.rank


class CheckStatus(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Location:
    """A place in the package: a path relative to the package root, and a 1-based line."""

    file: str | None = None
    line: int | None = None


class FindingDict(TypedDict):
    """A finding in the JSON report."""

    rule: str
    area: str
    severity: str
    message: str
    file: str | None
    line: int | None
    help: str


class CheckRecordDict(TypedDict):
    area: str
    name: str
    status: str
    reason: str
    duration_s: float


class ArtefactDict(TypedDict):
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Finding:
    rule: str
    area: Area
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    help: str = ""

    def to_dict(self) -> FindingDict:
        return {
            "rule": self.rule,
            "area": self.area.value,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "help": self.help,
        }


@dataclass(frozen=True)
class CheckRecord:
    """What one check did: passed, failed (it produced a finding at warning or above) or skipped."""

    area: Area
    name: str
    status: CheckStatus
    reason: str = ""
    duration_s: float = 0.0

    def to_dict(self) -> CheckRecordDict:
        return {
            "area": self.area.value,
            "name": self.name,
            "status": self.status.value,
            "reason": self.reason,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class Artefact:
    path: str
    bytes: int
    sha256: str

    def to_dict(self) -> ArtefactDict:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256}


class NoteScope(str, enum.Enum):
    """Who a run note is for: every note is in the terminal and the JSON report; only package notes reach
    the Markdown report (the PR comment and job summary, read by reviewers)."""

    PACKAGE = "package"  # about the package or what was checked of it: "static run (--env none): ...", "parity: 1 of the 2 .onnx files was run"
    MACHINE = "machine"  # about the machine that ran model-check: installer and pip settings, caches and their paths, the torch backend, the engine


@dataclass(frozen=True)
class Note:
    """A run-level remark for the report (not a finding), with the audience its scope gives it."""

    text: str
    scope: NoteScope

    @classmethod
    def package(cls, text: str) -> Note:
        return cls(text, NoteScope.PACKAGE)

    @classmethod
    def machine(cls, text: str) -> Note:
        return cls(text, NoteScope.MACHINE)
