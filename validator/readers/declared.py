"""Declared facts: what each source of the package states about the model, with its location.

Sources: the model card, safetensors metadata and tensors, labels.json, config.json / config.yaml,
the JSON or YAML sidecar of each model, the ONNX graph (inputs, outputs, metadata_props),
CITATION.cff, pyproject.toml, setup.py / setup.cfg, `__version__` and Dockerfile labels. Consistency is then one
comparison over this table, and every difference can cite both places.

Several models. Every ONNX graph and safetensors file is a model of its own; files of one stem
(`model_4b.onnx` + `model_4b.safetensors`) are one model, and so are a package's only ONNX graph
and only safetensors file. A fact read off a model's artefact, its same-stem sidecar
(`model_4b.json`, `.yaml`) or a config file in a folder holding only that model carries the
model's id (`Fact.model`); the card, labels.json, the root config and the package files describe
the package (`model` None). `DeclaredFacts.models` and `.primary` say which models there are.

Versions, two axes. The package's release (pyproject.toml, setup.py / setup.cfg, `__version__`,
CITATION.cff, Dockerfile labels) is `VERSION`, ordered so that the first is the version the package is built
with. The card's version, and a version read off a model (metadata, config, sidecar), are the same
axis, `VERSION`, only when the value is a plain release number of the same form as the package's
(`v0.1.0` beside `0.1.0`, or nothing to compare the form with) and, for a model's, the package
has one model; otherwise (`1.0.0-4BL1C`, `v0.1` beside 1.7.3, any version of one of several
models) it is the model's own number, `MODEL_VERSION`, compared only with the same model's other
versions.
"""

from __future__ import annotations

import ast
import dataclasses
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from validator.readers.card import parse_field_shape, split_names
from validator.readers.locate import line_containing

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage
    from validator.readers.safetensors import TensorInfo

# Keys of the table. Values: names -> list[str]; shape -> list[str] (dims, "N" for batch); others str/int.
CLASSES, CHANNELS, INPUT_SHAPE, VERSION, LICENSE, MODEL_ID, NAME, ARCHITECTURE = (
    "classes", "channels", "input_shape", "version", "license", "model_id", "name", "architecture")
CLASS_COUNT, CHANNEL_COUNT, REPOSITORY = "class_count", "channel_count", "repository"
MODEL_VERSION = "model_version"  # a model's own version number, another axis than the package's VERSION


@dataclass(frozen=True)
class Fact:
    key: str
    value: Any
    source: str  # "model card", "safetensors metadata", "labels.json", "ONNX graph", …
    file: str | None
    line: int | None = None
    strength: str = "declared"  # "declared" (an author wrote it) or "inferred" (read off tensors)
    model: str | None = None  # the id of the model the fact is about (DeclaredFacts.models); None: the package

    @property
    def where(self) -> str:
        place = self.file or self.source
        return f"{place}:{self.line}" if self.line else place


@dataclass
class DeclaredFacts:
    facts: list[Fact] = field(default_factory=list)
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model id (path without suffix) -> its artefacts
    primary: str | None = None  # the model the package's own facts (card, labels.json, config.json) describe

    def add(self, key: str, value: Any, source: str, file: str | None, line: int | None = None, strength: str = "declared",
            model: str | None = None) -> None:
        if value not in (None, "", []):
            self.facts.append(Fact(key, value, source, file, line, strength, model))

    def model_of(self, rel: str) -> str | None:
        """The id of the model an artefact belongs to (None for a file that is no model's artefact)."""
        return next((model for model, files in self.models.items() if rel in files), None)

    def about(self, model: str | None) -> list[Fact]:
        """The facts that describe a model: its own, and the package's when it is the primary model.
        (Card statements naming another model's file are told apart by the consistency check only.)"""
        return [f for f in self.facts if f.model == model or (f.model is None and model is not None and model == self.primary)]

    def files_of(self, model: str | None) -> str:
        """The artefacts of a model as the report names them: 'a/model_4b.onnx + a/model_4b.safetensors'."""
        return " + ".join(self.models.get(model, ())) if model is not None else "the package"

    def of(self, key: str) -> list[Fact]:
        return [f for f in self.facts if f.key == key]

    def first(self, key: str) -> Any:
        found = self.of(key)
        return found[0].value if found else None


