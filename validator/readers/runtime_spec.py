"""Read the package's runtime definitions into pins: requirements.txt (pip's own grammar, via
pip-requirements-parser), environment.yml (PyYAML) and Dockerfile (dockerfile-parse).

Each requirement keeps its file and line, and whether it is pinned exactly, so the runtime check
can name every unpinned line and the environment builders know what was asked for.
"""

from __future__ import annotations

import re
import shlex
import tomllib
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
        if requirement.is_editable:
            spec.problems.append(SpecProblem("editable", f"editable install {requirement.line.strip()!r}", rel, line))
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
    reason = "" if pinned else ("no version given" if not re.search(r"\d", text) else f"{text!r} is a range or wildcard, not an exact version")
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
