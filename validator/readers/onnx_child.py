"""The child process that parses one untrusted ONNX file and prints a JSON summary.

validator.readers.onnx starts it with `python -I -B -c BOOT ...`; it limits its own address space,
CPU time, file writes and core dumps before importing onnx, so a protobuf bomb or a crash in the
parser ends this process only. External data is never loaded: references are checked with lstat().
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, TypedDict

from validator.readers.onnx_external import check_external

MAX_NESTING = 32  # subgraph depth that no real model reaches
MAX_STRING = 500  # characters kept of any string taken from the model
MAX_ITEMS = 200  # entries kept of metadata_props and of problem lists
STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


# The JSON answer printed for validator.readers.onnx (OnnxSummary is built from it there).
ProblemKind = Literal["too-large", "unparseable", "crashed", "timeout", "graph", "external-data"]


class ProblemData(TypedDict):
    kind: ProblemKind
    message: str


class SpecData(TypedDict):
    name: str
    elem_type: str
    shape: list[int | str | None]


class RuntimeData(TypedDict):
    onnxruntime: str
    max_ir_version: int | None
    max_opsets: dict[str, int]


class _AnswerBase(TypedDict):
    problems: list[ProblemData]


class Answer(_AnswerBase, total=False):
    """Only `problems` when the file was not parsed; every key when it was."""

    ir_version: int
    opset_imports: dict[str, int]
    producer_name: str
    producer_version: str
    inputs: list[SpecData]
    outputs: list[SpecData]
    metadata_props: dict[str, str]
    external_data: list[dict[str, Any]]  # dataclasses.asdict(onnx_external.ExternalRef)
    external_problems: bool
    initializer_count: int
    parameter_count: int
    node_count: int
    custom_domains: list[str]
    checker_ran: bool
    checker_error: str | None
    runtime: RuntimeData


def main(argv: list[str]) -> int:
    path, root, memory_bytes, cpu_s = argv[0], argv[1], int(argv[2]), int(argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    result_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the JSON
    result: Answer
    try:
        result = inspect(Path(path), Path(root))
    except MemoryError:
        result = {"problems": [_problem("crashed", f"parsing needed more than the {memory_bytes // 2**20:,} MiB allowed")]}
    json.dump(result, result_stream)
    result_stream.flush()
    return 0


def inspect(path: Path, root: Path) -> Answer:
    import onnx

    size = path.stat().st_size
    if size > onnx.checker.MAXIMUM_PROTOBUF:
        return {"problems": [_problem("too-large", f"the file is {size:,} bytes; protobuf cannot parse more than "
                                      f"{onnx.checker.MAXIMUM_PROTOBUF:,} bytes in one message")]}
    if size == 0:
        return {"problems": [_problem("unparseable", "the file is empty")]}
    try:
        model = onnx.load(str(path), load_external_data=False)
    except MemoryError:
        raise
    except Exception as exc:  # protobuf reports malformed input with several exception types
        return {"problems": [_problem("unparseable", f"not a valid ONNX protobuf: {_cap(str(exc) or type(exc).__name__)}")]}
    result = _summarize(model, path.parent, root)
    del model  # the checker parses the file again: do not hold two copies
    result["runtime"] = runtime_support()
    if not result["external_problems"]:
        result["checker_ran"] = True
        try:
            onnx.checker.check_model(str(path), full_check=True)
        except MemoryError:
            raise
        except Exception as exc:
            result["checker_error"] = _cap(str(exc) or type(exc).__name__, 2000)
    return result


def _summarize(model: Any, model_dir: Path, root: Path) -> Answer:
    graph = model.graph
    initializer_names = {t.name for t in graph.initializer}
    result: Answer = {
        "ir_version": model.ir_version,
        "opset_imports": {_cap(o.domain): o.version for o in model.opset_import},
        "producer_name": _cap(model.producer_name),
        "producer_version": _cap(model.producer_version),
        "inputs": [_spec(v) for v in graph.input if v.name not in initializer_names],
        "outputs": [_spec(v) for v in graph.output],
        "metadata_props": {_cap(p.key): _cap(p.value) for p in list(model.metadata_props)[:MAX_ITEMS]},
        "problems": [],
        "external_data": [],
        "external_problems": False,
        "checker_ran": False,
        "checker_error": None,
    }
    domains = {o.domain for o in model.opset_import}
    initializers = parameters = 0
    graph_problems: list[str] = []
    external_problems: list[str] = []
    graphs = list(_graphs(model, graph_problems))
    for tensor, is_initializer in _tensors(model, graphs, domains):
        elements = math.prod(tensor.dims)
        if any(d < 0 for d in tensor.dims):
            graph_problems.append(f"tensor {_cap(tensor.name)!r} has a negative dimension {list(tensor.dims)}")
            elements = 0
        if is_initializer:
            initializers += 1
            parameters += elements
        if tensor.data_location == EXTERNAL:
            entries = [(e.key, e.value) for e in tensor.external_data]
            ref, problems = check_external(root, model_dir, _cap(tensor.name), entries, _needed_bytes(tensor, elements))
            result["external_data"].append(asdict(ref))
            external_problems += problems
    nodes = sum(len(g.node) for g in graphs) + sum(len(f.node) for f in model.functions)
    result["initializer_count"], result["parameter_count"], result["node_count"] = initializers, parameters, nodes
    result["custom_domains"] = sorted(_cap(d) for d in domains - STANDARD_DOMAINS)
    result["problems"] += [_problem("graph", m) for m in _first(graph_problems)]
    result["problems"] += [_problem("external-data", m) for m in _first(external_problems)]
    result["external_problems"] = bool(external_problems)
    return result


def runtime_support() -> RuntimeData:
    """The newest IR and opset versions the installed onnxruntime loads.

    onnxruntime registers the operator schemas of the ONNX release it was built with, so the newest
    `since_version` per domain is the newest opset it loads; onnx.helper.VERSION_TABLE gives the IR
    version of the ONNX release that introduced that opset. Read here, in the child, so the
    validator's own process never loads onnxruntime.
    """
    import onnxruntime
    from onnx import helper
    from onnxruntime.capi import _pybind_state

    opsets: dict[str, int] = {}
    for schema in _pybind_state.get_all_operator_schema():
        opsets[schema.domain] = max(opsets.get(schema.domain, 0), schema.since_version)
    irs = [row[1] for row in helper.VERSION_TABLE if row[2] <= opsets.get("", 0)]
    return {"onnxruntime": onnxruntime.__version__, "max_ir_version": max(irs) if irs else None, "max_opsets": opsets}


def _graphs(model: Any, problems: list[str]) -> Iterator[Any]:
    """Every graph of the model, subgraphs included, walked without recursion."""
    stack = [(model.graph, 0)]
    while stack:
        graph, depth = stack.pop()
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                subgraphs = ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)
                if subgraphs and depth + 1 > MAX_NESTING:
                    problems.append(f"subgraphs are nested more than {MAX_NESTING} deep (node {_cap(node.name)!r}); not inspected further")
                    return
                stack += [(g, depth + 1) for g in subgraphs]


def _tensors(model: Any, graphs: list[Any], domains: set[str]) -> Iterator[tuple[Any, bool]]:
    """Every tensor holding data (initializers, sparse initializers, Constant attributes), and
    whether it is an initializer. Collects node domains on the way."""
    node_lists = [f.node for f in model.functions]
    for graph in graphs:
        yield from ((t, True) for t in graph.initializer)
        yield from ((s.values, True) for s in graph.sparse_initializer)
        node_lists.append(graph.node)
    for node_list in node_lists:
        for node in node_list:
            domains.add(node.domain)
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t, False
                yield from ((t, False) for t in attribute.tensors)
                if attribute.HasField("sparse_tensor"):
                    yield attribute.sparse_tensor.values, False


def _needed_bytes(tensor: Any, elements: int) -> int | None:
    bits = _element_bits(tensor.data_type)
    return None if bits is None else math.ceil(elements * bits / 8)


def _element_bits(data_type: int) -> int | None:
    import ml_dtypes
    import numpy as np
    from onnx import helper

    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(data_type))
    except Exception:  # undefined or unknown element type: the checker reports it
        return None
    if dtype.kind == "O":  # strings have no fixed size
        return None
    if dtype.itemsize == 1 and dtype.kind == "V":  # packed sub-byte types (int4, float4, …)
        for info in (ml_dtypes.finfo, ml_dtypes.iinfo):
            try:
                return int(info(dtype).bits)
            except Exception:
                continue
    return dtype.itemsize * 8


def _spec(value_info: Any) -> SpecData:
    value_type = value_info.type
    kind = value_type.WhichOneof("value")
    elem_type = "undefined"
    shape: list[int | str | None] = []  # also when the rank is unknown
    if kind in ("tensor_type", "sparse_tensor_type"):
        tensor_type = getattr(value_type, kind)
        elem_type = dtype_name(tensor_type.elem_type)
        if tensor_type.HasField("shape"):
            shape = [_dim(d) for d in tensor_type.shape.dim]
    elif kind is not None:
        elem_type = kind.removesuffix("_type")  # sequence, map, optional
    return {"name": _cap(value_info.name), "elem_type": elem_type, "shape": shape}


def dtype_name(data_type: int) -> str:
    """"float32", "int64", "bfloat16", "string"…; "undefined" for 0."""
    from onnx import TensorProto, helper

    if data_type == TensorProto.UNDEFINED:
        return "undefined"
    if data_type == TensorProto.STRING:
        return "string"
    try:
        return str(helper.tensor_dtype_to_np_dtype(data_type).name)
    except Exception:
        return f"unknown({data_type})"


def _dim(dim: Any) -> int | str | None:
    which = dim.WhichOneof("value")
    if which == "dim_value":
        return int(dim.dim_value)
    if which == "dim_param":
        return _cap(dim.dim_param)
    return None


def _problem(kind: ProblemKind, message: str) -> ProblemData:
    return {"kind": kind, "message": message}


def _first(messages: list[str]) -> list[str]:
    if len(messages) <= MAX_ITEMS:
        return messages
    return messages[:MAX_ITEMS] + [f"… and {len(messages) - MAX_ITEMS:,} more"]


def _cap(text: str, limit: int = MAX_STRING) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