def gather(pkg: ModelPackage) -> DeclaredFacts:
    models = model_groups(pkg)
    table = DeclaredFacts(models=models, primary=primary_model(models))
    owner = {rel: model for model, files in models.items() for rel in files}
    _from_card(pkg, table)
    _from_safetensors(pkg, table, owner)
    _from_labels(pkg, table)
    _from_config(pkg, table)
    _from_model_configs(pkg, table)
    _from_onnx(pkg, table, owner)
    _from_citation(pkg, table)
    _from_pyproject(pkg, table)
    _from_setup(pkg, table)
    _from_code_versions(pkg, table)
    _from_dockerfiles(pkg, table)
    _version_axes(table)
    return table


# -- models ------------------------------------------------------------------------------------

MODEL_SUFFIXES = (".onnx", ".safetensors")


def _stem(rel: str) -> str:
    return rel.rsplit(".", 1)[0]


def model_groups(pkg: ModelPackage) -> dict[str, tuple[str, ...]]:
    """The package's models: its ONNX graphs and safetensors files, one model per stem (path without suffix).

    A package's only ONNX graph and only safetensors file are one model whatever their names (the
    weights and their export). Pointer files (Git LFS, git-annex) count: they stand for a model."""
    groups: dict[str, list[str]] = {}
    for rel in sorted(pkg.with_suffix(*MODEL_SUFFIXES)):
        groups.setdefault(_stem(rel), []).append(rel)
    if len(groups) == 2:
        (a, fa), (b, fb) = sorted(groups.items(), key=lambda item: not item[1][0].lower().endswith(".onnx"))
        if len(fa) == len(fb) == 1 and fa[0].lower().endswith(".onnx") and fb[0].lower().endswith(".safetensors"):
            return {a: (fa[0], fb[0])}
    return {stem: tuple(files) for stem, files in groups.items()}


def primary_model(models: dict[str, tuple[str, ...]]) -> str | None:
    """The model the package's own facts describe: the only one, else the one named `model` nearest the root."""
    if len(models) == 1:
        return next(iter(models))
    named = sorted((m.count("/"), m) for m in models if posixpath.basename(m).lower() == "model")
    if named and (len(named) == 1 or named[0][0] < named[1][0]):
        return named[0][1]
    return None


def _from_card(pkg: ModelPackage, table: DeclaredFacts) -> None:
    facts = pkg.card_facts
    if facts is None:
        return
    readme = pkg.find("README.md")
    src = "model card"
    if facts.name:
        table.add(NAME, facts.name.value, src, readme, facts.name.line)
    if facts.version:
        table.add(VERSION, facts.version.value, src, readme, facts.version.line)
    if facts.input_shape:
        table.add(INPUT_SHAPE, facts.input_shape[0], src, readme, facts.input_shape[1])
    if facts.channels:
        table.add(CHANNELS, facts.channels[0], src, readme, facts.channels[1])
    if facts.classes:
        table.add(CLASSES, facts.classes[0], src, readme, facts.classes[1])
    if facts.license:
        table.add(LICENSE, facts.license.value, src, readme, facts.license.line)
    if facts.repository:
        table.add(REPOSITORY, facts.repository.value, src, readme, facts.repository.line)


_METADATA_KEYS = {
    "model_id": MODEL_ID, "version": VERSION, "architecture": ARCHITECTURE, "license": LICENSE,
    "source_repository": REPOSITORY, "repository": REPOSITORY,
}


def _from_safetensors(pkg: ModelPackage, table: DeclaredFacts, owner: dict[str, str]) -> None:
    for rel, header in sorted(pkg.safetensors.items()):
        metadata = header.metadata or {}
        src, model = "safetensors metadata", owner.get(rel)
        for key, fact_key in _METADATA_KEYS.items():
            if isinstance(metadata.get(key), str):
                table.add(fact_key, metadata[key].strip(), src, rel, model=model)
        for key in ("class_names", "output_names", "labels"):
            if isinstance(metadata.get(key), str):
                table.add(CLASSES, split_names(metadata[key]), src, rel, model=model)
                break
        for key in ("channel_names", "band_names", "bands"):
            if isinstance(metadata.get(key), str):
                table.add(CHANNELS, split_names(metadata[key]), src, rel, model=model)
                break
        if isinstance(metadata.get("input_shape"), str) and (dims := parse_field_shape(metadata["input_shape"])):
            table.add(INPUT_SHAPE, dims, src, rel, model=model)
        _from_tensors(rel, header.tensors, table, model)


