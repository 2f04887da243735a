"""Area runtime (dynamic part): rebuild the package's runtime in a clean environment, the step between
the static checks and the dynamic ones (recorded in the report's checks as "environment rebuild").

First decides whether the package's own package sources may be followed (validator.scanners.package_sources:
every builder goes through here), then picks a builder (validator.runtime.environments.select), builds or
reuses the cached environment, and returns it for the checks that run package code, with the report's
`environment` object: kind, Python, cache key, whether it was cached, build time, every installed
distribution, the torch backend and notes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from validator.checks.runtime_files import redact
from validator.core.catalogue import get_rule, rule
from validator.core.findings import Area, Finding, Note, Severity
from validator.core.options import Options
from validator.core.progress import Progress
from validator.core.records import EnvironmentRecord, ReplacementRecord
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec
from validator.runtime.environments.builder import BuildFailure, BuildInfo
from validator.runtime.environments.cpu_pins import Replacement
from validator.runtime.environments.select import docker_builder, select_builder
from validator.runtime.environments.torch_backend import torch_build
from validator.sandbox.base import Env
from validator.sandbox.bubblewrap import sandbox_support
from validator.scanners.package_sources import Refused, describe, refused_sources

NAME = "environment rebuild"  # the step's name and area in the report's checks
AREA = Area.RUNTIME
LISTED = 25  # distributions named in a finding before "and N more"
# Left out by `pip freeze` by default: unpinned, they are reported at info level only.
INSTALLER_TOOLS = frozenset({"pip", "setuptools", "wheel", "distribute"})


@dataclass
class EnvironmentStep:
    """What rebuilding the package's environment gave."""

    env: Env | None = None  # None: not built (the dynamic checks are skipped)
    findings: list[Finding] = field(default_factory=list)
    # run-level remarks for the report: all about this machine (its engine, installer settings, caches, build time)
    notes: list[Note] = field(default_factory=list)
    record: EnvironmentRecord | None = None  # the report's environment object
    skipped: str = ""  # why it was not built, when that is no fault of the package's


def build_environment(pkg: ModelPackage, options: Options, progress: Progress | None = None) -> EnvironmentStep:
    """Rebuild (or reuse from the cache) the environment the package's runtime definition describes."""
    step = EnvironmentStep()
    if not pkg.runtime_files:
        step.skipped = "there is no runtime definition to rebuild (see MC102)"
        return step
    spec = pkg.runtime_spec
    refused = refused_sources(spec, options.allow_package_indexes)
    if refused:  # before any builder: none of them fetches from these
        step.record = {
            "kind": options.env, "python": None, "cache_key": None, "cached": False, "build_s": 0.0, "installed": {},
            "torch_backend": options.torch_backend, "notes": [],
            "error": redact(f"not built: {len(refused)} package source(s) refused: " + "; ".join(describe(refused))),
        }
        step.findings += [_source_finding(item, options.allow_package_indexes) for item in refused]
        return step
    builder = select_builder(pkg, options)
    if isinstance(builder, str):
        if options.env == "docker":  # asked for explicitly: an error, not a skip
            step.findings.append(rule("docker-engine-unreachable").finding(f"--env docker: {builder}"))
        step.skipped = builder
        return step
    if options.env == "auto" and pkg.find("Dockerfile") and builder.kind != "docker":
        reason = docker_builder()
        if isinstance(reason, str):
            step.notes.append(Note.machine(f"environment: the runtime includes a Dockerfile, but {reason}; rebuilt with {builder.kind} instead"))
    if builder.kind in ("venv", "conda"):
        support = sandbox_support()
        if support.weaknesses():
            step.findings.append(rule("sandbox-weakened").finding(
                "; ".join(support.weaknesses()) + (f" ({support.problem})" if support.problem else "")))
    started = time.monotonic()
    built = builder.build(pkg, spec, options, progress)  # steps, and the installer's or build's own lines
    if isinstance(built, BuildFailure):
        step.record = {
            "kind": builder.kind, "python": None, "cache_key": None, "cached": False,
            "build_s": round(time.monotonic() - started, 3), "installed": {},
            "torch_backend": options.torch_backend, "notes": list(built.notes), "error": built.reason,
        }
        if built.replaced:
            step.record["cpu_replacements"] = _replacement_records(built.replaced)
        if built.peak_disk_bytes is not None:
            step.record["peak_disk_bytes"] = built.peak_disk_bytes
        step.notes.extend(Note.machine(f"environment: {note}") for note in built.notes)
        source = "Build log" if builder.kind == "docker" else "Installer output"
        tail = f"\n{source} (last lines):\n{built.output_tail}" if built.output_tail else ""
        failed = (get_rule(built.rule) if built.rule else None) or rule("environment-build-failed")
        step.findings.append(failed.finding(f"{built.reason}{tail}", file=built.file))
        step.findings += replaced_findings(built.replaced)
        return step
    info: BuildInfo = built.info
    step.env = built
    installed = built.installed()
    notes = [*info.notes, *torch_notes(info, installed)]
    step.record = _environment_record(built.description, info, installed, notes)
    step.notes.append(Note.machine(f"environment: {built.description}, {_how(info)}"))
    step.notes.extend(Note.machine(f"environment: {note}") for note in notes)
    step.findings += replaced_findings(info.replaced)
    if info.python_problem:
        step.findings.append(_python_finding(info, spec, options.python))
    unpinned = {name: version for name, version in installed.items() if name not in spec.pinned_names()}
    packages = {n: v for n, v in unpinned.items() if n not in INSTALLER_TOOLS}
    tools = {n: v for n, v in unpinned.items() if n in INSTALLER_TOOLS}
    if packages:
        step.findings.append(_unpinned_finding(packages, info.runtime_file))
    if tools:
        step.findings.append(_unpinned_finding(tools, info.runtime_file, Severity.INFO))
    return step


