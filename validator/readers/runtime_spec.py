"""Read the package's runtime definitions into pins: requirements.txt (pip's own grammar, via
pip-requirements-parser), environment.yml (PyYAML) and Dockerfile (dockerfile-parse).

Each requirement keeps its file and line, and whether it is pinned exactly, so the runtime check
can name every unpinned line and the environment builders know what was asked for.

Two other forms of a pinned runtime are read as data, never run:
- a lock file at the root (uv.lock, poetry.lock, pdm.lock, pixi.lock, conda-lock.yml, a conda explicit
  lock): `read_lock_files` says which one pins the runtime, or why none can be taken;
- a local project installed from requirements.txt (`-e .`, `.`, `./sub`): its declared dependencies
  ([project].dependencies or [tool.poetry.dependencies] of pyproject.toml, setup.cfg, or a literal
  install_requires of setup.py read with `ast`) are judged instead of the install line itself.
"""

from __future__ import annotations

import ast
import configparser
import re
import shlex
import tomllib
import weakref
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pip_requirements_parser import RequirementsFile

from validator.readers.locate import line_at, search_lines

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage

_COMMIT = re.compile(r"@[0-9a-f]{40}\b")
_HASH_FRAGMENT = re.compile(r"#(sha256|sha384|sha512|md5)=[0-9a-f]+", re.I)
# pip options that say where packages come from, by the parser's key or the flag as written; the
# other global options (--require-hashes, --pre, --only-binary…) are not reported.
_INDEX_OPTIONS = {"index_url": "index-url", "extra_index_urls": "extra-index-url", "find_links": "find-links",
                  "trusted_hosts": "trusted-host", "-i": "index-url", "--index-url": "index-url",
                  "--extra-index-url": "extra-index-url", "-f": "find-links", "--find-links": "find-links",
                  "--trusted-host": "trusted-host"}
# name, then "=" / "==" with optional spaces or just spaces, then a version (one whitespace quantifier
# per path: linear on untrusted text)
_CONDA_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:::)?(?:\s*==?\s*|\s+)([^\s=*<>!,|]+)(?:[= ]\S+)?$")


@dataclass(frozen=True)
class Pin:
    """One requested package."""

    name: str  # canonical name, or the raw text for URLs without a name
    spec: str  # as written
    file: str
    line: int
    pinned: bool
    reason: str = ""  # why it is not pinned
    source: str = "pip"  # pip, conda, apt, docker-pip


@dataclass(frozen=True)
class SpecProblem:
    kind: str  # "include-outside", "include-missing", "index-option", "invalid", "editable", "yaml", "channels", "base-image"
    message: str
    file: str
    line: int | None = None


@dataclass
class RuntimeSpec:
    pins: list[Pin] = field(default_factory=list)
    problems: list[SpecProblem] = field(default_factory=list)
    python: tuple[str, str, int | None] | None = None  # (version, file, line)
    # Package sources the package adds: (option, value, file, line); option as pip spells it, or "channel".
    index_options: list[tuple[str, str, str, int]] = field(default_factory=list)
    base_images: list[tuple[str, str, int]] = field(default_factory=list)
    files_read: list[str] = field(default_factory=list)
    constraints: dict[str, Pin] = field(default_factory=dict)  # exact pins of -c files, by name
    # Local projects installed from a requirements file (`-e .`), judged once every pin is known.
    local_projects: list[LocalProject] = field(default_factory=list)

    def pinned_names(self) -> set[str]:
        return {p.name for p in self.pins if p.source in ("pip", "docker-pip", "conda")}


def pip_pin_status(req: Requirement) -> tuple[bool, str]:
    if req.url:
        if _COMMIT.search(req.url) or _HASH_FRAGMENT.search(req.url):
            return True, ""
        return False, "a URL requirement must name a full commit (@<40-hex sha>) or carry a #sha256= hash"
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return True, ""
    if not specs:
        return False, "no version given"
    return False, f"{req.specifier} is a range, not an exact version"


