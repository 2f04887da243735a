"""Workflow-command annotations (`::error file=F,line=L,title=T::message`) and `::stop-commands::`.

The runner keeps at most 10 errors, 10 warnings and 10 notices per step (50 per job) and drops
the rest silently, so `emit` keeps within the per-step limits itself and says how many it left out.
Escaping follows the runner's rules (actions/toolkit command.ts): data escapes %, CR and LF;
properties also escape `:` and `,`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from validator.core.catalogue import get_rule
from validator.core.findings import Finding, Severity
from validator.core.report import Report
from validator.github.locations import annotatable, repo_path

LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
PER_STEP_LIMIT = 10  # per level
MESSAGE_LIMIT = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")

Write = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class Annotation:
    level: str  # "error", "warning" or "notice"
    message: str
    title: str = ""
    file: str | None = None  # relative to the repository root
    line: int | None = None


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def clean(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = _CONTROL.sub("", text)
    return text if len(text) <= limit else text[:limit] + "…"


def format_command(annotation: Annotation) -> str:
    props = []
    if annotation.file:
        props.append(f"file={escape_property(clean(annotation.file, 1000))}")
        if annotation.line:
            props.append(f"line={int(annotation.line)}")
    if annotation.title:
        props.append(f"title={escape_property(clean(annotation.title, 200))}")
    head = f"::{annotation.level} {','.join(props)}" if props else f"::{annotation.level}"
    return f"{head}::{escape_data(clean(annotation.message))}"


def finding_title(finding: Finding) -> str:
    rule = get_rule(finding.rule)
    return f"{finding.rule} {rule.name}" if rule else finding.rule


def annotations_for(report: Report) -> list[Annotation]:
    """One annotation per finding, errors first, at the finding's place in the repository. A finding on a
    binary file (model.onnx, *.safetensors: no line to show it on) gets no place: its title names the file, and
    it stays out of the check run's annotations (its text, the report, has it) and is a workflow-command
    annotation of the run, not of the file."""
    result = []
    for finding in sorted(report.findings, key=lambda f: -f.severity.rank):
        title = finding_title(finding)
        file = repo_path(report.package_path, finding.file)
        if file is not None and not annotatable(file, finding.line):
            title, file = f"{title} ({file})", None
        result.append(Annotation(LEVEL[finding.severity], finding.message, title, file, finding.line if file else None))
    return result


@dataclass
class Emitted:
    shown: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def total_left_out(self) -> int:
        return sum(self.left_out.values())


def emit(annotations: Iterable[Annotation], write: Write = _print, per_level: int = PER_STEP_LIMIT) -> Emitted:
    """Print annotations as workflow commands, at most `per_level` of each level, and report on
    the ones left out (one plain log line)."""
    emitted = Emitted()
    used: dict[str, int] = {}
    for annotation in annotations:
        if used.get(annotation.level, 0) >= per_level:
            emitted.left_out[annotation.level] = emitted.left_out.get(annotation.level, 0) + 1
            continue
        used[annotation.level] = used.get(annotation.level, 0) + 1
        write(format_command(annotation))
        emitted.shown += 1
    if emitted.left_out:
        parts = ", ".join(f"{n} {level}(s)" for level, n in emitted.left_out.items())
        write(f"model-check: {parts} not shown as annotations: GitHub keeps at most {per_level} errors, "
              f"{per_level} warnings and {per_level} notices per step; the job summary lists every finding.")
    return emitted


@contextmanager
def stop_commands(write: Write = _print) -> Iterator[str]:
    """Nothing printed inside is read as a workflow command (for echoing package-derived output). Yields the
    token, for model-check's own group switches inside (validator.github.log_groups); never for package code."""
    token = secrets.token_hex(16)
    write(f"::stop-commands::{token}")
    try:
        yield token
    finally:
        write(f"::{token}::")
