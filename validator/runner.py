"""Run every applicable check on a package and collect the report."""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .checks import ALL_CHECKS, Check, Context
from .config import CONFIG_INVALID, LoadedConfig, Options
from .model import CheckRecord, CheckStatus, Finding, Severity
from .package import ModelPackage
from .report import Report
from .rules import INTERNAL_ERROR, get_rule

Progress = Callable[[str], None]


def run(root: Path, options: Options, config: LoadedConfig | None = None, progress: Progress | None = None,
        display_path: str | None = None) -> Report:
    pkg = ModelPackage(root)
    ctx = Context(pkg=pkg, options=options)
    report = Report(display_path or str(root), None, None, options.fail_on)
    try:
        if config is not None:
            for problem in config.problems:
                report.findings.append(CONFIG_INVALID.finding(problem.message, file=problem.file, line=problem.line))
            if config.source:
                report.notes.append(f"configuration read from {config.source}")
        if options.env == "none":
            report.notes.append("static run (--env none): no package code was executed")
        for check_class in ALL_CHECKS:
            check = check_class()
            if progress:
                progress(f"{check.area.value}: {check.name}")
            record, findings = _run_one(check, ctx)
            report.checks.append(record)
            report.findings.extend(_apply_options(findings, options))
        report.notes.extend(ctx.notes)
        report.parity = ctx.results.get("parity")
        report.environment = ctx.results.get("environment")
        report.package_name, report.package_version = _identity(ctx)
        if progress:
            progress("hashing artefacts")
        report.artefacts = pkg.manifest
    finally:
        pkg.close()
    return report


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


def _apply_options(findings: list[Finding], options: Options) -> list[Finding]:
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