_HEAD = re.compile(r"(^|\.)(fc|classifier|head|last_linear|logits)(\.fc|\.\d+)?\.weight$")


def _from_tensors(rel: str, tensors: dict[str, TensorInfo], table: DeclaredFacts, model: str | None = None) -> None:
    """Infer the class count from a classifier head and the channel count from the first conv."""
    heads = [(name, t) for name, t in tensors.items() if _HEAD.search(name) and len(t.shape) == 2]
    if len(heads) == 1:
        name, tensor = heads[0]
        table.add(CLASS_COUNT, int(tensor.shape[0]), f"tensor {name}", rel, strength="inferred", model=model)
    convs = sorted(((t.begin, name, t) for name, t in tensors.items() if len(t.shape) == 4),
                   key=lambda item: item[0])
    if convs:
        _, name, tensor = convs[0]
        if re.search(r"(^|\.)(conv1|conv_stem|stem|patch_embed|features\.0|conv0)", name):
            table.add(CHANNEL_COUNT, int(tensor.shape[1]), f"tensor {name}", rel, strength="inferred", model=model)


def class_names_from_json(value: Any) -> list[str] | None:
    """labels.json / config.json spellings: a list, {"0": "a", …}, {"classes"|"labels"|"id2label": …}."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value):
        return [v["name"] for v in value]
    if isinstance(value, dict):
        for key in ("class_names", "classes", "labels", "names", "id2label", "output_names"):
            if key in value:
                return class_names_from_json(value[key])
        if value and all(str(k).lstrip("-").isdigit() for k in value) and all(isinstance(v, str) for v in value.values()):
            return [value[k] for k in sorted(value, key=lambda k: int(k))]
    return None


def _from_labels(pkg: ModelPackage, table: DeclaredFacts) -> None:
    rel = pkg.find("labels.json")
    if rel is None:
        return
    value, problem = pkg.read_json(rel)
    if problem is not None:
        return  # the consistency check reports unreadable labels.json
    names = class_names_from_json(value)
    if names:
        text = pkg.read_text(rel).text or ""
        table.add(CLASSES, names, "labels.json", rel, line_containing(text, f'"{names[0]}"'))


CONFIG_NAMES = ("config.json", "config.yaml", "config.yml")
SIDECAR_SUFFIXES = (".json", ".yaml", ".yml")


def _from_config(pkg: ModelPackage, table: DeclaredFacts) -> None:
    """The package's config.json (else config.yaml) at the root: facts of the package."""
    for name in CONFIG_NAMES:
        rel = pkg.find(name)
        if rel is not None:
            _from_config_file(pkg, table, rel, None)
            return


def _from_model_configs(pkg: ModelPackage, table: DeclaredFacts) -> None:
    """Each model's own configuration: the same-stem sidecar (model_4b.json next to model_4b.onnx), else a
    config.json / config.yaml in a folder (not the root) that holds this model and no other."""
    by_folder: dict[str, list[str]] = {}
    for model in table.models:
        by_folder.setdefault(posixpath.dirname(model), []).append(model)
    for model in table.models:
        sidecar = next((model + suffix for suffix in SIDECAR_SUFFIXES if pkg.has(model + suffix)), None)
        folder = posixpath.dirname(model)
        if sidecar is None and folder and len(by_folder[folder]) == 1:
            sidecar = next((f"{folder}/{name}" for name in CONFIG_NAMES if pkg.has(f"{folder}/{name}")), None)
        if sidecar is not None:
            _from_config_file(pkg, table, sidecar, model)


def _from_config_file(pkg: ModelPackage, table: DeclaredFacts, rel: str, model: str | None) -> None:
    """A configuration file's facts; an unreadable one states none (config.json has its own finding, MC610)."""
    is_yaml = rel.lower().endswith((".yaml", ".yml"))
    text = pkg.read_text(rel).text
    if text is None:
        return
    if is_yaml:
        try:
            value: Any = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError, ValueError):
            return
    else:
        value, problem = pkg.read_json(rel)
        if problem is not None:
            return
    if not isinstance(value, dict) or "stac_version" in value:  # a STAC item is not a model configuration
        return
    _from_config_data(table, value, text, rel, model, is_yaml)


_VERSION_PARENTS = ("model", "meta", "metadata", "info", "about")


