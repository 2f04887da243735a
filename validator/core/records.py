"""Typed records the report carries as JSON objects: the parity comparison (with what ran: ONNX Runtime sessions,
the native model the weights loaded into) and the rebuilt environment."""

# (No `from __future__ import annotations`: Python 3.11 misses NotRequired in string annotations.)
from typing import NotRequired, TypedDict


class TensorRecord(TypedDict):
    """A graph input or output as ONNX Runtime declares it (None or a name for a free dimension)."""

    name: str
    type: str  # e.g. "tensor(float)"
    shape: list[int | str | None]


class ProducedRecord(TypedDict):
    """One output a model returned on one input set."""

    name: str | None
    shape: list[int]
    dtype: str


class RunRecord(TypedDict):
    """One input set run through a model: the batch size and what came out, or the error it raised."""

    input: str  # the input set's id, e.g. "random batch 2" or "test_data/input_0.npy"
    batch: int | None  # dimension 0 of its first input (None: a scalar input)
    outputs: list[ProducedRecord]
    error: NotRequired[str]


class OnnxSessionRecord(TypedDict):
    """One .onnx file in ONNX Runtime: the session model-check created and what running it showed."""

    file: str
    runner: str  # which onnxruntime: the package environment's, or model-check's (and its version)
    loaded: bool  # an InferenceSession was created
    providers: list[str]  # session.get_providers()
    inputs: list[TensorRecord]
    outputs: list[TensorRecord]
    runs: list[RunRecord]  # empty: no test input could be made for this graph
    error: NotRequired[str]  # why no session could be created


class NativeLoadRecord(TypedDict):
    """The framework-native model the weights were loaded into, and how strictly."""

    weights: str  # the .safetensors file
    built_by: str  # "factory inference:load_model", "architecture timm.resnet18d (safetensors metadata)"
    model_class: str  # module.QualName, e.g. "inference.TinyNet"
    strict: bool  # load_state_dict(strict=True) succeeded: no missing, unexpected or mismatched key
    tensors: int  # tensors in the weights file
    parameters: NotRequired[int]  # parameters of the model
    torch: NotRequired[str]
    runs: list[RunRecord]  # empty when the weights did not load or no test input could be made
    missing: NotRequired[list[str]]  # when not strict: the first keys of each kind, and the full counts
    missing_count: NotRequired[int]
    unexpected: NotRequired[list[str]]
    unexpected_count: NotRequired[int]
    mismatched: NotRequired[list[str]]
    mismatched_count: NotRequired[int]
    error: NotRequired[str]


class ParityRecord(TypedDict):
    """The report's `parity` object (schemas/report.schema.json); the probe keys appear only when known.

    It is there whenever a model ran (or a session or strict load was attempted), even when nothing
    could be compared: `passed` is then None, and the findings of the parity area say why."""

    passed: bool | None  # None: nothing was compared
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
    onnx_sessions: NotRequired[list[OnnxSessionRecord]]  # every .onnx file run, the compared one first
    native_load: NotRequired[NativeLoadRecord]  # the model the weights loaded into (strictly)


class SandboxRecord(TypedDict):
    network_isolated: bool
    processes_bounded: bool


class ReplacementRecord(TypedDict):
    """A GPU-only line of a runtime file, and what a CPU build installed instead (None: dropped)."""

    file: str
    line: int
    original: str
    replacement: str | None


class EnvCacheRecord(TypedDict):
    """The environment's tarball in --env-cache: whether it was loaded, saved or rejected, and its size."""

    file: str  # the tarball, DIR/<key>.tar
    loaded: bool  # the image came from the tarball (verified), not from a build
    saved: bool  # the image built in this run was written to the tarball
    bytes: int | None  # the tarball's size
    seconds: float  # time to load or save it
    problem: NotRequired[str]  # why a tarball was not used (a wrong label, unreadable), or could not be written
    pruned: NotRequired[list[str]]  # archives of older environments of the same package removed after the save


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
    cpu_replacements: NotRequired[list[ReplacementRecord]]  # GPU-only pins replaced for a CPU build
    peak_disk_bytes: NotRequired[int | None]  # docker: measured peak growth of the engine's data during the build
    env_cache: NotRequired[EnvCacheRecord]  # docker with --env-cache
