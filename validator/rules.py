"""The rule catalogue: every finding model-check can report, with its rationale from the guideline.

Each check module declares its own rules with `define(...)`; `all_rules()` lists them after the
check modules are imported (validator.checks imports them all).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Area, Finding, Severity

GUIDELINE = "EarthCODE, FAIR ML Model Packaging"
DOCS_URL = "https://github.com/earthcode/model-check/blob/main/README.md"


# Safety-relevant rules outside the security area (which is security as a whole). A package's own
# configuration cannot switch these off or lower them: MC001 a crashed check (an area left
# unchecked), MC002/MC003 the configuration's own problems and refused requests, MC109 a file no
# scanner could read, MC303 includes from outside the package, MC304 the package's own package
# sources, MC353 a weakened sandbox, MC354 a refused package source, MC384 a refused fetch of a
# Dockerfile, MC402 a pickle disguised as safetensors, MC502 a parser crash or memory bomb, MC510
# ONNX external data pointing out, MC862 the release gate's refusal of relaxations, MC004 a static
# check abandoned at the static checks' time budget.
SECURITY_RULES = ("MC001", "MC002", "MC003", "MC004", "MC109", "MC303", "MC304", "MC353", "MC354", "MC384", "MC402",
                  "MC502", "MC510", "MC862")


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
    def security(self) -> bool:
        """A rule whose finding a package's own configuration can never disable or lower."""
        return self.area is Area.SECURITY or self.id in SECURITY_RULES

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
STATIC_TIME_BUDGET = define(
    "MC004",
    "static-check-time-budget",
    Area.LAYOUT,
    Severity.ERROR,
    "A static check did not finish within the static checks' time budget",
    "model-check must report on every area in bounded time: the static checks share a time budget, and a file "
    "that keeps one running past it leaves that check and the ones after it unfinished.",
    "Look at the file and check named in the message (typically an oversized or machine-generated README, "
    "notebook or text file): shrink it to what a person would read, or split it, and run model-check again.",
)
