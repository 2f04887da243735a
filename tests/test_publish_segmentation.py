"""`model-check publish` for segmentation and regression models: one MLM output per model output
(tasks, shape, dim_order, data type, classes), units and nodata of a value output as the STAC 1.1
band it references, every value's source in the provenance, nothing the package does not state."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import onnx
import pytest
from helpers import REPO, line_of, remove_section, replace_in
from onnx import TensorProto, helper

from validator.cli.main import main
from validator.publish.item import PublishSettings, build_item
from validator.readers.package import ModelPackage
from validator.readers.stac_assets import MLM_SCHEMA
from validator.readers.stac_schemas import load_schemas

S2 = REPO / "examples" / "s2-water-segmentation"
ITEM_ID = "earthcode-s2-water-segmentation-demo"
REFERENCE_SCHEMAS = REPO.parent / "shared" / "reference" / "stac-schemas"
ROW_LOGITS = "| logits | `N,2,128,128` |"
ROW_FRACTION = "| water_fraction | `N,1,128,128` |"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("s2") / "out"
    assert main(["publish", str(S2), "--base-url", "https://example.org/s2", "--out", str(out)]) == 0
    return out


def build(package: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    pkg = ModelPackage(package)
    try:
        built = build_item(pkg, pkg.declared, "{}", PublishSettings(base_url="https://example.org/s2"))
    finally:
        pkg.close()
    return built.item, built.provenance.to_dict()


def set_metadata(weights: Path, **changes: str | None) -> None:
    """Rewrite the safetensors header's metadata (None removes a key); the tensors stay as they are."""
    data = weights.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    metadata = header.setdefault("__metadata__", {})
    for key, value in changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    weights.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size:])


