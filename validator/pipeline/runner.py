"""Run every applicable check on a package and collect the report.

Phases (Plan): read the package; the static checks; the environment rebuild (validator.pipeline.environment,
recorded in the report's checks like a check); the dynamic checks, which run package code in that environment.
A folder that is a repository holding packages rather than a package (MC011) is not read at all: its
report names the packages to check, and every check is recorded as not run.

The static checks share a time budget (STATIC_BUDGET_S; a caller may lower it, never raise it). Each
runs in a worker thread the runner waits for until the budget's deadline. Python cannot stop a
thread, so a check still running then is abandoned: it is recorded as failed with an MC004 finding
naming it (and the file it was reading), the checks after it are skipped (the abandoned one may hold
the package's shared parsed data), and the report is written. The abandoned thread is a daemon: it
runs on until it ends or the process exits, never keeping model-check alive. The deadline is seen
between bytecodes of the worker, so every single call into C code on package content (regular
expressions above all) must itself be short: see the linear expressions of validator/readers/markdown.py and card.py.
"""

from __future__ import annotations

import posixpath
import shlex
import threading
import time
import traceback
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from validator.checks import DYNAMIC_CHECKS, STATIC_CHECKS, DynamicCheck, Outcome, Skip, StaticCheck
from validator.checks.base import NOT_REBUILT
from validator.core.catalogue import get_rule, rule
from validator.core.findings import Area, CheckRecord, CheckStatus, Finding, Note, Severity
from validator.core.options import Options
from validator.core.redact import redact, redact_data
from validator.core.report import Report
from validator.pipeline.config import LoadedConfig
from validator.pipeline.opening import packages_under
from validator.readers.package import ModelPackage
from validator.sandbox.base import Env

if TYPE_CHECKING:
    from validator.pipeline import environment
    from validator.readers.declared import DeclaredFacts

Progress = Callable[[str], None]
STATIC_BUDGET_S = 120.0  # wall time of all static checks together (a normal package needs a few seconds)
ENV_NONE = "--env none: no package code is executed"
REPOSITORY_RULE = rule("repository-not-package").name  # MC011
MAX_PACKAGES_LISTED = 20


@dataclass(frozen=True)
class Plan:
    """What a run does, in order: the static checks, the environment rebuild, the dynamic checks."""

    static: Sequence[type[StaticCheck]] = STATIC_CHECKS  # each check's module imported when it is reached
    rebuild: bool = True  # the environment rebuild, between the two
    dynamic: Sequence[type[DynamicCheck]] = DYNAMIC_CHECKS

    def only(self, areas: Collection[str]) -> Plan:
        """The part of the plan in these areas (by Area value); the rebuild belongs to the runtime area."""
        from validator.pipeline import environment

        return Plan([c for c in self.static if c.area.value in areas], environment.AREA.value in areas,
                    [c for c in self.dynamic if c.area.value in areas])


PLAN = Plan()


