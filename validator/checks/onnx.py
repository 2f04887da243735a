"""Area onnx: every *.onnx graph parses, passes onnx.checker, keeps its external data inside the
package, has stable input/output names, a dynamic batch dimension and defined element types,
and uses IR and opset versions the installed onnxruntime loads."""

from __future__ import annotations

import re
from collections.abc import Iterable

from validator.checks.base import Skip, StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.onnx import OnnxSummary, TensorSpec
from validator.readers.package import ModelPackage

GUIDE = "The guideline's 'Provide a Portable Inference Artefact'"
EXPORT = ("torch.onnx.export(model, dummy_input, 'model.onnx', input_names=['input'], output_names=['logits'], "
          "dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=17)")


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


class OnnxCheck(StaticCheck):
    name = "ONNX graphs"
    area = Area.ONNX

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        if not pkg.with_suffix(".onnx"):
            return Skip("the package has no .onnx file")
        return self._findings(pkg)

    def _findings(self, pkg: ModelPackage) -> Iterable[Finding]:
        for summary in pkg.onnx.values():
            yield from _problems(summary)
            if summary.parsed:
                yield from _io(summary)
                yield from _versions(summary)
                yield from _domains_and_metadata(summary)


def _problems(summary: OnnxSummary) -> Iterable[Finding]:
    rel = summary.rel
    rule_of = {"too-large": rule("onnx-too-large"), "unparseable": rule("onnx-unparseable"), "crashed": rule("onnx-inspection-aborted"), "timeout": rule("onnx-inspection-aborted"),
               "graph": rule("onnx-graph-malformed"), "external-data": rule("onnx-external-data-unsafe")}
    for problem in summary.problems:
        found = rule_of.get(problem.kind, rule("onnx-inspection-aborted"))
        prefix = {rule("onnx-unparseable"): "cannot be read as an ONNX model", rule("onnx-too-large"): "is too large to parse",
                  rule("onnx-inspection-aborted"): "could not be inspected", rule("onnx-graph-malformed"): "has a malformed graph",
                  rule("onnx-external-data-unsafe"): "has unsafe external data"}[found]
        yield found.finding(f"{rel} {prefix}: {problem.message}", file=rel)
    if summary.checker_error is not None:
        yield rule("onnx-checker-failed").finding(f"onnx.checker.check_model(full_check=True) rejects {rel}: {summary.checker_error}", file=rel)


def _batch_names(summary: OnnxSummary) -> set[str]:
    """The graph's batch axis: symbolic dimension names that two or more inputs and outputs share (a
    recurrent state [2, batch, 128] carries it in the middle). Empty when no name is shared."""
    users: dict[str, int] = {}
    for spec in (*summary.inputs, *summary.outputs):
        for name in {d for d in spec.shape if isinstance(d, str)}:
            users[name] = users.get(name, 0) + 1
    return {name for name, count in users.items() if count >= 2}


def _fixed_batch(spec: TensorSpec, batch_names: set[str], static_batch: int | None) -> bool:
    """Dimension 0 is fixed where the batch should be. With a shared batch axis, a tensor carrying it
    anywhere is batched, and one without it is flagged only when it looks like a batch of one (rank 2+,
    dimension 0 of 1): scalars and state or parameter tensors such as [2, 1, 128] are not batches.
    Without one, a tensor with an unknown or symbolic dimension may carry the batch there (graphs from
    non-torch builders leave dimensions unnamed: [2, ?, 128]); in a fully static graph the batch is
    the first input's dimension 0, and a tensor whose dimension 0 differs is a state, not a batch."""
    if not spec.shape or not isinstance(spec.shape[0], int):
        return False
    if batch_names:
        if any(d in batch_names for d in spec.shape):
            return False
        return len(spec.shape) >= 2 and spec.shape[0] == 1
    if any(not isinstance(d, int) for d in spec.shape):
        return False
    return static_batch is None or spec.shape[0] == static_batch


def _static_batch(summary: OnnxSummary) -> int | None:
    """Dimension 0 of the first input with a fully fixed shape of rank 2 or more."""
    for spec in summary.inputs:
        if len(spec.shape) >= 2 and all(isinstance(d, int) for d in spec.shape):
            first = spec.shape[0]
            return first if isinstance(first, int) else None
    return None


def _io(summary: OnnxSummary) -> Iterable[Finding]:
    rel = summary.rel
    batch_names = _batch_names(summary)
    static_batch = _static_batch(summary)
    for role, specs in (("input", summary.inputs), ("output", summary.outputs)):
        for spec in specs:
            if any(pattern.fullmatch(spec.name) for pattern in _GENERATED_NAMES):
                wanted = "input" if role == "input" else "logits"
                yield rule("onnx-unstable-name").finding(
                    f"{rel}: {role} {_show(spec.name)} is an exporter-generated name; give it a stable name such as "
                    f"'{wanted}' (the guideline's names are 'input' and 'logits')", file=rel)
            if _fixed_batch(spec, batch_names, static_batch):
                yield rule("onnx-static-batch").finding(
                    f"{rel}: {role} {_show(spec.name)} has a fixed batch dimension of {spec.shape[0]} "
                    f"(shape {_shape(spec)}); make dimension 0 dynamic, e.g. "
                    f"{_show(sorted(batch_names)[0]) if batch_names else repr('batch')}", file=rel)
            if spec.elem_type == "undefined":
                yield rule("onnx-undefined-dtype").finding(f"{rel}: {role} {_show(spec.name)} declares no element type", file=rel)
    described = "; ".join(
        f"{role}s: " + (", ".join(f"{_show(s.name)} {s.elem_type} {_shape(s)}" for s in specs) or "none")
        for role, specs in (("input", summary.inputs), ("output", summary.outputs)))
    opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in sorted(summary.opset_imports.items()))
    producer = f"{summary.producer_name} {summary.producer_version}".strip() or "unknown producer"
    yield rule("onnx-io").finding(
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
        yield rule("onnx-ir-unsupported").finding(
            f"{rel} has IR version {summary.ir_version}; {runtime} loads IR version {support.max_ir_version} at most", file=rel)
    for domain, version in summary.opset_imports.items():
        known = support.max_opsets.get(_STANDARD_OPSET_DOMAINS.get(domain, domain))
        if known is not None and version > known:
            yield rule("onnx-opset-unsupported").finding(
                f"{rel} imports opset {version} of {domain or 'ai.onnx'}; {runtime} supports opset {known} at most", file=rel)


def _domains_and_metadata(summary: OnnxSummary) -> Iterable[Finding]:
    rel = summary.rel
    known = summary.runtime.max_opsets if summary.runtime else {}
    for domain in summary.custom_domains:
        where = ("its operators are onnxruntime extensions, not standard ONNX" if domain in known
                 else "onnxruntime does not know this domain: a custom-operator library is needed")
        yield rule("onnx-custom-domain").finding(f"{rel} uses the operator domain {_show(domain)}; {where}", file=rel)
    if summary.metadata_props:
        props = ", ".join(f"{_show(k)}={_show(v)}" for k, v in sorted(summary.metadata_props.items()))
        yield rule("onnx-metadata").finding(f"{rel} metadata_props: {props}", file=rel)
    else:
        yield rule("onnx-metadata").finding(f"{rel} has no metadata_props", file=rel)


def _show(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _shape(spec: TensorSpec) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in spec.shape) + "]"