def _config_version(value: dict[Any, Any]) -> str | int | float | None:
    """`version` at the top of a configuration, else in its `model` (or meta/info) section; not a dataset's."""
    for section in (value, *(value.get(key) for key in _VERSION_PARENTS)):
        found = section.get("version") if isinstance(section, dict) else None
        if isinstance(found, (str, int, float)) and not isinstance(found, bool):
            return found
    return None


def _from_config_data(table: DeclaredFacts, value: dict[Any, Any], text: str, rel: str, model: str | None, is_yaml: bool) -> None:
    def line(key: str) -> int | None:
        if is_yaml:
            pattern = re.compile(rf"^\s*['\"]?{re.escape(key)}['\"]?\s*:")
            return next((n for n, row in enumerate(text.splitlines(), 1) if pattern.match(row)), None)
        return line_containing(text, f'"{key}"')

    src = posixpath.basename(rel)
    names = class_names_from_json(value)
    found = _lookup(value, ("class_names", "id2label", "classes"), lambda v: class_names_from_json(v) is not None) if names is None else None
    if found is not None:
        names = class_names_from_json(found[1])
    if names:
        table.add(CLASSES, names, src, rel, line_containing(text, names[0] if is_yaml else f'"{names[0]}"'), model=model)
    for keys, fact_key in ((("num_classes", "n_classes", "num_labels", "classes"), CLASS_COUNT),
                           (("in_chans", "in_channels", "num_channels", "n_channels"), CHANNEL_COUNT)):
        found = _lookup(value, keys, _whole)
        if found is not None:
            table.add(fact_key, found[1], src, rel, line(found[0][-1]), model=model)
    found = _lookup(value, ("channel_names", "channels", "bands", "band_names"), _strings)
    if found is not None:
        table.add(CHANNELS, list(found[1]), src, rel, line(found[0][-1]), model=model)
    version = _config_version(value)
    if version is not None:
        at = line("version")
        if not isinstance(version, str):  # YAML reads `version: 2.0` as a number: take the text as written
            written = re.search(r"version['\"]?\s*:\s*['\"]?([^\s'\",#]+)", text.splitlines()[at - 1]) if at else None
            version = written.group(1) if written else str(version)
        table.add(VERSION, version.strip(), src, rel, at, model=model)
    found = _lookup(value, ("input_shape",), lambda v: isinstance(v, (str, list)))
    shape: list[str] | None = None
    if found is not None and isinstance(found[1], str):
        shape = parse_field_shape(found[1])
    elif found is not None and all(isinstance(d, (int, str)) or d is None for d in found[1]):
        shape = ["N" if not str(d).isdigit() else str(d) for d in found[1]]
    if shape:
        table.add(INPUT_SHAPE, shape, src, rel, line("input_shape"), model=model)


_LOOKUP_DEPTH, _LOOKUP_NODES = 3, 5000
# Nested mappings searched for the model's facts: sections about the data and the model as a whole, not about
# one of its layers (a decoder's `in_channels` is not the model's).
_SECTIONS = frozenset({"data", "dataset", "dataset_statistics", "statistics", "input", "inputs", "model", "model_config",
                       "data_config", "config", "meta", "metadata", "info", "about", "params", "hparams",
                       "hyperparameters", "init_args"})


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(x, str) for x in value)


def _lookup(value: dict[Any, Any], keys: tuple[str, ...], accept: Callable[[Any], bool]) -> tuple[tuple[str, ...], Any] | None:
    """The shallowest of `keys` whose value `accept`s, searching the nested `_SECTIONS` (breadth first, bounded):
    (path of keys, value). At one depth, `keys` are tried in their order."""
    level: list[tuple[tuple[str, ...], dict[Any, Any]]] = [((), value)]
    visited = 0
    for _ in range(_LOOKUP_DEPTH):
        for key in keys:
            for path, mapping in level:
                if key in mapping and accept(mapping[key]):
                    return path + (key,), mapping[key]
        following: list[tuple[tuple[str, ...], dict[Any, Any]]] = []
        for path, mapping in level:
            for child_key, child in mapping.items():
                visited += 1
                if visited > _LOOKUP_NODES:
                    return None
                if isinstance(child, dict) and str(child_key).lower() in _SECTIONS:
                    following.append((path + (str(child_key),), child))
        level = following
    return None