def run(root: Path, options: Options, config: LoadedConfig | None = None, progress: Progress | None = None,
        display_path: str | None = None, static_budget: float = STATIC_BUDGET_S, package: ModelPackage | None = None) -> Report:
    """`package`: the package at `root` already opened by validator.pipeline.opening.open_package (not a
    repository), taken over and closed here."""
    if package is None:
        packages = packages_under(root, options)
        if packages:  # before the package is read: a repository's files are not hashed
            return _repository_report(packages, options, config, display_path or str(root))
    pkg = package or ModelPackage(root)
    report = Report(display_path or str(root), None, None, options.fail_on)
    plan = PLAN
    try:
        if config is not None:
            for problem in config.problems:
                report.findings.append(rule("config-invalid").finding(problem.message, file=problem.file, line=problem.line))
            if config.source:  # the package's own file is part of what was checked; --config is the caller's path
                read = f"configuration read from {config.source}"
                report.notes.append(Note.machine(read) if config.explicit else Note.package(read))
        for problem in options.refused:  # the package's requests the caller's settings did not grant
            report.findings.append(rule("config-request-refused").finding(problem.message, file=problem.file, line=problem.line))
        report.relaxations = list(options.relaxations)
        if options.env == "none":
            report.notes.append(Note.package("static run (--env none): no package code was executed"))
        notes: list[Note] = []
        pkg.inspect_onnx_soon()  # its child process parses the graphs while the checks before the ONNX check run
        # The environment is verified (or built) while the static checks run: it needs none of their results.
        early = _EarlyEnvironment(pkg, options) if plan.rebuild and options.env != "none" else None
        abandoned = _static_phase(plan, pkg, options, report, min(static_budget, STATIC_BUDGET_S), progress)
        if abandoned:  # the abandoned check may still hold the package's shared parsed data
            from validator.pipeline import environment

            later = [(environment.AREA, environment.NAME)] if plan.rebuild else []
            later += [(c.area, c.name) for c in plan.dynamic]
            report.checks += [CheckRecord(area, name, CheckStatus.SKIPPED, abandoned) for area, name in later]
        else:
            env = _environment_phase(plan, pkg, options, report, notes, progress, early)
            _dynamic_phase(plan, pkg, options, env, report, notes, progress)
        report.notes.extend(notes)
        if not abandoned:  # the abandoned check may still be building the card this reads
            report.package_name, report.package_version = _identity(pkg)
        if progress:
            progress("hashing artefacts")
        report.artefacts = pkg.manifest
    finally:
        pkg.close()
    _redact_report(report)
    return report


def _repository_report(packages: list[str], options: Options, config: LoadedConfig | None, shown: str) -> Report:
    """MC011 and nothing else: no check runs on a repository root (its README is no model card)."""
    from validator.pipeline import environment

    report = Report(shown, None, None, options.fail_on)
    for problem in config.problems if config is not None else []:
        report.findings.append(rule("config-invalid").finding(problem.message, file=problem.file, line=problem.line))
    for problem in options.refused:
        report.findings.append(rule("config-request-refused").finding(problem.message, file=problem.file, line=problem.line))
    report.relaxations = list(options.relaxations)
    listed = ", ".join(f"{rel}/" for rel in packages[:MAX_PACKAGES_LISTED])
    if len(packages) > MAX_PACKAGES_LISTED:
        listed += f" … and {len(packages) - MAX_PACKAGES_LISTED} more (model-check discover lists them all)"
    first = shlex.quote(posixpath.normpath(posixpath.join(shown, packages[0])) + "/")
    others = " (and the same for each of the others)" if len(packages) > 1 else ""
    message = (f"{shown} looks like a repository, not a model package: it has no model artefact and no inference script "
               f"of its own, and {len(packages)} package(s) under it: {listed}. Run `model-check check {first}`{others}; "
               "no other check was run on this folder")
    report.findings += _apply_options([rule(REPOSITORY_RULE).finding(message)], options)
    reason = "not run: a repository, not a package (MC011)"
    plan = PLAN
    later = [(environment.AREA, environment.NAME)] if plan.rebuild else []
    report.checks = [CheckRecord(area, name, CheckStatus.SKIPPED, reason)
                     for area, name in [*((c.area, c.name) for c in plan.static), *later, *((c.area, c.name) for c in plan.dynamic)]]
    _redact_report(report)
    return report


def _static_phase(plan: Plan, pkg: ModelPackage, options: Options, report: Report, budget: float,
                  progress: Progress | None) -> str:
    """Run the static checks within `budget` seconds in all; why the checks after an abandoned one are skipped, or ""."""
    deadline = time.monotonic() + budget
    abandoned = ""
    for check_class in plan.static:
        check = check_class()
        if abandoned:
            report.checks.append(CheckRecord(check.area, check.name, CheckStatus.SKIPPED, abandoned))
            continue
        if progress:
            progress(f"{check.area.value}: {check.name}")
        record, findings, finished = _run_before(check, pkg, options, deadline, budget)
        if not finished:
            abandoned = f"not run: the {check.name} check ran past the static checks' time budget (MC004)"
        report.checks.append(record)
        report.findings.extend(_apply_options(findings, options))
    return abandoned


