"""Issue 9, class 7: every regular expression over package text is linear, and the static checks
have a time budget that ends in a finding (MC004), never a hang.

A 9 MB README of `[` and `](` runs hung the card reader for more than 400 s: its link expression
rescanned the rest of the text from every `[` (quadratic). The tests below feed long runs of the
characters Markdown, paths and version strings are made of to every reader of untrusted text, and
hypothesis-generated adversarial Markdown to the card reader and the checks reading the card. No
test measures time: each has a generous pytest-timeout as its hang guard (on the old code the runs
below take hours). Time per MB is measured by benchmarks/bench_card.py.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from helpers import check_report, findings, run_static
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from security_helpers import AWS_KEY

from validator.checks.license import _cff_validator
from validator.core.catalogue import get_rule
from validator.core.options import Options
from validator.pipeline import runner
from validator.readers.card import CardFacts, _strip_item, is_placeholder, parse_shape, read_card, split_names
from validator.readers.license import _card_candidates
from validator.readers.markdown import parse_markdown, plain
from validator.readers.runtime_spec import _CONDA_PIN
from validator.runtime.environments.conda import _PIP_SECTION
from validator.scanners.private_refs import find_private_refs
from validator.scanners.secrets import PIECE_CHARS, find_secrets, screen

LONG = 100_000  # characters of one run: hours for a quadratic expression, milliseconds for a linear one
# What Markdown, paths, URLs, versions and placeholders are made of.
TOKENS = ["[", "](", "[a](", "![", "[[", "]", "`", "``", "*", "**", "_", "__", "<", "<a ", "!", "|", " ", "\t", "\n",
          "(", ")", "{{", "a@", "a.", "1", "1.", "1x", "1,", "x", "a:", ":", "://", "/", "a/", "-", " -", "=",
          "·", "version ", "what ", "here ", "python ", "a.ipynb", "insert ", "0", "\\", "'", '"', "# ", "a "]
# The static checks that read the card (the runtime ones need an environment).
CARD_AREAS = ["layout", "model-card", "license", "consistency", "publishing"]
STATIC_AREAS = [*CARD_AREAS, "runtime", "security", "safetensors", "onnx"]


def runs(length: int = LONG) -> list[str]:
    return [(token * (length // len(token) + 1))[:length] for token in TOKENS]


# -- the reported case ----------------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_readme_of_bracket_runs_is_read(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Model\n\n" + "[" * 60_000 + "](" * 30_000 + "[a](" * 15_000 + "\n")
    report = run_static(tmp_path, only=CARD_AREAS)
    assert not findings(report, rule="MC001") and not findings(report, rule="MC004")
    card = next(c for c in report["checks"] if c["area"] == "model-card")
    assert card["status"] == "failed"  # a card of brackets misses every item: reported, not hung


# -- every reader of untrusted text, on long runs -------------------------------------------------
@pytest.mark.timeout(300)
@pytest.mark.parametrize("reader", [
    plain, is_placeholder, parse_shape, split_names, _strip_item, find_private_refs, _card_candidates,
    _CONDA_PIN.match, _PIP_SECTION.search, screen,
], ids=lambda f: getattr(f, "__name__", repr(f)))
def test_text_readers_are_linear_on_long_runs(reader: Callable[[str], object]) -> None:
    for text in runs():
        reader("a " + text + " (x)")


@pytest.mark.timeout(300)
def test_card_items_on_long_lines_and_many_lines() -> None:
    for token in ["a.", "1", " ", "\n", "a@", "|", "what ", "version ", "{{", "`python ", "a.ipynb ", "·", "insert here "]:
        text = "# Model\n\n## What it predicts\n\n" + token * (LONG // len(token)) + "\n"
        assert isinstance(read_card(parse_markdown(text, "README.md")), CardFacts)


@pytest.mark.timeout(300)
def test_citation_email_of_at_signs_is_validated() -> None:
    validator = _cff_validator()
    data: dict[str, Any] = {"cff-version": "1.2.0", "message": "m", "title": "t", "authors": [{"name": "a", "email": "@" * LONG}]}
    assert list(validator.iter_errors(data))  # not an email; and answered at once
    data["authors"][0]["email"] = "a@" * (LONG // 2)
    list(validator.iter_errors(data))


@settings(max_examples=400, deadline=None, database=None)
@given(value=st.text(alphabet="a@.b \n\t", max_size=40))
def test_citation_email_pattern_is_the_schema_s_own(value: str) -> None:
    schema_email = re.compile(r"^[\S]+@[\S]+\.[\S]{2,}$")  # the CFF 1.2.0 schema's, quadratic
    schema = _cff_validator().schema
    assert isinstance(schema, Mapping)
    email = schema["definitions"]["email"]
    assert email["pattern"] != schema_email.pattern  # replaced in the schema model-check validates with
    assert Draft7Validator(email).is_valid(value) == bool(schema_email.search(value))


@pytest.mark.timeout(900)
@pytest.mark.no_report_check  # config.json is a nesting bomb: not a report, and not parsable by json.loads
def test_package_of_adversarial_text_files_is_checked(tmp_path: Path) -> None:
    # lines of 8,000 characters: quoted whole in some runtime messages, which the report bounds at 20,000
    text = "\n".join(run[:8_000] for run in runs())
    for name in ("README.md", "requirements.txt", "environment.yml", "Dockerfile", ".python-version", "LICENSE",
                 "CITATION.cff", "inference.py", "notes.txt", "config.json"):
        (tmp_path / name).write_text(text)
    (tmp_path / "demo.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": [text[:100_000]],
                                                                "metadata": {}, "outputs": []}]}))
    report = run_static(tmp_path, only=STATIC_AREAS)
    assert not findings(report, rule="MC001") and not findings(report, rule="MC004")


# -- credentials on long lines ---------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_long_lines_reach_detect_secrets_in_overlapping_pieces() -> None:
    kept, numbers = screen("short\n" + "x = y; " * PIECE_CHARS + "\n")
    assert max(len(line) for line in kept.splitlines()) <= PIECE_CHARS and set(numbers) == {1, 2}
    for offset in (0, PIECE_CHARS - 10, 3 * PIECE_CHARS + 7):  # at, and across, piece boundaries
        line = "x = 1; " * (offset // 7) + f'aws = "{AWS_KEY}"; ' + "y = 2; " * 20_000
        scan = find_secrets({"big.py": "first\n" + line + "\n"})
        assert [(h.line, h.kind) for h in scan.hits] == [(2, "AWS Access Key")]


# -- hypothesis: adversarial Markdown to the card reader and the card checks ---------------------
MARKDOWN_TOKENS = ["[", "](", "[a](b)", "![", "![a](", "[[", "]]", "`", "``", "```\n", "*", "**", "_", "__", "<", "<a ",
                   "</", "!", "|", "| a | b |\n", "|---|---|\n", " ", "\t", "\n", "\n\n", "(", ")", "{{", "}}", "\\",
                   "# ", "## Intended use\n", "- ", "1. ", "> ", "**Version:** 1.0 · ", "Channels: a, b\n", "a@b.c ",
                   "http://a", "`python a.py` ", "a.ipynb ", "TODO ", "&amp;", "---\n", "x" * 50]


@st.composite
def adversarial_markdown(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(st.sampled_from(MARKDOWN_TOKENS), st.integers(1, 6_000)), min_size=1, max_size=30))
    text = "".join(token * count for token, count in pieces)
    return text[:300_000]


@pytest.mark.timeout(900)
@settings(max_examples=8, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(text=adversarial_markdown())
def test_card_reader_and_card_checks_finish_on_adversarial_markdown(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="adversarial-card-") as folder:
        (Path(folder) / "README.md").write_text(text)
        report = run_static(Path(folder), only=CARD_AREAS)
    assert not findings(report, rule="MC001") and not findings(report, rule="MC004")
    card = next(c for c in report["checks"] if c["area"] == "model-card")
    assert card["status"] in ("passed", "failed")


# -- the static checks' time budget ---------------------------------------------------------------
def _run_with_budget(root: Path, budget: float) -> dict[str, Any]:
    return check_report(runner.run(root, Options(env="none"), None, static_budget=budget))


@pytest.mark.timeout(300)
def test_static_check_past_the_time_budget_ends_in_a_finding(tmp_path: Path) -> None:
    # markdown-it alone needs seconds for this README: more than the budget given
    (tmp_path / "README.md").write_text("# Model\n\n" + "![" * 80_000 + "\n")
    report = _run_with_budget(tmp_path, 0.5)
    [finding] = findings(report, rule="MC004")
    assert finding["severity"] == "error" and finding["file"] == "README.md"
    # the first check to read the card (layout, for a package without inference.py) is abandoned
    [abandoned] = [c for c in report["checks"] if c["status"] == "failed"]
    assert f"the {abandoned['name']} check was still running (the last file it read: README.md)" in finding["message"]
    later = report["checks"][report["checks"].index(abandoned) + 1:]
    assert later and all(c["status"] == "skipped" and "MC004" in c["reason"] for c in later)
    assert report["status"] == "failed" and report["package"]["name"] is None  # the card was never finished


@pytest.mark.timeout(300)
def test_caller_can_lower_the_budget_not_raise_it(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Model\n\n" + "![" * 80_000 + "\n")
    with mock.patch.object(runner, "STATIC_BUDGET_S", 0.5):
        report = _run_with_budget(tmp_path, 10_000)
    assert "0.5 s" in findings(report, rule="MC004")[0]["message"]


def test_time_budget_finding_cannot_be_switched_off_by_the_package() -> None:
    rule = get_rule("MC004")
    assert rule is not None and rule.security and rule.severity.value == "error"
