"""Declared facts: what each source of the package states about the model, with its location.

Sources: the model card, safetensors metadata and tensors, labels.json, config.json, the ONNX
graph (inputs, outputs, metadata_props) and CITATION.cff. Consistency is then one comparison over
this table, and every difference can cite both places.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from validator.readers.card import parse_field_shape, split_names
from validator.readers.locate import line_containing

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage
    from validator.readers.safetensors import TensorInfo

# Keys of the table. Values: names -> list[str]; shape -> list[str] (dims, "N" for batch); others str/int.
CLASSES, CHANNELS, INPUT_SHAPE, VERSION, LICENSE, MODEL_ID, NAME, ARCHITECTURE = (
    "classes", "channels", "input_shape", "version", "license", "model_id", "name", "architecture")
CLASS_COUNT, CHANNEL_COUNT, REPOSITORY = "class_count", "channel_count", "repository"


@dataclass(frozen=True)
class Fact:
    key: str
    value: Any
    source: str  # "model card", "safetensors metadata", "labels.json", "ONNX graph", …
    file: str | None
    line: int | None = None
    strength: str = "declared"  # "declared" (an author wrote it) or "inferred" (read off tensors)

    @property
    def where(self) -> str:
        place = self.file or self.source
        return f"{place}:{self.line}" if self.line else place


@dataclass
class DeclaredFacts:
    facts: list[Fact] = field(default_factory=list)

    def add(self, key: str, value: Any, source: str, file: str | None, line: int | None = None, strength: str = "declared") -> None:
        if value not in (None, "", []):
            self.facts.append(Fact(key, value, source, file, line, strength))

    def of(self, key: str) -> list[Fact]:
        return [f for f in self.facts if f.key == key]

    def first(self, key: str) -> Any:
        found = self.of(key)
        return found[0].value if found else None


def gather(pkg: ModelPackage) -> DeclaredFacts:
    table = DeclaredFacts()
    _from_card(pkg, table)
    _from_safetensors(pkg, table)
    _from_labels(pkg, table)
    _from_config(pkg, table)
    _from_onnx(pkg, table)
    _from_citation(pkg, table)
    _from_pyproject(pkg, table)
    _from_code_versions(pkg, table)
    return table


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


def _from_safetensors(pkg: ModelPackage, table: DeclaredFacts) -> None:
    for rel, header in sorted(pkg.safetensors.items()):
        metadata = header.metadata or {}
        src = "safetensors metadata"
        for key, fact_key in _METADATA_KEYS.items():
            if isinstance(metadata.get(key), str):
                table.add(fact_key, metadata[key].strip(), src, rel)
        for key in ("class_names", "output_names", "labels"):
            if isinstance(metadata.get(key), str):
                table.add(CLASSES, split_names(metadata[key]), src, rel)
                break
        for key in ("channel_names", "band_names", "bands"):
            if isinstance(metadata.get(key), str):
                table.add(CHANNELS, split_names(metadata[key]), src, rel)
                break
        if isinstance(metadata.get("input_shape"), str) and (dims := parse_field_shape(metadata["input_shape"])):
            table.add(INPUT_SHAPE, dims, src, rel)
        _from_tensors(rel, header.tensors, table)


_HEAD = re.compile(r"(^|\.)(fc|classifier|head|last_linear|logits)(\.fc|\.\d+)?\.weight$")


def _from_tensors(rel: str, tensors: dict[str, TensorInfo], table: DeclaredFacts) -> None:
    """Infer the class count from a classifier head and the channel count from the first conv."""
    heads = [(name, t) for name, t in tensors.items() if _HEAD.search(name) and len(t.shape) == 2]
    if len(heads) == 1:
        name, tensor = heads[0]
        table.add(CLASS_COUNT, int(tensor.shape[0]), f"tensor {name}", rel, strength="inferred")
    convs = sorted(((t.begin, name, t) for name, t in tensors.items() if len(t.shape) == 4),
                   key=lambda item: item[0])
    if convs:
        _, name, tensor = convs[0]
        if re.search(r"(^|\.)(conv1|conv_stem|stem|patch_embed|features\.0|conv0)", name):
            table.add(CHANNEL_COUNT, int(tensor.shape[1]), f"tensor {name}", rel, strength="inferred")


def _names_from_json(value: Any) -> list[str] | None:
    """labels.json / config.json spellings: a list, {"0": "a", …}, {"classes"|"labels"|"id2label": …}."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value):
        return [v["name"] for v in value]
    if isinstance(value, dict):
        for key in ("class_names", "classes", "labels", "names", "id2label", "output_names"):
            if key in value:
                return _names_from_json(value[key])
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
    names = _names_from_json(value)
    if names:
        text = pkg.read_text(rel).text or ""
        table.add(CLASSES, names, "labels.json", rel, line_containing(text, f'"{names[0]}"'))


