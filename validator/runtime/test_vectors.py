"""The inputs parity runs on: the package's own test vectors, else deterministic random inputs.

Test vectors, in the two common layouts:
- `test_data/input_<k>.npy` (+ `output_<k>.npy`, the expected first output): case k of a
  single-input model;
- ONNX-style `test_data_set_<k>/input_<j>.pb` (+ `output_<j>.pb`): case k, input/output j, as
  serialized TensorProto. model-check parses those only in a sandboxed child process (the ONNX
  probe), so this module just lists them.

Without test vectors: random inputs (seeded, so every run sees the same numbers) of the declared
input shape and dtype (ONNX graph input, else the card, else the safetensors metadata), at batch 1
and, when the batch dimension is dynamic, batch 2.

.npy files are read with `allow_pickle=False` through a memory map, so a header that claims a huge
array costs nothing and a pickled object array is refused.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from validator.readers.card import parse_field_shape
from validator.readers.package import ModelPackage

if TYPE_CHECKING:  # numpy is imported where arrays are handled (CLI start-up: issue 16)
    import numpy as np

NPY_INPUT = re.compile(r"^(?:.*/)?test_data[^/]*/input_(\d+)\.npy$")
PB_INPUT = re.compile(r"^(?:(.*)/)?test_data_set_(\d+)/input_(\d+)\.pb$")
MAX_ARRAY_BYTES = 512 * 1024 * 1024
MAX_CASES = 8
RANDOM_BATCHES = (1, 2)
ONNX_DTYPES = {"float": "float32", "double": "float64", "float16": "float16", "float32": "float32",
               "float64": "float64", "int64": "int64", "int32": "int32", "int16": "int16", "int8": "int8",
               "uint8": "uint8", "bool": "bool"}


@dataclass
class Array:
    name: str | None  # the ONNX input/output name, when known
    data: np.ndarray
    source: str  # file it came from, or "random, seed 0"


@dataclass
class InputSet:
    id: str  # how the report names this case, e.g. "test_data/input_0.npy" or "random batch 2"
    inputs: list[Array]
    expected: list[Array] = field(default_factory=list)  # shipped expected outputs, in output order

    def describe(self) -> dict[str, Any]:
        return {"id": self.id,
                "arrays": [{"name": a.name, "source": a.source, "shape": list(a.data.shape), "dtype": str(a.data.dtype)}
                           for a in self.inputs],
                "expected": [a.source for a in self.expected]}


@dataclass
class PbCase:
    """An ONNX-style test case, to be converted to arrays by the ONNX probe."""

    id: str  # the folder, e.g. "test_data_set_0"
    inputs: list[str]  # .pb files in input order
    outputs: list[str]


@dataclass
class Inputs:
    sets: list[InputSet] = field(default_factory=list)
    pb_cases: list[PbCase] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, what is wrong)
    random_reason: str | None = None  # why random inputs could not be made, when none were


@dataclass(frozen=True)
class InputSpec:
    name: str | None
    dims: list[int | None]  # None: the batch (or another free) dimension
    dtype: str


def discover(pkg: ModelPackage, specs: list[InputSpec]) -> Inputs:
    """Test vectors when the package ships them, else random inputs from `specs`."""
    found = Inputs()
    single_name = specs[0].name if len(specs) == 1 else None
    for rel in sorted((f for f in pkg.files if NPY_INPUT.match(f)), key=_case_order)[:MAX_CASES]:
        array, problem = load_npy(pkg, rel)
        if problem:
            found.problems.append((rel, problem))
            continue
        case = InputSet(rel, [Array(single_name, array, rel)])
        expected_rel = str(PurePosixPath(rel).with_name(PurePosixPath(rel).name.replace("input_", "output_", 1)))
        if pkg.has(expected_rel):
            expected, problem = load_npy(pkg, expected_rel)
            if problem:
                found.problems.append((expected_rel, problem))
            else:
                case.expected.append(Array(None, expected, expected_rel))
        found.sets.append(case)
    found.pb_cases = _pb_cases(pkg)[:MAX_CASES]
    if not found.sets and not found.pb_cases:
        found.sets, found.random_reason = random_inputs(specs)
    return found


def repeated_to_batch_2(input_set: InputSet) -> InputSet | None:
    """A test case of batch 1 repeated to batch 2 (its expected outputs too): whether the graph's dynamic
    batch really runs at 2 (a Reshape that kept the export's batch of 1 fails here). None when the case is
    not a single input of batch 1."""
    import numpy as np

    if len(input_set.inputs) != 1 or input_set.inputs[0].data.ndim < 1 or input_set.inputs[0].data.shape[0] != 1:
        return None
    given = input_set.inputs[0]
    expected = [Array(a.name, np.concatenate([a.data, a.data]), f"{a.source}, repeated to batch 2")
                for a in itertools.takewhile(lambda a: a.data.ndim >= 1 and a.data.shape[0] == 1, input_set.expected)]
    return InputSet(f"{input_set.id}, repeated to batch 2",
                    [Array(given.name, np.concatenate([given.data, given.data]), f"{given.source}, repeated to batch 2")],
                    expected)


def _case_order(rel: str) -> tuple[str, int]:
    match = NPY_INPUT.match(rel)
    return (str(PurePosixPath(rel).parent), int(match.group(1)) if match else 0)


def _pb_cases(pkg: ModelPackage) -> list[PbCase]:
    cases: dict[str, dict[str, dict[int, str]]] = {}
    for rel in pkg.files:
        folder = str(PurePosixPath(rel).parent)
        name = PurePosixPath(rel).name
        if not re.search(r"(^|/)test_data_set_\d+$", folder):
            continue
        if m := re.fullmatch(r"(input|output)_(\d+)\.pb", name):
            cases.setdefault(folder, {"input": {}, "output": {}})[m.group(1)][int(m.group(2))] = rel
    return [PbCase(folder, [files["input"][i] for i in sorted(files["input"])],
                   [files["output"][i] for i in sorted(files["output"])])
            for folder, files in sorted(cases.items()) if files["input"]]


def load_npy(pkg: ModelPackage, rel: str) -> tuple[np.ndarray, str | None]:
    """A numeric array from a package .npy file, or why it cannot be used."""
    import numpy as np

    try:
        mapped = np.load(pkg.path(rel), mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        text = str(exc)
        if "allow_pickle" in text or "Object arrays" in text or "Python objects" in text:
            return np.empty(0), "holds Python objects (pickle); save a numeric array with np.save"
        return np.empty(0), f"is not a readable .npy array: {text}"
    except (OSError, EOFError) as exc:
        return np.empty(0), f"is not a readable .npy array: {exc}"
    if not isinstance(mapped, np.ndarray):
        return np.empty(0), "is not a single .npy array"
    if mapped.nbytes > MAX_ARRAY_BYTES:
        return np.empty(0), f"is {mapped.nbytes:,} bytes; test vectors above {MAX_ARRAY_BYTES:,} bytes are not loaded"
    if mapped.dtype.kind not in "biuf":
        return np.empty(0), f"has dtype {mapped.dtype}; a model input or output is numeric"
    return np.array(mapped), None


def declared_specs(pkg: ModelPackage, onnx_rel: str | None) -> list[InputSpec]:
    """The model's inputs as declared: the ONNX graph's, else the card's, else the metadata's shape."""
    summary = pkg.onnx.get(onnx_rel) if onnx_rel else None
    fallback = _declared_dims(pkg)
    graph_inputs = list(getattr(summary, "inputs", None) or [])
    if graph_inputs:
        specs = []
        for spec in graph_inputs:
            shape = getattr(spec, "shape", None)
            if shape is None and len(graph_inputs) == 1 and fallback:
                shape = fallback  # rank unknown in the graph: take the declared shape
            dims: list[int | None] = [d if isinstance(d, int) and d >= 0 else None for d in (shape or [])]
            if len(graph_inputs) == 1 and fallback and len(fallback) == len(dims):
                dims = [d if d is not None or i == 0 else fallback[i] for i, d in enumerate(dims)]
            dtype = ONNX_DTYPES.get(str(getattr(spec, "elem_type", "float32")).lower(), "unsupported")
            specs.append(InputSpec(str(spec.name), dims, dtype))
        return specs
    if fallback:
        return [InputSpec(None, fallback, "float32")]
    return []


def _declared_dims(pkg: ModelPackage) -> list[int | None] | None:
    shapes: list[list[str]] = []
    facts = pkg.card_facts
    if facts is not None and facts.input_shape:
        shapes.append(facts.input_shape[0])
    for header in pkg.safetensors.values():
        metadata = getattr(header, "metadata", None) or {}
        if isinstance(metadata.get("input_shape"), str) and (dims := parse_field_shape(metadata["input_shape"])):
            shapes.append(dims)
    for dims in shapes:
        return [int(d) if str(d).isdigit() else None for d in dims]
    return None


def random_inputs(specs: list[InputSpec]) -> tuple[list[InputSet], str | None]:
    """Seeded random inputs at batch 1 and 2 (batch 1 only when the batch size is fixed)."""
    import numpy as np

    if not specs:
        return [], "no input shape is declared (card, ONNX graph or safetensors metadata)"
    for spec in specs:
        label = f"input {spec.name!r}" if spec.name else "the input"
        if spec.dtype == "unsupported":
            return [], f"{label} has a dtype model-check does not generate"
        if any(d is None for d in spec.dims[1:]):
            shown = "[" + ", ".join("?" if d is None else str(d) for d in spec.dims) + "]"
            return [], (f"{label} has free dimensions besides the batch ({shown}) and no declared shape fixes them "
                        f"(ship test vectors)")
    dynamic = any(spec.dims and spec.dims[0] is None for spec in specs)
    batches = RANDOM_BATCHES if dynamic else (None,)
    sets = []
    for seed, batch in enumerate(batches):
        rng = np.random.default_rng(seed)
        arrays = []
        for spec in specs:
            shape = tuple(batch if (d is None and i == 0) else d for i, d in enumerate(spec.dims)) if spec.dims else ()
            arrays.append(Array(spec.name, _random(rng, shape, spec.dtype), f"random, seed {seed}"))
        sets.append(InputSet(f"random batch {batch}" if batch else "random", arrays))
    return sets, None


def _random(rng: np.random.Generator, shape: tuple[Any, ...], dtype: str) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)