def read_runtime(pkg: ModelPackage) -> RuntimeSpec:
    spec = RuntimeSpec()
    req = pkg.find("requirements.txt")
    if req is not None:
        _read_requirements(pkg, req, spec, seen=set())
    env = pkg.find("environment.yml", "environment.yaml")
    if env is not None:
        _read_environment(pkg, env, spec)
    docker = pkg.find("Dockerfile")
    if docker is not None:
        _read_dockerfile(pkg, docker, spec)
    if req is not None:
        _read_uv_config(pkg, spec)
    # A requirement without an exact version is pinned all the same when a -c file pins it exactly.
    spec.pins = [replace(p, pinned=True, reason="") if not p.pinned and p.source == "pip" and p.name in spec.constraints
                 else p for p in spec.pins]
    _judge_local_projects(spec)
    for name in (".python-version", "runtime.txt"):
        rel = pkg.find(name)
        text = pkg.read_text(rel).text if rel else None
        if rel and text and spec.python is None:
            m = re.search(r"(?<!\d)(\d+\.\d+(?:\.\d+)?)", text)
            if m:
                spec.python = (m.group(1), rel, line_at(text, m.start()))
    return spec


def _read_requirements(pkg: ModelPackage, rel: str, spec: RuntimeSpec, seen: set[str]) -> None:
    if rel in seen:
        return
    seen.add(rel)
    spec.files_read.append(rel)
    read = pkg.read_text(rel)
    if read.text is None:
        spec.problems.append(SpecProblem("invalid", read.problem or f"{rel} cannot be read", rel))
        return
    try:  # from_file on the checked path (from_string of 32.0.1 lacks an import); includes are not followed here
        parsed = RequirementsFile.from_file(str(pkg.path(rel)), include_nested=False)
    except Exception as exc:  # the parser is pip's code: any failure is the file's problem
        spec.problems.append(SpecProblem("invalid", f"{rel} cannot be parsed: {exc}", rel))
        return
    for invalid in parsed.invalid_lines:
        message = str(invalid.error_message).split("\n", 1)[0]
        spec.problems.append(SpecProblem("invalid", f"{invalid.line.strip()!r} is not a valid requirement: {message}", rel, invalid.line_number))
    for option in parsed.options:
        for key, value in option.options.items():
            values = value if isinstance(value, list) else [value]
            if key in ("requirements", "constraints"):
                for target in values:
                    _follow_include(pkg, rel, str(target), key, option.line_number, spec, seen)
            elif key in _INDEX_OPTIONS:
                for v in values:
                    spec.index_options.append((_INDEX_OPTIONS[key], str(v), rel, option.line_number))
    for requirement in parsed.requirements:
        line = requirement.line_number
        local = _local_target(pkg, rel, requirement.name, str(requirement.link or ""))
        if requirement.is_editable:
            spec.problems.append(SpecProblem("editable", f"editable install {requirement.line.strip()!r}", rel, line))
        if local is not None:
            pin = Pin(str(requirement.link), requirement.line.strip(), rel, line, False,
                      "an editable install is not a pinned release" if requirement.is_editable else
                      "a local folder is not a pinned release")
            spec.pins.append(pin)
            spec.local_projects.append(read_local_project(pkg, local, pin, sorted(requirement.extras or ())))
            continue
        if requirement.is_editable:
            spec.pins.append(Pin(str(requirement.link), requirement.line.strip(), rel, line, False, "an editable install is not a pinned release"))
            continue
        text = requirement.line.split(" --hash", 1)[0].strip()
        try:
            req = Requirement(text) if requirement.name else None
        except InvalidRequirement:
            req = None
        if req is None:
            url = str(requirement.link or text)
            pinned = bool(_COMMIT.search(url) or _HASH_FRAGMENT.search(url))
            spec.pins.append(Pin(url, text, rel, line, pinned, "" if pinned else "a URL requirement must name a full commit or carry a hash"))
            continue
        pinned, reason = pip_pin_status(req)
        if requirement.hash_options and not pinned and not req.url:
            reason += " (hashes do not pin a version by themselves)"
        spec.pins.append(Pin(canonicalize_name(req.name), text, rel, line, pinned, reason))


# Settings of uv's own configuration that add package sources, as the pip option they stand for.
_UV_SOURCE_KEYS = {"index-url": "index-url", "extra-index-url": "extra-index-url", "find-links": "find-links",
                   "allow-insecure-host": "trusted-host"}


