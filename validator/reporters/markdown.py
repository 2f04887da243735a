"""The Markdown report: what becomes the PR comment and the job summary.

Per area, a table of findings (those that share a fix together) and under it how to fix them: one
line per fix, linked to the rule's row in docs/rules.md (validator.reporters.fixes). Only the notes
about the package are shown: the machine's (installer settings, cache paths, the engine) stay in the
terminal and the JSON report.

All package-derived text goes through validator.core.escape: file names, messages and card text can
carry HTML, @mentions or Markdown that must not render.
"""

from __future__ import annotations

import html
import re

from validator.core.catalogue import get_rule
from validator.core.escape import markdown_code, markdown_text
from validator.core.findings import Area, CheckRecord, CheckStatus, Finding, Severity
from validator.core.records import ParityRecord, RunRecord
from validator.core.report import Report
from validator.reporters.fixes import Fix, example, group_findings

ICON = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}
STATUS_ICON = {CheckStatus.PASSED: "✅", CheckStatus.FAILED: "❌", CheckStatus.SKIPPED: "⏭️"}
FAILED_ON_WARNINGS = "⚠️ warnings"  # a check failed on warnings only: no ❌, which is for errors


def check_mark(record: CheckRecord, report: Report) -> str:
    """The mark and word of a check's row. Marks follow the severities: ❌ only when the check's area holds an
    error, ⚠️ when it failed on warnings (the record does not say which findings are its own: the area's are
    taken, so a passing package never shows ❌), ⏭️ skipped, ✅ passed."""
    if record.status is not CheckStatus.FAILED or worst(report, record.area) is Severity.ERROR:
        return f"{STATUS_ICON[record.status]} {record.status.value}"
    return FAILED_ON_WARNINGS


def worst(report: Report, area: Area) -> Severity | None:
    """The highest severity of the area's findings at warning or above; None when there is none."""
    found = [f.severity for f in report.findings if f.area is area and f.severity.reaches(Severity.WARNING)]
    return max(found, key=lambda s: s.rank) if found else None


def status_line(report: Report) -> str:
    s = report.summary
    head = "✅ **model-check passed**" if report.status == "passed" else "❌ **model-check failed**"
    name = report.package_name or report.package_path
    version = f" {report.package_version}" if report.package_version else ""
    relaxed = f"; {len(report.relaxations)} rule(s) relaxed by configuration" if report.relaxations else ""
    return (f"{head} for {markdown_code(name + version)}: {s['error']} error(s), {s['warning']} warning(s), "
            f"{s['info']} note(s) (fail-on: {report.fail_on.value}){relaxed}")


def render_markdown(report: Report, *, max_findings: int | None = None) -> str:
    lines = [f"## model-check: {markdown_code(report.package_path)}", "", status_line(report), ""]
    lines += _checks_table(report)
    lines += _relaxations(report)
    grouped = report.by_area()
    shown = 0
    for area in Area:
        findings = grouped.get(area)
        if not findings:
            continue
        counts = {sev: sum(1 for f in findings if f.severity is sev) for sev in sorted(Severity, key=lambda s: -s.rank)}
        summary = ", ".join(f"{n} {sev.value}" for sev, n in counts.items() if n)
        open_attr = " open" if any(f.severity is Severity.ERROR for f in findings) else ""
        lines += [f"<details{open_attr}><summary><b>{area.value}</b> — {summary}</summary>", "",
                  "| | Rule | Where | Message |", "|---|---|---|---|"]
        fixes: list[Fix] = []
        for group in group_findings(findings):
            rows = group.findings if max_findings is None else group.findings[:max(max_findings - shown, 0)]
            lines += [_finding_row(finding) for finding in rows]
            shown += len(rows)
            if rows and group.fix is not None:
                fixes.append(group.fix)
        if fixes:
            lines += ["", "**How to fix**", ""] + [f"- {_fix_item(fix)}" for fix in fixes]
        lines += ["", "</details>", ""]
    if max_findings is not None and shown < len(report.findings):
        lines.append(f"_{len(report.findings) - shown} more finding(s) are in the full report._")
        lines.append("")
    if report.parity:
        lines += _parity(report.parity, ICON[worst(report, Area.PARITY) or Severity.WARNING])
    if report.package_notes:  # the machine's notes are for whoever ran model-check, not for reviewers
        lines += ["<details><summary>Notes</summary>", ""] + [f"- {markdown_text(n, 500)}" for n in report.package_notes]
        lines += ["", "</details>", ""]
    if report.artefacts:
        lines += ["<details><summary>Artefacts (sha256)</summary>", "", "| File | Bytes | sha256 |", "|---|---:|---|"]
        lines += [f"| {markdown_code(a.path)} | {a.bytes:,} | `{a.sha256}` |" for a in report.artefacts[:200]]
        if len(report.artefacts) > 200:
            lines.append(f"| … {len(report.artefacts) - 200} more | | |")
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _finding_row(finding: Finding) -> str:
    rule = get_rule(finding.rule)
    rule_cell = f"[{finding.rule}]({rule.help_uri})" if rule else markdown_text(finding.rule, 20)
    where = markdown_code(f"{finding.file}:{finding.line}" if finding.line else finding.file) if finding.file else ""
    shown = example(finding)
    tail = f" — e.g. {markdown_code(shown)}" if shown and finding.severity is not Severity.INFO else ""
    return f"| {ICON[finding.severity]} | {rule_cell} | {where} | {markdown_text(finding.message, 600)}{tail} |"


