"""Summaries of ONNX graphs, parsed in a sandboxed child process with memory, CPU and wall-clock limits.

`inspect_graphs` inspects all of a package's graphs in one child (validator.readers.onnx_child),
which gives each graph the limits a child of its own would have (its address space, CPU seconds and
wall-clock time) and says which graph it is on. When the child dies on a graph (a protobuf bomb, a
crash of the parser, a time limit), that graph gets the failure as its own problem and a new child
inspects the graphs left; a graph that died after others had run in the same process is first
retried alone, so no graph fails because of the ones before it. Starting Python and importing onnx
costs about a second, paid once per package instead of once per graph.

Nothing here raises: a crash, a timeout or a malformed file becomes an `OnnxProblem` in the summary.
External-data references are checked without being opened (validator.readers.onnx_external).
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from validator.readers.onnx_external import ExternalRef
from validator.sandbox.base import Completed, Limits
from validator.sandbox.bubblewrap import MIB, remove_tree, run_sandboxed

if TYPE_CHECKING:
    from validator.readers.onnx_child import Answer, Job, ProblemKind, RuntimeData, SpecData
    from validator.readers.package import ModelPackage

BASE_MEMORY = 2 * 2**30  # address space of the child besides the model (Python, onnx, numpy)
MEMORY_PER_BYTE = 3  # the file's bytes, the parsed proto, the checker's copy
CPU_SECONDS = 120  # per graph
WALL_SECONDS = 180.0  # per graph
OUTPUT_BYTES = 64 * 2**20  # what one child may print: every answer must come back whole
# Start the child with Python's isolated mode (-I: no current folder, user site or PYTHON* variables
# on the path, so a package file named onnx.py is never imported) and find model-check explicitly.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from validator.readers.onnx_child import main; sys.exit(main(sys.argv[2:]))"
_TIME_SIGNALS = {"SIGXCPU", "SIGALRM"}  # the child's per-graph CPU and wall-clock limits


@dataclass(frozen=True)
class TensorSpec:
    name: str
    elem_type: str  # "float32", "int64", …; "undefined"; "sequence"/"map"/"optional" for non-tensors
    shape: tuple[int | str | None, ...]  # per dimension int: fixed, str: symbolic, None: unknown; () when the rank is unknown


@dataclass(frozen=True)
class OnnxProblem:
    kind: ProblemKind
    message: str


@dataclass(frozen=True)
class RuntimeSupport:
    """The newest IR and opset versions the installed onnxruntime loads."""

    onnxruntime: str
    max_ir_version: int | None
    max_opsets: dict[str, int]  # domain ("" is ai.onnx) -> newest opset


@dataclass(frozen=True)
class OnnxSummary:
    rel: str
    ok: bool  # parsed, external data safe and the checker passed
    ir_version: int | None = None
    opset_imports: dict[str, int] = field(default_factory=dict)
    producer_name: str = ""
    producer_version: str = ""
    inputs: list[TensorSpec] = field(default_factory=list)  # graph inputs that are not initializers
    outputs: list[TensorSpec] = field(default_factory=list)
    metadata_props: dict[str, str] = field(default_factory=dict)
    custom_domains: list[str] = field(default_factory=list)
    external_data: list[ExternalRef] = field(default_factory=list)
    initializer_count: int = 0
    parameter_count: int = 0
    node_count: int = 0
    problems: list[OnnxProblem] = field(default_factory=list)
    checker_ran: bool = False
    checker_error: str | None = None
    runtime: RuntimeSupport | None = None  # what the installed onnxruntime loads, read by the inspector

    @property
    def parsed(self) -> bool:
        return self.ir_version is not None


def inspect_onnx(pkg: ModelPackage, rel: str) -> OnnxSummary:
    """Parse `rel` in a limited child process; every failure becomes a problem in the summary."""
    return inspect_graphs(pkg, [rel])[rel]


def inspect_graphs(pkg: ModelPackage, rels: Sequence[str]) -> dict[str, OnnxSummary]:
    """Parse every graph of `rels` in one limited child process (more only when a graph kills it);
    every failure becomes a problem in that graph's summary."""
    found: dict[str, OnnxSummary] = {}
    pending: list[_Graph] = []
    for rel in dict.fromkeys(rels):
        try:
            path = pkg.path(rel)
            pending.append(_Graph(rel, path, BASE_MEMORY + MEMORY_PER_BYTE * path.stat().st_size))
        except Exception as exc:  # never raise into the checks
            found[rel] = _not_started(rel, exc)
    while pending:
        try:
            done = _run_child(pending, pkg.root)
        except Exception as exc:
            found.update((graph.rel, _not_started(graph.rel, exc)) for graph in pending)
            break
        pending = _settle(done, pending, found)
    return {rel: found[rel] for rel in dict.fromkeys(rels)}


