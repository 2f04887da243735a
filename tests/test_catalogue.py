"""The rule catalogue (validator/core/rules.toml) is the one declaration of every rule: each rule the
code names is declared, each declared rule is reported somewhere, and the file is well formed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from validator.core import catalogue
from validator.core.catalogue import all_rules, rule

VALIDATOR = Path(catalogue.__file__).resolve().parents[1]
NAMED = re.compile(r"""\brule\(\s*["']([^"']+)["']\s*\)""")


def _sources() -> dict[str, str]:
    return {str(p.relative_to(VALIDATOR)): p.read_text(encoding="utf-8") for p in VALIDATOR.rglob("*.py")}


def test_every_rule_the_code_names_is_declared() -> None:
    named = {(where, key) for where, text in _sources().items() for key in NAMED.findall(text)}
    assert named, "no rule(...) call found: the pattern no longer matches how checks name their rules"
    assert sorted((where, key) for where, key in named if catalogue.rule_named(key) is None) == []


def test_every_declared_rule_is_reported_by_some_code() -> None:
    """By name or id in a rule(...) call, or by id where rules are chosen from data (card items, metadata keys)."""
    text = "\n".join(_sources().values())
    named = set(NAMED.findall(text))
    unused = [r.id for r in all_rules() if r.name not in named and r.id not in named and f'"{r.id}"' not in text]
    assert unused == []


def test_the_file_is_well_formed() -> None:
    data = tomllib.loads((VALIDATOR / "core" / "rules.toml").read_text(encoding="utf-8"))
    assert list(data) == sorted(data, key=lambda rule_id: int(rule_id[2:])), "rules.toml lists its rules in id order"
    for rule_id, entry in data.items():
        assert re.fullmatch(r"MC\d{3}", rule_id)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", entry["name"]), rule_id
        assert entry["title"] and entry["rationale"] and entry["help"], rule_id


def test_an_unknown_rule_is_an_error_not_a_silent_none() -> None:
    with pytest.raises(KeyError, match="no rule 'readme-mising'"):
        rule("readme-mising")
    assert rule("MC101") is rule(rule("MC101").name)
