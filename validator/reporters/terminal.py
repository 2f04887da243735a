"""The terminal summary, grouped by area (rich): each finding on a line, and under the findings that share a fix,
the fix on one line with its rule's row in docs/rules.md (validator.reporters.fixes)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from validator.core.catalogue import DOCS_URL, get_rule
from validator.core.escape import log_line
from validator.core.findings import Area, CheckStatus, Finding, NoteScope, Severity
from validator.core.report import Report
from validator.reporters.fixes import Group, example, group_findings

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
CHECK_STYLE = {CheckStatus.PASSED: "green", CheckStatus.FAILED: "red", CheckStatus.SKIPPED: "dim"}


def print_report(report: Report, console: Console, verbose: bool = False) -> None:
    console.print(f"[bold]model-check[/bold] {_shown(report.package_path)}")
    checks = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    checks.add_column("area")
    checks.add_column("check")
    checks.add_column("status")
    checks.add_column("time", justify="right")
    checks.add_column("note", overflow="fold")
    errors = {f.area for f in report.findings if f.severity is Severity.ERROR}
    for record in report.checks:
        # red for errors only: a check failed on warnings is yellow (as the Markdown report marks it ⚠️)
        style = "yellow" if record.status is CheckStatus.FAILED and record.area not in errors else CHECK_STYLE[record.status]
        checks.add_row(record.area.value, _shown(record.name), f"[{style}]{record.status.value}[/]",
                       f"{record.duration_s:.2f}s", _shown(record.reason))
    console.print(checks)
    grouped = report.by_area()
    fixes = 0
    for area in Area:
        findings = [f for f in grouped.get(area, []) if verbose or f.severity is not Severity.INFO]
        if not findings:
            continue
        console.print(f"\n[bold]{area.value}[/bold]")
        for group in group_findings(findings):
            for finding in group.findings:
                console.print(finding_line(finding), soft_wrap=True)
            if group.fix is not None:
                console.print(fix_line(group), soft_wrap=True)
                fixes += 1
    if fixes:
        console.print(f"\n[dim]every rule and its fix in full: {DOCS_URL}[/dim]", soft_wrap=True)
    if report.relaxations:
        console.print("\n[bold]rules relaxed by configuration[/bold] (a release refuses them)")
        for line in relaxation_lines(report):
            console.print(f"  [yellow]relaxed[/] {_shown(line)}", soft_wrap=True)
    for line in evidence_lines(report):
        console.print(f"[dim]ran: {_shown(line)}[/dim]", soft_wrap=True)
    for note in report.notes:  # every note, the machine's too (the Markdown report leaves those out)
        label = "note" if note.scope is NoteScope.PACKAGE else "note (this machine)"
        console.print(f"[dim]{label}: {_shown(note.text)}[/dim]", soft_wrap=True)
    s = report.summary
    hidden = "" if verbose or not s["info"] else " (info hidden, use --verbose)"
    verdict = "[bold green]passed[/]" if report.status == "passed" else "[bold red]failed[/]"
    console.print(f"\n{verdict}: {s['error']} error(s), {s['warning']} warning(s), {s['info']} info{hidden}; fail-on {report.fail_on.value}")


def finding_line(finding: Finding) -> str:
    """`  error   MC211 README.md  the model card is missing: expected input shape  e.g. `Input shape: N,4,128,128``"""
    where = f"{finding.file}:{finding.line}" if finding.line else (finding.file or "")
    shown = example(finding)
    tail = f"  [dim]e.g.[/dim] `{_shown(shown)}`" if shown and finding.severity is not Severity.INFO else ""
    return (f"  [{STYLE[finding.severity]}]{finding.severity.value:<7}[/] {finding.rule} "
            f"{_shown(where)}{'  ' if where else ''}{_shown(finding.message)}{tail}")


def fix_line(group: Group) -> str:
    """`          fix: Pin it with == to the version you used (…).  (docs/rules.md#mc301)`, under the group's findings."""
    assert group.fix is not None
    see = f"  [dim]({group.fix.ref})[/dim]" if group.fix.ref else ""
    return f"          [green]fix:[/] {_shown(group.fix.text)}{see}"


def relaxation_lines(report: Report) -> list[str]:
    """One line per relaxation: rule, what changed, and which file changed it."""
    lines = []
    for relaxation in report.relaxations:
        rule = get_rule(relaxation.rule)
        whose = "the package's configuration" if relaxation.origin == "package" else "--config"
        lines.append(f"{relaxation.rule}{f' {rule.name}' if rule else ''}: {relaxation.change} by {relaxation.source} ({whose})")
    return lines


def _shown(text: str) -> str:
    """Package-derived text for a console or CI log: no control, escape or bidi characters, no line the
    Actions runner reads as a workflow command, no rich markup."""
    return escape(log_line(text))


def evidence_lines(report: Report) -> list[str]:
    """What ran, one line per model: the weights' strict load and each ONNX Runtime session."""
    parity = report.parity
    if parity is None:
        return []
    lines = []
    load = parity.get("native_load")
    if load is not None:
        state = "loaded strictly" if load["strict"] else "did not load strictly"
        batches = sorted({r["batch"] for r in load["runs"] if r["batch"] is not None and not r.get("error")})
        lines.append(f"{load['weights']} {state} into {load['model_class']} ({load['built_by']})"
                     + (f", ran at batch {', '.join(map(str, batches))}" if batches else ""))
    elif parity.get("native"):  # another framework's artefact, loaded by its own loader
        lines.append(f"native: {parity['native']}")
    for session in parity.get("onnx_sessions") or []:
        if not session["loaded"]:
            lines.append(f"{session['file']}: no ONNX Runtime session ({session.get('error', '')})")
            continue
        runs = [r for r in session["runs"] if not r.get("error")]
        shapes = "; ".join(", ".join(f"{o['name'] or 'output'} {o['shape']}" for o in r["outputs"]) for r in runs[:4])
        lines.append(f"{session['file']} in ONNX Runtime ({', '.join(session['providers'])})"
                     + (f": batch {', '.join(str(r['batch']) for r in runs)} -> {shapes}" if runs else ": session created, not run"))
    return lines
