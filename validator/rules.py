"""The rule catalogue: every finding model-check can report, with its rationale from the guideline.

Each check module declares its own rules with `define(...)`; `all_rules()` lists them after the
check modules are imported (validator.checks imports them all).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Area, Finding, Severity

GUIDELINE = "EarthCODE, FAIR ML Model Packaging"
DOCS_URL = "https://github.com/earthcode/model-check/blob/main/README.md"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str  # kebab-case short name, e.g. "readme-missing"
    area: Area
    severity: Severity
    title: str  # one line: what is wrong
    rationale: str  # why, quoting or citing the guideline
    help: str  # what the author should change

    @property
    def help_uri(self) -> str:
        return f"{DOCS_URL}#{self.id.lower()}"

    def finding(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            rule=self.id,
            area=self.area,
            severity=severity or self.severity,
            message=message,
            file=file,
            line=line,
            help=self.help,
        )


_CATALOGUE: dict[str, Rule] = {}


def define(
    id: str,
    name: str,
    area: Area,
    severity: Severity,
    title: str,
    rationale: str,
    help: str,
) -> Rule:
    """Declare a rule; ids and names are unique across the catalogue."""
    if id in _CATALOGUE and _CATALOGUE[id].name != name:
        raise ValueError(f"rule id {id} declared twice")
    if any(r.name == name and r.id != id for r in _CATALOGUE.values()):
        raise ValueError(f"rule name {name} declared twice")
    rule = Rule(id, name, area, severity, title, rationale, help)
    _CATALOGUE[id] = rule
    return rule


def all_rules() -> list[Rule]:
    from . import checks, release_gate  # noqa: F401  (importing them declares their rules)

    return sorted(_CATALOGUE.values(), key=lambda r: (int(r.id[2:]), r.id))


def get_rule(rule_id: str) -> Rule | None:
    from . import checks, release_gate  # noqa: F401

    return _CATALOGUE.get(rule_id)


INTERNAL_ERROR = define(
    "MC001",
    "internal-error",
    Area.LAYOUT,
    Severity.ERROR,
    "A check crashed inside model-check",
    "model-check must report on every area; a crash leaves an area unchecked.",
    "This is a bug in model-check, not in your package: please report it with the message.",
)
