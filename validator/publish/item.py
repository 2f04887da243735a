"""The STAC Item (MLM extension v1.5.2) describing a model package, built only from what the
package declares: the card, the safetensors header, the ONNX graph, the runtime pins and the
artefact manifest. A value no source states is left out and listed in the provenance, never guessed.

pystac assembles the Item (and the file and version extensions). The MLM fields are plain typed
dicts holding only what a source states, checked against the bundled MLM v1.5.2 JSON schema
(validator/schemas/stac) before the item is returned.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, Required, TypedDict, TypeVar
from urllib.parse import quote

import pystac
from pystac.extensions.file import FileExtension
from pystac.extensions.version import VersionExtension

from validator.core.findings import Artefact
from validator.publish import outputs
from validator.publish.outputs import ClassObject, Outputs, Result
from validator.publish.provenance import Provenance, Source, from_fact, pointer
from validator.readers import stac_assets as kinds
from validator.readers.card import ITEMS_BY_KEY, split_names
from validator.readers.declared import (
    ARCHITECTURE,
    CHANNEL_COUNT,
    CHANNELS,
    CLASSES,
    INPUT_SHAPE,
    LICENSE,
    MODEL_ID,
    NAME,
    REPOSITORY,
    VERSION,
    DeclaredFacts,
)
from validator.readers.license import parse_spdx
from validator.readers.markdown import ParsedMarkdown, plain
from validator.readers.onnx import OnnxSummary
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_runtime
from validator.readers.safetensors import SafetensorsHeader
from validator.readers.stac_assets import MLM_SCHEMA
from validator.readers.stac_schemas import SchemaError, load_schemas

T = TypeVar("T")

# The data types MLM takes (the raster extension's list); other ONNX element types become "other".
DATA_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
              "cint16", "cint32", "cfloat32", "cfloat64"}
_MLM_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.\-\s]+[a-zA-Z0-9]$")  # the MLM schema's pattern for mlm:name
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_ENTRYPOINTS = ("main", "predict", "infer", "run_inference", "inference")
_STD_HEADERS = {"std", "stddev", "std dev", "standard deviation", "sd", "sigma"}


# The MLM objects written, as the MLM v1.5.2 schema names them. Only keys a source states are set:
# a default no source claims (mlm:pretrained = true, mlm:accelerator = null, empty `bands`…) is never
# written. Key order is the order written to the item.
class InputStructure(TypedDict):
    shape: list[int]
    dim_order: list[str]
    data_type: str


class ValueScalingZScore(TypedDict):
    type: Literal["z-score"]
    mean: float
    stddev: float


class ModelInput(TypedDict, total=False):
    bands: list[str]
    name: Required[str]
    input: Required[InputStructure]
    value_scaling: list[ValueScalingZScore]


ModelOutput = TypedDict("ModelOutput", {
    "name": Required[str],
    "tasks": Required[list[str]],
    "result": Required[Result],
    "classification:classes": list[ClassObject],
    "description": str,
}, total=False)


@dataclass(frozen=True)
class PublishSettings:
    base_url: str
    project: str | None = None
    status: str | None = None  # osc:status; None: the default below
    themes: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    missions: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    product: bool = False  # an OSC product collection is written beside the item (--product)
    product_id: str | None = None  # its id (default: the item id)

    @property
    def osc_status(self) -> tuple[str, Source]:
        if self.status:
            return self.status, Source("--status")
        return "completed", Source("model-check publish", detail="default of --status: a published model is a completed product")

    def href(self, rel: str) -> str:
        return self.base_url.rstrip("/") + "/" + quote(rel, safe="/")


@dataclass
class BuiltItem:
    item: dict[str, Any]
    provenance: Provenance = field(default_factory=Provenance)

    @property
    def id(self) -> str:
        return str(self.item["id"])

    @property
    def file_name(self) -> str:
        return item_file_name(self.id)

    @property
    def collection_id(self) -> str | None:
        value = self.item.get("collection")
        return str(value) if value else None


def multihash_sha256(hex_digest: str) -> str:
    """file:checksum of a sha2-256 digest: multihash code 0x12, length 0x20, then the digest."""
    return "1220" + hex_digest


def item_file_name(item_id: str) -> str:
    return f"{item_id}.json"


def build_item(pkg: ModelPackage, facts: DeclaredFacts, report_text: str, settings: PublishSettings) -> BuiltItem:
    return _ItemBuilder(pkg, facts, report_text, settings).build()


class _ItemBuilder:
    def __init__(self, pkg: ModelPackage, facts: DeclaredFacts, report_text: str, settings: PublishSettings) -> None:
        self.pkg = pkg
        self.facts = facts
        self.report_text = report_text
        self.settings = settings
        self.prov = Provenance()
        self.manifest: dict[str, Artefact] = {a.path: a for a in pkg.manifest}
        self.card: ParsedMarkdown | None = pkg.card
        self.readme = pkg.find("README.md")
        self.runtime = read_runtime(pkg)

    # -- the whole item ----------------------------------------------------------------------
    def build(self) -> BuiltItem:
        item_id = self._item_id()
        geometry, bbox = self._footprint()
        item = pystac.Item(id=item_id, geometry=geometry, bbox=bbox, datetime=self._datetime(), properties={})
        self._descriptive(item)
        self._mlm(item)
        self._osc(item)
        for key, asset in self._assets():
            item.add_asset(key, asset)
        FileExtension.add_to(item)
        product_id = (self.settings.product_id or item_id) if self.settings.product else None
        for link in self._links(item_id, product_id is not None):
            item.add_link(link)
        if product_id is not None:
            item.collection_id = product_id
            self.prov.add(pointer("collection"), Source("--product-id" if self.settings.product_id else "id",
                                                        detail="the OSC product collection written beside the item"))
        data = item.to_dict(include_self_link=True, transform_hrefs=False)
        return BuiltItem(data, self.prov)

    def _item_id(self) -> str:
        declared = self._model_id()
        if declared is not None:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", declared[0]):  # it names the item's files
                where = f"{declared[1].source}{f', {declared[1].file}' if declared[1].file else ''}"
                raise PublishError(f"the model id {declared[0][:200]!r} ({where}) cannot name a file: use letters, digits, "
                                   "'.', '_' and '-' only")
            self.prov.add(pointer("id"), declared[1])
            return declared[0]
        name = self._fact(NAME)
        if name is not None:
            slug = re.sub(r"[^a-z0-9]+", "-", str(name.value).lower()).strip("-")
            if slug:
                self.prov.add(pointer("id"), from_fact(name, "the model name, lower-cased with dashes: no model_id is declared"))
                return slug
        raise PublishError("the package declares no model id: add model_id to the safetensors metadata or a `Model ID:` line to the README")

    def _model_id(self) -> tuple[str, Source] | None:
        """The model_id of the metadata, else the card's `Model ID:` line."""
        fact = self._fact(MODEL_ID)
        if fact is not None:
            return str(fact.value), from_fact(fact, "model_id")
        found = self._card_field(r"^model[ _-]?id$")
        return (found[0].strip(" `"), Source("model card", self.readme, found[1])) if found else None

    def _footprint(self) -> tuple[dict[str, Any] | None, list[float] | None]:
        bbox = self.settings.bbox
        if bbox is None:
            self.prov.omit(pointer("geometry"), "a model has no footprint of its own: geometry is null; pass --bbox W S E N "
                                                "to state the region the model is meant for")
            return None, None
        west, south, east, north = bbox
        self.prov.add(pointer("bbox"), Source("--bbox"))
        self.prov.add(pointer("geometry"), Source("--bbox", detail="the bounding box as a polygon"))
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {"type": "Polygon", "coordinates": [ring]}, list(bbox)

    def _datetime(self) -> dt.datetime:
        released = self._release_date()
        if released is not None:
            return released
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.prov.add(pointer("properties", "datetime"), Source("model-check publish", detail="time of publication: "
                                                                 "CITATION.cff gives no date-released"))
        return now

    def _release_date(self) -> dt.datetime | None:
        citation = self.pkg.citation
        value = citation.date_released if citation is not None else None
        if citation is None or value is None:
            return None
        line = citation.key_line("date-released")
        self.prov.add(pointer("properties", "datetime"), Source("CITATION.cff", citation.rel, line, "date-released"))
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)

    # -- title, description, license, version -----------------------------------------------
    def _descriptive(self, item: pystac.Item) -> None:
        props = item.properties
        name = self._fact(NAME)
        if name is not None:
            props["title"] = str(name.value)
            self.prov.add(pointer("properties", "title"), from_fact(name))
        else:
            self.prov.omit(pointer("properties", "title"), "the card names no model: add a `Model name:` line")
        description = self._description()
        if description is not None:
            props["description"] = description[0]
            self.prov.add(pointer("properties", "description"), Source("model card", self.readme, description[1],
                                                                     "first paragraph of the section on what the model predicts"))
        else:
            self.prov.omit(pointer("properties", "description"), "the card has no section on what the model predicts")
        license_fact = self._fact(LICENSE)
        parsed = parse_spdx(str(license_fact.value)) if license_fact else None
        if license_fact is not None and parsed is not None and parsed.spdx:
            props["license"] = parsed.spdx
            self.prov.add(pointer("properties", "license"), from_fact(license_fact))
        else:
            reason = (f"{license_fact.value!r} is not an SPDX expression" if license_fact else "no license is declared")
            self.prov.omit(pointer("properties", "license"), f"{reason}: state the SPDX id (e.g. Apache-2.0) in the card")
        version = self._fact(VERSION)
        if version is not None:
            VersionExtension.ext(item, add_if_missing=True).version = str(version.value)
            self.prov.add(pointer("properties", "version"), from_fact(version))
        else:
            self.prov.omit(pointer("properties", "version"), "no version is declared: add a `Version:` line to the card")

    def _description(self) -> tuple[str, int] | None:
        if self.card is None:
            return None
        wanted = re.compile(ITEMS_BY_KEY["predicts"].headings, re.IGNORECASE)
        for section in self.card.sections:
            title = re.sub(r"^[\W\d_]+", "", section.title.lower()).strip()
            if section.level and wanted.search(title) and section.paragraphs:
                text, line = section.paragraphs[0]
                return " ".join(plain(text).split()), line
        return None

    # -- MLM fields --------------------------------------------------------------------------
    def _mlm(self, item: pystac.Item) -> None:
        props: dict[str, Any] = {}
        classes = self._fact(CLASSES)
        mlm_name = self._mlm_name()
        if mlm_name is not None:
            props["name"] = mlm_name
        architecture = self._architecture()
        if architecture is not None:
            props["architecture"] = architecture
        model_input = self._input()
        dense = self._dense_outputs(classes, model_input)
        model_output = self._output(classes) if dense is None else None
        tasks = dense.tasks if dense is not None else model_output[1] if model_output else None
        if tasks:
            props["tasks"] = set(tasks)
            self.prov.add(pointer("properties", "mlm:tasks"), self.prov.sources[pointer("properties", "mlm:output", 0, "tasks")]
                          if dense is None else Source("model-check publish", detail="the union of the tasks of /properties/mlm:output"))
        else:
            self.prov.omit(pointer("properties", "mlm:tasks"), "the task is read off the described output: see /properties/mlm:output")
        if model_input is not None:
            props["input"] = [model_input]
        if model_output is not None:
            props["output"] = [model_output[0]]
        elif dense is not None and dense.outputs:
            props["output"] = dense.outputs
        framework = self._framework()
        if framework is not None:
            props["framework"], props["framework_version"] = framework
        total = self._total_parameters()
        if total is not None:
            props["total_parameters"] = total
        self.prov.omit(pointer("properties", "mlm:pretrained"), "no source states whether the model was pretrained")
        item.properties.update(_mlm_dump(props))
        item.stac_extensions.append(kinds.MLM_SCHEMA)
        bands = self._bands()
        for band, sources in zip(dense.bands, dense.band_sources, strict=True) if dense is not None else ():
            for key, source in sources.items():  # an output's units and nodata: see validator/publish/outputs.py
                self.prov.add(pointer("properties", "bands", len(bands), key), source)
            bands.append(band)
        if bands:
            item.properties["bands"] = bands

    def _dense_outputs(self, classes: Any, model_input: ModelInput | None) -> Outputs | None:
        """Segmentation, regression or several outputs: one MLM output each (None: the classifier path below)."""
        onnx_rel, onnx = self._onnx()
        if not outputs.wanted(self.pkg, onnx):
            return None
        channels = self._fact(CHANNELS)
        taken = {str(b) for b in channels.value} if channels else set()
        input_dims = model_input["input"]["dim_order"] if model_input is not None else None
        return outputs.describe_outputs(self.pkg, onnx_rel, onnx, classes, input_dims, taken, self.prov)

    def _mlm_name(self) -> str | None:
        where = pointer("properties", "mlm:name")
        name = self._fact(NAME)
        candidates = [self._model_id(), (str(name.value), from_fact(name)) if name else None]
        for candidate in candidates:
            if candidate is not None and _MLM_NAME.match(candidate[0]):
                self.prov.add(where, candidate[1])
                return candidate[0]
        self.prov.omit(where, "neither the model id nor the model name fits mlm:name (letters, digits, _ . - and spaces): "
                              "add model_id to the safetensors metadata")
        return None

    def _architecture(self) -> str | None:
        where = pointer("properties", "mlm:architecture")
        fact = self._fact(ARCHITECTURE)
        if fact is not None:
            self.prov.add(where, from_fact(fact))
            return str(fact.value)
        found = self._card_field(r"^(model )?architecture$")
        if found is not None:
            value = re.split(r"(?<!\s)\s+\(|;", found[0], maxsplit=1)[0].strip(" `")
            if value:
                self.prov.add(where, Source("model card", self.readme, found[1], "the text before any parenthesis"))
                return value
        self.prov.omit(where, "no architecture is declared: add `architecture` to the safetensors metadata or an "
                              "`Architecture:` line to the card")
        return None

    def _input(self) -> ModelInput | None:
        base = ("properties", "mlm:input", 0)
        onnx_rel, onnx = self._onnx()
        channels = self._fact(CHANNELS)
        name: str | None = None
        shape: list[int] | None = None
        data_type: str | None = None
        source: Source | None = None
        if onnx is not None and len(onnx.inputs) == 1 and onnx.inputs[0].shape is not None:
            spec = onnx.inputs[0]
            name, shape, data_type = spec.name, _mlm_shape(spec.shape), _data_type(spec.elem_type)
            source = Source("ONNX graph", onnx_rel, None, f"graph input {spec.name!r}")
            self.prov.add(pointer(*base, "name"), source)
            self.prov.add(pointer(*base, "input", "data_type"), Source("ONNX graph", onnx_rel, None, f"element type {spec.elem_type}"))
        else:
            shape_fact = self._fact(INPUT_SHAPE)
            if shape_fact is not None:
                shape = [-1 if d == "N" else int(d) for d in shape_fact.value]
                source = from_fact(shape_fact, "N (the batch) written as -1")
            name = "input"
            self.prov.add(pointer(*base, "name"), Source("model-check publish", detail="a descriptive name: no ONNX graph names the input"))
            found = self._card_field(r"^(input )?(data ?type|dtype)$")
            if found is not None and found[0].strip(" `") in DATA_TYPES:
                data_type = found[0].strip(" `")
                self.prov.add(pointer(*base, "input", "data_type"), Source("model card", self.readme, found[1]))
        if shape is None or data_type is None or source is None:
            self.prov.omit(pointer("properties", "mlm:input"), "the input shape or data type is not declared: ship model.onnx, "
                                                              "or state `Input shape:` and `Data type:` in the card")
            return None
        self.prov.add(pointer(*base, "input", "shape"), source)
        count = len(channels.value) if channels else self._fact_value(CHANNEL_COUNT)
        dim_order = _input_dim_order(shape, count, bool(channels))
        if dim_order is None:
            self.prov.omit(pointer("properties", "mlm:input"), f"the channel axis of the input shape {shape} cannot be told "
                                                              "from the channel count: state the channels in the card")
            return None
        self.prov.add(pointer(*base, "input", "dim_order"), Source(
            "model-check publish", detail=f"batch first, channel axis where the shape holds the {count} declared channels"))
        model_input: ModelInput = {"name": name, "input": {"shape": shape, "dim_order": dim_order, "data_type": data_type}}
        if channels:
            model_input = {"bands": [str(b) for b in channels.value], **model_input}  # MLM lists the bands first
            self.prov.add(pointer(*base, "bands"), from_fact(channels))
        scaling = self._value_scaling(list(channels.value) if channels else [])
        if scaling is not None:
            model_input["value_scaling"] = [{"type": "z-score", "mean": m, "stddev": s} for m, s in scaling]
        return model_input

    def _value_scaling(self, channels: list[str]) -> list[tuple[float, float]] | None:
        """Per-channel z-score from a card table with channel, mean and std columns, under a
        normalization heading, listing exactly the declared channels in order."""
        where = pointer("properties", "mlm:input", 0, "value_scaling")
        if self.card is None or not channels:
            self.prov.omit(where, "no channels are declared")
            return None
        heading = re.compile(r"normali[sz]|standardi[sz]|pre-?processing|scaling", re.IGNORECASE)
        for section in self.card.sections:
            if not heading.search(section.title):
                continue
            for table in section.all_tables():
                header = [plain(h).lower().strip() for h in table.header]
                mean = next((i for i, h in enumerate(header) if h == "mean"), None)
                std = next((i for i, h in enumerate(header) if h in _STD_HEADERS), None)
                name = next((i for i, h in enumerate(header) if any(w in h for w in ("channel", "band", "name"))), None)
                if mean is None or std is None or name is None:
                    continue
                rows = [cells for cells, _ in table.rows if len(cells) > max(mean, std, name)]
                if [plain(cells[name]).strip(" `*_") for cells in rows] != channels:
                    continue
                try:
                    values = [(float(plain(c[mean])), float(plain(c[std]))) for c in rows]
                except ValueError:
                    continue
                if any(s == 0 for _, s in values):
                    continue
                self.prov.add(where, Source("model card", self.readme, table.line, "z-score: mean and std per channel"))
                return values
        self.prov.omit(where, "the card has no table of mean and std per channel under a normalization heading")
        return None

    def _output(self, classes: Any) -> tuple[ModelOutput, list[str]] | None:
        base = ("properties", "mlm:output", 0)
        onnx_rel, onnx = self._onnx()
        names = list(classes.value) if classes else []
        if onnx is not None and len(onnx.outputs) == 1 and onnx.outputs[0].shape is not None:
            spec = onnx.outputs[0]
            name, shape, data_type = spec.name, _mlm_shape(spec.shape), _data_type(spec.elem_type)
            source = Source("ONNX graph", onnx_rel, None, f"graph output {spec.name!r}")
            self.prov.add(pointer(*base, "name"), source)
            self.prov.add(pointer(*base, "result", "data_type"), Source("ONNX graph", onnx_rel, None, f"element type {spec.elem_type}"))
        elif names:
            name, shape, data_type = "logits", [-1, len(names)], None
            source = from_fact(classes, "one score per declared class")
            self.prov.add(pointer(*base, "name"), Source("model-check publish", detail="a descriptive name: no ONNX graph names the output"))
        else:
            self.prov.omit(pointer("properties", "mlm:output"), "no ONNX graph and no class names describe the output")
            return None
        order_tasks = _output_dim_order(shape, len(names))
        if data_type is None or order_tasks is None:
            self.prov.omit(pointer("properties", "mlm:output"), f"the output {shape} cannot be described: ship model.onnx and "
                                                               "declare one class name per output score")
            return None
        dim_order, tasks = order_tasks
        self.prov.add(pointer(*base, "result", "shape"), source)
        self.prov.add(pointer(*base, "result", "dim_order"), Source("model-check publish", detail="one axis per declared class after the batch"))
        self.prov.add(pointer(*base, "tasks"), from_fact(classes, f"{tasks[0]}: class names are declared"))
        self.prov.add(pointer(*base, "classification:classes"), from_fact(
            classes, "value = position in the list; description repeats the name (the card gives none, the classification extension needs one)"))
        model_output: ModelOutput = {
            "name": name, "tasks": sorted(set(tasks)), "result": {"shape": shape, "dim_order": dim_order, "data_type": data_type},
            "classification:classes": [{"value": i, "name": str(n), "description": str(n)} for i, n in enumerate(names)],
        }
        meaning = self._card_field(r"^output (meaning|description)$")
        if meaning is not None:
            model_output["description"] = meaning[0]
            self.prov.add(pointer(*base, "description"), Source("model card", self.readme, meaning[1]))
        return model_output, tasks

    def _framework(self) -> tuple[str, str] | None:
        where = pointer("properties", "mlm:framework")
        pins = [p for p in self.runtime.pins if p.name in ("torch", "pytorch") and p.pinned]
        if not pins:
            self.prov.omit(where, "the runtime pins no torch: mlm:framework and mlm:framework_version are left out")
            return None
        pin = pins[0]
        m = re.search(r"=\s*=?\s*([^\s,;=]+)", pin.spec)
        version = m.group(1) if m else ""
        self.prov.add(where, Source("runtime pin", pin.file, pin.line, f"{pin.spec} (\"PyTorch\" as the MLM schema spells it)"))
        if not _SEMVER.match(version):
            self.prov.omit(pointer("properties", "mlm:framework_version"), f"the torch pin {pin.spec!r} is not a MAJOR.MINOR.PATCH version")
            return None
        self.prov.add(pointer("properties", "mlm:framework_version"), Source("runtime pin", pin.file, pin.line, pin.spec))
        return "PyTorch", version

    def _total_parameters(self) -> int | None:
        where = pointer("properties", "mlm:total_parameters")
        rel, header = self._safetensors()
        if header is None or not header.parsed:
            self.prov.omit(where, "no readable safetensors header")
            return None
        self.prov.add(where, Source("safetensors header", rel, None,
                                    "sum of the element counts of every tensor (buffers such as BatchNorm statistics included)"))
        return int(header.total_parameters)

    def _bands(self) -> list[dict[str, Any]]:
        """STAC 1.1 `bands` naming each input channel (MLM requires a band definition for `bands`)."""
        channels = self._fact(CHANNELS)
        if channels is None:
            return []
        bands: list[dict[str, Any]] = [{"name": name} for name in channels.value]
        self.prov.add(pointer("properties", "bands"), from_fact(channels))
        rel, header = self._safetensors()
        units = (header.metadata or {}).get("channel_units") if header is not None else None
        if isinstance(units, str) and len(split_names(units)) == len(bands):
            for index, (band, unit) in enumerate(zip(bands, split_names(units), strict=True)):
                band["unit"] = unit
                self.prov.add(pointer("properties", "bands", index, "unit"), Source("safetensors metadata", rel, None, "channel_units"))
        described = {f.key.strip(" `*"): (f.value, f.line) for f in (self.card.fields if self.card else [])}
        if all(b["name"] in described for b in bands):
            for index, band in enumerate(bands):
                text, line = described[band["name"]]
                band["description"] = plain(text)
                self.prov.add(pointer("properties", "bands", index, "description"), Source("model card", self.readme, line))
        return bands

    # -- OSC ---------------------------------------------------------------------------------
    def _osc(self, item: pystac.Item) -> None:
        settings = self.settings
        if settings.themes:
            item.properties["themes"] = [{"scheme": kinds.OSC_THEME_SCHEME, "concepts": [{"id": t} for t in settings.themes]}]
            item.stac_extensions.append(kinds.THEMES_SCHEMA)
            self.prov.add(pointer("properties", "themes"), Source("--theme"))
        if not settings.project:
            self.prov.omit(pointer("properties", "osc:project"), "no --project given: the item carries no OSC fields")
            return
        item.stac_extensions.append(kinds.OSC_SCHEMA)
        status, status_source = settings.osc_status
        item.properties.update({"osc:type": "product", "osc:project": settings.project, "osc:status": status})
        self.prov.add(pointer("properties", "osc:type"), Source("model-check publish", detail="a published model is an OSC product"))
        self.prov.add(pointer("properties", "osc:project"), Source("--project"))
        self.prov.add(pointer("properties", "osc:status"), status_source)
        for flag, key, values in (("--variable", "osc:variables", settings.variables), ("--mission", "osc:missions", settings.missions)):
            if values:
                item.properties[key] = list(values)
                self.prov.add(pointer("properties", key), Source(flag))

    # -- assets and links --------------------------------------------------------------------
    def _assets(self) -> list[tuple[str, pystac.Asset]]:
        found: list[tuple[str, pystac.Asset]] = []
        torch = self._framework_pinned()
        weights = kinds.SAFETENSORS if torch else kinds.AssetKind(
            "weights", kinds.SAFETENSORS.title, ("mlm:weights",), "application/octet-stream")
        for kind, files in ((weights, self.pkg.with_suffix(".safetensors")), (kinds.ONNX, self.pkg.with_suffix(".onnx"))):
            for rel in files:
                key = kind.key if len(files) == 1 else f"{kind.key}-{_slug(PurePosixPath(rel).stem)}"
                if kind is weights and not torch:
                    self.prov.omit(pointer("assets", key, "mlm:artifact_type"), "the runtime pins no torch, so the safetensors "
                                                                               "loader is unknown: the file is listed as weights only")
                found += self._file_asset(key, rel, kind)
        code = self.pkg.find("inference.py")
        if code is not None:
            found += self._file_asset(kinds.INFERENCE_CODE.key, code, kinds.INFERENCE_CODE)
        if self.readme is not None:
            found += self._file_asset(kinds.MODEL_CARD.key, self.readme, kinds.MODEL_CARD)
        for rel in self.pkg.runtime_files:
            kind = kinds.runtime_kind(rel)
            found += self._file_asset(kind.key, rel, kind)
        for kind, rel in ((kinds.ATTESTATION, kinds.ATTESTATION_NAME), (kinds.SIGNATURE, kinds.SIGNATURE_NAME)):
            if self.pkg.has(rel):  # written into the package by `attest` and `sign`: the signature covers the attestation
                found += self._file_asset(kind.key, rel, kind)
        report = self.report_text.encode("utf-8")
        asset = self._asset(kinds.REPORT, kinds.REPORT_NAME, len(report), hashlib.sha256(report).hexdigest())
        self.prov.add(pointer("assets", kinds.REPORT.key), Source("model-check publish", kinds.REPORT_NAME, None,
                                                                  "the validation report written beside the item"))
        found.append((kinds.REPORT.key, asset))
        return found

    def _file_asset(self, key: str, rel: str, kind: kinds.AssetKind) -> list[tuple[str, pystac.Asset]]:
        artefact = self.manifest.get(rel)
        if artefact is None:  # unreadable: the layout check reports it
            self.prov.omit(pointer("assets", key), f"{rel} could not be read and hashed")
            return []
        asset = self._asset(kind, rel, artefact.bytes, artefact.sha256)
        self.prov.add(pointer("assets", key), Source("artefact manifest", rel, None, "href = base URL + path; file:size and "
                                                                                     "file:checksum (multihash sha2-256)"))
        if kind is kinds.INFERENCE_CODE:
            entry = self._entrypoint(rel)
            if entry is not None:
                asset.extra_fields["mlm:entrypoint"] = entry[0]
                self.prov.add(pointer("assets", key, "mlm:entrypoint"), Source("inference code", rel, entry[1], "a top-level function"))
            else:
                self.prov.omit(pointer("assets", key, "mlm:entrypoint"), f"{rel} defines none of {', '.join(_ENTRYPOINTS)}")
        return [(key, asset)]

    def _asset(self, kind: kinds.AssetKind, rel: str, size: int, sha256: str) -> pystac.Asset:
        asset = pystac.Asset(href=self.settings.href(rel), title=kind.title, media_type=kind.media_type, roles=list(kind.roles))
        if kind.artifact_type:
            asset.extra_fields["mlm:artifact_type"] = kind.artifact_type
        file_ext = FileExtension.ext(asset)  # the item declares the extension once its assets are added
        file_ext.size = size
        file_ext.checksum = multihash_sha256(sha256)
        return asset

    def _entrypoint(self, rel: str) -> tuple[str, int] | None:
        text = self.pkg.read_text(rel).text
        if text is None:
            return None
        try:
            tree = ast.parse(text, filename=rel)  # parsed, never executed
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        functions = {node.name: node.lineno for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        module = str(PurePosixPath(rel).with_suffix("")).replace("/", ".")
        return next(((f"{module}:{name}", functions[name]) for name in _ENTRYPOINTS if name in functions), None)

    def _links(self, item_id: str, in_product: bool) -> list[pystac.Link]:
        found: list[tuple[pystac.Link, Source]] = [
            (pystac.Link("self", self.settings.href(item_file_name(item_id)), "application/geo+json"),
             Source("--base-url", detail="base URL + item file name"))]
        if self.readme is not None:
            found.append((pystac.Link("describedby", self.settings.href(self.readme), "text/markdown", "Model card"),
                          Source("artefact manifest", self.readme)))
        found.append((pystac.Link("describedby", self.settings.href(kinds.REPORT_NAME), "application/json", kinds.REPORT.title),
                      Source("model-check publish", kinds.REPORT_NAME, None, "the validation report written beside the item")))
        license_file = self.pkg.find("LICENSE", "LICENSE.md", "LICENSE.txt")
        if license_file is not None:
            found.append((pystac.Link("license", self.settings.href(license_file), "text/plain", "License text"),
                          Source("artefact manifest", license_file)))
        repository = self._fact(REPOSITORY)
        if repository is not None and str(repository.value).startswith(("https://", "http://")):
            found.append((pystac.Link("related", str(repository.value), "text/html", self._repository_title()), from_fact(repository)))
        if in_product:
            for rel in ("collection", "parent"):
                found.append((pystac.Link(rel, "./collection.json", "application/json", "OSC product"),
                              Source("--product", detail="the collection.json written beside the item")))
        for index, (_, source) in enumerate(found):
            self.prov.add(pointer("links", index), source)
        return [link for link, _ in found]

    def _repository_title(self) -> str:
        facts = self.pkg.card_facts
        parts = []
        if facts is not None and facts.release_tag:
            parts.append(f"release {facts.release_tag.value}")
        if facts is not None and facts.commit:
            parts.append(f"commit {facts.commit.value}")
        return "Source repository" + (f" ({', '.join(parts)})" if parts else "")

    # -- lookups -----------------------------------------------------------------------------
    def _fact(self, key: str) -> Any:
        found = self.facts.of(key)
        return found[0] if found else None

    def _fact_value(self, key: str) -> Any:
        fact = self._fact(key)
        return fact.value if fact is not None else None

    def _card_field(self, pattern: str) -> tuple[str, int] | None:
        if self.card is None:
            return None
        rx = re.compile(pattern, re.IGNORECASE)
        entry = next((f for f in self.card.fields if rx.search(f.key.strip(" `*").lower())), None)
        return (plain(entry.value), entry.line) if entry is not None else None

    def _safetensors(self) -> tuple[str | None, SafetensorsHeader | None]:
        return _pick(self.pkg.safetensors, "model.safetensors")

    def _onnx(self) -> tuple[str | None, OnnxSummary | None]:
        rel, summary = _pick(self.pkg.onnx, "model.onnx")
        return (rel, summary) if summary is not None and summary.ok else (None, None)

    def _framework_pinned(self) -> bool:
        return any(p.name in ("torch", "pytorch") and p.pinned for p in self.runtime.pins)


class PublishError(Exception):
    """The package lacks what any item needs (an id); the message says what to add."""


def _pick(found: Mapping[str, T], preferred: str) -> tuple[str | None, T | None]:
    if preferred in found:
        return preferred, found[preferred]
    if len(found) == 1:
        return next(iter(found.items()))
    return None, None


def _mlm_shape(dims: tuple[int | str | None, ...]) -> list[int]:
    return [d if isinstance(d, int) and d > 0 else -1 for d in dims]


def _data_type(elem_type: str) -> str:
    return elem_type if elem_type in DATA_TYPES else "other"


def _input_dim_order(shape: list[int], channel_count: Any, named: bool) -> list[str] | None:
    """["batch", "bands", "height", "width"] (or channels last) when exactly one axis holds the channels."""
    if not isinstance(channel_count, int) or channel_count <= 0:
        return None
    axis_name = "bands" if named else "channel"  # MLM: listed bands need a "bands" axis
    if len(shape) == 2 and shape[1] == channel_count:
        return ["batch", axis_name]
    if len(shape) != 4:
        return None
    axes = [i for i in (1, 3) if shape[i] == channel_count]
    if len(axes) != 1:
        return None
    return ["batch", axis_name, "height", "width"] if axes[0] == 1 else ["batch", "height", "width", axis_name]


def _output_dim_order(shape: list[int], class_count: int) -> tuple[list[str], list[str]] | None:
    """(dim_order, tasks) of a classification output: scores per class, per tile or per pixel."""
    if class_count <= 0:
        return None
    if len(shape) == 2 and shape[1] == class_count:
        return ["batch", "class"], ["classification"]
    if len(shape) == 4 and shape[1] == class_count:
        return ["batch", "class", "height", "width"], ["semantic-segmentation"]
    return None


def _mlm_dump(props: dict[str, Any]) -> dict[str, Any]:
    """The MLM fields (`mlm:` prefixed), checked before they are written. Only the fields set here are
    written: a default no source states would be a claim no source made."""
    result = {f"mlm:{key}": sorted(value) if key == "tasks" else value for key, value in props.items()}
    problems = _mlm_problems(result)
    if problems:
        raise PublishError("the MLM fields built from the package are not valid MLM v1.5.2:\n"
                           + "\n".join(f"  {p.where}: {p.message}" for p in problems))
    return result


def _mlm_problems(fields: dict[str, Any]) -> list[SchemaError]:
    """Each MLM field checked against its definition in the bundled MLM v1.5.2 schema, plus what the
    schema cannot say: an axis name per dimension, a non-empty architecture and class names. A
    missing required field is left to the whole-item validation of `publish`, which lists the
    values left out for lack of a source."""
    schemas = load_schemas()  # the bundled copies, whatever --schema-dir says: the builder's own contract
    problems: list[SchemaError] = []
    for key, value in fields.items():
        problems += schemas.validate_definition(value, MLM_SCHEMA, key, at=("properties", key))
    if fields.get("mlm:architecture", "x") == "":
        problems.append(SchemaError(MLM_SCHEMA, ("properties", "mlm:architecture"), "the architecture is empty"))
    for kind, structure in (("input", "input"), ("output", "result")):
        for index, obj in enumerate(fields.get(f"mlm:{kind}", [])):
            inner = obj.get(structure, {})
            if len(inner.get("shape", [])) != len(inner.get("dim_order", [])):
                problems.append(SchemaError(MLM_SCHEMA, ("properties", f"mlm:{kind}", index, structure),
                                            "shape and dim_order differ in length"))
            for number, cls in enumerate(obj.get("classification:classes", [])):
                if not str(cls.get("name", "")).strip():
                    problems.append(SchemaError(MLM_SCHEMA, ("properties", f"mlm:{kind}", index, "classification:classes", number),
                                                "a class has no name"))
    return problems


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "file"