def regression_only(target: Path) -> Path:
    """The example as a pure regression model: one output `water_fraction` (N,1,H,W), no classes."""
    shutil.copytree(S2, target)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1], keepdims=1), helper.make_node("Sigmoid", ["mean"], ["water_fraction"])],
        "fraction", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, "height", "width"])],
        [helper.make_tensor_value_info("water_fraction", TensorProto.FLOAT, ["batch", 1, "height", "width"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), target / "model.onnx")
    readme = target / "README.md"
    replace_in(readme, "| Task | semantic-segmentation, with a pixel-wise regression output |", "| Task | regression |")
    lines = [line for line in readme.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith(ROW_LOGITS)]
    readme.write_text("".join(lines), encoding="utf-8")
    (target / "labels.json").unlink()
    set_metadata(target / "model.safetensors", class_names=None, task="regression", output_names="water_fraction", output_units="1")
    return target


# -- the example package -------------------------------------------------------------------------
def test_segmentation_example_publishes_a_valid_item(published: Path) -> None:
    item = load(published / f"{ITEM_ID}.json")
    assert load_schemas().validate(item, MLM_SCHEMA) == []
    if (REFERENCE_SCHEMAS / "mlm-v1.5.2.schema.json").is_file():  # ../shared/reference is outside this repository
        errors, unchecked = load_schemas(REFERENCE_SCHEMAS).validate_declared(item)
        assert errors == [] and MLM_SCHEMA not in unchecked


def test_outputs_shapes_classes_and_units_are_the_packages(published: Path) -> None:
    props = load(published / f"{ITEM_ID}.json")["properties"]
    pkg = ModelPackage(S2)
    try:
        graph = {o.name: [d if isinstance(d, int) else -1 for d in o.shape] for o in pkg.onnx["model.onnx"].outputs}
    finally:
        pkg.close()
    logits, fraction = props["mlm:output"]
    assert [logits["name"], fraction["name"]] == list(graph)
    assert logits["result"] == {"shape": graph["logits"], "dim_order": ["batch", "class", "height", "width"], "data_type": "float32"}
    assert fraction["result"] == {"shape": graph["water_fraction"], "dim_order": ["batch", "bands", "height", "width"],
                                  "data_type": "float32"}
    assert logits["tasks"] == ["semantic-segmentation"] and fraction["tasks"] == ["regression"]
    assert props["mlm:tasks"] == ["regression", "semantic-segmentation"]
    assert [c["name"] for c in logits["classification:classes"]] == load(S2 / "labels.json")
    assert "classification:classes" not in fraction and "bands" not in logits
    assert fraction["bands"] == ["water_fraction"]
    band = props["bands"][-1]
    assert band == {"name": "water_fraction", "unit": "1", "nodata": "nan"}  # the card's outputs table
    assert [b["name"] for b in props["bands"][:-1]] == props["mlm:input"][0]["bands"]  # input bands unchanged
    assert fraction["description"] == "fraction of the pixel covered by water (regression)"  # the Meaning column
    assert not any("value_scaling" in o or "post_processing_function" in o for o in props["mlm:output"])  # none stated


def test_provenance_gives_each_output_value_its_source(published: Path) -> None:
    provenance = load(published / f"{ITEM_ID}.provenance.json")
    sources = provenance["sources"]
    item = load(published / f"{ITEM_ID}.json")
    for index, output in enumerate(item["properties"]["mlm:output"]):
        for key in set(output) - {"result"}:
            assert f"/properties/mlm:output/{index}/{key}" in sources, key
        for key in ("shape", "dim_order", "data_type"):
            assert f"/properties/mlm:output/{index}/result/{key}" in sources, key
    fraction_row = line_of(S2 / "README.md", ROW_FRACTION)
    assert sources["/properties/mlm:output/1/tasks"]["line"] == fraction_row
    assert sources["/properties/mlm:output/0/result/shape"]["source"] == "ONNX graph"
    assert sources["/properties/mlm:output/0/classification:classes"]["file"] == "README.md"
    band = len(item["properties"]["bands"]) - 1
    for key in ("unit", "nodata"):
        assert (sources[f"/properties/bands/{band}/{key}"]["file"], sources[f"/properties/bands/{band}/{key}"]["line"]) == (
            "README.md", fraction_row)
    omitted = {entry["field"]: entry["reason"] for entry in provenance["omitted"]}
    # stated, but MLM has no place for them: listed, not written
    assert "'logit'" in omitted["/properties/mlm:output/0/units"] and "'NaN'" in omitted["/properties/mlm:output/0/nodata"]
    assert "'0 to 1'" in omitted["/properties/mlm:output/1/value_range"]


# -- variants ------------------------------------------------------------------------------------
def test_regression_only_model(tmp_path: Path) -> None:
    item, provenance = build(regression_only(tmp_path / "reg"))
    props = item["properties"]
    assert load_schemas().validate(item, MLM_SCHEMA) == []
    assert props["mlm:tasks"] == ["regression"]
    (output,) = props["mlm:output"]
    assert output["name"] == "water_fraction" and output["tasks"] == ["regression"]
    assert output["result"]["shape"] == [-1, 1, -1, -1] and "classification:classes" not in output
    assert props["bands"][-1] == {"name": "water_fraction", "unit": "1", "nodata": "nan"}
    assert provenance["sources"]["/properties/mlm:output/0/tasks"]["line"] == line_of(tmp_path / "reg" / "README.md", ROW_FRACTION)


def test_units_no_source_states_are_not_invented(tmp_path: Path) -> None:
    package = regression_only(tmp_path / "reg")
    replace_in(package / "README.md", f"{ROW_FRACTION} fraction of the pixel covered by water (regression) | 1 |",
               f"{ROW_FRACTION} fraction of the pixel covered by water (regression) |  |")
    set_metadata(package / "model.safetensors", output_units=None)
    item, provenance = build(package)
    assert load_schemas().validate(item, MLM_SCHEMA) == []
    band = item["properties"]["bands"][-1]
    assert band == {"name": "water_fraction", "nodata": "nan"}  # the stated nodata only
    assert not any(key.endswith("/unit") and key.startswith(f"/properties/bands/{len(item['properties']['bands']) - 1}")
                   for key in provenance["sources"])


def test_without_units_or_nodata_the_output_has_a_plain_channel_axis(tmp_path: Path) -> None:
    package = regression_only(tmp_path / "reg")
    replace_in(package / "README.md", f"{ROW_FRACTION} fraction of the pixel covered by water (regression) | 1 | 0 to 1 | NaN |",
               f"{ROW_FRACTION} fraction of the pixel covered by water (regression) |  | 0 to 1 |  |")
    replace_in(package / "README.md", "| Output nodata |", "| Remark |")
    set_metadata(package / "model.safetensors", output_units=None, output_nodata=None)
    item, _ = build(package)
    assert load_schemas().validate(item, MLM_SCHEMA) == []
    (output,) = item["properties"]["mlm:output"]
    assert output["result"]["dim_order"] == ["batch", "channel", "height", "width"] and "bands" not in output
    assert [b["name"] for b in item["properties"]["bands"]] == ["B02", "B03", "B04", "B08"]


def test_an_output_whose_task_no_source_states_is_left_out(tmp_path: Path) -> None:
    package = regression_only(tmp_path / "reg")
    replace_in(package / "README.md", "| Task | regression |", "| Remark | none |")
    replace_in(package / "README.md", "fraction of the pixel covered by water (regression)", "fraction of the pixel covered by water")
    set_metadata(package / "model.safetensors", task=None)
    config = load(package / "config.json")
    config.pop("mlm:tasks")
    for output in config["outputs"]:
        output.pop("tasks")
    (package / "config.json").write_text(json.dumps(config), encoding="utf-8")
    item, provenance = build(package)
    assert "mlm:output" not in item["properties"] and "mlm:tasks" not in item["properties"]
    omitted = {entry["field"]: entry["reason"] for entry in provenance["omitted"]}
    assert "no source states the task of output 'water_fraction'" in omitted["/properties/mlm:output/0"]


def test_outputs_stated_in_config_json(tmp_path: Path) -> None:
    """No outputs table in the card: config.json's MLM-style outputs give the task words, units and a
    post-processing function, each sourced to config.json."""
    package = tmp_path / "cfg"
    shutil.copytree(S2, package)
    remove_section(package / "README.md", "## Outputs")
    config = load(package / "config.json")
    config["outputs"][0]["post_processing_function"] = {"format": "python", "expression": "inference:postprocess"}
    (package / "config.json").write_text(json.dumps(config), encoding="utf-8")
    item, provenance = build(package)
    assert load_schemas().validate(item, MLM_SCHEMA) == []
    logits, fraction = item["properties"]["mlm:output"]
    assert logits["tasks"] == ["semantic-segmentation"] and fraction["tasks"] == ["regression"]
    assert logits["post_processing_function"] == {"format": "python", "expression": "inference:postprocess"}
    assert "post_processing_function" not in fraction and "description" not in fraction
    assert item["properties"]["bands"][-1] == {"name": "water_fraction", "unit": "1", "nodata": "nan"}
    sources = provenance["sources"]
    assert sources["/properties/mlm:output/0/tasks"] == {"source": "model config", "file": "config.json", "line": None,
                                                         "detail": "outputs[0].tasks"}
    assert sources["/properties/mlm:output/0/post_processing_function"]["detail"] == "outputs[0].post_processing_function"
    assert sources[f"/properties/bands/{len(item['properties']['bands']) - 1}/unit"]["file"] == "config.json"
