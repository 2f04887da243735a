"""The docs stay true to the code: docs/rules.md is the catalogue, README.md names the commands that exist."""

from __future__ import annotations

from pathlib import Path

from validator.cli import docs
from validator.core.catalogue import all_rules

README = Path(__file__).resolve().parent.parent / "README.md"
RULES = README.parent / "docs" / "rules.md"


def test_rule_table_is_the_catalogue() -> None:
    text = RULES.read_text(encoding="utf-8")
    assert docs.updated(text) == text, "run: python -m validator.cli.docs"
    for rule in all_rules():
        assert f"{rule.id} | {rule.name} |" in text


def test_rule_table_detects_a_stale_table(tmp_path: Path) -> None:
    text = RULES.read_text(encoding="utf-8")
    stale = text.replace(f"| {all_rules()[0].name} |", "| renamed |", 1)
    assert docs.updated(stale) != stale


def test_readme_names_the_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pip install -e . && model-check check examples/goes-cloud-regime" in text
    assert "bash .ci/run" in text
    assert "python -m pytest" in (README.parent / ".ci" / "run").read_text()


def test_readme_links_the_rule_table_and_stays_short() -> None:
    text = README.read_text(encoding="utf-8")
    assert "(docs/rules.md)" in text and "<!-- rules:begin -->" not in text