@dataclass(frozen=True)
class _Graph:
    rel: str
    path: Path
    memory: int  # its address-space limit: BASE_MEMORY + MEMORY_PER_BYTE * size


def _not_started(rel: str, exc: Exception) -> OnnxSummary:
    return _failed(rel, "crashed", f"model-check could not start the ONNX inspector: {type(exc).__name__}: {exc}")


def _run_child(graphs: list[_Graph], root: Path) -> Completed:
    """Run the parser in the sandbox of package code: it sees the package (read-only, .git hidden) and
    model-check's own code and libraries, nothing else of the machine, and none of its environment."""
    memory = max(graph.memory for graph in graphs)
    code = Path(__file__).resolve().parent.parent  # validator/
    workdir = Path(tempfile.mkdtemp(prefix="model-check-onnx-"))
    try:
        job: Job = {"root": str(root), "cpu_s": CPU_SECONDS, "wall_s": WALL_SECONDS, "output_bytes": OUTPUT_BYTES,
                    "graphs": [(str(graph.path), graph.memory) for graph in graphs]}
        (workdir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        argv = [sys.executable, "-I", "-B", "-c", _BOOT, str(code.parent), str(workdir / "job.json")]
        # The whole child: the graphs' own limits one after the other, plus as much again for starting.
        count = len(graphs) + 1
        limits = Limits(wall_s=WALL_SECONDS * count, cpu_s=CPU_SECONDS * count, memory_mb=-(-memory // MIB),
                        processes=256, output_bytes=OUTPUT_BYTES)
        outside = [graph.path for graph in graphs if root not in graph.path.parents]
        return run_sandboxed(argv, workdir, limits, readable=[code, root, *outside])
    finally:
        remove_tree(workdir)


def _settle(done: Completed, graphs: list[_Graph], found: dict[str, OnnxSummary]) -> list[_Graph]:
    """Take the child's answers into `found`; give its failure to the graph it died on (or to all, when
    it died before starting one); return the graphs a new child must inspect, the one to retry first."""
    answers, started, bad_line = _read_output(done.stdout, len(graphs))
    for index, answer in answers.items():
        rel = graphs[index].rel
        try:
            found[rel] = _summary(rel, answer)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            found[rel] = _failed(rel, "crashed", f"the ONNX inspector gave no usable answer ({exc}); {_tail(done.stderr)}")
    left = [index for index in range(len(graphs)) if index not in answers]
    if not left:
        return []
    current = started[-1] if started and started[-1] not in answers else None
    if current is None:
        if answers:  # it stopped between two graphs: a new child goes on
            return [graphs[index] for index in left]
        for index in left:  # it never reached a graph: whatever stopped it stops every one
            found[graphs[index].rel] = _failure(done, graphs[index], bad_line)
        return []
    kind = _failure(done, graphs[current], bad_line)
    first_here = started[0] == current
    stopped_on_time = kind.problems[0].kind == "timeout" or _signal_name(done.returncode) in _TIME_SIGNALS
    if first_here or stopped_on_time or not answers:
        found[graphs[current].rel] = kind
        return [graphs[index] for index in left if index != current]
    # It died on a graph after others ran in the same process: try that one alone first.
    return [graphs[current], *(graphs[index] for index in left if index != current)]


def _read_output(stdout: str, count: int) -> tuple[dict[int, Answer], list[int], str | None]:
    """The answers by graph index, the graphs started in order, and why the first unusable line was."""
    answers: dict[int, Answer] = {}
    started: list[int] = []
    bad_line: str | None = None
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            if not isinstance(value, dict):
                raise TypeError(f"a JSON {type(value).__name__}, not an object")
            if "start" in value:
                index = _index(value["start"], count)
                if index not in started:
                    started.append(index)
            else:
                answers[_index(value["index"], count)] = value["answer"]
        except (ValueError, TypeError, KeyError) as exc:
            bad_line = bad_line or str(exc)
    return answers, started, bad_line


def _index(value: object, count: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < count:
        raise ValueError(f"graph index {value!r} is not one of the {count} graphs asked for")
    return value


def _failure(done: Completed, graph: _Graph, bad_line: str | None) -> OnnxSummary:
    """The summary of a graph the child gave no answer for, saying why."""
    name = _signal_name(done.returncode)
    if done.timed_out or name == "SIGALRM":
        return _failed(graph.rel, "timeout", f"parsing took longer than {WALL_SECONDS:.0f} s and was stopped")
    if done.returncode != 0:
        return _failed(graph.rel, "crashed", _crash_message(done.returncode, graph.memory, done.stderr, done.killed_by))
    reason = bad_line or "no answer for this file"
    return _failed(graph.rel, "crashed", f"the ONNX inspector gave no usable answer ({reason}); {_tail(done.stderr)}")


def _signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _crash_message(returncode: int | None, memory: int, stderr: str, killed_by: str | None = None) -> str:
    if killed_by == "memory":
        return f"the ONNX parser ran out of memory (limit {memory // 2**20:,} MiB): {_tail(stderr)}"
    name = _signal_name(returncode)
    if name is not None:
        cause = {
            "SIGSEGV": "a segmentation fault in the parser (malformed or malicious file)",
            "SIGXCPU": f"more than {CPU_SECONDS} s of CPU time",
            "SIGKILL": f"more than {CPU_SECONDS} s of CPU time, or killed from outside",
            "SIGABRT": f"an abort, often more than the {memory // 2**20:,} MiB memory limit",
        }.get(name, "a crash in the parser")
        return f"the ONNX parser was stopped by {name}: {cause}"
    return f"the ONNX parser exited with status {returncode}: {_tail(stderr)}"


def _tail(stderr: str, limit: int = 400) -> str:
    text = stderr.strip()
    return text[-limit:] if text else "no error output"


def _failed(rel: str, kind: ProblemKind, message: str) -> OnnxSummary:
    return OnnxSummary(rel=rel, ok=False, problems=[OnnxProblem(kind, message)])


def _summary(rel: str, data: Answer) -> OnnxSummary:
    problems = [OnnxProblem(p["kind"], str(p["message"])) for p in data.get("problems", [])]
    if "ir_version" not in data:
        return OnnxSummary(rel=rel, ok=False, problems=problems)
    checker_error = data.get("checker_error")
    return OnnxSummary(
        rel=rel,
        ok=not problems and checker_error is None and bool(data["checker_ran"]),
        ir_version=int(data["ir_version"]),
        opset_imports={str(k): int(v) for k, v in data["opset_imports"].items()},
        producer_name=str(data["producer_name"]),
        producer_version=str(data["producer_version"]),
        inputs=[_spec(s) for s in data["inputs"]],
        outputs=[_spec(s) for s in data["outputs"]],
        metadata_props={str(k): str(v) for k, v in data["metadata_props"].items()},
        custom_domains=[str(d) for d in data["custom_domains"]],
        external_data=[ExternalRef(**ref) for ref in data["external_data"]],
        initializer_count=int(data["initializer_count"]),
        parameter_count=int(data["parameter_count"]),
        node_count=int(data["node_count"]),
        problems=problems,
        checker_ran=bool(data["checker_ran"]),
        checker_error=checker_error,
        runtime=_runtime(data["runtime"]) if data.get("runtime") else None,
    )


def _spec(data: SpecData) -> TensorSpec:
    return TensorSpec(str(data["name"]), str(data["elem_type"]), tuple(data["shape"]))


def runtime_support() -> RuntimeSupport:
    """What the installed onnxruntime loads, read in this process (the checks use the child's answer)."""
    from validator.readers.onnx_child import runtime_support as read

    return _runtime(read())


def _runtime(data: RuntimeData) -> RuntimeSupport:
    max_ir = data["max_ir_version"]
    return RuntimeSupport(str(data["onnxruntime"]), None if max_ir is None else int(max_ir),
                          {str(k): int(v) for k, v in data["max_opsets"].items()})