class _EarlyEnvironment:
    """The environment rebuild started in a daemon thread (a run whose static checks are abandoned does not
    wait for it); its progress messages are held until the static checks are done, then shown in order."""

    def __init__(self, pkg: ModelPackage, options: Options) -> None:
        from validator.pipeline import environment  # noqa: F401  here, not in the thread: no import races

        if options.env == "docker" or (options.env == "auto" and pkg.find("Dockerfile")):
            from validator.runtime.environments.docker_cleanup import install_signal_handlers

            install_signal_handlers()  # Python sets signal handlers in the main thread only; the rebuild runs in another
        self._lock = threading.Lock()
        self._held: list[str] = []
        self._progress: Progress | None = None
        self._result: tuple[environment.EnvironmentStep, float] | None = None
        self._thread = threading.Thread(target=self._build, args=(pkg, options), name="environment", daemon=True)
        self._thread.start()

    def _say(self, message: str) -> None:
        with self._lock:
            if self._progress is None:
                self._held.append(message)
                return
        self._progress(message)

    def _build(self, pkg: ModelPackage, options: Options) -> None:
        from validator.pipeline import environment  # imported by __init__, in the main thread

        started = time.perf_counter()
        try:
            step = environment.build_environment(pkg, options, self._say)
        except Exception as exc:  # a crash in the rebuild must not end the run
            step = environment.EnvironmentStep(findings=[_crash(environment.NAME, environment.AREA, exc)])
        self._result = step, time.perf_counter() - started

    def result(self, progress: Progress | None) -> tuple[environment.EnvironmentStep, float]:
        """The step and its duration, waited for; its messages go to `progress` from now on."""
        with self._lock:
            held, self._held = self._held, []
            for message in held:
                if progress:
                    progress(message)
            self._progress = progress or (lambda _message: None)
        self._thread.join()
        assert self._result is not None  # _build catches every Exception
        return self._result


def _environment_phase(plan: Plan, pkg: ModelPackage, options: Options, report: Report, notes: list[Note],
                       progress: Progress | None, early: _EarlyEnvironment | None = None) -> Env | None:
    """Rebuild the package's environment (or take the rebuild `early` started), recorded like a check; the
    environment, or None when there is none."""
    from validator.pipeline import environment

    if not plan.rebuild:
        return None
    area, name = environment.AREA, environment.NAME
    if progress:
        progress(f"{area.value}: {name}")
    if options.env == "none":
        report.checks.append(CheckRecord(area, name, CheckStatus.SKIPPED, ENV_NONE))
        return None
    started = time.perf_counter()
    if early is not None:
        step, duration = early.result(progress)
    else:
        try:
            step = environment.build_environment(pkg, options, progress)
        except Exception as exc:  # a crash in the rebuild must not end the run
            step = environment.EnvironmentStep(findings=[_crash(name, area, exc)])
        duration = time.perf_counter() - started
    notes.extend(step.notes)
    report.environment = step.record
    report.checks.append(_record(area, name, step.findings, step.skipped, duration))
    report.findings.extend(_apply_options(step.findings, options))
    return step.env


def _dynamic_phase(plan: Plan, pkg: ModelPackage, options: Options, env: Env | None, report: Report, notes: list[Note],
                   progress: Progress | None) -> None:
    """The dynamic checks run side by side (each mostly waits on its own sandboxed processes, so one check's
    idle core serves another's); their results are taken in the plan's order."""
    checks = [check_class() for check_class in plan.dynamic]
    running: list[Future[tuple[Outcome | Skip, float]] | None] = []
    with ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="dynamic") as pool:
        for check in checks:
            if progress:
                progress(f"{check.area.value}: {check.name}")
            running.append(pool.submit(_run_dynamic, check, pkg, options, env)
                           if options.env != "none" and (env is not None or not check.needs_env) else None)
        for check, future in zip(checks, running, strict=True):
            _take_dynamic(check, future, options, report, notes)


def _run_dynamic(check: DynamicCheck, pkg: ModelPackage, options: Options,
                 env: Env | None) -> tuple[Outcome | Skip, float]:
    started = time.perf_counter()
    try:
        result = check.run(pkg, options, env)
    except Exception as exc:  # a crashing check must not end the run
        result = Outcome([_crash(check.name, check.area, exc)])
    return result, time.perf_counter() - started