def _from_onnx(pkg: ModelPackage, table: DeclaredFacts, owner: dict[str, str]) -> None:
    for rel, summary in sorted(pkg.onnx.items()):
        inputs, outputs, model = summary.inputs, summary.outputs, owner.get(rel)
        if len(inputs) == 1:
            dims = ["N" if not isinstance(d, int) or d < 0 else str(d) for d in inputs[0].shape]
            if dims:
                table.add(INPUT_SHAPE, dims, f"ONNX input {inputs[0].name!r}", rel, model=model)
        if len(outputs) == 1 and len(outputs[0].shape) == 2 and isinstance(outputs[0].shape[1], int):
            table.add(CLASS_COUNT, outputs[0].shape[1], f"ONNX output {outputs[0].name!r}", rel, strength="graph", model=model)
        props = summary.metadata_props
        for key in ("class_names", "labels"):
            if isinstance(props.get(key), str):
                table.add(CLASSES, split_names(props[key]), "ONNX metadata_props", rel, model=model)
                break
        for key in ("version", "model_version"):
            if isinstance(props.get(key), str):
                table.add(VERSION, props[key], "ONNX metadata_props", rel, model=model)
                break
        if isinstance(props.get("channel_names"), str):
            table.add(CHANNELS, split_names(props["channel_names"]), "ONNX metadata_props", rel, model=model)


def _from_citation(pkg: ModelPackage, table: DeclaredFacts) -> None:
    citation = pkg.citation
    if citation is None:
        return
    for key, fact_key in (("version", VERSION), ("license", LICENSE), ("repository-code", REPOSITORY)):
        value = citation.scalar(key)
        if value is not None:
            table.add(fact_key, value, "CITATION.cff", citation.rel, citation.key_line(key))


def _from_pyproject(pkg: ModelPackage, table: DeclaredFacts) -> None:
    """The static version of the package's pyproject.toml ([project] or [tool.poetry])."""
    rel = pkg.find("pyproject.toml")
    text = pkg.read_text(rel).text if rel is not None else None
    if rel is None or text is None:
        return
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return  # the runtime check reports an unreadable pyproject.toml
    for table_path in (("project",), ("tool", "poetry")):
        section: Any = data
        for key in table_path:
            section = section.get(key) if isinstance(section, dict) else None
        version = section.get("version") if isinstance(section, dict) else None
        if isinstance(version, str) and version.strip():
            table.add(VERSION, version.strip(), "pyproject.toml", rel, _assignment_line(text, "version"))
            return


def _from_setup(pkg: ModelPackage, table: DeclaredFacts) -> None:
    """`setup(version="1.0.0")` in setup.py (read with ast, never run), else `version = 1.0.0` in setup.cfg [metadata]."""
    rel = pkg.find("setup.py")
    text = pkg.read_text(rel).text if rel is not None else None
    if rel is not None and text is not None:
        try:
            module = ast.parse(text, filename=rel)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            module = None
        for node in ast.walk(module) if module is not None else ():
            if isinstance(node, ast.Call) and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == "setup":
                for keyword in node.keywords:
                    if (keyword.arg == "version" and isinstance(keyword.value, ast.Constant)
                            and isinstance(keyword.value.value, str) and keyword.value.value.strip()):
                        table.add(VERSION, keyword.value.value.strip(), "setup.py", rel, keyword.value.lineno)
                        return
    rel = pkg.find("setup.cfg")
    text = pkg.read_text(rel).text if rel is not None else None
    if rel is None or text is None:
        return
    section = None
    for number, row in enumerate(text.splitlines(), 1):
        if m := re.match(r"\s*\[([^\]]+)\]", row):
            section = m.group(1).strip().lower()
        elif section == "metadata" and (m := re.match(r"version\s*[=:]\s*(\S+)\s*$", row)) and not m.group(1).startswith("attr:"):
            table.add(VERSION, m.group(1), "setup.cfg", rel, number)
            return


VERSION_MODULES = frozenset({"__init__.py", "version.py", "_version.py", "__version__.py", "__about__.py"})


def _from_code_versions(pkg: ModelPackage, table: DeclaredFacts) -> None:
    """`__version__ = "1.0.0"` at module level of the package's own version modules, read with ast (never run)."""
    for rel in pkg.files:
        if rel.rsplit("/", 1)[-1] not in VERSION_MODULES or rel.count("/") > 3:
            continue
        text = pkg.read_text(rel).text
        if text is None or "__version__" not in text:
            continue
        try:
            module = ast.parse(text, filename=rel)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in module.body:
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                table.add(VERSION, node.value.value, "__version__", rel, node.lineno)
                break


