"""Typed records the report carries as JSON objects: the parity comparison and the rebuilt environment."""

# (No `from __future__ import annotations`: Python 3.11 misses NotRequired in string annotations.)
from typing import NotRequired, TypedDict


class ParityRecord(TypedDict):
    """The report's `parity` object (schemas/report.schema.json); the probe keys appear only when known."""

    passed: bool
    rtol: float
    atol: float
    max_abs_diff: float | None
    max_rel_diff: float | None
    inputs: list[dict[str, object]]  # test_vectors.InputSet.describe()
    outputs: list[dict[str, object]]  # one per comparison: kind, input, then parity.Comparison.to_dict()
    onnx_runtime: NotRequired[str]  # which onnxruntime ran the graph
    native: NotRequired[str]  # how the native model was built
    onnx_skipped: NotRequired[str]
    native_skipped: NotRequired[str]
    native_attempts: NotRequired[list[dict[str, object]]]
    torch: NotRequired[str]


class SandboxRecord(TypedDict):
    network_isolated: bool
    processes_bounded: bool


class EnvironmentRecord(TypedDict):
    """The report's `environment` object: the rebuilt environment, or why it was not built (`error`)."""

    kind: str
    description: NotRequired[str]
    runtime_file: NotRequired[str]
    python: str | None
    python_requested: NotRequired[str | None]
    cache_key: str | None
    cached: bool
    build_s: float
    installed: dict[str, str]
    torch_backend: str | None
    notes: list[str]
    error: NotRequired[str]
    sandbox: NotRequired[SandboxRecord]