def _read_uv_config(pkg: ModelPackage, spec: RuntimeSpec) -> None:
    """uv reads uv.toml and [tool.uv] of pyproject.toml in the folder it runs in, the package's copy: their
    index settings are package sources like the options of requirements.txt."""
    for name in ("uv.toml", "pyproject.toml"):
        read = pkg.read_text(name) if pkg.has(name) else None
        if read is None or read.text is None:
            continue
        try:
            data = tomllib.loads(read.text)
        except tomllib.TOMLDecodeError:
            continue  # uv refuses it too: the build fails
        tool = data.get("tool") if name == "pyproject.toml" else None
        table = data if name == "uv.toml" else (tool.get("uv") if isinstance(tool, dict) else None)
        if not isinstance(table, dict):
            continue
        lines = read.text.splitlines()
        found: list[tuple[str, str]] = []
        for scope in (table, table.get("pip")):
            for key, option in _UV_SOURCE_KEYS.items():
                value = scope.get(key) if isinstance(scope, dict) else None
                found += [(option, str(v)) for v in (value if isinstance(value, list) else [value] if value is not None else [])]
        indexes = table.get("index")
        found += [("index", str(entry["url"])) for entry in (indexes if isinstance(indexes, list) else [])
                  if isinstance(entry, dict) and "url" in entry]
        for option, value in found:
            spec.index_options.append((option, value, name, search_lines(lines, value) or 1))


def _follow_include(pkg: ModelPackage, rel: str, target: str, key: str, line: int, spec: RuntimeSpec, seen: set[str]) -> None:
    base = PurePosixPath(rel).parent
    joined = (pkg.root / base / target).resolve()
    if "://" in target or not (joined == pkg.root or pkg.root in joined.parents):
        spec.problems.append(SpecProblem("include-outside", f"-{key[0]} {target} points outside the package", rel, line))
        return
    inner = joined.relative_to(pkg.root).as_posix()
    if not pkg.has(inner):
        spec.problems.append(SpecProblem("include-missing", f"-{key[0]} {target}: {inner} is not in the package", rel, line))
        return
    if key == "requirements":
        _read_requirements(pkg, inner, spec, seen)
    else:  # a constraints file: its exact pins pin the requirements that name the same package
        constraints = RuntimeSpec()
        _read_requirements(pkg, inner, constraints, seen)
        spec.problems += constraints.problems
        spec.index_options += constraints.index_options
        spec.files_read += constraints.files_read
        spec.constraints.update({p.name: p for p in constraints.pins if p.pinned and p.source == "pip"})


def _read_environment(pkg: ModelPackage, rel: str, spec: RuntimeSpec) -> None:
    spec.files_read.append(rel)
    read = pkg.read_text(rel)
    if read.text is None:
        spec.problems.append(SpecProblem("yaml", read.problem or f"{rel} cannot be read", rel))
        return
    try:
        node = yaml.compose(read.text, Loader=yaml.SafeLoader)
    except RecursionError:
        spec.problems.append(SpecProblem("yaml", f"{rel} is nested too deeply to read", rel))
        return
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        spec.problems.append(SpecProblem("yaml", f"{rel} is not valid YAML: {getattr(exc, 'problem', exc)}", rel, mark.line + 1 if mark else None))
        return
    if not isinstance(node, yaml.MappingNode):
        spec.problems.append(SpecProblem("yaml", f"{rel} must be a mapping with channels and dependencies", rel))
        return
    mapping = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    channels = mapping.get("channels")
    if not isinstance(channels, yaml.SequenceNode) or not channels.value:
        spec.problems.append(SpecProblem("channels", "no channels are named: conda resolves against whatever the user has configured", rel))
    else:  # a channel given as a URL or path is a package source of the package's own, like an index option
        for channel in channels.value:
            text = str(channel.value).strip() if isinstance(channel, yaml.ScalarNode) else ""
            if "://" in text or text.startswith(("/", ".", "~", "file:")):
                spec.index_options.append(("channel", text, rel, channel.start_mark.line + 1))
    deps = mapping.get("dependencies")
    if not isinstance(deps, yaml.SequenceNode):
        spec.problems.append(SpecProblem("yaml", "no dependencies list", rel))
        return
    for entry in deps.value:
        line = entry.start_mark.line + 1
        if isinstance(entry, yaml.ScalarNode):
            _conda_pin(str(entry.value), rel, line, spec)
        elif isinstance(entry, yaml.MappingNode):
            for key, value in entry.value:
                if key.value == "pip" and isinstance(value, yaml.SequenceNode):
                    for item in value.value:
                        _pip_line(str(item.value), rel, item.start_mark.line + 1, spec, source="pip")


def _conda_pin(text: str, rel: str, line: int, spec: RuntimeSpec) -> None:
    text = text.strip()
    name = re.split(r"[\s=<>!~]", text.split("::")[-1], maxsplit=1)[0]
    m = _CONDA_PIN.match(text.split("::")[-1])
    pinned = bool(m) and not any(op in text for op in (">", "<", "*", "|", ","))
    if name.lower() == "python":
        version = re.search(r"(?<!\d)(\d+\.\d+(?:\.\d+)?)", text)
        if version:
            spec.python = (version.group(1), rel, line)
    versioned = re.search(r"[=<>!~*]|\s\S", text.split("::")[-1])
    reason = "" if pinned else ("no version given" if not versioned else f"{text!r} is a range or wildcard, not an exact version")
    spec.pins.append(Pin(canonicalize_name(name) if name else text, text, rel, line, pinned, reason, source="conda"))


