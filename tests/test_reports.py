"""Reports: golden JSON and Markdown for the example package (Markdown and terminal for a folder with
only a README), the JSON Schema, the status rule, escaping of package-derived text in the Markdown and
terminal reports, how to fix (one line per group of findings, linked to docs/rules.md; card items'
examples), and which notes reach the Markdown.

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
from validator.core.catalogue import DOCS_URL, all_rules, get_rule
from validator.core.escape import markdown_code, markdown_text
from validator.core.findings import Area, Artefact, CheckRecord, CheckStatus, Finding, Note, Severity
from validator.core.report import Report, validate_report
from validator.readers.card import CARD_EXAMPLES, CARD_ITEM_FIX
from validator.reporters import REPORTERS, render
from validator.reporters.fixes import FIX_LIMIT, group_findings, one_line
from validator.reporters.markdown import help_markdown, render_markdown
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
        notes=[Note.package("a note"), Note.machine("pip configuration honoured by uv (read from /home/ci/.config/pip/pip.conf)")],
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
                    artefacts=[Artefact(name, 1, "0" * 64)], notes=[Note.package(HOSTILE)])
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


# -- how to fix: one line per group of findings, with the rule's documentation ----------------
README_ONLY = "# My model\n\nSome text about a model.\n"


@pytest.fixture()
def readme_only_reports(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str]:
    """The issue's case: a folder with only a README (26 missing card items, no runtime, no weights)."""
    (tmp_path / "readme-only").mkdir()
    (tmp_path / "readme-only" / "README.md").write_text(README_ONLY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["check", "readme-only", "--env", "none", "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md"])
    assert code == 1, err
    return check_report(tmp_path / "r.json"), (tmp_path / "r.md").read_text(encoding="utf-8")


def terminal_text(report: Report, verbose: bool = False) -> str:
    console = Console(record=True, width=120, color_system=None)
    print_report(report, console, verbose=verbose)
    return console.export_text()


def test_golden_markdown_of_a_folder_with_only_a_readme(readme_only_reports: tuple[dict[str, Any], str], update_golden: bool) -> None:
    compare_with_golden("readme-only.md", normalise_text(readme_only_reports[1]), update_golden)


def test_golden_terminal_of_a_folder_with_only_a_readme(readme_only_reports: tuple[dict[str, Any], str], update_golden: bool) -> None:
    data = readme_only_reports[0]
    for check in data["checks"]:
        check["duration_s"] = 0.0
    compare_with_golden("readme-only.txt", terminal_text(Report.from_dict(data)), update_golden)


def unpinned(n: int) -> list[Finding]:
    rule = get_rule("MC301")
    assert rule is not None
    return [rule.finding(f"pkg{i} is not pinned", "requirements.txt", i + 1) for i in range(n)]


def fix_report() -> Report:
    layout = get_rule("MC102")
    assert layout is not None
    findings = [*unpinned(3), layout.finding("no runtime file")]
    return Report("pkg", None, None, Severity.ERROR, findings=findings)


def test_terminal_shows_each_fix_once_under_its_findings_with_the_rules_documentation() -> None:
    text = terminal_text(fix_report())
    lines = text.splitlines()
    pin = [i for i, line in enumerate(lines) if "fix: Pin it with ==" in line]
    assert len(pin) == 1  # three MC301 findings, one fix line
    assert "(docs/rules.md#mc301)" in lines[pin[0]]
    assert max(i for i, line in enumerate(lines) if " MC301 " in line) == pin[0] - 1  # right under the group
    assert sum("fix: Add a requirements.txt" in line for line in lines) == 1 and "(docs/rules.md#mc102)" in text
    assert f"every rule and its fix in full: {DOCS_URL}" in text


def test_markdown_shows_each_fix_once_with_an_absolute_link() -> None:
    text = render_markdown(fix_report())
    assert text.count("**How to fix**") == 2  # under the findings of each area: runtime, layout
    assert text.count(f"- [MC301]({DOCS_URL}#mc301): Pin it with == to the version you used") == 1
    assert f"- [MC102]({DOCS_URL}#mc102): Add a requirements.txt" in text
    assert DOCS_URL.startswith("https://") and DOCS_URL.endswith("/docs/rules.md")  # works from a PR comment


def test_errors_come_before_warnings_and_info_gets_no_fix() -> None:
    onnx, info = get_rule("MC104"), get_rule("MC523")
    assert onnx is not None and info is not None
    report = Report("pkg", None, None, Severity.ERROR,
                    findings=[info.finding("a summary"), onnx.finding("no model.onnx"), *unpinned(1)])
    groups = group_findings(report.findings)
    assert [g.findings[0].rule for g in groups] == ["MC301", "MC104", "MC523"]
    assert groups[-1].fix is None
    assert terminal_text(report, verbose=True).count("fix:") == 2
    assert render_markdown(report).count(f"]({DOCS_URL}#mc523):") == 0


