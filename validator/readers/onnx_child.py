"""The child process that parses a package's untrusted ONNX files and prints one JSON answer per file.

validator.readers.onnx starts one such child for all of a package's graphs with `python -I -B -c BOOT
code JOB`, JOB being a JSON file in its scratch folder: {"root": …, "cpu_s": …, "wall_s": …,
"output_bytes": …, "graphs": [[path, memory_bytes], …]}. It forbids file writes and core dumps, then
inspects the graphs one after the other, each under its own limits, as if it had a process of its
own: its own address space (RLIMIT_AS soft limit: the memory a child for that file alone would get),
its own CPU seconds (RLIMIT_CPU soft limit: the CPU time used so far plus `cpu_s`) and its own
wall-clock time (an ITIMER_REAL alarm of `wall_s`, whose SIGALRM ends the process, also inside the
parser's C++). A protobuf bomb or a crash in the parser therefore ends this process while that graph
is being inspected; the parent knows which one from the progress lines and starts a new child for
the graphs left. External data is never loaded: references are checked with lstat().

Output, one JSON object per line on the original stdout (what libraries print goes to stderr):
  {"start": i}                 graph i (its position in JOB) is being inspected now
  {"index": i, "answer": …}    the Answer for graph i
The child stops early, with status 0 and no answer for the graph it was on, when that graph ran short
of memory after other graphs had run in this process (a fresh process tries it alone: what the ones
before left behind may be the cause) or when its answer would push the output past `output_bytes` (a
fresh process goes on from there).
"""

from __future__ import annotations

import functools
import json
import math
import os
import resource
import signal
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, Literal, TypedDict

from validator.readers.onnx_external import check_external

MAX_NESTING = 32  # subgraph depth that no real model reaches
MAX_STRING = 500  # characters kept of any string taken from the model
MAX_ITEMS = 200  # entries kept of metadata_props and of problem lists
STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
ANSWER_ROOM = 4096  # bytes of output kept free for the progress lines of one graph


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


class Job(TypedDict):
    """What the parent asks for (written to a file in the child's scratch folder)."""

    root: str
    cpu_s: int  # CPU seconds per graph
    wall_s: float  # wall-clock seconds per graph
    output_bytes: int  # the most this child may print
    graphs: list[tuple[str, int]]  # (path, address-space limit in bytes) per graph, in order


def main(argv: list[str]) -> int:
    job: Job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    graphs = [(Path(path), int(memory)) for path, memory in job["graphs"]]
    ceiling = max((memory for _, memory in graphs), default=0)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))  # lowered to each graph's own limit below
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    output = _Output(os.fdopen(os.dup(1), "w", encoding="utf-8"), int(job["output_bytes"]))
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the JSON
    root = Path(job["root"])
    try:
        import onnx  # noqa: F401  # with numpy and ml_dtypes, most of the child's start: once, not per graph
    except MemoryError:  # under the largest graph's limit: no graph gets further
        for index, (_, memory) in enumerate(graphs):
            output.answer(index, {"problems": [_too_much_memory(memory)]})
        return 0
    for index, (path, memory) in enumerate(graphs):
        if not output.write({"start": index}):
            break
        _limit_graph(memory, int(job["cpu_s"]), float(job["wall_s"]))
        result: Answer
        try:
            result = inspect(path, root)
        except MemoryError:
            if index > 0:  # memory left over from the graphs before may be the cause: a fresh process tries it
                break
            result = {"problems": [_too_much_memory(memory)]}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if index > 0 and _short_of_memory(result):  # the parser or checker reported it in its own words
            break
        if not output.answer(index, result):
            break
    output.stream.close()
    return 0


_MEMORY_SIGNS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")


def _short_of_memory(result: Answer) -> bool:
    """Whether an answer says the parser or the checker ran short of memory (not as a MemoryError)."""
    texts = [p["message"] for p in result.get("problems", [])] + [result.get("checker_error") or ""]
    return any(sign in text for text in texts for sign in _MEMORY_SIGNS)


def _too_much_memory(memory_bytes: int) -> ProblemData:
    return _problem("crashed", f"parsing needed more than the {memory_bytes // 2**20:,} MiB allowed")


def _limit_graph(memory_bytes: int, cpu_s: int, wall_s: float) -> None:
    """The limits a child of this graph alone would have: its address space, `cpu_s` more CPU seconds
    than used so far (SIGXCPU ends the process) and `wall_s` of wall-clock time (SIGALRM, whose default
    action ends the process even while the parser's C++ holds the interpreter)."""
    _, ceiling = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (min(memory_bytes, ceiling), ceiling))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_s
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, wall_s)


class _Output:
    """The progress and answer lines, flushed one by one, never more than `limit` bytes in all."""

    def __init__(self, stream: IO[str], limit: int) -> None:
        self.stream, self.limit, self.written = stream, limit, 0

    def write(self, value: object) -> bool:
        line = json.dumps(value) + "\n"  # ASCII: one character is one byte
        if self.written + len(line) > self.limit:
            return False
        self.stream.write(line)
        self.stream.flush()
        self.written += len(line)
        return True

    def answer(self, index: int, result: Answer) -> bool:
        line = json.dumps({"index": index, "answer": result})
        if len(line) > self.limit - ANSWER_ROOM:  # would fit in no child's output
            size = len(line)
            result = {"problems": [_problem("crashed", f"the ONNX inspector gave no usable answer (its summary of the "
                                            f"file is {size:,} bytes, more than the {self.limit:,} kept)")]}
        return self.write({"index": index, "answer": result})


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
    result["runtime"] = _runtime_support_once()
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


@functools.cache
def _runtime_support_once() -> RuntimeData:
    """runtime_support() read once per child: it lists every operator schema of onnxruntime."""
    return runtime_support()


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
