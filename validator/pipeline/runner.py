"""Run every applicable check on a package and collect the report.

The static checks share a time budget (STATIC_BUDGET_S; a caller may lower it, never raise it). Each
runs in a worker thread the runner waits for until the budget's deadline. Python cannot stop a
thread, so a check still running then is abandoned: it is recorded as failed with an MC004 finding
naming it (and the file it was reading), the checks after it are skipped (the abandoned one may hold
the package's shared parsed data), and the report is written. The abandoned thread is a daemon: it
runs on until it ends or the process exits, never keeping model-check alive. The deadline is seen
between bytecodes of the worker, so every single call into C code on package content (regular
expressions above all) must itself be short: see the linear expressions of card.py.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from validator.checks import ALL_CHECKS, Check, Context
from validator.core.catalogue import get_rule, rule
from validator.core.findings import CheckRecord, CheckStatus, Finding, Severity
from validator.core.options import Options
from validator.core.redact import redact, redact_data
from validator.core.report import Report
from validator.pipeline.config import CONFIG_INVALID, CONFIG_REFUSED, LoadedConfig
from validator.readers.package import ModelPackage

INTERNAL_ERROR = rule("MC001")
STATIC_TIME_BUDGET = rule("MC004")

Progress = Callable[[str], None]
STATIC_BUDGET_S = 120.0  # wall time of all static checks together (a normal package needs a few seconds)


def run(root: Path, options: Options, config: LoadedConfig | None = None, progress: Progress | None = None,
        display_path: str | None = None, static_budget: float = STATIC_BUDGET_S) -> Report:
    pkg = ModelPackage(root)
    ctx = Context(pkg=pkg, options=options)
    report = Report(display_path or str(root), None, None, options.fail_on)
    try:
        if config is not None:
            for problem in config.problems:
                report.findings.append(CONFIG_INVALID.finding(problem.message, file=problem.file, line=problem.line))
            if config.source:
                report.notes.append(f"configuration read from {config.source}")
        for problem in options.refused:  # the package's requests the caller's settings did not grant
            report.findings.append(CONFIG_REFUSED.finding(problem.message, file=problem.file, line=problem.line))
        report.relaxations = list(options.relaxations)
        if options.env == "none":
            report.notes.append("static run (--env none): no package code was executed")
        budget = min(static_budget, STATIC_BUDGET_S)
        deadline = time.monotonic() + budget
        abandoned = ""  # why the checks after an abandoned one are skipped
        for check_class in ALL_CHECKS:
            check = check_class()
            if abandoned:
                report.checks.append(CheckRecord(check.area, check.name, CheckStatus.SKIPPED, abandoned))
                continue
            if progress:
                progress(f"{check.area.value}: {check.name}")
            if check.dynamic:
                record, findings = _run_one(check, ctx)
            else:
                record, findings, finished = _run_before(check, ctx, deadline, budget)
                if not finished:
                    abandoned = f"not run: the {check.name} check ran past the static checks' time budget (MC004)"
            report.checks.append(record)
            report.findings.extend(_apply_options(findings, options))
        report.notes.extend(ctx.notes)
        report.parity = ctx.results.get("parity")
        report.environment = ctx.results.get("environment")
        if not abandoned:  # the abandoned check may still be building the card this reads
            report.package_name, report.package_version = _identity(ctx)
        if progress:
            progress("hashing artefacts")
        report.artefacts = pkg.manifest
    finally:
        pkg.close()
    _redact_report(report)
    return report


MESSAGE_LIMIT = 16_000  # characters of one finding's message (the report schema allows 20,000)


def _capped(message: str) -> str:
    """A message within the report's limit (a requirement line of megabytes quoted whole would break it)."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    half = MESSAGE_LIMIT // 2
    return f"{message[:half]}\n[... {len(message) - 2 * half:,} characters left out ...]\n{message[-half:]}"


