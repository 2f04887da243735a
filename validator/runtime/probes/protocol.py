"""The probes' JSON protocol: the plans model-check writes for them and the results they write back.

A probe runs package code in its own process, so its result file is untrusted: `conform` checks it
against the TypedDict it should match and keeps only what matches. The probe scripts name these
types under TYPE_CHECKING only: at run time they import nothing of model-check.

(No `from __future__ import annotations` here: Python 3.11 misses NotRequired in string annotations.)
"""

import functools
import types
from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict, TypeVar, Union, cast, get_args, get_origin, get_type_hints, is_typeddict

# -- plans (model-check -> probe) ---------------------------------------------------------------------


class InputFile(TypedDict):
    name: str | None
    file: str  # an .npy file, relative to the workdir


class InputSetPlan(TypedDict):
    id: str
    inputs: list[InputFile]


class NativePlan(TypedDict):
    weights: str  # the .safetensors file
    factory: str | None  # "module:function" named in model-check.toml
    conventional: str | None  # module whose conventional factories are tried ("inference")
    architecture: str | None  # safetensors `architecture` metadata ("timm.resnet50d")
    in_chans: int | None
    num_classes: int | None
    input_sets: list[InputSetPlan]
    result: NotRequired[str]  # where the probe writes its JSON result and its .npz, set when staged
    out_file: NotRequired[str]


class GraphPlan(TypedDict):
    onnx: str  # the .onnx file
    input_sets: list[InputSetPlan]  # may be empty: the session is created and described, not run


class OnnxPlan(TypedDict):
    graphs: list[GraphPlan]  # empty: only convert test vectors
    convert: list[str]  # ONNX TensorProto .pb files to read into arrays
    result: NotRequired[str]
    out_file: NotRequired[str]


class NotebookPlan(TypedDict):
    notebook: str  # the .ipynb file
    layer: str | None  # a folder with ipykernel/nbclient APPENDED to sys.path, or None
    timeout_s: float  # per cell
    result: str


# -- results (probe -> model-check, untrusted) ----------------------------------------------------------


class OutputRecord(TypedDict):
    name: str | None
    key: str  # the array's name in the probe's .npz
    shape: list[int]
    dtype: str


class SetRecord(TypedDict):
    """What running one input set gave: its outputs, or the error it raised."""

    id: str
    outputs: list[OutputRecord]
    error: NotRequired[str]
    traceback: NotRequired[str]


class LoadAttempt(TypedDict):
    """One way of building the native model and loading the weights into it strictly."""

    how: str
    built: bool
    loaded: bool
    model_class: NotRequired[str]  # module.QualName of the model built
    tensors: NotRequired[int]  # tensors in the weights file
    error: NotRequired[str]
    traceback: NotRequired[str]
    state_dict_error: NotRequired[bool]  # the factory itself failed inside load_state_dict
    missing: NotRequired[list[str]]  # the first few keys of each kind; the counts are complete
    missing_count: NotRequired[int]
    unexpected: NotRequired[list[str]]
    unexpected_count: NotRequired[int]
    mismatched: NotRequired[list[str]]
    mismatched_count: NotRequired[int]


NativeStatus = Literal["ok", "unavailable", "weights-unreadable", "no-model"]


class NativeResult(TypedDict):
    status: NativeStatus
    attempts: list[LoadAttempt]
    sets: list[SetRecord]
    reason: NotRequired[str]
    traceback: NotRequired[str]
    torch: NotRequired[str]  # torch.__version__
    native: NotRequired[str]  # the attempt that built the model
    model_class: NotRequired[str]  # module.QualName of that model
    parameters: NotRequired[int]  # its parameter count
    architecture_check: NotRequired[LoadAttempt]  # does the declared architecture alone load the weights?


class Converted(TypedDict):
    pb: str
    key: NotRequired[str]
    name: NotRequired[str]
    shape: NotRequired[list[int]]
    dtype: NotRequired[str]
    error: NotRequired[str]


class GraphValue(TypedDict):
    name: str
    type: str
    shape: list[int | str | None]


GraphStatus = Literal["ok", "load-failed"]


