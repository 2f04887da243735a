"""The MLM outputs of a segmentation or regression model (or any model with several outputs): one
`mlm:output` object per ONNX graph output, built from the package's output contract
(validator/readers/output_contract.py) and the ONNX graph. Nothing is invented: an output whose task,
shape or data type no source states is left out and listed in the provenance.

Where the values go (MLM v1.5.2 and STAC 1.1):
- name, result.shape, result.data_type: the ONNX graph; tasks: the package's task words (per output,
  else the package's task where it fits the output); classification:classes: the declared class names,
  for the output whose class axis holds one score per class; description: the Meaning column of the
  card's outputs table (or config.json's outputs[].description);
- units and nodata: MLM's output object has no field for them; an output with a single value channel
  references a STAC 1.1 band object named after it (`bands` of the output, a "bands" axis in dim_order,
  the band in the item's `bands` with `unit` and `nodata`). A class-score output has no such place:
  its units and nodata are listed as left out;
- a declared value range has no MLM or STAC field (value_scaling is an input field, band statistics
  describe observed data): listed as left out;
- post_processing_function: only as config.json states it for that output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict

from validator.publish.provenance import Provenance, Source, from_fact, pointer
from validator.readers.markdown import plain
from validator.readers.onnx import OnnxSummary, TensorSpec
from validator.readers.output_contract import (
    CLASSIFICATION,
    REGRESSION,
    SEGMENTATION,
    OutputContract,
    OutputSpec,
    Stated,
    parse_nodata,
    read_contract,
)
from validator.readers.package import ModelPackage

# MLM v1.5.2 task enum words per kind of the output contract, most specific first.
_MLM_WORDS = {
    SEGMENTATION: ("semantic-segmentation", "instance-segmentation", "panoptic-segmentation", "segmentation"),
    CLASSIFICATION: ("scene-classification", "classification"),
    REGRESSION: ("regression",),
}
_DEFAULT_WORD = {SEGMENTATION: "semantic-segmentation", CLASSIFICATION: "classification"}  # as the classifier path writes


class Result(TypedDict):
    shape: list[int]
    dim_order: list[str]
    data_type: str


class ClassObject(TypedDict):  # the classification extension's class object
    value: int
    name: str
    description: str


DenseOutput = TypedDict("DenseOutput", {
    "name": Required[str],
    "tasks": Required[list[str]],
    "result": Required[Result],
    "description": str,
    "bands": list[str],
    "classification:classes": list[ClassObject],
    "post_processing_function": dict[str, Any],
}, total=False)


@dataclass
class Outputs:
    outputs: list[DenseOutput] = field(default_factory=list)
    bands: list[dict[str, Any]] = field(default_factory=list)  # STAC 1.1 band objects of the outputs, for the item's `bands`
    band_sources: list[dict[str, Source]] = field(default_factory=list)  # per band: key -> source

    @property
    def tasks(self) -> list[str]:
        return sorted({task for output in self.outputs for task in output["tasks"]})


@dataclass
class _Context:
    """What every output is described from."""

    contract: OutputContract
    onnx_rel: str
    names: list[str]  # declared class names
    classes: Any  # their fact
    channels_last: bool
    taken: set[str]  # band names in use
    prov: Provenance
    found: Outputs
    rows: dict[tuple[str, int], dict[str, str]]  # (card, line) -> the outputs-table row, by lower-cased header
    config: dict[str, tuple[dict[str, Any], str, int]]  # output name -> config.json's object, file, position


def wanted(pkg: ModelPackage, onnx: OnnxSummary | None) -> bool:
    """This description applies: a segmentation or regression model, or a graph with several outputs."""
    return (onnx is not None and len(onnx.outputs) > 1) or read_contract(pkg).dense


def describe_outputs(pkg: ModelPackage, onnx_rel: str | None, onnx: OnnxSummary | None, classes: Any,
                     input_dims: list[str] | None, taken_bands: set[str], prov: Provenance) -> Outputs:
    """One MLM output per graph output; `classes` is the CLASSES fact (or None), `input_dims` the input's
    dim_order (channel axis first or last), `taken_bands` the band names the item already uses."""
    found = Outputs()
    if onnx is None or onnx_rel is None or not onnx.outputs:
        prov.omit(pointer("properties", "mlm:output"), "no readable ONNX graph gives the outputs' names, shapes and data types: "
                                                      "ship model.onnx")
        return found
    contract = read_contract(pkg)
    ctx = _Context(contract, onnx_rel, [str(n) for n in classes.value] if classes else [], classes,
                   input_dims is not None and len(input_dims) == 4 and input_dims[-1] in ("bands", "channel"),
                   taken_bands, prov, found, _card_rows(pkg), _config_outputs(pkg))
    for position, spec in enumerate(onnx.outputs):
        built = _describe(ctx, contract.spec(spec.name, position), spec, len(found.outputs))
        if built is not None:
            found.outputs.append(built)
            taken_bands.add(built["name"])
    return found


def _describe(ctx: _Context, declared: OutputSpec | None, spec: TensorSpec, index: int) -> DenseOutput | None:
    base = ("properties", "mlm:output", index)
    prov = ctx.prov
    if spec.shape is None:
        prov.omit(pointer(*base), f"the ONNX graph gives no shape for output {spec.name!r}")
        return None
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in spec.shape]
    data_type = spec.elem_type if spec.elem_type in _DATA_TYPES else "other"
    channel_axis = {2: 1, 4: 3 if ctx.channels_last else 1}.get(len(shape))  # rank 3: (batch, height, width), no channel axis
    kind, word, task_source = _task(ctx, declared, spec.name, shape, channel_axis)
    if kind is None or word is None or task_source is None:
        prov.omit(pointer(*base), f"no source states the task of output {spec.name!r}: state it in the card's outputs table "
                                  "(a Task column) or in config.json (outputs[].tasks, MLM task words)")
        return None
    dims = _dim_order(shape, kind, channel_axis)
    if dims is None:
        prov.omit(pointer(*base), f"the axes of output {spec.name!r} {shape} cannot be named: a {kind} output of rank "
                                  f"{len(shape)} is not described")
        return None
    prov.add(pointer(*base, "name"), Source("ONNX graph", ctx.onnx_rel, None, f"graph output {spec.name!r}"))
    prov.add(pointer(*base, "tasks"), task_source)
    prov.add(pointer(*base, "result", "shape"), Source("ONNX graph", ctx.onnx_rel, None, f"graph output {spec.name!r}; "
                                                                                         "a dynamic dimension written as -1"))
    prov.add(pointer(*base, "result", "data_type"), Source("ONNX graph", ctx.onnx_rel, None, f"element type {spec.elem_type}"))
    output: DenseOutput = {"name": spec.name, "tasks": [word], "result": {"shape": shape, "dim_order": dims, "data_type": data_type}}
    description = _description(ctx, declared, spec.name)
    if description is not None:
        output["description"] = description[0]
        prov.add(pointer(*base, "description"), description[1])
    if kind == REGRESSION:
        _band(ctx, output, declared, channel_axis, base)
    else:
        _not_placed(ctx, declared, base, "a class-score output: MLM v1.5.2 has no field for its units or nodata "
                                         "(band objects describe a bands axis; this axis holds classes)")
    axis = "class" if kind != REGRESSION else "value"
    layout = {2: f"batch, then the {axis} axis", 3: "batch, height, width (no channel axis)",
              4: f"batch first; the {axis} axis {'last' if channel_axis == 3 else 'after the batch'}, as the input's channels"}
    prov.add(pointer(*base, "result", "dim_order"), Source("model-check publish", detail=layout[len(shape)]))
    if kind != REGRESSION and ctx.names and channel_axis is not None and shape[channel_axis] == len(ctx.names):
        output["classification:classes"] = [{"value": i, "name": n, "description": n} for i, n in enumerate(ctx.names)]
        prov.add(pointer(*base, "classification:classes"), from_fact(
            ctx.classes, "value = position in the list; description repeats the name (the card gives none, the classification "
                         "extension needs one)"))
    if declared is not None and declared.range_stated is not None and declared.value_range is not None:
        prov.omit(pointer(*base, "value_range"), f"the stated range {declared.range_stated.value!r} ({_where(declared.range_stated)}) "
                                                 "has no field in MLM v1.5.2 (value_scaling is an input field) nor in STAC 1.1 "
                                                 "bands (statistics describe observed data): it is not written")
    post = _post_processing(ctx, spec.name)
    if post is not None:
        output["post_processing_function"] = post[0]
        prov.add(pointer(*base, "post_processing_function"), post[1])
    return output


def _task(ctx: _Context, declared: OutputSpec | None, name: str, shape: list[int],
          channel_axis: int | None) -> tuple[str | None, str | None, Source | None]:
    """(kind, MLM task word, source) of one output: its own task words, else the package's task where it fits."""
    contract = ctx.contract
    if declared is not None and declared.tasks:
        kind = next((k for k in (SEGMENTATION, CLASSIFICATION, REGRESSION) if k in declared.tasks), None)
        said = _said_tasks(ctx, declared, name)
        if kind is not None and said is not None:
            return kind, _word(kind, said[0]), said[1]
    class_axis = channel_axis is not None and bool(ctx.names) and shape[channel_axis] == len(ctx.names)
    dense_class = SEGMENTATION if len(shape) == 4 else CLASSIFICATION if len(shape) == 2 else None
    if class_axis and dense_class is not None and (dense_class in contract.tasks or not contract.tasks):
        stated = contract.task_stated
        if stated is not None and dense_class in contract.tasks:
            return dense_class, _word(dense_class, stated.value), _source(
                stated, "the package's task, for the output with one score per declared class")
        return dense_class, _DEFAULT_WORD[dense_class], from_fact(
            ctx.classes, f"{_DEFAULT_WORD[dense_class]}: one score per declared class on the output's axis {channel_axis}")
    if REGRESSION in contract.tasks and contract.task_stated is not None:
        return REGRESSION, "regression", _source(contract.task_stated, "the package's task, for an output that holds no class scores")
    return None, None, None


