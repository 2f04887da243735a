"""Summaries of ONNX graphs, parsed in a sandboxed child process with memory, CPU and wall-clock limits.

`inspect_onnx` never raises: a crash, a timeout or a malformed file becomes an `OnnxProblem` in
the summary. The parsing itself lives in validator.readers.onnx_child; external-data references are
checked without being opened (validator.readers.onnx_external).
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from validator.readers.onnx_external import ExternalRef
from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import MIB, remove_tree, run_sandboxed

if TYPE_CHECKING:
    from validator.readers.onnx_child import Answer, ProblemKind, RuntimeData, SpecData
    from validator.readers.package import ModelPackage

BASE_MEMORY = 2 * 2**30  # address space of the child besides the model (Python, onnx, numpy)
MEMORY_PER_BYTE = 3  # the file's bytes, the parsed proto, the checker's copy
CPU_SECONDS = 120
WALL_SECONDS = 180.0
OUTPUT_BYTES = 64 * 2**20  # the JSON summary must come back whole
# Start the child with Python's isolated mode (-I: no current folder, user site or PYTHON* variables
# on the path, so a package file named onnx.py is never imported) and find model-check explicitly.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from validator.readers.onnx_child import main; sys.exit(main(sys.argv[2:]))"


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
    try:
        return _inspect(pkg.path(rel), pkg.root, rel)
    except Exception as exc:  # never raise into the checks
        return _failed(rel, "crashed", f"model-check could not start the ONNX inspector: {type(exc).__name__}: {exc}")


def _inspect(path: Path, root: Path, rel: str) -> OnnxSummary:
    """Run the parser in the sandbox of package code: it sees the package (read-only, .git hidden) and
    model-check's own code and libraries, nothing else of the machine, and none of its environment."""
    memory = BASE_MEMORY + MEMORY_PER_BYTE * path.stat().st_size
    code = Path(__file__).resolve().parent.parent  # validator/
    argv = [sys.executable, "-I", "-B", "-c", _BOOT, str(code.parent), str(path), str(root), str(memory), str(CPU_SECONDS)]
    limits = Limits(wall_s=WALL_SECONDS, cpu_s=CPU_SECONDS, memory_mb=-(-memory // MIB), processes=256,
                    output_bytes=OUTPUT_BYTES)
    workdir = Path(tempfile.mkdtemp(prefix="model-check-onnx-"))
    try:
        done = run_sandboxed(argv, workdir, limits, readable=[code, root, path])
    finally:
        remove_tree(workdir)
    if done.timed_out:
        return _failed(rel, "timeout", f"parsing took longer than {WALL_SECONDS:.0f} s and was stopped")
    if done.returncode != 0:
        return _failed(rel, "crashed", _crash_message(done.returncode, memory, done.stderr, done.killed_by))
    try:
        answer: Answer = json.loads(done.stdout)
        return _summary(rel, answer)
    except (ValueError, TypeError, KeyError) as exc:
        return _failed(rel, "crashed", f"the ONNX inspector gave no usable answer ({exc}); {_tail(done.stderr)}")


def _crash_message(returncode: int | None, memory: int, stderr: str, killed_by: str | None = None) -> str:
    if killed_by == "memory":
        return f"the ONNX parser ran out of memory (limit {memory // 2**20:,} MiB): {_tail(stderr)}"
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
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