_LABEL_KEYS = ("org.opencontainers.image.version", "version", "org.label-schema.version")


def _from_dockerfiles(pkg: ModelPackage, table: DeclaredFacts) -> None:
    """`LABEL version="1.1"` / `org.opencontainers.image.version` of the package's Dockerfiles (root or one
    folder down); a value from a build argument (`$VERSION`) is not a static version and is left out."""
    for rel in pkg.files:
        name = rel.rsplit("/", 1)[-1].lower()
        if rel.count("/") > 1 or not (name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile")):
            continue
        text = pkg.read_text(rel).text
        if text is None:
            continue
        for line, key, value in _docker_labels(text):
            if key in _LABEL_KEYS and value.strip() and "$" not in value:
                table.add(VERSION, value.strip(), "Dockerfile LABEL", rel, line)
                break


def _docker_labels(text: str) -> Iterator[tuple[int, str, str]]:
    """(line, key, value) of each LABEL pair, continuation lines joined; the line is the one the key is on."""
    rows = text.splitlines()
    n = 0
    while n < len(rows):
        parts: list[str] = []
        lines: list[int] = []
        while True:
            row = rows[n]
            n += 1
            continued = row.rstrip().endswith("\\")
            parts.append(row.rstrip()[:-1] if continued else row)
            lines.append(n)
            if not continued or n >= len(rows):
                break
        head = parts[0].lstrip()
        if not re.match(r"LABEL\s", head, re.IGNORECASE):
            continue
        parts[0] = head[6:]
        for part, line in zip(parts, lines, strict=True):
            try:
                tokens = shlex.split(part, comments=True)
            except ValueError:
                continue
            for token in tokens:
                key, sep, value = token.partition("=")
                if sep:
                    yield line, key.strip().lower(), value


# -- versions: the package's and each model's ---------------------------------------------------

# Sources of the package's release, in the order of authority (the version the package is built with first).
# The model card is the package's and the model's document: its version is the package's unless it has another form.
_PACKAGE_SOURCES = {"pyproject.toml": 0, "setup.py": 1, "setup.cfg": 2, "__version__": 3, "model card": 4, "CITATION.cff": 5,
                    "Dockerfile LABEL": 6}
_RELEASE = re.compile(r"v?(\d+(?:\.\d+)*)(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview|post|dev)\.?\d*)*(?:\+[a-z0-9.]+)?",
                      re.IGNORECASE)


def release_parts(version: str) -> int | None:
    """The number of components of a plain release number (`v1.2.0`, `2.0.0b5`, `1.0.0-rc1` -> 3), or None
    for a labelled one (`1.0.0-4BL1C`, `V4-final`, a date folder)."""
    m = _RELEASE.fullmatch(version.strip())
    return m.group(1).count(".") + 1 if m else None


def package_source(fact: Fact) -> bool:
    """Does the fact's source state the package's release (rather than, or as well as, a model's)?"""
    return fact.source in _PACKAGE_SOURCES


def _version_axes(table: DeclaredFacts) -> None:
    """Versions of another axis than the package's release become MODEL_VERSION (the module doc says which);
    VERSION is ordered by authority, the version the package is built with first."""
    versions = table.of(VERSION)
    strict = [f for f in versions if package_source(f) and f.source != "model card"]
    forms = {release_parts(str(f.value)) for f in strict}
    moved: dict[int, Fact] = {}
    for fact in versions:
        if any(fact is f for f in strict):
            continue
        parts = release_parts(str(fact.value))
        several = len(table.models) > 1 and fact.source != "model card"
        if several or parts is None or (forms and parts not in forms):
            moved[id(fact)] = dataclasses.replace(fact, key=MODEL_VERSION)
    kept = [moved.get(id(f), f) for f in table.facts]
    ranked = sorted((f for f in kept if f.key == VERSION), key=lambda f: _PACKAGE_SOURCES.get(f.source, len(_PACKAGE_SOURCES)))
    table.facts = [f for f in kept if f.key != VERSION] + ranked


def _assignment_line(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s{{0,8}}{re.escape(key)}\s{{0,8}}=")
    return next((n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)), None)
