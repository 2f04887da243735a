"""The terminal summary, grouped by area (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..model import Area, CheckStatus, Severity
from ..report import Report

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
CHECK_STYLE = {CheckStatus.PASSED: "green", CheckStatus.FAILED: "red", CheckStatus.SKIPPED: "dim"}


def print_report(report: Report, console: Console, verbose: bool = False) -> None:
    console.print(f"[bold]model-check[/bold] {escape(report.package_path)}")
    checks = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    checks.add_column("area")
    checks.add_column("check")
    checks.add_column("status")
    checks.add_column("time", justify="right")
    checks.add_column("note", overflow="fold")
    for record in report.checks:
        checks.add_row(record.area.value, escape(record.name), f"[{CHECK_STYLE[record.status]}]{record.status.value}[/]",
                       f"{record.duration_s:.2f}s", escape(record.reason))
    console.print(checks)
    grouped = report.by_area()
    for area in Area:
        findings = [f for f in grouped.get(area, []) if verbose or f.severity is not Severity.INFO]
        if not findings:
            continue
        console.print(f"\n[bold]{area.value}[/bold]")
        for finding in sorted(findings, key=lambda f: -f.severity.rank):
            where = f"{finding.file}:{finding.line}" if finding.line else (finding.file or "")
            console.print(f"  [{STYLE[finding.severity]}]{finding.severity.value:<7}[/] {finding.rule} "
                          f"{escape(where)}{'  ' if where else ''}{escape(finding.message)}", soft_wrap=True)
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    s = report.summary
    hidden = "" if verbose or not s["info"] else " (info hidden, use --verbose)"
    verdict = "[bold green]passed[/]" if report.status == "passed" else "[bold red]failed[/]"
    console.print(f"\n{verdict}: {s['error']} error(s), {s['warning']} warning(s), {s['info']} info{hidden}; fail-on {report.fail_on.value}")