def _said_tasks(ctx: _Context, declared: OutputSpec, name: str) -> tuple[str, Source] | None:
    """The text an output's own task words were read from: its card table row, or config.json's `tasks`."""
    row = _row(ctx, declared)
    if row is not None and declared.shape is not None:
        text = row.get("task") or " ".join(row.values())
        return text, _source(declared.shape, f"task words of output {name!r} in the outputs table")
    if name in ctx.config:
        item, rel, number = ctx.config[name]
        tasks = item.get("tasks")
        if isinstance(tasks, list):
            return " ".join(str(t) for t in tasks), Source("model config", rel, None, f"outputs[{number}].tasks")
    return None


def _description(ctx: _Context, declared: OutputSpec | None, name: str) -> tuple[str, Source] | None:
    """The output's meaning as the card's outputs table (a Meaning or Description column) or config.json states it."""
    row = _row(ctx, declared) if declared is not None else None
    text = next((row[k] for k in ("meaning", "description") if row and row.get(k)), None)
    if text is not None and declared is not None and declared.shape is not None:
        return text, _source(declared.shape, "the Meaning column of the outputs table")
    if name in ctx.config:
        item, rel, number = ctx.config[name]
        if isinstance(item.get("description"), str) and item["description"].strip():
            return item["description"].strip(), Source("model config", rel, None, f"outputs[{number}].description")
    return None


