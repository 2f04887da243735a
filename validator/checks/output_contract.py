"""Segmentation and regression outputs: what the package states about them, and whether the model does it.

The guideline: "For regression or segmentation models, check output shape, units, nodata handling, and
geospatial alignment." The contract (validator.readers.output_contract) says what the card, config.json
and the safetensors metadata state; this module reports what is missing or contradicts the ONNX graph
(static, called by the consistency check) and runs the native model and the ONNX graph on probe inputs
(dynamic, called by the parity check): batch 1 and 2, a second tile size where the graph's spatial
dimensions are dynamic, and a tile with a nodata patch where an input nodata value is stated. Each
output is checked against its declared shape, the input's spatial size (unless a stride or crop is
stated), its declared value range and nodata fill, and for segmentation the native and ONNX class maps
(arg-max over the class axis) must agree. Classifiers are left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from validator.core.catalogue import rule
from validator.core.findings import Finding
from validator.readers.output_contract import (
    REGRESSION,
    SEGMENTATION,
    OutputContract,
    OutputSpec,
    Stated,
    nodata_value,
    read_contract,
)
from validator.runtime.test_vectors import declared_specs, load_npy

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from validator.readers.package import ModelPackage

RANGE_SLACK = 1e-6


def _where(stated: Stated | None, fallback: str | None) -> tuple[str | None, int | None]:
    """(file, line) of a statement, else the fallback file."""
    return (stated.file, stated.line) if stated is not None else (fallback, None)


# -- static: what is stated, against the graph --------------------------------------------------------

def static_findings(pkg: ModelPackage) -> list[Finding]:
    contract = read_contract(pkg)
    if not contract.dense:
        return []
    card = contract.card or "README.md"
    found: list[Finding] = []
    if not contract.tasks:
        found.append(rule("task-undeclared").finding(
            f"the ONNX outputs look like a {contract.guessed} model (per-pixel outputs), but neither the card nor "
            f"config.json nor the safetensors metadata states the task; state it (e.g. `Task: semantic-segmentation`)",
            file=card))
    regression_only = contract.tasks == {REGRESSION} or (not contract.tasks and contract.guessed == REGRESSION)
    for position, spec in enumerate(contract.outputs or [OutputSpec(None)]):
        is_regression = REGRESSION in spec.tasks or (regression_only and SEGMENTATION not in spec.tasks)
        if is_regression and spec.units is None:
            label = f"output {spec.name!r}" if spec.name else f"output {position}"
            found.append(rule("output-units-missing").finding(
                f"{label} is a regression output, but no unit is stated for it (card, config.json `units` or "
                f"safetensors `output_units`); state its unit (e.g. `Output units: m`, `1` for a fraction)", file=card))
    outputs_nodata = contract.output_nodata is not None or any(o.nodata is not None for o in contract.outputs)
    if contract.input_nodata is None or not outputs_nodata:
        missing = " and ".join(part for part, absent in (("the input's nodata value", contract.input_nodata is None),
                                                          ("what the outputs hold at nodata pixels", not outputs_nodata)) if absent)
        found.append(rule("nodata-convention-missing").finding(
            f"the card does not state {missing}; model-check does not guess a convention: state it (e.g. `Input "
            f"nodata: 0`, `Output nodata: NaN` or the fill value)", file=card))
    found += _graph_shapes(pkg, contract)
    return found


def _graph_shapes(pkg: ModelPackage, contract: OutputContract) -> list[Finding]:
    main = pkg.find("model.onnx") or next(iter(sorted(pkg.onnx)), None)
    summary = pkg.onnx.get(main) if main else None
    if summary is None:
        return []
    found = []
    for position, output in enumerate(summary.outputs):
        spec = contract.spec(output.name, position)
        dims = spec.dims() if spec is not None else None
        if spec is None or dims is None or not output.shape:
            continue
        graph = [str(d) if d is not None else "?" for d in output.shape]
        differ = len(dims) != len(graph) or any(
            mine.isdigit() and theirs.isdigit() and int(mine) != int(theirs) for mine, theirs in zip(dims, graph, strict=False))
        if differ:
            found.append(rule("output-shape-mismatch").finding(
                f"output {output.name!r} is declared as {','.join(dims)} ({spec.shape.value if spec.shape else ''}), "
                f"but {main} gives it shape [{', '.join(graph)}]", *_where(spec.shape, main)))
    return found


# -- dynamic: run the model on probe inputs --------------------------------------------------------------

@dataclass
class ProbeSet:
    id: str
    data: np.ndarray
    nodata_mask: np.ndarray | None = None  # (N, H, W): pixels whose every channel is the nodata value


Produced = dict[str, list[list[tuple[str | None, "np.ndarray"]] | None]]  # "native" / "ONNX" -> per set, its outputs


def probe_findings(pkg: ModelPackage, onnx_rel: str | None,
                   run: Callable[[str | None, list[tuple[str, np.ndarray]]], Produced]) -> list[Finding]:
    """Run the native model and the ONNX graph on the probe inputs (`run`: the parity check's probes, given the
    graph's input name and (id, array) sets) and check each output."""
    contract = read_contract(pkg)
    if not contract.dense:
        return []
    specs = declared_specs(pkg, onnx_rel)
    if (len(specs) != 1 or len(specs[0].dims) != 4 or not all(isinstance(d, int) for d in specs[0].dims[1:])
            or not specs[0].dtype.startswith("float")):
        return []  # one float image input of a known size: what the probe tiles are made for
    sets = _probe_sets(pkg, contract, specs[0].dims, _spatial_dynamic(pkg, onnx_rel))
    runs = run(specs[0].name, [(s.id, s.data.astype(specs[0].dtype)) for s in sets])
    return _judge(contract, sets, specs[0].dims, runs, onnx_rel)


def _spatial_dynamic(pkg: ModelPackage, onnx_rel: str | None) -> bool:
    summary = pkg.onnx.get(onnx_rel) if onnx_rel else None
    inputs = list(getattr(summary, "inputs", None) or [])
    return len(inputs) == 1 and len(inputs[0].shape) == 4 and all(isinstance(d, str) for d in inputs[0].shape[2:])


def _probe_sets(pkg: ModelPackage, contract: OutputContract, dims: list[int | None], dynamic: bool) -> list[ProbeSet]:
    import numpy as np

    channels, height, width = (int(d or 0) for d in dims[1:])
    rng = np.random.default_rng(20261203)
    base = rng.uniform(0.05, 0.5, (1, channels, height, width)).astype(np.float32)
    shipped = next((rel for rel in sorted(pkg.files) if rel.endswith("test_data/input_0.npy")), None)
    if shipped is not None:
        array, problem = load_npy(pkg, shipped)
        if problem is None and array.shape == base.shape and array.dtype == np.float32:
            base = np.array(array)
    nodata = nodata_value(contract.input_nodata)
    if nodata is not None:  # the clean tiles hold no nodata pixel: outside the patch, outputs must be data
        clean = _mask(base, nodata)
        base[np.broadcast_to(clean[:, None], base.shape)] = np.float32(0.123)
    sets = [ProbeSet(f"probe {height}x{width} batch 1", base)]
    if dims[0] is None:
        second = rng.uniform(0.05, 0.5, base.shape).astype(np.float32)
        sets.append(ProbeSet(f"probe {height}x{width} batch 2", np.concatenate([base, second])))
    if dynamic:
        h2, w2 = max(16, (height * 3 // 4) // 16 * 16), max(16, (width * 3 // 4) // 16 * 16)
        if (h2, w2) != (height, width):
            sets.append(ProbeSet(f"probe {h2}x{w2} batch 1", rng.uniform(0.05, 0.5, (1, channels, h2, w2)).astype(np.float32)))
    if nodata is not None:
        patched = base.copy()
        patched[:, :, height // 8: height // 4 + 1, width // 2: width // 2 + max(1, width // 8)] = np.float32(nodata)
        sets.append(ProbeSet(f"probe {height}x{width} with a nodata patch", patched, _mask(patched, nodata)))
    return sets


def _mask(data: np.ndarray, nodata: float) -> np.ndarray:
    import numpy as np

    mask: np.ndarray = np.isnan(data).all(axis=1) if math.isnan(nodata) else (data == np.float32(nodata)).all(axis=1)
    return mask


def _expected_spatial(contract: OutputContract, spec: OutputSpec | None, declared: tuple[int, int], given: tuple[int, int]) -> tuple[int, int]:
    if contract.stride or contract.crop:
        stride, crop = contract.stride or 1, contract.crop or 0
        return (given[0] - 2 * crop) // stride, (given[1] - 2 * crop) // stride
    dims = spec.dims() if spec is not None else None
    if dims and len(dims) >= 3 and dims[-1].isdigit() and dims[-2].isdigit():
        out = (int(dims[-2]), int(dims[-1]))
        return given[0] * out[0] // declared[0], given[1] * out[1] // declared[1]
    return given


def _judge(contract: OutputContract, sets: list[ProbeSet], dims: list[int | None],
           runs: Produced, onnx_rel: str | None) -> list[Finding]:
    import numpy as np

    found: dict[tuple[str, str], Finding] = {}  # one finding per (rule, output)
    card = contract.card
    declared = (int(dims[2] or 0), int(dims[3] or 0))
    checked: list[str] = []

    def add(name: str, key: str, finding: Finding) -> None:
        found.setdefault((name, key), finding)

    for side, per_set in runs.items():
        for probe, outputs in zip(sets, per_set, strict=False):
            if outputs is None:
                continue
            batch, given = probe.data.shape[0], (probe.data.shape[2], probe.data.shape[3])
            for position, (name, array) in enumerate(outputs):
                spec = contract.spec(name, position)
                label = f"output {name or position!r}"
                key = f"{side} {label}"
                dims_declared = spec.dims() if spec is not None else None
                if dims_declared is not None and (len(dims_declared) != array.ndim or array.shape[0] != batch or any(
                        d.isdigit() and int(d) != size for d, size in zip(dims_declared[1:-2], array.shape[1:-2], strict=False))):
                    add("output-shape-wrong", key, rule("output-shape-wrong").finding(
                        f"the {side} {label} has shape {list(array.shape)} on {probe.id} (input {list(probe.data.shape)}), "
                        f"but it is declared as {','.join(dims_declared)}", *_where(spec.shape if spec else None, card or onnx_rel)))
                    continue
                if array.ndim >= 3:
                    expected = _expected_spatial(contract, spec, declared, given)
                    if tuple(array.shape[-2:]) != expected:
                        off = abs(array.shape[-2] - expected[0]) + abs(array.shape[-1] - expected[1])
                        why = ("off by one or two pixels: a padding or crop that is not stated" if off <= 4 else
                               "a resampling the card does not state (silent down- or upsampling)")
                        stated = (f"the card states {contract.alignment.value!r}" if contract.alignment is not None
                                  else "no stride, crop or scale is stated")
                        add("output-misaligned", key, rule("output-misaligned").finding(
                            f"the {side} {label} is {array.shape[-2]}x{array.shape[-1]} for a {given[0]}x{given[1]} input on "
                            f"{probe.id}, expected {expected[0]}x{expected[1]} ({stated}): {why}",
                            *_where(contract.alignment or (spec.shape if spec else None), card or onnx_rel)))
                        continue
                if spec is not None and spec.value_range is not None:
                    low, high = spec.value_range
                    data = array[np.isfinite(array)] if array.dtype.kind == "f" else array
                    outside = int(np.count_nonzero((data < low - RANGE_SLACK) | (data > high + RANGE_SLACK)))
                    if outside:
                        add("output-out-of-range", key, rule("output-out-of-range").finding(
                            f"the {side} {label} has {outside} value(s) outside the declared range [{low:g}, {high:g}] on "
                            f"{probe.id} (min {float(data.min()):.4g}, max {float(data.max()):.4g})", *_where(spec.range_stated, card)))
                if probe.nodata_mask is not None and array.ndim >= 3 and tuple(array.shape[-2:]) == given:
                    problem = _nodata_problem(contract, spec, array, probe.nodata_mask)
                    if problem is not None:
                        add("nodata-not-honoured", key, rule("nodata-not-honoured").finding(
                            f"the {side} {label} on {probe.id}: {problem}", *_where(contract.nodata_of(spec), card)))
                checked.append(f"{side} {label} {list(array.shape)}")
    _class_maps(contract, sets, runs, onnx_rel, add)
    findings = list(found.values())
    if not findings and checked:
        ran = ", ".join(s.id for s in sets)
        findings.append(rule("output-contract-checked").finding(
            f"outputs checked on {ran} ({', '.join(sorted(runs))}): declared shapes, alignment with the input"
            + (", value ranges" if any(o.value_range for o in contract.outputs) else "")
            + (", nodata" if any(s.nodata_mask is not None for s in sets) else "")
            + (", class maps native vs ONNX" if len(runs) == 2 and SEGMENTATION in contract.tasks else ""),
            file=onnx_rel))
    return findings


def _nodata_problem(contract: OutputContract, spec: OutputSpec | None, array: np.ndarray, mask: np.ndarray) -> str | None:
    import numpy as np

    stated = contract.nodata_of(spec)
    fill = nodata_value(stated)
    if fill is None:
        return None  # no convention stated: the static finding asks for one
    where = np.broadcast_to(mask[:, None], array.shape) if array.ndim == 4 else mask
    inside, outside = array[where], array[~where]
    if math.isnan(fill):
        if not np.isnan(inside).all():
            return (f"{int(np.count_nonzero(~np.isnan(inside)))} of {inside.size} value(s) at nodata input pixels are not NaN, "
                    f"as the card states ({stated.value if stated else 'NaN'})")
        if np.isnan(outside).any():
            return f"{int(np.count_nonzero(np.isnan(outside)))} NaN value(s) at pixels that are not nodata"
        return None
    wrong = int(np.count_nonzero(inside != np.float32(fill)))
    if wrong:
        return f"{wrong} of {inside.size} value(s) at nodata input pixels are not the declared fill value {fill:g}"
    return None


def _class_maps(contract: OutputContract, sets: list[ProbeSet], runs: Produced,
                onnx_rel: str | None, add: Callable[[str, str, Finding], None]) -> None:
    import numpy as np

    if "native" not in runs or "ONNX" not in runs:
        return
    for probe, native, onnx in zip(sets, runs["native"], runs["ONNX"], strict=False):
        if native is None or onnx is None:
            continue
        for position, ((name, mine), (_, theirs)) in enumerate(zip(native, onnx, strict=False)):
            spec = contract.spec(name, position)
            segmentation = (spec is not None and SEGMENTATION in spec.tasks) or (
                SEGMENTATION in contract.tasks and (spec is None or REGRESSION not in spec.tasks))
            if not segmentation or mine.ndim != 4 or mine.shape != theirs.shape or mine.shape[1] < 2:
                continue
            valid = np.isfinite(mine).all(axis=1) & np.isfinite(theirs).all(axis=1)
            differ = int(np.count_nonzero((np.nan_to_num(mine).argmax(axis=1) != np.nan_to_num(theirs).argmax(axis=1)) & valid))
            if differ:
                label = f"output {name or position!r}"
                add("class-map-mismatch", label, rule("class-map-mismatch").finding(
                    f"the class maps (arg-max over axis 1) of the native model and the ONNX graph differ at {differ} of "
                    f"{int(valid.sum())} pixel(s) of {label} on {probe.id}", file=onnx_rel))


def nan_is_declared(pkg: ModelPackage) -> bool:
    """The package states NaN as its outputs' nodata: NaN outputs are checked by nodata-not-honoured instead."""
    contract = read_contract(pkg)
    fills = [contract.nodata_of(spec) for spec in contract.outputs] or [contract.output_nodata]
    return contract.dense and bool(fills) and all(fill is not None and math.isnan(nodata_value(fill) or 0.0) for fill in fills)