def _pip_line(text: str, rel: str, line: int, spec: RuntimeSpec, source: str) -> None:
    if text.startswith("-"):
        flag, _, value = text.partition(" ")
        if "=" in flag:
            flag, value = flag.split("=", 1)
        if flag in _INDEX_OPTIONS:
            spec.index_options.append((_INDEX_OPTIONS[flag], value.strip(), rel, line))
        return
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        spec.problems.append(SpecProblem("invalid", f"{text!r} is not a valid requirement: {exc}", rel, line))
        return
    pinned, reason = pip_pin_status(req)
    spec.pins.append(Pin(canonicalize_name(req.name), text, rel, line, pinned, reason, source=source))


_PIP_INSTALL = re.compile(r"^(?:python3?(?:\.\d+)?\s+-m\s+)?(?:uv\s+)?pip3?(?:\.\d+)?\s+install\b|^uv\s+pip\s+install\b")
_PIP_VALUE_OPTIONS = {"-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f",
                      "--find-links", "--target", "-t", "--prefix", "--root", "--python", "--cache-dir", "--trusted-host",
                      "--platform", "--python-version", "--implementation", "--abi", "--src", "--progress-bar", "--timeout"}


def _read_dockerfile(pkg: ModelPackage, rel: str, spec: RuntimeSpec) -> None:
    spec.files_read.append(rel)
    read = pkg.read_text(rel)
    if read.text is None:
        spec.problems.append(SpecProblem("invalid", read.problem or f"{rel} cannot be read", rel))
        return
    import io

    try:
        parser = DockerfileParser(fileobj=io.BytesIO(read.text.encode("utf-8")))
        structure = parser.structure
        parents = parser.parent_images
    except Exception as exc:  # third-party parser on untrusted text
        spec.problems.append(SpecProblem("invalid", f"{rel} cannot be parsed: {exc}", rel))
        return
    stages: set[str] = set()
    arg_defaults: dict[str, str] = {}  # ARG NAME=default, for references the parser leaves unexpanded
    from_index = 0
    for instruction in structure:
        line = instruction["startline"] + 1
        if instruction["instruction"] == "ARG" and "=" in instruction["value"]:
            key, _, value = instruction["value"].partition("=")
            arg_defaults[key.strip()] = _expand_args(value.strip().strip("\"'"), arg_defaults)
        elif instruction["instruction"] == "FROM":
            words = instruction["value"].split()
            image = parents[from_index] if from_index < len(parents) else (words[0] if words else "")
            image = _expand_args(image, arg_defaults)
            from_index += 1
            if len(words) >= 3 and words[-2].upper() == "AS":
                stages.add(words[-1].lower())
            if image.lower() in stages or image == "scratch":
                continue
            spec.base_images.append((image, rel, line))
            m = re.match(r"^(?:[\w.-]+/)*python:(\d+\.\d+(?:\.\d+)?)", image)
            if m and spec.python is None:
                spec.python = (m.group(1), rel, line)
        elif instruction["instruction"] == "RUN":
            _docker_run(instruction["value"], rel, line, spec)