def _row(ctx: _Context, declared: OutputSpec | None) -> dict[str, str] | None:
    stated = declared.shape if declared is not None else None
    return ctx.rows.get((stated.file, stated.line)) if stated is not None and stated.line is not None else None


def _card_rows(pkg: ModelPackage) -> dict[tuple[str, int], dict[str, str]]:
    """Every card table row with an output column and a shape column (the output contract's outputs table)."""
    card = pkg.card
    rows: dict[tuple[str, int], dict[str, str]] = {}
    if card is None:
        return rows
    for section in card.sections:
        for table in section.tables:
            header = [h.strip().lower() for h in table.header]
            if not any("shape" in h for h in header):
                continue
            for cells, line in table.rows:
                rows[(card.path, line)] = {h: plain(c).strip().strip("`") for h, c in zip(header, cells, strict=False)}
    return rows


def _config_outputs(pkg: ModelPackage) -> dict[str, tuple[dict[str, Any], str, int]]:
    rel = pkg.find("config.json")
    value, problem = pkg.read_json(rel) if rel is not None else (None, "absent")
    declared = value.get("outputs") or value.get("mlm:output") if isinstance(value, dict) and not problem else None
    if isinstance(declared, dict):
        declared = [declared]
    return {item["name"]: (item, rel, number) for number, item in enumerate(declared if isinstance(declared, list) else [])
            if rel is not None and isinstance(item, dict) and isinstance(item.get("name"), str)}


