"""What a package states about its model's outputs: the task (classification, segmentation, regression),
each output's shape, units, value range and nodata fill, the input's nodata value and the geospatial
alignment of outputs to inputs (stride, crop, scale).

Sources, strongest first: the model card (a `Task:` field or front matter, an outputs table with a
shape column, `Output shape` / `Output units` / `Value range` / `Input nodata` / `Output nodata` /
`Output stride` / `Crop` fields), config.json (MLM-style `mlm:tasks`, `tasks`, `task`, an `outputs`
list of `{name, tasks, shape | result.shape, units, value_range, nodata}`, `input.nodata`), the
safetensors metadata (`task`, `output_units`, `input_nodata`, `output_nodata`), and the ONNX graph's
output shapes (a task guessed from shapes is marked as such). Nothing is invented: what no source
states stays None.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from validator.readers.card import parse_field_shape

if TYPE_CHECKING:
    from validator.readers.markdown import ParsedMarkdown
    from validator.readers.package import ModelPackage

CLASSIFICATION, SEGMENTATION, REGRESSION = "classification", "segmentation", "regression"
# MLM task vocabulary (stac-extensions/mlm `mlm:tasks`) and the words cards use, to the three kinds checked here.
_TASK_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(semantic|instance|panoptic|image)?[ _-]?segmentation\b|\bpixel[ _-]?(wise[ _-]?)?classification\b"
                r"|\bsegmentation\b", re.IGNORECASE), SEGMENTATION),
    (re.compile(r"\bregression\b", re.IGNORECASE), REGRESSION),
    (re.compile(r"\b(scene[ _-]?|image[ _-]?)?classification\b", re.IGNORECASE), CLASSIFICATION),
)
# The same kinds in a card's opening prose, where authors write verbs ("segments clouds", "pixel-wise regression").
_PROSE_TASK_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(semantic |instance |panoptic )?segment(s|ation|ing|ed)\b|\bpixel[ -]?wise classification\b",
                re.IGNORECASE), SEGMENTATION),
    (re.compile(r"\bregression\b|\bregresses\b", re.IGNORECASE), REGRESSION),
)
PROSE_TASK_LINES = 10  # the opening lines of prose searched for the task when no field states it
_TASK_KEY = re.compile(r"^(model |ml |mlm[: ])?tasks?$|^pipeline[ _]tag$|^task type$", re.IGNORECASE)
_SHAPE_KEY = re.compile(r"^(output|prediction)s? shape$", re.IGNORECASE)
_UNITS_KEY = re.compile(r"^(output|prediction|target)s? units?$|^units? of the outputs?$", re.IGNORECASE)
_RANGE_KEY = re.compile(r"^(output |prediction )?(value )?range$|^valid range$", re.IGNORECASE)
_IN_NODATA_KEY = re.compile(r"^(input )?no[ -]?data( value)?$|^input no[ -]?data( value)?$", re.IGNORECASE)
_OUT_NODATA_KEY = re.compile(r"^output no[ -]?data( value)?$|^(output )?fill value$", re.IGNORECASE)
_STRIDE_KEY = re.compile(r"^(output )?stride$|^downsampling( factor)?$", re.IGNORECASE)
_CROP_KEY = re.compile(r"^(output )?(crop|border|margin)( \(pixels\))?$", re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"({_NUMBER})\s{{0,3}}(?:to|–|—|\.\.|-|,)\s{{0,3}}({_NUMBER})")
_NAN = re.compile(r"\bnan\b", re.IGNORECASE)
_NONE = re.compile(r"^(?:(?:none|n/?a|unbounded|not applicable)\b|[-—](?![\d.]))", re.IGNORECASE)  # not "-1 to 1"
MAX_VALUE_TEXT = 200  # a range or nodata value is short; the regexes backtrack quadratically over a long run of digits


@dataclass(frozen=True)
class Stated:
    """A value and where it was stated."""

    value: str
    file: str
    line: int | None = None


@dataclass
class OutputSpec:
    name: str | None
    shape: Stated | None = None  # dims as written, e.g. "N,2,128,128"
    units: Stated | None = None
    value_range: tuple[float, float] | None = None
    range_stated: Stated | None = None
    nodata: Stated | None = None  # "nan" or a number
    tasks: set[str] = field(default_factory=set)

    def dims(self) -> list[str] | None:
        return parse_field_shape(self.shape.value) if self.shape is not None else None


@dataclass
class OutputContract:
    tasks: set[str] = field(default_factory=set)
    task_stated: Stated | None = None  # None: no source states the task
    guessed: str | None = None  # the task the ONNX output shapes suggest
    outputs: list[OutputSpec] = field(default_factory=list)
    input_nodata: Stated | None = None
    output_nodata: Stated | None = None  # for every output that states none of its own
    stride: int | None = None
    crop: int | None = None
    alignment: Stated | None = None
    card: str | None = None

    @property
    def dense(self) -> bool:
        """A segmentation or regression model: the checks of this contract apply."""
        return bool(self.tasks & {SEGMENTATION, REGRESSION}) or self.guessed in (SEGMENTATION, REGRESSION)

    def spec(self, name: str | None, position: int) -> OutputSpec | None:
        """The declared output of this name, else the one at this position (a single declared output: that one)."""
        named = next((o for o in self.outputs if name is not None and o.name == name), None)
        if named is not None:
            return named
        if len(self.outputs) == 1 and position == 0:
            return self.outputs[0]
        if position >= len(self.outputs):
            return None
        unnamed = name is None or self.outputs[position].name is None  # a native model's tuple: by position
        return self.outputs[position] if unnamed else None

    def nodata_of(self, spec: OutputSpec | None) -> Stated | None:
        return (spec.nodata if spec is not None and spec.nodata is not None else None) or self.output_nodata


def task_words(text: str) -> set[str]:
    return {kind for rx, kind in _TASK_WORDS if rx.search(text.replace("-", " ").replace("_", " ")) or rx.search(text)}


def parse_range(text: str) -> tuple[float, float] | None:
    text = text[:MAX_VALUE_TEXT]
    m = _RANGE.search(text)
    if not m or _NONE.match(text.strip()):
        return None
    low, high = float(m.group(1)), float(m.group(2))
    return (low, high) if low <= high else None


def parse_nodata(text: str) -> str | None:
    """'nan', or a number as written; None when the text states neither."""
    text = text[:MAX_VALUE_TEXT]
    if _NAN.search(text):
        return "nan"
    m = re.search(_NUMBER, text)
    return m.group(0) if m else None


def nodata_value(stated: Stated | None) -> float | None:
    if stated is None:
        return None
    value = parse_nodata(stated.value)
    return None if value is None else (math.nan if value == "nan" else float(value))


def read_contract(pkg: ModelPackage) -> OutputContract:
    contract = OutputContract()
    card = pkg.card
    if card is not None:
        contract.card = card.path
        _from_card(card, contract)
    _from_config(pkg, contract)
    _from_metadata(pkg, contract)
    _guess_from_onnx(pkg, contract)
    return contract


def _from_card(card: ParsedMarkdown, contract: OutputContract) -> None:
    rel = card.path
    for key in ("pipeline_tag", "tasks", "task"):
        value = card.front_matter.get(key)
        if isinstance(value, (str, list)) and not contract.tasks:
            text = value if isinstance(value, str) else " ".join(str(v) for v in value)
            if words := task_words(text):
                contract.tasks, contract.task_stated = words, Stated(text, rel, 1)
    outputs: dict[str | None, OutputSpec] = {}
    for f in card.fields:
        key, value = f.key.strip(), f.value.strip()
        if _TASK_KEY.match(key) and not contract.tasks and (words := task_words(value)):
            contract.tasks, contract.task_stated = words, Stated(value, rel, f.line)
        elif _SHAPE_KEY.match(key):
            outputs.setdefault(None, OutputSpec(None)).shape = Stated(value, rel, f.line)
        elif _UNITS_KEY.match(key):
            outputs.setdefault(None, OutputSpec(None)).units = Stated(value, rel, f.line)
        elif _RANGE_KEY.match(key):
            spec = outputs.setdefault(None, OutputSpec(None))
            spec.range_stated, spec.value_range = Stated(value, rel, f.line), parse_range(value)
        elif _OUT_NODATA_KEY.match(key):
            contract.output_nodata = contract.output_nodata or Stated(value, rel, f.line)
        elif _IN_NODATA_KEY.match(key):
            contract.input_nodata = contract.input_nodata or Stated(value, rel, f.line)
        elif _STRIDE_KEY.match(key) and (m := re.search(r"\d+", value)):
            contract.stride, contract.alignment = int(m.group(0)), Stated(value, rel, f.line)
        elif _CROP_KEY.match(key) and (m := re.search(r"\d+", value)):
            contract.crop, contract.alignment = int(m.group(0)), Stated(value, rel, f.line)
    table_outputs = _output_table(card)
    contract.outputs = table_outputs or [spec for spec in outputs.values() if spec.shape or spec.units or spec.range_stated]
    if not contract.tasks:  # no Task field: the title or the card's opening prose ("Segments clouds in ...")
        opening = ([(card.title[1], card.title[0])] if card.title else []) + card.prose_lines[:PROSE_TASK_LINES]
        for number, line in opening:
            if words := {kind for rx, kind in _PROSE_TASK_WORDS if rx.search(line[:2000])}:
                contract.tasks, contract.task_stated = words, Stated(line.strip()[:200], rel, number)
                break
    for number, line in card.prose_lines:
        if contract.alignment is None and re.search(r"\b(geospatial |spatial |pixel )?alignment\b|aligned pixel for pixel", line,
                                                    re.IGNORECASE):
            contract.alignment = Stated(line.strip(), rel, number)


def _output_table(card: ParsedMarkdown) -> list[OutputSpec]:
    """Rows of a table with an output-name column and a shape column (one row per output)."""
    for section in card.sections:
        for table in section.tables:
            header = [h.strip().lower() for h in table.header]
            shape_col = next((i for i, h in enumerate(header) if "shape" in h), None)
            name_col = next((i for i, h in enumerate(header) if h in ("output", "outputs", "name", "output name")), None)
            if shape_col is None or name_col is None:
                continue
            columns = {kind: next((i for i, h in enumerate(header) if rx.search(h)), None) for kind, rx in (
                ("units", re.compile(r"^units?$|unit")), ("range", re.compile(r"range")), ("nodata", re.compile(r"no[ -]?data|fill")),
                ("task", re.compile(r"^task")))}
            specs = []
            for cells, line in table.rows:
                def cell(index: int | None, row: tuple[str, ...] = cells) -> str:
                    return row[index].strip().strip("`") if index is not None and index < len(row) else ""
                spec = OutputSpec(cell(name_col) or None, Stated(cell(shape_col), card.path, line))
                if cell(columns["units"]):
                    spec.units = Stated(cell(columns["units"]), card.path, line)
                if cell(columns["range"]):
                    spec.range_stated, spec.value_range = Stated(cell(columns["range"]), card.path, line), parse_range(cell(columns["range"]))
                if cell(columns["nodata"]) and parse_nodata(cell(columns["nodata"])) is not None:
                    spec.nodata = Stated(cell(columns["nodata"]), card.path, line)
                spec.tasks = task_words(cell(columns["task"]) + " " + " ".join(cells))
                specs.append(spec)
            if specs:
                return specs
    return []


def _from_config(pkg: ModelPackage, contract: OutputContract) -> None:
    rel = pkg.find("config.json")
    if rel is None:
        return
    value, problem = pkg.read_json(rel)
    if problem or not isinstance(value, dict):
        return
    for key in ("mlm:tasks", "tasks", "task"):
        stated = value.get(key)
        text = stated if isinstance(stated, str) else " ".join(str(v) for v in stated) if isinstance(stated, list) else ""
        if not contract.tasks and (words := task_words(text)):
            contract.tasks, contract.task_stated = words, Stated(text, rel)
    declared = value.get("outputs") or value.get("mlm:output")
    if isinstance(declared, dict):
        declared = [declared]
    if isinstance(declared, list) and not contract.outputs:
        contract.outputs = [spec for item in declared if isinstance(item, dict) and (spec := _config_output(item, rel))]
    source = value.get("input") or value.get("mlm:input")
    if isinstance(source, list) and source:
        source = source[0]
    if isinstance(source, dict) and contract.input_nodata is None and "nodata" in source:
        contract.input_nodata = Stated(str(source["nodata"]), rel)


def _config_output(item: dict[str, Any], rel: str) -> OutputSpec | None:
    result = item.get("result") if isinstance(item.get("result"), dict) else {}
    shape = item.get("shape") or (result or {}).get("shape")
    spec = OutputSpec(str(item["name"]) if isinstance(item.get("name"), str) else None)
    if isinstance(shape, list) and all(isinstance(d, (int, str)) for d in shape):
        spec.shape = Stated(",".join("N" if d == -1 and i == 0 else str(d) for i, d in enumerate(shape)), rel)
    if isinstance(item.get("units"), str):
        spec.units = Stated(item["units"], rel)
    bounds = item.get("value_range")
    if (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
            and all(abs(b) < 1e308 for b in bounds)):  # float() of a 400-digit int overflows
        spec.value_range, spec.range_stated = (float(bounds[0]), float(bounds[1])), Stated(str(bounds), rel)
    if "nodata" in item and parse_nodata(str(item["nodata"])) is not None:
        spec.nodata = Stated(str(item["nodata"]), rel)
    tasks = item.get("tasks")
    spec.tasks = task_words(" ".join(str(t) for t in tasks)) if isinstance(tasks, list) else set()
    return spec


def _from_metadata(pkg: ModelPackage, contract: OutputContract) -> None:
    for rel, header in sorted(pkg.safetensors.items()):
        metadata = getattr(header, "metadata", None)
        if not isinstance(metadata, dict):
            continue
        if not contract.tasks and isinstance(metadata.get("task"), str) and (words := task_words(metadata["task"])):
            contract.tasks, contract.task_stated = words, Stated(metadata["task"], rel)
        if contract.input_nodata is None and isinstance(metadata.get("input_nodata"), str):
            contract.input_nodata = Stated(metadata["input_nodata"], rel)
        if contract.output_nodata is None and isinstance(metadata.get("output_nodata"), str):
            contract.output_nodata = Stated(metadata["output_nodata"], rel)
        units = metadata.get("output_units")
        if isinstance(units, str) and contract.outputs:
            for spec, unit in zip(contract.outputs, units.split(","), strict=False):
                spec.units = spec.units or (Stated(unit.strip(), rel) if unit.strip() else None)


def _guess_from_onnx(pkg: ModelPackage, contract: OutputContract) -> None:
    """Outputs of rank 3 or more whose last two dims follow the input's: a dense (per-pixel) model."""
    main = pkg.find("model.onnx") or next(iter(sorted(pkg.onnx)), None)
    summary = pkg.onnx.get(main) if main else None
    if summary is None or not summary.inputs or not summary.outputs:
        return
    spatial_in = summary.inputs[0].shape[-2:] if len(summary.inputs[0].shape) >= 3 else None
    for output in summary.outputs:
        if spatial_in and len(output.shape) >= 3 and all(
                isinstance(d, str) or (isinstance(d, int) and d > 1) for d in output.shape[-2:]):
            contract.guessed = SEGMENTATION if len(output.shape) == 4 and output.shape[1] not in (1,) else REGRESSION
            return
    if all(len(o.shape) == 2 for o in summary.outputs):
        contract.guessed = CLASSIFICATION