def _expand_args(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


def _docker_run(command: str, rel: str, line: int, spec: RuntimeSpec) -> None:
    for part in re.split(r"&&|\|\||;|\|", command):
        part = part.strip()
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        text = " ".join(words)
        if _PIP_INSTALL.match(text):
            start = next(i for i, w in enumerate(words) if w == "install") + 1
            skip = ""
            for word in words[start:]:
                if skip:
                    if skip in _INDEX_OPTIONS:  # a package source, judged like those of requirements.txt
                        spec.index_options.append((_INDEX_OPTIONS[skip], word, rel, line))
                    skip = ""
                    continue
                if word in _PIP_VALUE_OPTIONS:
                    skip = word
                    continue
                flag, equals, value = word.partition("=")
                if equals and flag in _INDEX_OPTIONS:
                    spec.index_options.append((_INDEX_OPTIONS[flag], value, rel, line))
                    continue
                if word.startswith("-") or word in (".", "./") or word.endswith((".whl", ".txt")) or "$" in word:
                    continue
                _pip_line(word, rel, line, spec, source="docker-pip")
        elif re.match(r"^(apt-get|apt)\s+(-\S+\s+)*install\b", text):
            for word in words[words.index("install") + 1:]:
                if word.startswith("-") or "$" in word:
                    continue
                pinned = "=" in word
                spec.pins.append(Pin(word.split("=")[0], word, rel, line, pinned, "" if pinned else "no version given", source="apt"))
        elif re.match(r"^(conda|mamba|micromamba)\s+install\b", text):
            skip_value = False
            for word in words[2:]:
                if skip_value:
                    skip_value = False
                elif word in ("-c", "--channel", "-n", "--name", "-p", "--prefix", "--file"):
                    skip_value = True
                elif not word.startswith("-") and "$" not in word:
                    _conda_pin(word, rel, line, spec)


# -- a local project installed from a requirements file (`-e .`) -----------------------------------------
_SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_LOOSE_NAMED = 5  # unpinned dependencies of a local project quoted in a message


@dataclass
class LocalProject:
    """A folder of the package that a requirements file installs (`-e .`, `.`, `./sub`), and what it declares."""

    folder: str  # relative to the package root; "" for the root
    pin: Pin  # the install line
    extras: list[str]
    name: str | None = None  # the project's distribution name, canonical
    source: str = ""  # the file its dependencies were read from
    dependencies: list[Pin] = field(default_factory=list)  # at their own file and line
    problem: str = ""  # why its dependencies cannot be read (nothing of it is run)


def _local_target(pkg: ModelPackage, rel: str, name: str | None, link: str) -> str | None:
    """The package folder a requirement line installs (`-e .`, `./sub`, `file:.`), or None for anything else."""
    if name or not link:
        return None
    target = link[len("file:"):] if link.startswith("file:") else link
    target = target.split("#", 1)[0].split("[", 1)[0].strip()
    if not target or "://" in target or target.startswith(("/", "~")) or "@" in target:
        return None
    joined = (pkg.root / PurePosixPath(rel).parent / target).resolve()
    if joined == pkg.root:
        return ""
    if pkg.root not in joined.parents:
        return None
    return joined.relative_to(pkg.root).as_posix()


def read_local_project(pkg: ModelPackage, folder: str, pin: Pin, extras: list[str]) -> LocalProject:
    """The dependencies a local project declares: pyproject.toml ([project] or [tool.poetry]), setup.cfg, or
    a literal install_requires of setup.py (read with ast, never run), with its extras asked for."""
    project = LocalProject(folder, pin, extras)
    where = f"{folder}/" if folder else ""
    shown = folder or "the package root"
    for reader in (_pyproject_dependencies, _setup_cfg_dependencies, _setup_py_dependencies):
        if reader(pkg, where, project):
            return project
    if not project.problem:
        project.problem = f"{shown} has no pyproject.toml, setup.cfg or setup.py that declares its dependencies"
    return project


def _dependency_pin(text: str, file: str, line: int) -> Pin | None:
    try:
        req = Requirement(text.strip())
    except InvalidRequirement:
        return None
    pinned, reason = pip_pin_status(req)
    return Pin(canonicalize_name(req.name), text.strip(), file, line, pinned, reason)


def _pyproject_dependencies(pkg: ModelPackage, where: str, project: LocalProject) -> bool:
    rel = f"{where}pyproject.toml"
    read = pkg.read_text(rel) if pkg.has(rel) else None
    if read is None or read.text is None:
        return False
    try:
        data = tomllib.loads(read.text)
    except (tomllib.TOMLDecodeError, RecursionError):
        project.problem = f"{rel} is not valid TOML"
        return False
    lines = read.text.splitlines()
    table = data.get("project")
    if isinstance(table, dict):
        project.name = canonicalize_name(str(table["name"])) if isinstance(table.get("name"), str) else None
        dynamic = table.get("dynamic")
        if isinstance(dynamic, list) and "dependencies" in dynamic:
            return _dynamic_dependencies(pkg, where, rel, data, project)
        entries = list(table.get("dependencies") or []) if isinstance(table.get("dependencies"), list) else []
        optional = table.get("optional-dependencies")
        for extra in project.extras:
            more = optional.get(extra) if isinstance(optional, dict) else None
            entries += more if isinstance(more, list) else []
        anchor = search_lines(lines, re.compile(r"^\s*dependencies\s*=")) or 1
        for entry in entries:
            if isinstance(entry, str):
                line = search_lines(lines, f'"{entry}"') or search_lines(lines, f"'{entry}'") or anchor
                pin = _dependency_pin(entry, rel, line)
                if pin is not None:
                    project.dependencies.append(pin)
        project.source = rel
        return True
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
    if not isinstance(deps, dict):
        return False
    project.name = canonicalize_name(str(poetry["name"])) if isinstance(poetry, dict) and isinstance(poetry.get("name"), str) else None
    for name, value in deps.items():
        if str(name).lower() == "python":
            continue
        line = search_lines(lines, re.compile(rf"^\s*\"?{re.escape(str(name))}\"?\s*=")) or 1
        project.dependencies.append(_poetry_pin(str(name), value, rel, line))
    project.source = rel
    return True


def _poetry_pin(name: str, value: object, rel: str, line: int) -> Pin:
    """Poetry's own grammar: a bare version is exact; ^, ~, *, ranges and paths are not."""
    version = value.get("version") if isinstance(value, dict) else value
    shown = f"{name} = {value!r}"
    if isinstance(value, dict) and "git" in value:
        rev = str(value.get("rev", ""))
        pinned = bool(_SHA.match(rev))
        return Pin(canonicalize_name(name), shown, rel, line, pinned, "" if pinned else "a git dependency must name a full commit (rev = <40-hex sha>)")
    if not isinstance(version, str):
        return Pin(canonicalize_name(name), shown, rel, line, False, "no version given")
    text = version.strip()
    exact = re.fullmatch(r"(?:==?\s*)?(\d[\w.+!-]*)", text)
    pinned = exact is not None and "*" not in text
    return Pin(canonicalize_name(name), shown, rel, line, pinned, "" if pinned else f"{text!r} is a range, not an exact version")


def _dynamic_dependencies(pkg: ModelPackage, where: str, rel: str, data: dict[str, object], project: LocalProject) -> bool:
    """[project] dynamic = ["dependencies"]: setuptools may read them from files ([tool.setuptools.dynamic])."""
    node: object = data
    for key in ("tool", "setuptools", "dynamic", "dependencies"):
        node = node.get(key) if isinstance(node, dict) else None
    files = node.get("file") if isinstance(node, dict) else None
    names = [files] if isinstance(files, str) else [str(f) for f in files] if isinstance(files, list) else []
    if not names:
        project.problem = f"{rel} declares its dependencies dynamic, computed when it is built"
        return False
    for name in names:
        if not _requirement_lines(pkg, f"{where}{name}", project):
            project.problem = f"{rel} takes its dependencies from {where}{name}, which cannot be read"
            return False
    project.source = rel
    return True


def _requirement_lines(pkg: ModelPackage, rel: str, project: LocalProject) -> bool:
    read = pkg.read_text(rel) if pkg.has(rel) else None
    if read is None or read.text is None:
        return False
    for number, raw in enumerate(read.text.splitlines(), start=1):
        text = raw.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-")):
            continue
        pin = _dependency_pin(text, rel, number)
        if pin is not None:
            project.dependencies.append(pin)
    return True


def _setup_cfg_dependencies(pkg: ModelPackage, where: str, project: LocalProject) -> bool:
    rel = f"{where}setup.cfg"
    read = pkg.read_text(rel) if pkg.has(rel) else None
    if read is None or read.text is None:
        return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(read.text)
    except configparser.Error:
        return False
    if not parser.has_option("options", "install_requires"):
        return False
    project.name = project.name or (canonicalize_name(parser.get("metadata", "name")) if parser.has_option("metadata", "name") else None)
    entries = parser.get("options", "install_requires").splitlines()
    for extra in project.extras:
        if parser.has_option("options.extras_require", extra):
            entries += parser.get("options.extras_require", extra).splitlines()
    lines = read.text.splitlines()
    for entry in (e.strip() for e in entries):
        if entry and not entry.startswith("#"):
            pin = _dependency_pin(entry, rel, search_lines(lines, entry) or 1)
            if pin is not None:
                project.dependencies.append(pin)
    project.source = rel
    return True


def _setup_py_dependencies(pkg: ModelPackage, where: str, project: LocalProject) -> bool:
    """install_requires of setup.py as a literal list (or a module-level name bound to one), read with ast. A
    list read from a requirements file named by a string literal is read from that file; anything computed
    otherwise is unknown."""
    rel = f"{where}setup.py"
    read = pkg.read_text(rel) if pkg.has(rel) else None
    if read is None or read.text is None:
        return False
    try:
        tree = ast.parse(read.text, filename=rel)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        project.problem = f"{rel} does not parse as Python"
        return False
    names: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node.value
    keywords = {kw.arg: kw.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                for kw in node.keywords if kw.arg in ("install_requires", "extras_require", "name")}
    name = keywords.get("name")
    if isinstance(name, ast.Constant) and isinstance(name.value, str):
        project.name = canonicalize_name(name.value)
    value = keywords.get("install_requires")
    if value is None:
        project.source = rel  # no dependencies declared: it installs only itself
        return True
    if not _literal_requirements(pkg, where, rel, value, names, project):
        return False
    extras = keywords.get("extras_require")
    extras = names.get(extras.id, extras) if isinstance(extras, ast.Name) else extras
    if project.extras and isinstance(extras, ast.Dict):
        for key, entries in zip(extras.keys, extras.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in project.extras and not _literal_requirements(pkg, where, rel, entries, names, project):
                return False
    project.source = rel
    return True


def _literal_requirements(pkg: ModelPackage, where: str, rel: str, value: ast.expr, names: dict[str, ast.expr],
                          project: LocalProject) -> bool:
    if isinstance(value, ast.Name) and value.id in names:
        value = names[value.id]
    if isinstance(value, ast.List | ast.Tuple) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts):
        for element in value.elts:
            if isinstance(element, ast.Constant):
                pin = _dependency_pin(str(element.value), rel, element.lineno)
                if pin is not None:
                    project.dependencies.append(pin)
        return True
    files = [n.value for n in ast.walk(value) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and n.value.endswith((".txt", ".in"))]
    if len(files) == 1 and _requirement_lines(pkg, f"{where}{files[0]}", project):
        return True
    project.problem = (f"{rel} computes install_requires (line {value.lineno}), and model-check reads setup.py without "
                       "running it, so the dependencies it installs are unknown")
    return False


def _judge_local_projects(spec: RuntimeSpec) -> None:
    """An install of a local project is as pinned as the dependencies it declares: pinned when each is pinned
    with == (there, or by a line of the requirements); otherwise its reason names the loose ones."""
    exact = {p.name for p in spec.pins if p.pinned and p.source == "pip"} | set(spec.constraints)
    for project in spec.local_projects:
        index = next((i for i, p in enumerate(spec.pins) if p is project.pin), None)
        if index is None:
            continue
        pin = project.pin
        if project.problem:
            spec.pins[index] = replace(pin, reason=f"{pin.reason}, and {project.problem}")
            continue
        loose = [d for d in project.dependencies if not d.pinned and d.name not in exact]
        if not project.dependencies:  # nothing to judge: the install line stays what it is
            spec.pins[index] = replace(pin, reason=f"{pin.reason} ({project.source} declares no dependencies to judge instead)")
            continue
        if loose:
            named = ", ".join(f"{d.spec!r} ({d.file}:{d.line}: {d.reason})" for d in loose[:MAX_LOOSE_NAMED])
            more = f" and {len(loose) - MAX_LOOSE_NAMED} more" if len(loose) > MAX_LOOSE_NAMED else ""
            spec.pins[index] = replace(pin, reason=(
                f"{pin.reason}: {project.source} declares {len(project.dependencies)} dependencies, and "
                f"{len(loose)} are not pinned: {named}{more}. Pin each with == in {project.source} (or in {pin.file})"))
            continue
        spec.pins[index] = replace(pin, name=project.name or pin.name, pinned=True, reason="")
        known = {p.name for p in spec.pins}
        spec.pins += [d for d in project.dependencies if d.name not in known]


# -- lock files ---------------------------------------------------------------------------------------------
# Root lock files, by the tool that writes them, and the project file each one locks (None: self-contained).
LOCK_FILES: dict[str, tuple[str, str | None]] = {
    "uv.lock": ("uv", "pyproject.toml"),
    "poetry.lock": ("Poetry", "pyproject.toml"),
    "pdm.lock": ("PDM", "pyproject.toml"),
    "pixi.lock": ("pixi", "pixi.toml"),
    "conda-lock.yml": ("conda-lock", None),
    "conda-lock.yaml": ("conda-lock", None),
}
# How to turn each lock into a file model-check's builders install from.
EXPORT_COMMANDS = {
    "uv": "`uv export --format requirements-txt --no-dev -o requirements.txt`",
    "Poetry": "`poetry export -f requirements.txt -o requirements.txt` (poetry-plugin-export)",
    "PDM": "`pdm export --prod -o requirements.txt`",
    "pixi": "`pixi workspace export conda-environment --from-lock-file environment.yml`",
    "conda-lock": "`conda-lock render --kind env` (an environment.yml)",
}


@dataclass(frozen=True)
class LockedRuntime:
    """A lock file at the package root and what it pins."""

    file: str
    tool: str
    packages: int  # packages with an exact version
    hashed: int  # of those, packages whose files carry a hash
    project: str | None  # the project file it locks, when the tool needs one
    problem: str = ""  # why it cannot stand for the pinned runtime; "" when it can

    @property
    def accepted(self) -> bool:
        return not self.problem

    @property
    def export(self) -> str:
        return EXPORT_COMMANDS.get(self.tool, "the tool's export command")


_LOCK_CACHE: weakref.WeakKeyDictionary[ModelPackage, list[LockedRuntime]] = weakref.WeakKeyDictionary()


def read_lock_files(pkg: ModelPackage) -> list[LockedRuntime]:
    """The lock files at the package root, read as data (TOML or YAML, safe loaders; no tool runs), accepted
    ones first. Cached per package: the layout check (MC102) and the runtime check (MC390) both ask."""
    cached = _LOCK_CACHE.get(pkg)
    if cached is not None:
        return cached
    found: list[LockedRuntime] = []
    names = [n for n in LOCK_FILES if pkg.find(n) is not None]
    names += [f for f in pkg.files if "/" not in f and (f.endswith((".conda-lock.yml", ".conda-lock.yaml"))
                                                        or (f.startswith("conda-") and f.endswith(".lock")))]
    for name in dict.fromkeys(names):
        rel = pkg.find(name) or name
        found.append(_read_lock(pkg, rel))
    found.sort(key=lambda lock: not lock.accepted)
    _LOCK_CACHE[pkg] = found
    return found


def _read_lock(pkg: ModelPackage, rel: str) -> LockedRuntime:
    lower = rel.lower()
    tool, project = LOCK_FILES.get(lower, ("conda-lock" if lower.endswith((".yml", ".yaml")) else "conda", None))
    if tool == "pixi" and not pkg.has("pixi.toml") and pkg.has("pyproject.toml"):
        project = "pyproject.toml"
    read = pkg.read_text(rel)
    if read.text is None:
        return LockedRuntime(rel, tool, 0, 0, project, read.problem or f"{rel} cannot be read")
    try:
        packages, hashed = _count_locked(tool, read.text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, RecursionError, ValueError) as exc:
        kind = "TOML" if rel.endswith(".lock") and tool in ("uv", "Poetry", "PDM") else "a lock file model-check can read"
        return LockedRuntime(rel, tool, 0, 0, project, f"{rel} is not {kind} ({str(exc).splitlines()[0][:120]})")
    problem = ""
    if packages == 0:
        problem = f"{rel} pins no package with a version"
    elif project is not None and not pkg.has(project):
        problem = f"{rel} locks a {project} the package does not ship, so {tool} cannot install from it"
    return LockedRuntime(rel, tool, packages, hashed, project, problem)


def _count_locked(tool: str, text: str) -> tuple[int, int]:
    """(packages with a version, those with hashed files) of one lock file's text."""
    if tool in ("uv", "Poetry", "PDM"):
        data = tomllib.loads(text)
        entries = data.get("package")
        packages = [p for p in entries if isinstance(p, dict) and p.get("version")] if isinstance(entries, list) else []
        hashes = {str(k) for k, v in (data.get("metadata", {}).get("files", {}) or {}).items() if v} \
            if isinstance(data.get("metadata"), dict) and isinstance(data["metadata"].get("files"), dict) else set()
        hashed = sum(1 for p in packages if "hash" in repr(p.get("sdist", "")) + repr(p.get("wheels", "")) + repr(p.get("files", ""))
                     or str(p.get("name")) in hashes)
        return len(packages), hashed
    if tool == "conda":  # an explicit lock: @EXPLICIT, then one URL per line, optionally #md5 or #sha256
        if "@EXPLICIT" not in text:
            raise ValueError("no @EXPLICIT line")
        urls = [line for line in text.splitlines() if "://" in line and not line.lstrip().startswith("#")]
        return len(urls), sum(1 for u in urls if "#" in u)
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # a safe loader (the C one when built)
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    entries = data.get("package") if tool == "conda-lock" else data.get("packages")
    packages = [p for p in entries if isinstance(p, dict)] if isinstance(entries, list) else []
    if tool == "conda-lock":
        packages = [p for p in packages if p.get("version")]
        return len(packages), sum(1 for p in packages if p.get("hash"))
    return len(packages), sum(1 for p in packages if p.get("sha256") or p.get("md5") or p.get("hash"))
