"""Area onnx: every *.onnx graph parses, passes onnx.checker, keeps its external data inside the
package, has stable input/output names, a dynamic batch dimension and defined element types,
and uses IR and opset versions the installed onnxruntime loads."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..model import Area, Finding, Severity
from ..onnx_inspect import OnnxSummary, TensorSpec
from ..rules import define
from .base import Check, Context

GUIDE = "The guideline's 'Provide a Portable Inference Artefact'"
EXPORT = ("torch.onnx.export(model, dummy_input, 'model.onnx', input_names=['input'], output_names=['logits'], "
          "dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=17)")

UNPARSEABLE = define(
    "MC501", "onnx-unparseable", Area.ONNX, Severity.ERROR, "An .onnx file is not a readable ONNX model",
    f"{GUIDE}: model.onnx is the portable inference graph users run with ONNX Runtime.",
    f"Re-export the model ({EXPORT}) and publish the file as written, not truncated or converted.",
)
ABORTED = define(
    "MC502", "onnx-inspection-aborted", Area.ONNX, Severity.ERROR, "Parsing an .onnx file crashed or ran out of time or memory",
    f"{GUIDE}: users load model.onnx with ONNX Runtime; a file that crashes or exhausts a parser cannot be used safely.",
    "Re-export the model with a current torch.onnx / onnx release and check it loads with onnx.load and onnxruntime.",
)
TOO_LARGE = define(
    "MC503", "onnx-too-large", Area.ONNX, Severity.ERROR, "An .onnx file is larger than protobuf's 2 GiB limit",
    f"{GUIDE}: protobuf, and so ONNX Runtime, cannot parse a single message over 2 GiB.",
    "Store the weights as external data: onnx.save_model(model, 'model.onnx', save_as_external_data=True, "
    "location='model.onnx.data'), and publish both files.",
)
CHECKER_FAILED = define(
    "MC504", "onnx-checker-failed", Area.ONNX, Severity.ERROR, "onnx.checker rejects the model",
    f"{GUIDE}: model.onnx should run with ONNX Runtime and be validated; onnx.checker.check_model(path, full_check=True) "
    "is the reference check of the format, including shape inference.",
    "Run onnx.checker.check_model('model.onnx', full_check=True) yourself, fix the reported node or tensor and re-export.",
)
GRAPH_MALFORMED = define(
    "MC505", "onnx-graph-malformed", Area.ONNX, Severity.ERROR, "The ONNX graph is malformed",
    f"{GUIDE}: the graph must describe tensors whose data matches their shape, with a bounded structure.",
    "Re-export the model; check that no tensor has a negative dimension and that control flow is not nested dozens deep.",
)
EXTERNAL_UNSAFE = define(
    "MC510", "onnx-external-data-unsafe", Area.ONNX, Severity.ERROR, "ONNX external data points where it must not",
    f"{GUIDE}: the artefact must be self-contained. External-data locations that leave the package, go through links "
    "or claim more bytes than the file holds are how onnx CVE-2022-25882 and CVE-2024-27318 read arbitrary files.",
    "Save with onnx.save_model(model, 'model.onnx', save_as_external_data=True, location='model.onnx.data') and publish "
    "that data file as a plain file next to model.onnx (no symlink, hard link, '..' or absolute path).",
)
UNSTABLE_NAME = define(
    "MC520", "onnx-unstable-name", Area.ONNX, Severity.WARNING, "An ONNX input or output has an exporter-generated name",
    f"{GUIDE}: 'use stable input and output names, for example input and logits'. Generated names such as input.1 or "
    "onnx::Gemm_12 change between exports and break inference code that feeds them by name.",
    f"Name them when exporting: {EXPORT}.",
)
STATIC_BATCH = define(
    "MC521", "onnx-static-batch", Area.ONNX, Severity.WARNING, "An ONNX input or output has a fixed batch dimension",
    f"{GUIDE}: 'support a dynamic batch dimension when batch size should vary'.",
    f"Export with dynamic_axes for dimension 0 of every input and output: {EXPORT}.",
)
UNDEFINED_TYPE = define(
    "MC522", "onnx-undefined-dtype", Area.ONNX, Severity.ERROR, "An ONNX input or output has no element type",
    f"{GUIDE}: 'define the expected tensor dtype'.",
    "Export from a dummy input of the right dtype (e.g. torch.zeros(..., dtype=torch.float32)) so the graph declares it.",
)
IO_SUMMARY = define(
    "MC523", "onnx-io", Area.ONNX, Severity.INFO, "ONNX inputs, outputs and element types",
    f"{GUIDE}: stable names, a dynamic batch dimension and a defined tensor dtype; shown so you can compare them "
    "with the README.",
    "Nothing to change if these match the input shape, channels and outputs the README describes.",
)
OPSET_UNSUPPORTED = define(
    "MC530", "onnx-opset-unsupported", Area.ONNX, Severity.ERROR, "The model needs a newer opset than onnxruntime supports",
    f"{GUIDE}: model.onnx should run with ONNX Runtime; a model stamped with a newer opset is refused at load time.",
    "Export with an opset the released onnxruntime supports (opset_version=17 in the guideline's example).",
)
IR_UNSUPPORTED = define(
    "MC531", "onnx-ir-unsupported", Area.ONNX, Severity.ERROR, "The model's IR version is newer than onnxruntime supports",
    f"{GUIDE}: model.onnx should run with ONNX Runtime; it refuses IR versions newer than the ONNX release it was built with.",
    "Export with the onnx / torch versions pinned in requirements.txt, or pin an onnxruntime that supports this IR version.",
)
CUSTOM_DOMAIN = define(
    "MC532", "onnx-custom-domain", Area.ONNX, Severity.INFO, "The model uses operators outside the standard ONNX domains",
    "The guideline: 'If the model uses operations that are not supported by ONNX Runtime, document that clearly'.",
    "Say in the README which runtime or custom-operator library these operators need.",
)
METADATA = define(
    "MC540", "onnx-metadata", Area.ONNX, Severity.INFO, "ONNX metadata_props",
    "The guideline asks that the artefact matches the model described in the documentation; metadata_props can carry "
    "the model id, version and class names for that comparison.",
    "Optionally set metadata_props (onnx.helper.set_model_props(model, {'model_id': ..., 'version': ...})).",
)

# Names exporters generate when none are given (torch.onnx, tf2onnx, the dynamo exporter).
_GENERATED_NAMES = [
    re.compile(r".+\.\d+"),  # input.1, x.3
    re.compile(r".*::.*"),  # onnx::Gemm_12
    re.compile(r"(input|output|in|out|args|val|tensor)_?\d+", re.IGNORECASE),  # output_0, args_0
    re.compile(r"/.*"),  # /fc/Gemm_output_0
    re.compile(r".*_output_\d+"),
    re.compile(r".*:\d+"),  # tf2onnx: Identity:0
    re.compile(r"\d+"),  # 123
]
_STANDARD_OPSET_DOMAINS = {"": "", "ai.onnx": ""}  # ai.onnx is also spelled ""


class OnnxCheck(Check):
    name = "ONNX graphs"
    area = Area.ONNX
    dynamic = False

    def skip_reason(self, ctx: Context) -> str | None:
        return None if ctx.pkg.with_suffix(".onnx") else "the package has no .onnx file"

    def run(self, ctx: Context) -> Iterable[Finding]:
        summaries: dict[str, OnnxSummary] = ctx.pkg.onnx
        ctx.results["onnx"] = summaries
        for summary in summaries.values():
            yield from _problems(summary)
            if summary.parsed:
                yield from _io(summary)
                yield from _versions(summary)
                yield from _domains_and_metadata(summary)


def _problems(summary: OnnxSummary) -> Iterable[Finding]:
    rel = summary.rel
    rule_of = {"too-large": TOO_LARGE, "unparseable": UNPARSEABLE, "crashed": ABORTED, "timeout": ABORTED,
               "graph": GRAPH_MALFORMED, "external-data": EXTERNAL_UNSAFE}
    for problem in summary.problems:
        rule = rule_of.get(problem.kind, ABORTED)
        prefix = {UNPARSEABLE: "cannot be read as an ONNX model", TOO_LARGE: "is too large to parse",
                  ABORTED: "could not be inspected", GRAPH_MALFORMED: "has a malformed graph",
                  EXTERNAL_UNSAFE: "has unsafe external data"}[rule]
        yield rule.finding(f"{rel} {prefix}: {problem.message}", file=rel)
    if summary.checker_error is not None:
        yield CHECKER_FAILED.finding(f"onnx.checker.check_model(full_check=True) rejects {rel}: {summary.checker_error}", file=rel)


def _io(summary: OnnxSummary) -> Iterable[Finding]:
    rel = summary.rel
    for role, specs in (("input", summary.inputs), ("output", summary.outputs)):
        for spec in specs:
            if any(pattern.fullmatch(spec.name) for pattern in _GENERATED_NAMES):
                wanted = "input" if role == "input" else "logits"
                yield UNSTABLE_NAME.finding(
                    f"{rel}: {role} {_show(spec.name)} is an exporter-generated name; give it a stable name such as "
                    f"'{wanted}' (the guideline's names are 'input' and 'logits')", file=rel)
            if spec.shape and isinstance(spec.shape[0], int):
                yield STATIC_BATCH.finding(
                    f"{rel}: {role} {_show(spec.name)} has a fixed batch dimension of {spec.shape[0]} "
                    f"(shape {_shape(spec)}); make dimension 0 dynamic, e.g. 'batch'", file=rel)
            if spec.elem_type == "undefined":
                yield UNDEFINED_TYPE.finding(f"{rel}: {role} {_show(spec.name)} declares no element type", file=rel)
    described = "; ".join(
        f"{role}s: " + (", ".join(f"{_show(s.name)} {s.elem_type} {_shape(s)}" for s in specs) or "none")
        for role, specs in (("input", summary.inputs), ("output", summary.outputs)))
    opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in sorted(summary.opset_imports.items()))
    producer = f"{summary.producer_name} {summary.producer_version}".strip() or "unknown producer"
    yield IO_SUMMARY.finding(
        f"{rel}: {described}; IR {summary.ir_version}, opset {opsets or 'none'}, {producer}; "
        f"{summary.initializer_count:,} initializers, {summary.parameter_count:,} parameters, {summary.node_count:,} nodes",
        file=rel)


def _versions(summary: OnnxSummary) -> Iterable[Finding]:
    rel = summary.rel
    support = summary.runtime
    if support is None:
        return
    runtime = f"the installed onnxruntime {support.onnxruntime}"
    if support.max_ir_version is not None and summary.ir_version is not None and summary.ir_version > support.max_ir_version:
        yield IR_UNSUPPORTED.finding(
            f"{rel} has IR version {summary.ir_version}; {runtime} loads IR version {support.max_ir_version} at most", file=rel)
    for domain, version in summary.opset_imports.items():
        known = support.max_opsets.get(_STANDARD_OPSET_DOMAINS.get(domain, domain))
        if known is not None and version > known:
            yield OPSET_UNSUPPORTED.finding(
                f"{rel} imports opset {version} of {domain or 'ai.onnx'}; {runtime} supports opset {known} at most", file=rel)


def _domains_and_metadata(summary: OnnxSummary) -> Iterable[Finding]:
    rel = summary.rel
    known = summary.runtime.max_opsets if summary.runtime else {}
    for domain in summary.custom_domains:
        where = ("its operators are onnxruntime extensions, not standard ONNX" if domain in known
                 else "onnxruntime does not know this domain: a custom-operator library is needed")
        yield CUSTOM_DOMAIN.finding(f"{rel} uses the operator domain {_show(domain)}; {where}", file=rel)
    if summary.metadata_props:
        props = ", ".join(f"{_show(k)}={_show(v)}" for k, v in sorted(summary.metadata_props.items()))
        yield METADATA.finding(f"{rel} metadata_props: {props}", file=rel)
    else:
        yield METADATA.finding(f"{rel} has no metadata_props", file=rel)


def _show(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _shape(spec: TensorSpec) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in spec.shape) + "]"
