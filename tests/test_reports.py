"""Reports: golden JSON and Markdown for the example package, the JSON Schema, the status rule,
and escaping of package-derived text in the Markdown and terminal reports.

Regenerate the golden files with `pytest tests/test_reports.py --update-golden` after a change
that is meant to alter the reports, and review the diff of tests/golden/ before committing."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import REPO, RunCli, check_report
from rich.console import Console

from validator import __version__
from validator.core.escape import markdown_code, markdown_text
from validator.core.findings import Area, Artefact, CheckRecord, CheckStatus, Finding, Severity
from validator.core.report import Report, validate_report
from validator.reporters import REPORTERS, render
from validator.reporters.markdown import render_markdown
from validator.reporters.terminal import print_report

GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE_ARG = "examples/goes-cloud-regime"  # as a user in the repository types it


# -- golden reports ---------------------------------------------------------------------------
def normalise_json(data: dict[str, Any]) -> str:
    """The report without what changes from run to run: durations, the tool version, local paths."""
    data = json.loads(json.dumps(data))
    data["tool"]["version"] = "<version>"
    for check in data["checks"]:
        check["duration_s"] = 0.0
    return normalise_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def normalise_text(text: str) -> str:
    text = text.replace(str(REPO), "<repo>")
    return re.sub(r"/tmp/[\w./-]+", "<tmp>", text)


def compare_with_golden(name: str, actual: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        pytest.skip(f"golden file {path.relative_to(REPO)} rewritten (--update-golden): review its diff")
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} does not exist: run `pytest tests/test_reports.py --update-golden`")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                            fromfile=f"golden/{name}", tofile="this run", n=2))
        pytest.fail(f"the report differs from golden/{name}; if the change is intended, run "
                    f"`pytest tests/test_reports.py --update-golden` and review the diff\n{diff}", pytrace=False)


@pytest.fixture()
def example_reports(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str]:
    monkeypatch.chdir(REPO)
    code, _, err = run_cli(["check", EXAMPLE_ARG, "--env", "none", "--json", tmp_path / "example.json",
                            "--markdown", tmp_path / "example.md"])
    assert code in (0, 1), err
    return check_report(tmp_path / "example.json"), (tmp_path / "example.md").read_text(encoding="utf-8")


def test_golden_json(example_reports: tuple[dict[str, Any], str], update_golden: bool) -> None:
    compare_with_golden("example.json", normalise_json(example_reports[0]), update_golden)


def test_golden_markdown(example_reports: tuple[dict[str, Any], str], update_golden: bool) -> None:
    compare_with_golden("example.md", normalise_text(example_reports[1]), update_golden)


def test_golden_json_is_a_valid_report() -> None:
    path = GOLDEN / "example.json"
    if not path.exists():
        pytest.fail("tests/golden/example.json is missing: run `pytest tests/test_reports.py --update-golden`")
    check_report(path)


def test_example_report_contents(example_reports: tuple[dict[str, Any], str]) -> None:
    report, markdown = example_reports
    assert report["tool"] == {"name": "model-check", "version": __version__}
    assert report["package"] == {"path": EXAMPLE_ARG, "name": "GOES Cloud-Regime Classifier (demo)", "version": "v0.1.0"}
    paths = {a["path"] for a in report["artefacts"]}
    assert {"README.md", "requirements.txt", "model.safetensors", "model.onnx", "inference.py"} <= paths
    assert "static run (--env none): no package code was executed" in report["notes"]
    assert all(c["reason"] for c in report["checks"] if c["status"] == "skipped")
    assert markdown.startswith(f"## model-check: `{EXAMPLE_ARG}`")


# -- the JSON report contract -----------------------------------------------------------------
def finding(severity: Severity, rule: str = "MC104", message: str = "m", file: str | None = None,
            line: int | None = None) -> Finding:
    return Finding(rule, Area.LAYOUT, severity, message, file, line, "help")


@pytest.mark.parametrize(("severities", "fail_on", "status"), [
    ([], Severity.ERROR, "passed"),
    ([Severity.INFO, Severity.WARNING], Severity.ERROR, "passed"),
    ([Severity.INFO, Severity.WARNING], Severity.WARNING, "failed"),
    ([Severity.INFO], Severity.WARNING, "passed"),
    ([Severity.ERROR], Severity.ERROR, "failed"),
    ([Severity.ERROR], Severity.WARNING, "failed"),
])
def test_status_fails_exactly_when_a_finding_reaches_fail_on(severities: list[Severity], fail_on: Severity, status: str) -> None:
    report = Report("pkg", None, None, fail_on, findings=[finding(s) for s in severities])
    data = check_report(report)
    assert data["status"] == status
    assert data["summary"] == {s.value: severities.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}


def full_report() -> Report:
    return Report(
        "pkg", "Demo", "v1", Severity.ERROR,
        findings=[finding(Severity.ERROR, "MC101"), finding(Severity.WARNING, "MC301", "x", "requirements.txt", 3)],
        checks=[CheckRecord(Area.LAYOUT, "package layout", CheckStatus.FAILED, "", 0.25),
                CheckRecord(Area.PARITY, "parity", CheckStatus.SKIPPED, "--env none", 0.0)],
        artefacts=[Artefact("README.md", 10, "0" * 64)],
        notes=["a note"],
    )


def test_report_round_trips_through_json() -> None:
    data = check_report(full_report())
    again = Report.from_dict(json.loads(json.dumps(data)))
    assert again.to_dict() == data


@pytest.mark.parametrize("breakage", [
    lambda d: d.pop("parity"),
    lambda d: d.update(schema_version=2),
    lambda d: d.update(status="ok"),
    lambda d: d["findings"][0].update(area="nonsense"),
    lambda d: d["findings"][0].update(severity="fatal"),
    lambda d: d["findings"][0].update(line=0),
    lambda d: d["findings"][0].pop("file"),
    lambda d: d["checks"][0].update(duration_s=-1),
    lambda d: d["artefacts"][0].update(sha256="xyz"),
    lambda d: d.update(extra=True),
])
def test_schema_rejects_reports_that_break_the_contract(breakage: Any) -> None:
    data = full_report().to_dict()
    breakage(data)
    with pytest.raises(jsonschema.ValidationError):
        validate_report(data)


def test_reporters_are_chosen_by_name() -> None:
    report = full_report()
    assert {"json", "markdown"} <= set(REPORTERS)
    assert json.loads(render("json", report)) == report.to_dict()
    assert render("markdown", report) == render_markdown(report)


# -- Markdown: structure and escaping ---------------------------------------------------------
def test_markdown_has_status_line_area_tables_details_and_rule_links() -> None:
    text = render_markdown(full_report())
    assert "❌ **model-check failed** for `Demo v1`: 1 error(s), 1 warning(s), 0 note(s)" in text
    assert "<details open><summary><b>layout</b>" in text
    assert "[MC101](https://github.com/earthcode/model-check/blob/main/docs/rules.md#mc101)" in text
    assert "`requirements.txt:3`" in text
    assert "| parity | parity | ⏭️ skipped | \\-\\-env none |" in text


HOSTILE = "<script>alert(1)</script> @someone [link](http://x) ![img](http://x/i.png) www.evil.example **b** | cell"


def assert_inert(markdown: str) -> None:
    """Nothing from HOSTILE renders as HTML, a mention, a link, an image or a table cell break."""
    assert "<script>" not in markdown and "</script>" not in markdown
    assert "@someone" not in markdown
    assert "[link](http://x)" not in markdown and "](http://x" not in markdown
    assert "www.evil" not in markdown
    assert "http://x" not in markdown


def test_markdown_text_escapes_html_mentions_links_and_markup() -> None:
    escaped = markdown_text(HOSTILE)
    assert_inert(escaped)
    assert "&lt;script&gt;" in escaped and "\\*\\*b\\*\\*" in escaped and "\\|" in escaped
    assert markdown_text("it's \"quoted\"") == "it's \"quoted\""  # no entities that Markdown would mangle


def test_markdown_code_keeps_text_literal_and_table_safe() -> None:
    assert markdown_code("<b>@x</b>") == "`<b>@x</b>`"  # inline code renders nothing
    assert markdown_code("a|b") == "`a\\|b`"
    assert "`" not in markdown_code("x`y").strip("`").strip()
    assert "\n" not in markdown_code("two\nlines")


def test_markdown_report_escapes_package_derived_text() -> None:
    name = "evil <script>@someone[link](http://x)|.pt"
    report = Report("pkg <b>", "Name @someone", None, Severity.ERROR,
                    findings=[finding(Severity.ERROR, "MC106", f"{name} is opaque; {HOSTILE}", name, 2)],
                    checks=[CheckRecord(Area.LAYOUT, "package layout", CheckStatus.SKIPPED, HOSTILE)],
                    artefacts=[Artefact(name, 1, "0" * 64)], notes=[HOSTILE])
    text = render_markdown(report)
    outside_code = re.sub(r"``.*?``|`[^`]*`", "", text)  # inline code is shown literally by renderers
    assert_inert(outside_code)
    for line in text.splitlines():
        if line.startswith("| ") and "MC106" in line:
            assert len(re.findall(r"(?<!\\)\|", line)) == 5  # four cells: the text added none


def test_markdown_of_a_real_package_with_a_hostile_file_name(pkg_copy: Path, run_cli: RunCli, tmp_path: Path) -> None:
    hostile = "[x](evil.example) @someone <img src=x>.pt"  # file names cannot hold a "/"
    (pkg_copy / hostile).write_bytes(b"\x80\x02}q\x00.")
    code, _, _ = run_cli(["check", pkg_copy, "--env", "none", "--markdown", tmp_path / "r.md", "--json", tmp_path / "r.json"])
    text = (tmp_path / "r.md").read_text(encoding="utf-8")
    report = check_report(tmp_path / "r.json")
    assert code in (0, 1)
    assert any(f["rule"] == "MC107" and f["file"] == hostile for f in report["findings"])
    outside_code = re.sub(r"``.*?``|`[^`]*`", "", text)
    assert "<img src=x>" not in outside_code and "@someone" not in outside_code and "](evil" not in outside_code
    assert hostile in text  # shown, as inline code


# -- terminal ---------------------------------------------------------------------------------
def test_terminal_shows_package_text_literally_and_hides_info_unless_verbose() -> None:
    report = Report("pkg", None, None, Severity.ERROR, findings=[
        finding(Severity.ERROR, "MC101", "[bold red]not markup[/bold red]", "README.md", 4),
        finding(Severity.INFO, "MC310", "an info finding")])
    console = Console(record=True, width=200, color_system=None)
    print_report(report, console)
    text = console.export_text()
    assert "[bold red]not markup[/bold red]" in text and "README.md:4" in text
    assert "an info finding" not in text and "info hidden" in text
    console = Console(record=True, width=200, color_system=None)
    print_report(report, console, verbose=True)
    assert "an info finding" in console.export_text()