def _take_dynamic(check: DynamicCheck, future: Future[tuple[Outcome | Skip, float]] | None, options: Options,
                  report: Report, notes: list[Note]) -> None:
    """Record one dynamic check's result (waiting for it), or why it did not run."""
    if future is None:
        reason = ENV_NONE if options.env == "none" else NOT_REBUILT
        report.checks.append(CheckRecord(check.area, check.name, CheckStatus.SKIPPED, reason))
        return
    result, duration = future.result()
    if isinstance(result, Skip):
        report.checks.append(CheckRecord(check.area, check.name, CheckStatus.SKIPPED, result.reason, duration))
        return
    notes.extend(result.notes)
    if result.record is not None:
        report.parity = result.record
    report.checks.append(_record(check.area, check.name, result.findings, result.skipped, duration))
    report.findings.extend(_apply_options(result.findings, options))


def _record(area: Area, name: str, findings: list[Finding], skipped: str, duration: float) -> CheckRecord:
    """Failed with a finding at warning or above; skipped when a part did not run and nothing was found."""
    status = CheckStatus.FAILED if any(f.severity.reaches(Severity.WARNING) for f in findings) else CheckStatus.PASSED
    if skipped and not findings:
        status = CheckStatus.SKIPPED
    return CheckRecord(area, name, status, skipped, duration)


def _crash(name: str, area: Area, exc: Exception) -> Finding:
    tail = traceback.format_exc(limit=-3).strip().splitlines()[-3:]
    return replace(rule("internal-error").finding(f"the {name} check crashed: {type(exc).__name__}: {exc} ({' | '.join(tail)})"),
                   area=area)


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
    report.notes = [replace(note, text=redact(note.text)) for note in report.notes]
    report.parity = redact_data(report.parity)
    report.environment = redact_data(report.environment)


def _run_static(check: StaticCheck, pkg: ModelPackage, options: Options) -> tuple[CheckRecord, list[Finding]]:
    started = time.perf_counter()
    try:
        result = check.run(pkg, options)
        if isinstance(result, Skip):
            return CheckRecord(check.area, check.name, CheckStatus.SKIPPED, result.reason, time.perf_counter() - started), []
        findings = list(result)
    except Exception as exc:  # a crashing check must not end the run
        findings = [_crash(check.name, check.area, exc)]
    return _record(check.area, check.name, findings, "", time.perf_counter() - started), findings


def _run_before(check: StaticCheck, pkg: ModelPackage, options: Options, deadline: float,
                budget: float) -> tuple[CheckRecord, list[Finding], bool]:
    """_run_static in a daemon thread, waited for until `deadline`; past it, the check is abandoned
    (left running: a thread cannot be stopped) and recorded as failed with an MC004 finding.
    The last item says whether the check finished."""
    result: list[tuple[CheckRecord, list[Finding]]] = []
    read_before = len(pkg.texts_read())
    worker = threading.Thread(target=lambda: result.append(_run_static(check, pkg, options)), name=f"check: {check.name}",
                              daemon=True)
    started = time.perf_counter()
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if result:
        return *result[0], True
    if not worker.is_alive():  # ended without a result: an exception _run_static does not catch
        finding = replace(rule("internal-error").finding(f"the {check.name} check ended without a result"), area=check.area)
        return CheckRecord(check.area, check.name, CheckStatus.FAILED, "", time.perf_counter() - started), [finding], True
    read = pkg.texts_read()[read_before:]
    reading = f" (the last file it read: {read[-1]})" if read else ""
    finding = rule("static-check-time-budget").finding(
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


def _identity(pkg: ModelPackage) -> tuple[str | None, str | None]:
    facts = pkg.card_facts
    name = facts.name.value if facts and facts.name else None
    version = facts.version.value if facts and facts.version else None
    # The declared facts only when a check has read them (the consistency check does, in a full run): reading
    # them here would parse every ONNX graph of a run limited to other areas.
    declared: DeclaredFacts | None = vars(pkg).get("declared")
    if declared is not None:
        name = name or declared.first("model_id")
        version = version or declared.first("version")
    return name, version
