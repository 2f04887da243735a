"""Area runtime (static part): what the pins say beyond "pinned or not" (MC390-MC393).

- MC390: the only pinned runtime is a lock file (uv.lock, poetry.lock, pdm.lock, pixi.lock, conda-lock):
  accepted as the pinned runtime (MC102 does not fire, see `runtime_missing`), and said that the
  environment builders do not install from it, with the export command that makes one they do.
- MC391: a module of Python's standard library listed as a distribution to install (pathlib, typing).
- MC392: one distribution listed twice in one install (different exact pins: an error).
- MC393: two runtime files pinning one distribution to different versions; what only one of
  requirements.txt / environment.yml installs, at info level.
- MC394: GPU-only builds (nvidia-*, +cuXXX, a PyTorch CUDA index) pinned in a runtime file or lock
  file (validator.checks.runtime_gpu).
Everything is read from `pkg.runtime_spec` and the lock files as data; nothing is installed or run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from packaging.version import InvalidVersion, Version

from validator.checks.base import Skip, StaticCheck
from validator.checks.runtime_gpu import gpu_only_findings
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding, Severity
from validator.core.options import Options
from validator.readers.package import RUNTIME_FILES, ModelPackage
from validator.readers.runtime_spec import LockedRuntime, Pin, RuntimeSpec, read_lock_files

# Standard-library modules that are also the names of conda packages of C libraries, not backports.
_CONDA_LIBRARIES = frozenset({"zlib", "readline", "sqlite3", "curses", "ssl", "lzma", "bz2", "uuid", "ctypes", "tkinter"})
# Distributions whose canonical name matches a standard module by accident (Zope's DateTime is not datetime).
_NOT_BACKPORTS = frozenset({"datetime"})
# Standard modules added in a later Python: their backport is right for an older one.
_ADDED_IN = {"dataclasses": (3, 7), "contextvars": (3, 7), "graphlib": (3, 9), "zoneinfo": (3, 9), "tomllib": (3, 11)}
_STDLIB = frozenset(name for name in sys.stdlib_module_names if not name.startswith("_"))
# conda package names whose PyPI distribution has another name, for comparing the two files.
_CONDA_TO_PIP = {"pytorch": "torch", "py-opencv": "opencv-python", "pytorch-cpu": "torch", "pytorch-gpu": "torch"}
# What environment.yml installs for conda itself, not the package's Python dependencies.
_CONDA_INFRASTRUCTURE = re.compile(r"^(python|pip|setuptools|wheel|conda|mamba|cuda.*|cudatoolkit|cudnn|mkl.*|nomkl|blas|"
                                   r"libblas|liblapack|openblas|libgcc.*|_libgcc_mutex|_openmp_mutex|ca-certificates|openssl|"
                                   r"jupyter|jupyterlab|notebook|ipykernel|nb_conda.*)$")
LISTED = 8  # names quoted in an info finding before "and N more"


def runtime_missing(pkg: ModelPackage) -> Iterable[Finding]:
    """MC102 (the layout check reports it): no requirements.txt, environment.yml or Dockerfile, and no lock file
    that pins the runtime instead (that one is MC390's). A lock file that cannot stand in is named, with why."""
    if pkg.runtime_files or application_package(pkg):
        return
    locks = read_lock_files(pkg)
    if any(lock.accepted for lock in locks):
        return
    message = f"none of {', '.join(RUNTIME_FILES[:3])} or {RUNTIME_FILES[3]} is in the package root"
    if locks:
        message += "; " + "; ".join(lock.problem for lock in locks)
    yield rule("runtime-missing").finding(message)


def application_package(pkg: ModelPackage) -> bool:
    """An OGC Application Package (a CWL Workflow whose tools all name their container) is the runtime the
    guideline's "Dockerfile or OGC Application Package" accepts; its own check (MC360-MC372) judges it."""
    docs = pkg.cwl_documents
    tools = [tool for doc in docs for tool in doc.tools]
    return any(doc.workflows for doc in docs) and bool(tools) and all(tool.docker is not None for tool in tools)


class RuntimePinsCheck(StaticCheck):
    name = "runtime pins"
    area = Area.RUNTIME

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        if not pkg.runtime_files:
            locks = [lock for lock in read_lock_files(pkg) if lock.accepted]
            if not locks:
                return Skip("there is no runtime definition (see MC102)")
            return [_lock_finding(pkg, locks), *gpu_only_findings(pkg, None)]
        spec = pkg.runtime_spec
        return [*_stdlib(spec), *_duplicates(spec, pkg), *_disagreements(spec, pkg), *gpu_only_findings(pkg, spec)]


def _lock_finding(pkg: ModelPackage, locks: list[LockedRuntime]) -> Finding:
    lock = locks[0]
    hashes = f" ({lock.hashed} with hashes)" if lock.hashed else ""
    project = f" of {lock.project}" if lock.project else ""
    entry = pkg.find("inference.py") or "the inference example"
    others = f" ({', '.join(other.file for other in locks[1:])} too)" if len(locks) > 1 else ""
    message = (f"{lock.file}{others} pins {lock.packages} packages{project}{hashes}: taken as the package's pinned runtime. "
               f"model-check's environment builders install from {', '.join(RUNTIME_FILES[:3])} or a Dockerfile, not from "
               f"a {lock.tool} lock, so no environment is rebuilt and {entry} and the notebooks are not run; users "
               f"without {lock.tool} cannot install it either. Export it next to the lock: {lock.export}")
    return rule("runtime-lock-file").finding(message, file=lock.file, line=1)


def _stdlib(spec: RuntimeSpec) -> Iterable[Finding]:
    python = _python_version(spec)
    for pin in spec.pins:
        module = pin.name.replace("-", "_")
        if pin.source == "apt" or module not in _STDLIB or module in _NOT_BACKPORTS or ";" in pin.spec:
            continue
        if pin.source == "conda" and module in _CONDA_LIBRARIES:
            continue
        added = _ADDED_IN.get(module)
        if added is not None and (python is None or python < added):
            continue
        yield rule("requirement-stdlib-module").finding(
            f"{pin.spec!r} ({pin.file}:{pin.line}) names `{module}`, a module of Python's standard library: it needs no "
            "install, and the distribution of that name on the package index is at best an old backport (for Python 2 or "
            "an early Python 3) that fails to install, breaks pip or shadows the standard module. Delete the line",
            file=pin.file, line=pin.line)


def _python_version(spec: RuntimeSpec) -> tuple[int, int] | None:
    if spec.python is None:
        return None
    parts = spec.python[0].split(".")
    return (int(parts[0]), int(parts[1])) if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() else None


def _group(pin: Pin, pkg: ModelPackage) -> str:
    """Which install a pin belongs to: the requirements file (with its includes and the local project's
    dependencies), environment.yml, or the Dockerfile."""
    if pin.file in (pkg.find("environment.yml", "environment.yaml"), pkg.find("Dockerfile")):
        return pin.file
    return pkg.find("requirements.txt") or "requirements.txt"


def _named(pin: Pin) -> bool:
    return not any(c in pin.name for c in "/: ") and ";" not in pin.spec and pin.source != "apt"


def _exact(pin: Pin) -> str | None:
    """The version an exactly pinned line names."""
    if not pin.pinned:
        return None
    m = re.search(r"===?\s*([^\s;,]+)\s*$", pin.spec.split(";", 1)[0]) if pin.source != "conda" else \
        re.match(r"^(?:[^:]+::)?[A-Za-z0-9_.\-]+(?:\s*==?\s*|\s+)([^\s=*<>!,|]+)", pin.spec)
    return m.group(1) if m else None


def _same_version(a: Pin, va: str, b: Pin, vb: str) -> bool:
    """Exact versions agree; conda's `name=1.23` means 1.23.*, so a conda pin matches the versions it prefixes."""
    try:
        if Version(va) == Version(vb):
            return True
    except InvalidVersion:
        if va == vb:
            return True
    for conda, other, v_conda, v_other in ((a, b, va, vb), (b, a, vb, va)):
        if conda.source == "conda" and other.source != "conda" and v_other.startswith(v_conda + "."):
            return True
    return False


def _duplicates(spec: RuntimeSpec, pkg: ModelPackage) -> Iterable[Finding]:
    groups: dict[tuple[str, str], list[Pin]] = {}
    for pin in spec.pins:
        if _named(pin):
            groups.setdefault((_group(pin, pkg), pin.name), []).append(pin)
    for (where, name), pins in groups.items():
        if len(pins) < 2:
            continue
        second = pins[1]
        lines = ", ".join(f"{p.file}:{p.line} {p.spec!r}" for p in pins)
        versions = {v for v in (_exact(p) for p in pins) if v is not None}
        if len(versions) > 1:
            yield rule("requirement-duplicate").finding(
                f"{name} is pinned to {len(versions)} different versions in the runtime of {where} ({lines}): they cannot "
                "both be installed, so the install stops with a conflict. Keep one line, pinned to the version you "
                "validated with", file=second.file, line=second.line, severity=Severity.ERROR)
        elif len({p.file for p in pins}) == len(pins) and len({p.spec for p in pins}) == 1:
            continue  # the same line in a file and the file it includes (-r): layered files, harmless
        else:
            yield rule("requirement-duplicate").finding(
                f"{name} is listed {len(pins)} times in the runtime of {where} ({lines}). Keep one line, pinned with == "
                f"(delete {second.file}:{second.line})", file=second.file, line=second.line)
    # a local project's own dependencies against the requirements file that installs it (same install)
    for project in spec.local_projects:
        for dependency in project.dependencies:
            version = _exact(dependency)
            for pin in groups.get((_group(project.pin, pkg), dependency.name), []):
                other = _exact(pin)
                if pin is not dependency and version and other and not _same_version(pin, other, dependency, version):
                    yield rule("requirement-duplicate").finding(
                        f"{pin.file}:{pin.line} pins {pin.spec!r}, and {dependency.file}:{dependency.line} of the local "
                        f"project {pin.file} installs ({project.pin.spec!r}) pins {dependency.spec!r}: they cannot both be "
                        "installed. Pin the same version in both", file=pin.file, line=pin.line, severity=Severity.ERROR)


def _disagreements(spec: RuntimeSpec, pkg: ModelPackage) -> Iterable[Finding]:
    by_group: dict[str, dict[str, Pin]] = {}
    for pin in spec.pins:
        if _named(pin):
            name = _CONDA_TO_PIP.get(pin.name, pin.name) if pin.source == "conda" else pin.name
            by_group.setdefault(_group(pin, pkg), {}).setdefault(name, pin)
    groups = sorted(by_group)
    for i, left in enumerate(groups):
        for right in groups[i + 1:]:
            for name in sorted(set(by_group[left]) & set(by_group[right])):
                a, b = by_group[left][name], by_group[right][name]
                va, vb = _exact(a), _exact(b)
                if va and vb and not _same_version(a, va, b, vb):
                    yield rule("runtime-files-disagree").finding(
                        f"{a.file}:{a.line} pins {a.spec!r} but {b.file}:{b.line} pins {b.spec!r}: users of the two files "
                        f"get different {name}. Pin the version you validated with in both", file=b.file, line=b.line)
    requirements, conda = pkg.find("requirements.txt"), pkg.find("environment.yml", "environment.yaml")
    if requirements in by_group and conda in by_group and conda is not None and not _installs_requirements(pkg, conda):
        only_req = [p for n, p in by_group[requirements].items() if n not in by_group[conda]]
        only_env = [p for n, p in by_group[conda].items() if n not in by_group[requirements] and not _CONDA_INFRASTRUCTURE.match(n)]
        parts = [f"{lone} installs {_list(pins)} that {other} does not"
                 for lone, other, pins in ((requirements, conda, only_req), (conda, requirements, only_env)) if pins]
        if parts:
            first = (only_req or only_env)[0]
            yield rule("runtime-files-disagree").finding(
                "; ".join(parts) + ". Make both files install the same distributions, or keep one runtime file",
                file=first.file, line=first.line, severity=Severity.INFO)


def _list(pins: list[Pin]) -> str:
    shown = ", ".join(f"{p.name} ({p.file}:{p.line})" for p in pins[:LISTED])
    return shown + (f" and {len(pins) - LISTED} more" if len(pins) > LISTED else "")


def _installs_requirements(pkg: ModelPackage, conda: str) -> bool:
    text = pkg.read_text(conda).text or ""
    return re.search(r"(?m)^\s*-\s*(-r|--requirement)[\s=]\S*requirements", text) is not None