class GraphResult(TypedDict):
    """One graph's ONNX Runtime session: how it was created and what each input set gave."""

    onnx: str
    status: GraphStatus
    sets: list[SetRecord]
    reason: NotRequired[str]  # why the session could not be created
    traceback: NotRequired[str]
    providers: NotRequired[list[str]]  # session.get_providers()
    inputs: NotRequired[list[GraphValue]]
    outputs: NotRequired[list[GraphValue]]


OnnxStatus = Literal["ok", "unavailable"]


class OnnxResult(TypedDict):
    status: OnnxStatus  # unavailable: onnxruntime cannot be imported (graphs then empty)
    converted: list[Converted]
    graphs: list[GraphResult]  # in the plan's order
    reason: NotRequired[str]
    onnxruntime: NotRequired[str]


class FrameworkPlan(TypedDict):
    framework: str  # "sklearn" (skops), "lightgbm", "xgboost", "keras"
    artefact: str  # the native model file
    backend: str | None  # KERAS_BACKEND for a .keras file
    input_sets: list[InputSetPlan]
    result: NotRequired[str]
    out_file: NotRequired[str]


FrameworkStatus = Literal["ok", "unavailable", "load-failed", "untrusted"]


class FrameworkResult(TypedDict):
    """What the framework probe found: the loaded model, its classes, and the outputs per input set."""

    status: FrameworkStatus
    framework: str
    sets: list[SetRecord]
    reason: NotRequired[str]
    traceback: NotRequired[str]
    version: NotRequired[str]  # the framework's __version__
    model_class: NotRequired[str]
    untrusted: NotRequired[list[str]]  # skops.io.get_untrusted_types (the file was not loaded)
    classes: NotRequired[list[str]]  # scikit-learn classes_, in order
    class_count: NotRequired[int]  # LightGBM/XGBoost classifiers
    objective: NotRequired[str]
    output_units: NotRequired[int]  # Keras: units of the first output
    backend: NotRequired[str]  # Keras backend used


NotebookStatus = Literal["ok", "unavailable", "unreadable", "unsupported-kernel", "timeout", "kernel-died", "cell-error",
                         "error"]


class NotebookResult(TypedDict):
    status: NotebookStatus
    reason: NotRequired[str]
    cells: NotRequired[int]
    code_cells: NotRequired[int]
    cell_index: NotRequired[int | None]  # the cell the run stopped in, 0-based
    first_line: NotRequired[str]  # its first non-blank line
    ename: NotRequired[str | None]
    evalue: NotRequired[str]
    traceback: NotRequired[str]


# -- checking untrusted results ----------------------------------------------------------------------

Shape = TypeVar("Shape")


def conform(value: object, shape: type[Shape]) -> Shape | None:
    """`value` as the TypedDict `shape`, or None when a required key is missing or of the wrong type.
    Optional keys of the wrong type, unknown keys and list items that do not match are left out."""
    matched, kept = _conform(value, shape)
    return cast(Shape, kept) if matched else None


def _conform(value: object, hint: object) -> tuple[bool, object]:
    """(whether value matches hint, the matching part of it)."""
    if hint is type(None):
        return value is None, None
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), value
    if hint is str:
        return isinstance(value, str), value
    origin = get_origin(hint)
    if origin is Literal:
        return isinstance(value, str) and value in get_args(hint), value
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            matched, kept = _conform(value, option)
            if matched:
                return True, kept
        return False, None
    if origin is list:
        if not isinstance(value, list):
            return False, None
        (item_hint,) = get_args(hint)
        items = [_conform(item, item_hint) for item in value]
        return True, [kept for matched, kept in items if matched]
    if isinstance(hint, type) and is_typeddict(hint):
        return _conform_dict(value, hint)
    raise TypeError(f"conform() does not handle {hint!r}")


def _conform_dict(value: object, shape: type) -> tuple[bool, object]:
    if not isinstance(value, dict):
        return False, None
    fields, required = _fields(shape)
    kept: dict[str, object] = {}
    for key, hint in fields.items():
        if key not in value:
            if key in required:
                return False, None
            continue
        matched, item = _conform(value[key], hint)
        if matched:
            kept[key] = item
        elif key in required:
            return False, None
    return True, kept


@functools.cache
def _fields(shape: type) -> tuple[Mapping[str, object], frozenset[str]]:
    required: frozenset[str] = getattr(shape, "__required_keys__", frozenset())
    return get_type_hints(shape), required