def _word(kind: str, text: str) -> str:
    normal = re.sub(r"[\s_]+", "-", text.lower())
    return next((w for w in _MLM_WORDS[kind] if re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", normal)), _MLM_WORDS[kind][-1])


def _dim_order(shape: list[int], kind: str, channel_axis: int | None) -> list[str] | None:
    axis = "class" if kind != REGRESSION else "channel"
    if len(shape) == 2:
        return ["batch", axis]
    if len(shape) == 3 and kind == REGRESSION:
        return ["batch", "height", "width"]
    if len(shape) == 4:
        return ["batch", "height", "width", axis] if channel_axis == 3 else ["batch", axis, "height", "width"]
    return None


def _band(ctx: _Context, output: DenseOutput, declared: OutputSpec | None, channel_axis: int | None, base: tuple[str | int, ...]) -> None:
    """Units and nodata of a single-channel value output, as a STAC 1.1 band object the output references."""
    units = declared.units if declared is not None else None
    stated_nodata = ctx.contract.nodata_of(declared)
    nodata = _nodata(stated_nodata) if stated_nodata is not None else None
    if units is None and nodata is None:
        return
    name = output["name"]
    single = channel_axis is not None and output["result"]["shape"][channel_axis] == 1
    if not single or name in ctx.taken:
        why = (f"a band named {name!r} is already described" if single else
               "the output has no single value channel to name as a band")
        _not_placed(ctx, declared, base, f"{why}: MLM v1.5.2 has no other field for units or nodata")
        return
    band: dict[str, Any] = {"name": name}
    sources = {"name": Source("ONNX graph", ctx.onnx_rel, None, f"the band of output {name!r}, named after it")}
    if units is not None:
        band["unit"] = units.value
        sources["unit"] = _source(units)
    if nodata is not None and stated_nodata is not None:
        band["nodata"] = nodata
        sources["nodata"] = _source(stated_nodata, "STAC 1.1 nodata: a number or \"nan\"")
    dims = output["result"]["dim_order"]
    dims[dims.index("channel")] = "bands"  # MLM: an output listing bands has a "bands" axis
    output["bands"] = [name]
    ctx.prov.add(pointer(*base, "bands"), Source("model-check publish", detail="the output's one value channel, described by "
                                                                              "the band of the same name in the item's bands"))
    ctx.found.bands.append(band)
    ctx.found.band_sources.append(sources)


def _not_placed(ctx: _Context, declared: OutputSpec | None, base: tuple[str | int, ...], why: str) -> None:
    for key, stated in (("units", declared.units if declared is not None else None), ("nodata", ctx.contract.nodata_of(declared))):
        if stated is not None:
            ctx.prov.omit(pointer(*base, key), f"{stated.value!r} ({_where(stated)}) is not written: {why}")


def _nodata(stated: Stated) -> float | int | str | None:
    value = parse_nodata(stated.value)
    if value is None:
        return None
    if value == "nan":
        return "nan"
    number = float(value)
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return int(number) if number.is_integer() and re.fullmatch(r"[-+]?\d+", value) else number


def _post_processing(ctx: _Context, name: str) -> tuple[dict[str, Any], Source] | None:
    """The Processing Expression config.json states as this output's post_processing_function."""
    if name not in ctx.config:
        return None
    item, rel, number = ctx.config[name]
    expression = item.get("post_processing_function")
    if isinstance(expression, dict) and isinstance(expression.get("format"), str) and "expression" in expression:
        return dict(expression), Source("model config", rel, None, f"outputs[{number}].post_processing_function")
    return None


def _source(stated: Stated, detail: str = "") -> Source:
    if stated.file.endswith(".safetensors"):
        kind = "safetensors metadata"
    elif stated.file.endswith(".json"):
        kind = "model config"
    else:
        kind = "model card"
    return Source(kind, stated.file, stated.line, detail)


def _where(stated: Stated) -> str:
    return f"{stated.file}:{stated.line}" if stated.line else stated.file


# MLM's data types, as validator/publish/item.py lists them (item imports this module, so not from there)
_DATA_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
               "cint16", "cint32", "cfloat32", "cfloat64"}