def _redact_report(report: Report) -> None:
    """Second line of defence: secret values and token shapes out of every text a report carries
    (the sandbox already redacts what package code prints; result files and tracebacks pass here)."""
    report.findings = [replace(f, message=_capped(redact(f.message)), file=redact(f.file) if f.file else f.file)
                       for f in report.findings]
    report.checks = [replace(c, reason=redact(c.reason)) for c in report.checks]
    report.notes = [redact(note) for note in report.notes]
    report.parity = redact_data(report.parity)
    report.environment = redact_data(report.environment)


def _run_one(check: Check, ctx: Context) -> tuple[CheckRecord, list[Finding]]:
    started = time.perf_counter()
    if check.dynamic and ctx.options.env == "none":
        return CheckRecord(check.area, check.name, CheckStatus.SKIPPED, "--env none: no package code is executed"), []
    try:
        reason = check.skip_reason(ctx)
        if reason is not None:
            return CheckRecord(check.area, check.name, CheckStatus.SKIPPED, reason, time.perf_counter() - started), []
        findings = list(check.run(ctx))
    except Exception as exc:  # a crashing check must not end the run
        tail = traceback.format_exc(limit=-3).strip().splitlines()[-3:]
        findings = [replace(INTERNAL_ERROR.finding(f"the {check.name} check crashed: {type(exc).__name__}: {exc} ({' | '.join(tail)})"),
                            area=check.area)]
    duration = time.perf_counter() - started
    failed = any(f.severity.reaches(Severity.WARNING) for f in findings)
    status = CheckStatus.FAILED if failed else CheckStatus.PASSED
    reason = ctx.results.pop(f"skip:{check.name}", "")
    if reason and not findings:
        status = CheckStatus.SKIPPED
    return CheckRecord(check.area, check.name, status, reason, duration), findings


def _run_before(check: Check, ctx: Context, deadline: float,
                budget: float) -> tuple[CheckRecord, list[Finding], bool]:
    """_run_one in a daemon thread, waited for until `deadline`; past it, the check is abandoned
    (left running: a thread cannot be stopped) and recorded as failed with an MC004 finding.
    The last item says whether the check finished."""
    result: list[tuple[CheckRecord, list[Finding]]] = []
    read_before = len(ctx.pkg.texts_read())
    worker = threading.Thread(target=lambda: result.append(_run_one(check, ctx)), name=f"check: {check.name}",
                              daemon=True)
    started = time.perf_counter()
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if result:
        return *result[0], True
    if not worker.is_alive():  # ended without a result: an exception _run_one does not catch
        finding = replace(INTERNAL_ERROR.finding(f"the {check.name} check ended without a result"), area=check.area)
        return CheckRecord(check.area, check.name, CheckStatus.FAILED, "", time.perf_counter() - started), [finding], True
    read = ctx.pkg.texts_read()[read_before:]
    reading = f" (the last file it read: {read[-1]})" if read else ""
    finding = STATIC_TIME_BUDGET.finding(
        f"the {check.name} check was still running{reading} when the static checks' {budget:g} s time budget ran "
        "out: it was abandoned, and the checks after it were not run", file=read[-1] if read else None)
    return CheckRecord(check.area, check.name, CheckStatus.FAILED, "abandoned at the static checks' time budget",
                       time.perf_counter() - started), [finding], False


def _apply_options(findings: list[Finding], options: Options) -> list[Finding]:
    """Disable and re-grade findings as the options say; config.configure already kept a package's
    configuration from touching security rules, and listed every relaxation in options.relaxations."""
    kept = []
    for finding in findings:
        rule = get_rule(finding.rule)
        names = {finding.rule, rule.name if rule else finding.rule}
        if names & options.disable:
            continue
        override = next((options.severity[n] for n in names if n in options.severity), None)
        kept.append(replace(finding, severity=override) if override else finding)
    return kept


def _identity(ctx: Context) -> tuple[str | None, str | None]:
    facts = ctx.pkg.card_facts
    name = facts.name.value if facts and facts.name else None
    version = facts.version.value if facts and facts.version else None
    declared = ctx.results.get("declared")
    if declared is not None:
        name = name or declared.first("model_id")
        version = version or declared.first("version")
    return name, version
