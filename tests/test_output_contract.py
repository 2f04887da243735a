"""Segmentation and regression outputs (issue 14.1): the contract read from the card, config.json and
metadata, and the checks on the example examples/s2-water-segmentation and broken variants of it.
Each rule's own failing and passing example is in tests/rules/MC24x, MC620 and MC92x."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import check_report

from validator.cli.main import main
from validator.readers.output_contract import (
    CLASSIFICATION,
    REGRESSION,
    SEGMENTATION,
    parse_nodata,
    parse_range,
    read_contract,
    task_words,
)
from validator.readers.package import ModelPackage

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "s2-water-segmentation"
GOES = EXAMPLE.parent / "goes-cloud-regime"


def _run(root: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "report.json"
    main(["check", str(root), "--json", str(out), *args])
    return check_report(out)


@pytest.mark.parametrize(("text", "tasks"), [
    ("semantic-segmentation", {SEGMENTATION}),
    ("image-segmentation", {SEGMENTATION}),
    ("pixel-wise regression", {REGRESSION}),
    ("scene-classification", {CLASSIFICATION}),
    ("semantic-segmentation, with a pixel-wise regression output", {SEGMENTATION, REGRESSION}),
    ("a model of rivers", set()),
])
def test_task_words_follow_the_mlm_vocabulary(text: str, tasks: set[str]) -> None:
    assert task_words(text) == tasks


def test_ranges_and_nodata_are_read_as_written() -> None:
    assert parse_range("0 to 1") == (0.0, 1.0)
    assert parse_range("[-1.5, 2e3]") == (-1.5, 2000.0)
    assert parse_range("unbounded") is None
    assert parse_nodata("NaN in every output") == "nan"
    assert parse_nodata("-9999 (fill)") == "-9999"
    assert parse_nodata("masked") is None  # no value stated: nothing is guessed


def test_the_example_states_its_outputs() -> None:
    contract = read_contract(ModelPackage(EXAMPLE))
    assert contract.tasks == {SEGMENTATION, REGRESSION} and contract.dense
    assert [(o.name, o.dims()) for o in contract.outputs] == [("logits", ["N", "2", "128", "128"]),
                                                               ("water_fraction", ["N", "1", "128", "128"])]
    water = contract.outputs[1]
    assert water.value_range == (0.0, 1.0) and water.units is not None and water.units.value == "1"
    assert contract.input_nodata is not None and contract.input_nodata.value.startswith("0")
    assert contract.nodata_of(water) is not None


def test_a_classifier_is_left_alone() -> None:
    contract = read_contract(ModelPackage(GOES))
    assert not contract.dense and contract.guessed == CLASSIFICATION


def test_a_config_only_package_is_read_from_mlm_fields(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "config.json").write_text(json.dumps({
        "mlm:tasks": ["regression"], "input": {"nodata": -9999},
        "mlm:output": [{"name": "height", "result": {"shape": [-1, 1, 64, 64]}, "units": "m", "value_range": [0, 80],
                        "nodata": "nan"}]}), encoding="utf-8")
    contract = read_contract(ModelPackage(root))
    assert contract.tasks == {REGRESSION}
    (height,) = contract.outputs
    assert height.dims() == ["N", "1", "64", "64"] and height.value_range == (0.0, 80.0)
    assert contract.input_nodata is not None and contract.input_nodata.value == "-9999"
    assert math.isnan(float(parse_nodata(height.nodata.value if height.nodata else "") or "0"))


@pytest.mark.parametrize(("opening", "tasks"), [
    ("Segments clouds and cloud shadows in Sentinel-2 tiles.", {SEGMENTATION}),
    ("A pixel-wise regression of canopy height.", {REGRESSION}),
    ("A model of rivers, trained on Sentinel-2 tiles.", set()),
])
def test_a_card_without_a_task_field_is_read_from_its_opening_prose(tmp_path: Path, opening: str,
                                                                     tasks: set[str]) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "README.md").write_text(f"# Acme\n\n{opening}\n\n## Usage\n\nRun it.\n", encoding="utf-8")
    contract = read_contract(ModelPackage(root))
    assert contract.tasks == tasks
    assert (contract.task_stated is not None and contract.task_stated.line == 3) == bool(tasks)


@pytest.mark.slow
def test_the_example_passes_end_to_end_and_a_silent_downsampling_is_found(tmp_path: Path) -> None:
    """The example passes `model-check check` (rebuilt env, probes, inference); a variant whose native model
    silently returns 64x64 for a 128x128 tile is an MC921 error naming the card's alignment line."""
    report = _run(EXAMPLE, tmp_path)
    assert report["summary"]["error"] == 0 and report["summary"]["warning"] == 0, report["findings"]
    assert any(f["rule"] == "MC925" for f in report["findings"])
    broken = tmp_path / "downsampled"
    shutil.copytree(EXAMPLE, broken)
    inference = broken / "inference.py"
    inference.write_text(inference.read_text(encoding="utf-8").replace(
        "    model.eval()\n    return model\n",
        "    model.eval()\n    import torch.nn.functional as F\n    forward = model.forward\n"
        "    model.forward = lambda x: tuple(F.avg_pool2d(o, 2) for o in forward(x))\n    return model\n", 1), encoding="utf-8")
    report = _run(broken, tmp_path)
    misaligned = [f for f in report["findings"] if f["rule"] == "MC921"]
    assert misaligned and "64x64 for a 128x128 input" in misaligned[0]["message"]
    assert "silent" in misaligned[0]["message"] and misaligned[0]["file"] == "README.md" and misaligned[0]["line"]


