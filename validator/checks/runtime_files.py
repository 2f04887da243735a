"""Area runtime (static part): the runtime definitions pin what they install."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from packaging.utils import canonicalize_name

from validator.checks.base import NOT_REBUILT, DynamicCheck, Outcome, Skip, StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding, Severity
from validator.core.options import Options
from validator.readers.imports import IMPORT_TO_DISTRIBUTIONS, ImportSite, declared_distributions, provided_by, read_imports
from validator.readers.package import ModelPackage
from validator.runtime.environments.host_env import HostEnv
from validator.runtime.environments.top_level import importable_modules
from validator.sandbox.base import Env

PIN_RATIONALE = "The guideline: 'Pin the dependencies used to export and validate the model.'"

_PRIVATE_HOST = re.compile(r"://([^/@]*@)?(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|[^/]*\.(local|internal|corp|lan)\b)")


class RuntimeFilesCheck(StaticCheck):
    name = "runtime definition"
    area = Area.RUNTIME

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        if not pkg.runtime_files:
            return Skip("there is no runtime definition (see MC102)")
        # Lines of the runtime files are quoted in messages: never quote a password or token.
        return (replace(finding, message=redact(finding.message)) for finding in self._findings(pkg))

    def _findings(self, pkg: ModelPackage) -> Iterable[Finding]:
        spec = pkg.runtime_spec
        for problem in spec.problems:
            found = {"include-outside": rule("requirement-include-outside"), "include-missing": rule("requirement-include-outside"), "editable": rule("requirement-editable"),
                    "channels": rule("conda-channels-missing")}.get(problem.kind, rule("runtime-invalid"))
            if problem.kind == "editable":
                continue  # reported once, as a pin, below
            yield found.finding(problem.message, file=problem.file, line=problem.line)
        for pin in spec.pins:
            if pin.pinned:
                continue
            if pin.source == "apt":
                yield rule("apt-unpinned").finding(f"apt package {pin.spec!r} has no version", file=pin.file, line=pin.line)
            elif pin.spec.startswith("-e") or "editable" in pin.reason:
                yield rule("requirement-editable").finding(f"{pin.spec!r}: {pin.reason}", file=pin.file, line=pin.line)
            else:
                yield rule("requirement-unpinned").finding(f"{pin.spec!r} is not pinned: {pin.reason}", file=pin.file, line=pin.line)
        for option, value, file, line in spec.index_options:
            private = " (a private or local host)" if _PRIVATE_HOST.search(value) else ""
            credentials = " with credentials in the URL" if _USERINFO.search(value) else ""
            yield rule("requirement-index-option").finding(f"--{option.lstrip('-')} {value}{private}{credentials}: users need access to it", file=file, line=line)
        for image, file, line in spec.base_images:
            yield from self._base_image(image, file, line)
        if spec.python is None:
            yield rule("python-version-unstated").finding("no .python-version, runtime.txt, conda python pin or python base image was found")
        yield from undeclared_imports(pkg)

    def _base_image(self, image: str, file: str, line: int) -> Iterable[Finding]:
        if "@sha256:" in image:
            return
        name = image.rsplit("/", 1)[-1]
        tag = name.partition(":")[2]
        if "$" in image:
            yield rule("docker-base-unpinned").finding(f"FROM {image}: the image comes from a build argument without a default", file=file, line=line)
        elif not tag or tag == "latest":
            yield rule("docker-base-unpinned").finding(f"FROM {image or '(empty)'}: {'no tag' if not tag else 'a moving tag'}", file=file, line=line)
        else:
            yield rule("docker-base-no-digest").finding(f"FROM {image} is pinned by tag, not digest", file=file, line=line)


_USERINFO = re.compile(r"://[^/@\s]+@")
MAX_SITES = 5  # importing locations named per module


def undeclared_imports(pkg: ModelPackage) -> Iterable[Finding]:
    """MC385: modules the entry points (and the package modules they import) import that no runtime file
    installs, one finding per module naming every importing location."""
    code = read_imports(pkg)
    if not code.external:
        return
    declared = declared_distributions(pkg)
    by_module: dict[str, list[ImportSite]] = {}
    for site in code.external:
        by_module.setdefault(site.top, []).append(site)
    runtime = ", ".join(declared.files) or "the runtime files"
    for top, sites in sorted(by_module.items()):
        if any(provided_by(site.module, declared.runtime) for site in sites):
            continue
        named = sorted({name for site in sites for name in declared.elsewhere if provided_by(site.module, [name])})
        elsewhere = sorted({label for name in named for label in declared.elsewhere[name]})
        where = ", ".join(site.where() for site in sites[:MAX_SITES])
        if len(sites) > MAX_SITES:
            where += f" and {len(sites) - MAX_SITES} more"
        dist = named[0] if named else IMPORT_TO_DISTRIBUTIONS.get(top, (canonicalize_name(top),))[0]
        if elsewhere:
            status = f"it is only in {'; '.join(elsewhere)}, which the runtime ({runtime}) does not install"
        else:
            status = f"no runtime file ({runtime}) installs a distribution that provides it"
        message = (f"`import {top}` ({where}): {status}. Add the distribution ({dist}) to the runtime, pinned, "
                   "or drop the import")
        severity = None
        if declared.unknown:
            message += f"; it may come from {', '.join(declared.unknown[:3])}, which model-check cannot look into"
            severity = Severity.INFO
        first = sites[0]
        yield rule("import-not-declared").finding(message, file=first.file, line=first.line or None, severity=severity)


def redact(text: str) -> str:
    """Hide the password (or the token given as a user name) of every URL in `text`."""
    text = re.sub(r"://([^/@\s:]+):[^/@\s]+@", r"://\1:***@", text)
    return re.sub(r"://[^/@\s:]+@", "://***@", text)


class RuntimeImportsCheck(DynamicCheck):
    """MC386: with a rebuilt venv or conda environment, every module the entry points import (read with
    ast, as for MC385) is looked up among the files the environment's distributions installed."""

    name = "runtime imports"
    area = Area.RUNTIME

    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        if env is None:
            return Skip(NOT_REBUILT)
        if not isinstance(env, HostEnv):
            return Skip(f"the environment ({getattr(env, 'kind', 'container')}) is not a folder model-check reads files of")
        code = read_imports(pkg)
        if not code.entry_points:
            return Skip("the package has no inference.py, notebook or script the card runs")
        importable = importable_modules(env.prefix)
        by_module: dict[str, list[ImportSite]] = {}
        for site in code.external:
            if site.top not in importable.names:
                by_module.setdefault(site.top, []).append(site)
        findings: list[Finding] = []
        for top, sites in sorted(by_module.items()):
            where = ", ".join(site.where() for site in sites[:MAX_SITES])
            if len(sites) > MAX_SITES:
                where += f" and {len(sites) - MAX_SITES} more"
            first = sites[0]
            findings.append(rule("import-not-installed").finding(
                f"`import {top}` ({where}) fails in the environment rebuilt from {', '.join(pkg.runtime_spec.files_read) or 'the runtime'}: "
                f"no installed distribution provides a module {top}. Add the distribution that provides it to the runtime, "
                "pinned, or drop the import", file=first.file, line=first.line or None))
        skipped = f"the module list may be incomplete: {'; '.join(importable.unknown[:2])}" if importable.unknown else ""
        return Outcome(findings=findings, skipped=skipped)