def card_findings() -> list[Finding]:
    found = []
    for rule_id in ("MC211", "MC223", "MC225"):
        rule = get_rule(rule_id)
        assert rule is not None
        found.append(rule.finding(f"the model card is missing: {rule.title.rsplit(': ', 1)[-1]}", "README.md"))
    return found


def test_card_items_share_one_fix_and_each_shows_its_example() -> None:
    report = Report("pkg", None, None, Severity.ERROR, findings=card_findings())
    text = terminal_text(report)
    assert "the model card is missing: expected input shape  e.g. `Input shape: N,4,128,128`" in text
    assert "e.g. `License: Apache-2.0`" in text and "e.g. `Release tag: v1.2.0`" in text
    assert text.count("fix:") == 1 and "fix: State each item in README.md" in text and "(docs/rules.md#mc211)" in text
    markdown = render_markdown(report)
    assert "— e.g. `Input shape: N,4,128,128` |" in markdown
    assert markdown.count(f"- [MC211–MC225]({DOCS_URL}#mc211): State each item in README.md") == 1


def test_a_card_example_with_a_pipe_stays_in_its_table_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CARD_EXAMPLES, "input_shape", "| Input shape | N,4,128,128 |")
    report = Report("pkg", None, None, Severity.ERROR, findings=card_findings()[:1])
    row = next(line for line in render_markdown(report).splitlines() if "MC211" in line and line.startswith("| "))
    assert len(re.findall(r"(?<!\\)\|", row)) == 5 and "`\\| Input shape \\| N,4,128,128 \\|`" in row


def test_the_readme_only_folder_gets_one_card_fix_and_all_its_examples(readme_only_reports: tuple[dict[str, Any], str]) -> None:
    data, markdown = readme_only_reports
    card = [f for f in data["findings"] if f["area"] == "model-card"]
    assert len(card) >= 20
    assert markdown.count("State each item in README.md") == 1
    assert all(f"`{CARD_EXAMPLES[key]}`" in markdown for key in ("input_shape", "license", "version"))
    assert markdown.count("**How to fix**") == len({f["area"] for f in data["findings"] if f["severity"] != "info"})


def test_every_fix_line_is_one_short_line_with_whole_code_spans() -> None:
    for rule in all_rules():
        line = one_line(rule.help)
        assert "\n" not in line and len(line) <= FIX_LIMIT + 2, rule.id
        assert line.count("`") % 2 == 0, (rule.id, line)
    assert len(CARD_ITEM_FIX) <= FIX_LIMIT


def test_a_long_help_is_cut_at_a_sentence_or_clause_not_inside_brackets() -> None:
    assert one_line("First sentence is here and long enough to keep. " + "x " * 200) == "First sentence is here and long enough to keep."
    cut = one_line("Ship the weights in the package (model.safetensors, model.onnx; both) and load them from there; or, "
                   "if they must stay outside, " + "pin " * 60)
    assert cut == "Ship the weights in the package (model.safetensors, model.onnx; both) and load them from there …"
    assert one_line("Short help (e.g. this). Second.") == "Short help (e.g. this). Second."
    assert one_line("Use one version everywhere (" + "a, " * 60 + "b), and one per model.") == \
        "Use one version everywhere, and one per model."


def test_help_markdown_keeps_code_and_urls_and_escapes_markup() -> None:
    text = help_markdown("Read __version__ or <name> ['input'] from `a|b_c` at https://spdx.org/licenses/.")
    assert "\\_\\_version\\_\\_" in text and "&lt;name&gt;" in text and "\\['input'\\]" in text
    assert "`a|b_c`" in text and "https://spdx.org/licenses/" in text
    assert "`a\\|b_c`" in help_markdown("`a|b_c`", table=True)


# -- run notes: the machine's stay out of the Markdown ----------------------------------------
MACHINE = "environment: pip configuration honoured by uv (read from /home/runner/.config/pip/pip.conf): index-url"


def noted_report() -> Report:
    return Report("pkg", None, None, Severity.ERROR,
                  notes=[Note.package("static run (--env none): no package code was executed"), Note.machine(MACHINE)])


def test_machine_notes_are_in_the_terminal_and_json_but_not_the_markdown() -> None:
    report = noted_report()
    markdown = render_markdown(report)
    assert "static run" in markdown and "pip.conf" not in markdown and "/home/runner" not in markdown
    text = terminal_text(report)
    assert "note: static run (--env none)" in text and f"note (this machine): {MACHINE}" in text
    data = check_report(report)
    assert data["notes"] == ["static run (--env none): no package code was executed"] and data["machine_notes"] == [MACHINE]


def test_note_scopes_survive_the_json_report() -> None:
    again = Report.from_dict(json.loads(noted_report().to_json()))
    assert again.notes == noted_report().notes
    assert "pip.conf" not in render_markdown(again)  # the PR comment is rendered from the JSON report


def test_a_markdown_without_package_notes_has_no_notes_section() -> None:
    report = Report("pkg", None, None, Severity.ERROR, notes=[Note.machine(MACHINE)])
    assert "<summary>Notes</summary>" not in render_markdown(report)