def _from_config(pkg: ModelPackage, table: DeclaredFacts) -> None:
    rel = pkg.find("config.json")
    if rel is None:
        return
    value, problem = pkg.read_json(rel)
    if problem is not None or not isinstance(value, dict):
        return
    text = pkg.read_text(rel).text or ""
    src = "config.json"
    names = _names_from_json(value)
    if names:
        table.add(CLASSES, names, src, rel, line_containing(text, f'"{names[0]}"'))
    for key in ("num_classes", "n_classes", "num_labels"):
        if isinstance(value.get(key), int) and not isinstance(value.get(key), bool):
            table.add(CLASS_COUNT, value[key], src, rel, line_containing(text, f'"{key}"'))
    for key in ("in_chans", "in_channels", "num_channels", "n_channels"):
        if isinstance(value.get(key), int) and not isinstance(value.get(key), bool):
            table.add(CHANNEL_COUNT, value[key], src, rel, line_containing(text, f'"{key}"'))
    for key in ("channel_names", "channels", "bands", "band_names"):
        if isinstance(value.get(key), list) and all(isinstance(v, str) for v in value[key]):
            table.add(CHANNELS, value[key], src, rel, line_containing(text, f'"{key}"'))
            break
    if isinstance(value.get("version"), str):
        table.add(VERSION, value["version"], src, rel, line_containing(text, '"version"'))
    shape = value.get("input_shape")
    if isinstance(shape, str):
        shape = parse_field_shape(shape)
    elif isinstance(shape, list) and all(isinstance(d, (int, str)) for d in shape):
        shape = ["N" if not str(d).isdigit() else str(d) for d in shape]
    if shape:
        table.add(INPUT_SHAPE, shape, src, rel, line_containing(text, '"input_shape"'))


def _from_onnx(pkg: ModelPackage, table: DeclaredFacts) -> None:
    for rel, summary in sorted(pkg.onnx.items()):
        inputs, outputs = summary.inputs, summary.outputs
        if len(inputs) == 1:
            dims = ["N" if not isinstance(d, int) or d < 0 else str(d) for d in inputs[0].shape]
            if dims:
                table.add(INPUT_SHAPE, dims, f"ONNX input {inputs[0].name!r}", rel)
        if len(outputs) == 1 and len(outputs[0].shape) == 2 and isinstance(outputs[0].shape[1], int):
            table.add(CLASS_COUNT, outputs[0].shape[1], f"ONNX output {outputs[0].name!r}", rel, strength="graph")
        props = summary.metadata_props
        for key in ("class_names", "labels"):
            if isinstance(props.get(key), str):
                table.add(CLASSES, split_names(props[key]), "ONNX metadata_props", rel)
                break
        for key in ("version", "model_version"):
            if isinstance(props.get(key), str):
                table.add(VERSION, props[key], "ONNX metadata_props", rel)
                break
        if isinstance(props.get("channel_names"), str):
            table.add(CHANNELS, split_names(props["channel_names"]), "ONNX metadata_props", rel)


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


VERSION_MODULES = frozenset({"__init__.py", "version.py", "_version.py", "__about__.py"})


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


def _assignment_line(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s{{0,8}}{re.escape(key)}\s{{0,8}}=")
    return next((n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)), None)