def _edit_graph_outputs(path: Path, op: str, **attributes: Any) -> None:
    """Put one `op` node (Slice: drop the last row and column; AveragePool) after each output of the graph."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    outputs = list(graph.output)
    del graph.output[:]
    for output in outputs:
        inner = f"{output.name}_inner"
        for node in graph.node:
            node.output[:] = [inner if name == output.name else name for name in node.output]
        inputs = [inner]
        if op == "Slice":
            for suffix, values in (("starts", [0, 0]), ("ends", [-1, -1]), ("axes", [2, 3])):
                graph.initializer.append(helper.make_tensor(f"{output.name}_{suffix}", TensorProto.INT64, [2], values))
                inputs.append(f"{output.name}_{suffix}")
        graph.node.append(helper.make_node(op, inputs, [output.name], **attributes))
        dims = [d.dim_value or d.dim_param for d in output.type.tensor_type.shape.dim]
        graph.output.append(helper.make_tensor_value_info(output.name, TensorProto.FLOAT, [dims[0], dims[1], "rows", "cols"]))
    onnx.save(model, str(path))


@pytest.mark.slow
def test_an_off_by_one_graph_is_found_and_a_stated_stride_is_accepted(tmp_path: Path) -> None:
    """The ONNX graph cropping one row and column (padding off by one) is an MC921 error for the ONNX output; a
    model whose native and ONNX outputs are both pooled by 2 passes alignment once the card states the stride."""
    cropped = tmp_path / "cropped"
    shutil.copytree(EXAMPLE, cropped)
    _edit_graph_outputs(cropped / "model.onnx", "Slice")
    report = _run(cropped, tmp_path)
    misaligned = [f for f in report["findings"] if f["rule"] == "MC921"]
    assert misaligned and "the ONNX output 'logits' is 127x127 for a 128x128 input" in misaligned[0]["message"]
    assert "off by one" in misaligned[0]["message"]

    strided = tmp_path / "strided"
    shutil.copytree(EXAMPLE, strided)
    (strided / "test_data" / "output_0.npy").unlink()
    _edit_graph_outputs(strided / "model.onnx", "AveragePool", kernel_shape=[2, 2], strides=[2, 2])
    inference = strided / "inference.py"
    inference.write_text(inference.read_text(encoding="utf-8").replace(
        "    model.eval()\n    return model\n",
        "    model.eval()\n    import torch.nn.functional as F\n    forward = model.forward\n"
        "    model.forward = lambda x: tuple(F.avg_pool2d(o, 2) for o in forward(x))\n    return model\n", 1), encoding="utf-8")
    card = strided / "README.md"
    card.write_text(card.read_text(encoding="utf-8").replace("| Data type | float32 |", "| Data type | float32 |\n| Output stride | 2 |", 1),
                    encoding="utf-8")
    report = _run(strided, tmp_path)
    rules = {f["rule"] for f in report["findings"]}
    assert "MC921" not in rules and "MC920" not in rules and "MC925" in rules, report["findings"]


def test_parity_reports_the_class_map_agreement_per_pixel() -> None:
    """Per-pixel logits (N, K, H, W): the share of pixels whose class agrees, nodata (NaN) pixels left out."""
    import numpy as np

    from validator.runtime.parity import compare

    desired = np.zeros((1, 2, 2, 2), dtype=np.float32)
    desired[:, 1] = 1.0  # class 1 everywhere
    actual = desired.copy()
    actual[0, :, 0, 0] = [2.0, 0.0]  # one pixel flips to class 0
    actual[0, :, 1, 1] = desired[0, :, 1, 1] = np.nan  # nodata
    result = compare("logits", actual, desired, 1e-4, 1e-4)
    assert not result.passed and result.argmax_agreement == pytest.approx(2 / 3)
    assert "of pixels" in result.describe()
