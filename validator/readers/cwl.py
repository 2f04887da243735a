"""OGC Application Packages (OGC 20-089): CWL documents in the package, read as data.

A CWL document is found by its suffix (`.cwl`) or, for `.yml`/`.yaml`/`.json`, by a top-level
`cwlVersion`. It is composed with PyYAML's safe loader (no tags, no code), every mapping keeps its
line, and the walk over it is bounded (node count, depth), so an alias bomb or deep nesting ends in
a problem value. Nothing here follows a reference: `$include`, `$import`, `$mixin`, `run`,
`location`, `path` and `dockerLoad` values are listed with what is wrong with them (a URL, an
absolute path, a path out of the package, a file the package lacks), for the check to report before
cwltool ever sees the document.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import yaml

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage

MAX_BYTES = 2_000_000
MAX_NODES = 200_000
MAX_DEPTH = 64
REFERENCE_KEYS = ("$include", "$import", "$mixin")
JOB_SUFFIXES = (".job.yml", ".job.yaml", ".job.json")  # <stem>.job.yml beside <stem>.cwl: the test input
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class Mapping(dict[str, Any]):
    """A YAML mapping that remembers its (1-based) line."""

    line: int = 0
    key_lines: dict[str, int]


@dataclass(frozen=True)
class Port:
    id: str
    type: str | None  # None: no type stated
    line: int
    default: bool = False  # a default value is stated


@dataclass(frozen=True)
class Process:
    id: str
    cls: str  # Workflow, CommandLineTool, ExpressionTool, Operation
    line: int
    docker: dict[str, str] | None  # the DockerRequirement's string fields, or None
    docker_in: str = ""  # "requirements" or "hints"
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    network: bool = False  # NetworkAccess networkAccess: true
    javascript: bool = False  # InlineJavascriptRequirement


@dataclass(frozen=True)
class Reference:
    key: str
    value: str
    line: int
    problem: str  # why model-check does not follow it


@dataclass
class CwlDocument:
    rel: str
    version: str = ""
    processes: list[Process] = field(default_factory=list)
    graph: bool = False  # a `$graph` document (packed)
    references: list[Reference] = field(default_factory=list)  # refused ones only
    problem: str | None = None  # unreadable: the document was not read further
    problem_line: int = 0

    @property
    def workflows(self) -> list[Process]:
        return [p for p in self.processes if p.cls == "Workflow"]

    @property
    def tools(self) -> list[Process]:
        return [p for p in self.processes if p.cls == "CommandLineTool"]


class _TooBig(Exception):
    pass


def _compose(text: str) -> Any:
    """The document as Python values, mappings as `Mapping` with their line; raises _TooBig or yaml.YAMLError."""
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 4x faster on 2 MB
    budget = [MAX_NODES]
    seen: dict[int, Any] = {}

    def convert(node: yaml.Node, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise _TooBig(f"more than {MAX_NODES} nodes or {MAX_DEPTH} levels")
        if id(node) in seen:  # an alias: the same value, walked once
            return seen[id(node)]
        if isinstance(node, yaml.MappingNode):
            out = Mapping()
            out.line = node.start_mark.line + 1
            out.key_lines = {}
            seen[id(node)] = out
            for key, value in node.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                out[name] = convert(value, depth + 1)
                out.key_lines[name] = key.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            seen[id(node)] = items
            items.extend(convert(item, depth + 1) for item in node.value)
            return items
        return node.value if isinstance(node, yaml.ScalarNode) else None

    return None if root is None else convert(root, 0)


def load(text: str) -> tuple[Any, str | None, int]:
    """(value, problem, line) of a YAML/JSON text, never raising."""
    if len(text) > MAX_BYTES:
        return None, f"larger than {MAX_BYTES} bytes", 0
    try:
        return _compose(text), None, 0
    except _TooBig as exc:
        return None, f"too deeply nested or too large ({exc})", 0
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, f"not valid YAML: {getattr(exc, 'problem', None) or exc}", (mark.line + 1) if mark else 0
    except (RecursionError, ValueError) as exc:
        return None, f"not readable: {exc}", 0


def looks_like_cwl(rel: str, text: str) -> bool:
    if rel.endswith(".cwl"):
        return True
    if not rel.endswith((".yml", ".yaml", ".json")) or rel.endswith(JOB_SUFFIXES):
        return False
    return re.search(r'^\s*"?cwlVersion"?\s*:', text[:65536], re.MULTILINE) is not None


def reference_problem(value: str, base: str, files: frozenset[str], dirs: frozenset[str]) -> str | None:
    """Why a reference from the file `base` is not followed, or None for a file or folder of the package."""
    if URL.match(value) and not value.startswith("file:"):
        return "a URL: model-check fetches nothing a package names (and the run has no network)"
    path = value.removeprefix("file://") if value.startswith("file:") else value
    if path.startswith("/") or value.startswith("file:"):
        return "an absolute path: only files of the package are read"
    # schema-salad percent-decodes a file URI's path: `..%2f..%2fetc%2fpasswd` (a decoy file of that name in the
    # package) opens /etc/passwd; judge the path it opens
    target = posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(path.split("#", 1)[0])))
    if target == ".." or target.startswith("../"):
        return "a path out of the package"
    if target not in files and target not in dirs and target != ".":
        return "not a file of the package"
    return None


def _type_name(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        names = [_type_name(v) for v in value]
        return " | ".join(n or "?" for n in names)
    if isinstance(value, dict):
        kind = value.get("type")
        return f"{kind} of {_type_name(value.get('items'))}" if kind == "array" else (_type_name(kind) or "record")
    return None


def _ports(value: Any, line: int) -> tuple[Port, ...]:
    """Inputs or outputs in either form: a map of id -> type/object, or a list of objects with `id`."""
    found = []
    if isinstance(value, dict):
        for name, spec in value.items():
            kind = _type_name(spec.get("type")) if isinstance(spec, dict) else _type_name(spec)
            found.append(Port(name, kind, getattr(value, "key_lines", {}).get(name, line),
                              isinstance(spec, dict) and spec.get("default") is not None))
    elif isinstance(value, list):
        for spec in value:
            if isinstance(spec, dict):
                found.append(Port(str(spec.get("id", "?")).lstrip("#"), _type_name(spec.get("type")),
                                  getattr(spec, "line", line), spec.get("default") is not None))
    return tuple(found)


def _requirements(process: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    value = process.get(where)
    if isinstance(value, dict):
        for cls, spec in value.items():
            yield cls, spec if isinstance(spec, dict) else {}
    elif isinstance(value, list):
        for spec in value:
            if isinstance(spec, dict):
                yield str(spec.get("class", "")), spec


def _process(value: dict[str, Any], fallback_id: str) -> Process:
    docker: dict[str, str] | None = None
    docker_in = network = javascript = ""
    for where in ("requirements", "hints"):
        for cls, spec in _requirements(value, where):
            name = cls.split(":")[-1].split("#")[-1]
            if name == "DockerRequirement" and docker is None:
                docker = {k: v for k, v in spec.items() if isinstance(v, str) and k != "class"}
                docker_in = where
            elif name == "NetworkAccess" and str(spec.get("networkAccess", "")).lower() not in ("false", ""):
                network = "yes"
            elif name == "InlineJavascriptRequirement":
                javascript = "yes"
    line = getattr(value, "line", 0)
    return Process(str(value.get("id", fallback_id)).lstrip("#"), str(value.get("class", "")), line, docker, docker_in,
                   _ports(value.get("inputs"), line), _ports(value.get("outputs"), line), bool(network), bool(javascript))


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, dict):
            yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def references(value: Any, rel: str, files: frozenset[str], dirs: frozenset[str], job: bool = False) -> list[Reference]:
    """The references of a document (or job file) that model-check refuses to follow."""
    refused = []
    for mapping in _walk(value):
        line = getattr(mapping, "line", 0)
        for key in REFERENCE_KEYS:
            if key in mapping:
                target = mapping[key]
                problem = (reference_problem(target, rel, files, dirs) if isinstance(target, str)
                           else "not a path")
                if problem:
                    refused.append(Reference(key, str(target)[:200], line, problem))
        keys = ["location", "path"] if job or mapping.get("class") in ("File", "Directory") else []
        if "run" in mapping and ("in" in mapping or "out" in mapping):  # a step (either key: `in` may be left out)
            keys.append("run")
        if "dockerLoad" in mapping:
            keys.append("dockerLoad")
        for key in keys:
            target = mapping.get(key)
            if isinstance(target, str) and not (key == "run" and target.startswith("#")):
                problem = reference_problem(target, rel, files, dirs)
                if problem:
                    refused.append(Reference(key, target[:200], line, problem))
    return refused


def read_document(rel: str, text: str, files: frozenset[str], dirs: frozenset[str]) -> CwlDocument:
    doc = CwlDocument(rel)
    value, problem, line = load(text)
    if problem is not None:
        doc.problem, doc.problem_line = problem, line
        return doc
    if not isinstance(value, dict):
        doc.problem = "not a CWL document (the top level is not a mapping)"
        return doc
    doc.version = str(value.get("cwlVersion", ""))
    doc.references = references(value, rel, files, dirs)
    graph = value.get("$graph")
    if isinstance(graph, list):
        doc.graph = True
        doc.processes = [_process(p, f"#{i}") for i, p in enumerate(graph) if isinstance(p, dict)]
    else:
        doc.processes = [_process(value, "main")]
    return doc


def job_file(rel: str, files: frozenset[str]) -> str | None:
    """The test input of a CWL document: `<stem>.job.yml` (.yaml, .json) beside it."""
    stem = rel.rsplit(".", 1)[0]
    for suffix in JOB_SUFFIXES:
        if stem + suffix in files:
            return stem + suffix
    return None


def gather(pkg: ModelPackage) -> list[CwlDocument]:
    """Every CWL document of the package (bounded: files over 2 MB are not CWL documents here)."""
    files, dirs = frozenset(pkg.files), frozenset(pkg.dirs)
    found = []
    for rel in pkg.files:
        if not rel.endswith((".cwl", ".yml", ".yaml", ".json")) or pkg.size(rel) > 2_000_000:
            continue
        read = pkg.read_text(rel)
        if read.text is None:
            if rel.endswith(".cwl"):
                found.append(CwlDocument(rel, problem=read.problem or "unreadable"))
            continue
        if looks_like_cwl(rel, read.text):
            found.append(read_document(rel, read.text, files, dirs))
    return found