def _fix_item(fix: Fix) -> str:
    """`[MC301](…/docs/rules.md#mc301): Pin it with == …`: the rules linked to their documentation, the fix on one line."""
    label = f"[{fix.label}]({fix.url})" if fix.url else markdown_text(fix.label, 40)
    return f"{label}: {help_markdown(fix.text)}"


_CODE_SPAN = re.compile(r"(`[^`\n]*`)")
_HELP_MARKUP = re.compile(r"([\\*_\[\]|~])")


def help_markdown(text: str, table: bool = False) -> str:
    """Help text of the rule catalogue (model-check's own text, not the package's) as Markdown: its `code`
    spans as code, the rest with what would render as markup escaped (`__version__`, `<name>`, `['input']`),
    its URLs left whole so that they link and copy. In a table cell (`table`) no `|` ends the cell."""
    return "".join((part.replace("|", "\\|") if table else part) if _CODE_SPAN.fullmatch(part)
                   else _HELP_MARKUP.sub(r"\\\1", html.escape(part, quote=False)) for part in _CODE_SPAN.split(text))


def _checks_table(report: Report) -> list[str]:
    lines = ["| Area | Check | Status | |", "|---|---|---|---|"]
    for record in report.checks:
        reason = markdown_text(record.reason, 200) if record.reason else ""
        lines.append(f"| {record.area.value} | {markdown_text(record.name, 200)} | {check_mark(record, report)} | {reason} |")
    return lines + [""]


def _relaxations(report: Report) -> list[str]:
    if not report.relaxations:
        return []
    lines = ["**Rules relaxed by configuration** (a release refuses them):", "", "| Rule | Change | Set by |", "|---|---|---|"]
    for relaxation in report.relaxations:
        rule = get_rule(relaxation.rule)
        rule_cell = f"[{relaxation.rule}]({rule.help_uri}) {rule.name}" if rule else markdown_text(relaxation.rule, 20)
        whose = "the package's configuration" if relaxation.origin == "package" else "--config"
        lines.append(f"| {rule_cell} | {markdown_code(relaxation.change)} | {markdown_code(relaxation.source)} ({whose}) |")
    return lines + [""]


def _parity(parity: ParityRecord, bad: str) -> list[str]:
    """The parity verdict, then one line per model that ran: what it was given and what it returned. `bad`
    marks what went wrong: ❌ when the parity area holds an error, else ⚠️ (a configuration lowered it)."""
    passed = parity.get("passed")
    tolerance = f"rtol={parity.get('rtol')}, atol={parity.get('atol')}"
    if passed is None:
        head = f"**Parity** ({tolerance}): nothing was compared; the parity findings say why"
    else:
        verdict = "✅ outputs agree" if passed else f"{bad} outputs differ"
        head = (f"**Parity** (native vs ONNX, {tolerance}): {verdict}; "
                f"max abs diff {parity.get('max_abs_diff')}, max rel diff {parity.get('max_rel_diff')}")
    lines = [head, ""]
    load = parity.get("native_load")
    if load is not None:
        if load["strict"]:
            how = f"loaded strictly ({load['tensors']:,} tensors)"
        else:
            counts = ", ".join(f"{load.get(key, 0)} {label}" for key, label in
                               (("missing_count", "missing"), ("unexpected_count", "unexpected"),
                                ("mismatched_count", "mismatched")) if load.get(key))
            how = f"{bad} not loaded strictly ({counts or 'see the findings'})"
        lines.append(f"- native: {markdown_code(load['weights'])} into {markdown_code(load['model_class'])} "
                     f"({markdown_text(load['built_by'], 120)}), {how}{_runs(load['runs'])}")
    elif parity.get("native"):  # another framework's artefact, loaded by its own loader
        lines.append(f"- native: {markdown_text(str(parity['native']), 300)}")
    for session in parity.get("onnx_sessions") or []:
        if not session["loaded"]:
            lines.append(f"- ONNX Runtime: {markdown_code(session['file'])} not run: "
                         f"{markdown_text(session.get('error', 'no session'), 200)}")
            continue
        providers = ", ".join(session["providers"]) or "default providers"
        lines.append(f"- ONNX Runtime: {markdown_code(session['file'])} ({markdown_text(providers, 120)})"
                     f"{_runs(session['runs']) or ': session created, not run (no test input)'}")
    return lines + ([""] if len(lines) > 2 else [])


def _runs(runs: list[RunRecord]) -> str:
    """': batch 1, 2 → `logits` [1, 3]; [2, 3]': the batch sizes given and the output shapes returned."""
    done = [run for run in runs if not run.get("error")]
    if not runs:
        return ""
    batches = ", ".join(str(run["batch"]) for run in done if run["batch"] is not None) or "the test input"
    names = {o["name"] for run in done for o in run["outputs"]}
    shapes = "; ".join(", ".join(str(o["shape"]) for o in run["outputs"][:4]) for run in done[:4])
    named = ", ".join(markdown_code(str(name)) for name in sorted(n for n in names if n))
    failed = f" ({len(runs) - len(done)} input set(s) raised)" if len(done) < len(runs) else ""
    return f": batch {batches} → {named + ' ' if named else ''}{shapes}{failed}"
