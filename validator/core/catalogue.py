"""The rule catalogue: every finding model-check can report, read from the data file rules.toml.

Rules are declared once, in rules.toml (ids, names, areas, severities, rationales, help); checks
name theirs where they report them, `rule("readme-missing").finding(...)` (tests/test_catalogue.py
checks that every name in the code is declared). The CLI's
`rules` command, the rule documentation, SARIF metadata, configuration validation and the release
gate all read `all_rules()`. This module imports nothing of validator but the findings it makes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from validator.core.findings import Area, Finding, Severity

GUIDELINE = "EarthCODE, FAIR ML Model Packaging"
DOCS_URL = "https://github.com/earthcode/model-check/blob/main/docs/rules.md"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str  # kebab-case short name, e.g. "readme-missing"
    area: Area
    severity: Severity
    title: str  # one line: what is wrong
    rationale: str  # why, quoting or citing the guideline
    help: str  # what the author should change
    marked_security: bool = False  # rules.toml says `security = true`

    @property
    def security(self) -> bool:
        """A rule whose finding a package's own configuration can never disable or lower."""
        return self.area is Area.SECURITY or self.marked_security

    @property
    def help_uri(self) -> str:
        return f"{DOCS_URL}#{self.id.lower()}"

    def finding(self, message: str, file: str | None = None, line: int | None = None,
                severity: Severity | None = None) -> Finding:
        return Finding(rule=self.id, area=self.area, severity=severity or self.severity, message=message,
                       file=file, line=line, help=self.help)


_FIELDS = {"name", "area", "severity", "title", "rationale", "help", "security"}


@cache
def _catalogue() -> dict[str, Rule]:
    text = resources.files("validator.core").joinpath("rules.toml").read_text(encoding="utf-8")
    rules: dict[str, Rule] = {}
    names: set[str] = set()
    for rule_id, entry in tomllib.loads(text).items():
        unknown = set(entry) - _FIELDS
        if unknown or not rule_id.startswith("MC") or not rule_id[2:].isdigit():
            raise ValueError(f"rules.toml: [{rule_id}] is not a rule declaration ({', '.join(sorted(unknown))})")
        if entry["name"] in names:
            raise ValueError(f"rules.toml: rule name {entry['name']} declared twice")
        names.add(entry["name"])
        rules[rule_id] = Rule(rule_id, entry["name"], Area(entry["area"]), Severity(entry["severity"]), entry["title"],
                              entry["rationale"], entry["help"], bool(entry.get("security", False)))
    return rules


def rule(key: str) -> Rule:
    """The rule with this name (`rule("readme-missing")`, how checks name theirs) or id (MC101); a
    KeyError when there is none, so a misspelt rule fails the first test that reaches it."""
    found = rule_named(key)
    if found is None:
        raise KeyError(f"no rule {key!r} in validator/core/rules.toml")
    return found


def all_rules() -> list[Rule]:
    return sorted(_catalogue().values(), key=lambda r: int(r.id[2:]))


def get_rule(rule_id: str) -> Rule | None:
    return _catalogue().get(rule_id)


def rule_named(key: str) -> Rule | None:
    """The rule a configuration key names: its id (MC101) or its name (readme-missing)."""
    return _catalogue().get(key) or _by_name().get(key)


@cache
def _by_name() -> dict[str, Rule]:
    return {r.name: r for r in _catalogue().values()}