def _source_finding(refused: Refused, allowed: bool) -> Finding:
    source = refused.source
    if source.added and not allowed:
        advice = ("install from PyPI or conda-forge (or the caller's configured index) instead, or, if you run "
                  "model-check and trust this source, pass --allow-package-indexes (action input allow-package-indexes)")
    elif source.kind == "include":
        advice = "ship the included file inside the package and name it by a relative path"
    else:
        advice = ("package sources on loopback, link-local, private-use or unspecified addresses and local paths are "
                  "never followed, even with --allow-package-indexes; publish the package where users can reach it")
    message = f"{source.shown}: {refused.reason}. The environment was not built (no package code ran): {advice}."
    return rule("package-source-refused").finding(redact(message), file=source.file, line=source.line)


def torch_notes(info: BuildInfo, installed: dict[str, str]) -> list[str]:
    """When the environment holds torch: the build chosen (and any fallback), and the build it holds, read
    from its distributions, compared with the build the installer was given. Machine facts: terminal and
    JSON report only."""
    verified = torch_build(installed, info.torch_backend)
    return [*info.torch_notes, verified] if verified else []


def _how(info: BuildInfo) -> str:
    """How the environment came to be, for the step's note: cached, loaded, or built (time, peak disk)."""
    if info.env_cache is not None and info.env_cache["loaded"]:
        how = (f"loaded from {info.env_cache['file']} in {info.env_cache['seconds']:.1f} s (--env-cache; verified "
               "label), not rebuilt")
    elif info.cached:
        how = "reused from the cache"
    else:
        how = f"built in {info.build_s:.1f} s"
    if info.peak_disk_bytes is not None:
        how += f", peak disk use of the build {_size(info.peak_disk_bytes)} (measured on the engine)"
    if info.env_cache is not None and info.env_cache["saved"]:
        how += f", saved to {info.env_cache['file']} ({_size(info.env_cache['bytes'] or 0)}, {info.env_cache['seconds']:.1f} s)"
    return how


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


def replaced_findings(replaced: tuple[Replacement, ...]) -> list[Finding]:
    """MC395: one finding per runtime file whose GPU-only pins a CPU build replaced, listing every line."""
    by_file: dict[str, list[Replacement]] = {}
    for item in replaced:
        by_file.setdefault(item.file, []).append(item)
    findings = []
    for file, items in by_file.items():
        lines = "; ".join(f"line {item.line}: `{item.original}` → "
                          f"{f'`{item.replacement}`' if item.replacement is not None else 'dropped'} ({item.why})"
                          for item in items)
        findings.append(rule("gpu-pins-replaced-for-cpu").finding(redact(
            f"for the CPU torch build, model-check installed a copy of {file} with its GPU-only pins replaced (the "
            f"package's file is unchanged): {lines}. The environment tested is the CPU one; whoever installs {file} as "
            "written gets the GPU build."), file=file, line=items[0].line))
    return findings


def _replacement_records(replaced: tuple[Replacement, ...]) -> list[ReplacementRecord]:
    return [{"file": item.file, "line": item.line, "original": item.original, "replacement": item.replacement}
            for item in replaced]


def _environment_record(description: str, info: BuildInfo, installed: dict[str, str], notes: list[str]) -> EnvironmentRecord:
    support = sandbox_support()
    record: EnvironmentRecord = {
        "kind": info.kind,
        "description": description,
        "runtime_file": info.runtime_file,
        "python": info.python,
        "python_requested": info.python_requested,
        "cache_key": info.cache_key,
        "cached": info.cached,
        "build_s": round(info.build_s, 3),
        "installed": dict(sorted(installed.items())),
        "torch_backend": info.torch_backend,
        "notes": notes,
    }
    if info.replaced:
        record["cpu_replacements"] = _replacement_records(info.replaced)
    if info.kind == "docker":
        record["peak_disk_bytes"] = info.peak_disk_bytes
    if info.env_cache is not None:
        record["env_cache"] = info.env_cache
    if info.kind in ("venv", "conda"):
        record["sandbox"] = {"network_isolated": support.network_cut, "processes_bounded": support.processes_bounded}
    return record


def _python_finding(info: BuildInfo, spec: RuntimeSpec, flag: str | None) -> Finding:
    where = "--python" if flag else (f"{spec.python[1]}" if spec.python else "the package")
    message = (f"{where} asks for Python {info.python_requested}, which is not available here "
               f"({info.python_problem}); the environment was built with Python {info.python} instead")
    if flag or spec.python is None:
        return rule("python-version-unavailable").finding(message)
    return rule("python-version-unavailable").finding(message, file=spec.python[1], line=spec.python[2])


def _unpinned_finding(unpinned: dict[str, str], runtime_file: str, severity: Severity | None = None) -> Finding:
    names = [f"{name}=={version}" for name, version in sorted(unpinned.items())]
    shown = ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
    if severity is Severity.INFO:
        return rule("environment-unpinned-distributions").finding(
            f"installer tooling in the rebuilt environment is not pinned in {runtime_file}: {shown}. `pip freeze` "
            "leaves it out; pin it (`pip freeze --all`) if your code imports it (e.g. pkg_resources).",
            file=runtime_file, severity=severity)
    return rule("environment-unpinned-distributions").finding(
        f"the rebuilt environment holds {len(names)} distribution(s) that {runtime_file} does not pin, so they "
        f"float with every install: {shown}. Add them, pinned, to {runtime_file}.",
        file=runtime_file,
    )
