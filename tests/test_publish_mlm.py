"""The MLM fields of a published item, built as plain dicts (no stac-model, no pydantic) and
checked against the bundled MLM v1.5.2 schema: only what a source states is written, and fields
that are not valid MLM stop the publication with the place and the reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE

from validator.publish.item import PublishError, PublishSettings, _mlm_dump, _mlm_problems, build_item
from validator.readers.package import ModelPackage
from validator.readers.stac_assets import MLM_SCHEMA
from validator.readers.stac_schemas import load_schemas

VALID: dict[str, Any] = {
    "mlm:name": "demo-model", "mlm:architecture": "ResNet", "mlm:tasks": ["classification"],
    "mlm:input": [{"bands": ["red"], "name": "input",
                   "input": {"shape": [-1, 1, 8, 8], "dim_order": ["batch", "bands", "height", "width"], "data_type": "float32"},
                   "value_scaling": [{"type": "z-score", "mean": 0.5, "stddev": 2.0}]}],
    "mlm:output": [{"name": "logits", "tasks": ["classification"],
                    "result": {"shape": [-1, 2], "dim_order": ["batch", "class"], "data_type": "float32"},
                    "classification:classes": [{"value": 0, "name": "a", "description": "a"},
                                               {"value": 1, "name": "b", "description": "b"}]}],
    "mlm:framework": "PyTorch", "mlm:framework_version": "2.1.0", "mlm:total_parameters": 10,
}


def mlm_fields(package: Path) -> dict[str, Any]:
    pkg = ModelPackage(package)
    try:
        built = build_item(pkg, pkg.declared, "{}", PublishSettings(base_url="https://example.org/m"))
    finally:
        pkg.close()
    return {k: v for k, v in built.item["properties"].items() if k.startswith("mlm:")}


def test_example_fields_are_written_in_mlm_order_without_unstated_defaults() -> None:
    fields = mlm_fields(EXAMPLE)
    assert list(fields) == ["mlm:name", "mlm:architecture", "mlm:tasks", "mlm:input", "mlm:output", "mlm:framework",
                            "mlm:framework_version", "mlm:total_parameters"]
    assert "mlm:pretrained" not in fields and "mlm:accelerator" not in fields  # no source states them
    model_input, output = fields["mlm:input"][0], fields["mlm:output"][0]
    assert list(model_input) == ["bands", "name", "input", "value_scaling"]
    assert list(model_input["input"]) == ["shape", "dim_order", "data_type"]
    assert {s["type"] for s in model_input["value_scaling"]} == {"z-score"}
    assert list(output)[:4] == ["name", "tasks", "result", "classification:classes"]
    assert "bands" not in output and "variables" not in output and "post_processing_function" not in output
    assert all(list(c) == ["value", "name", "description"] and c["description"] == c["name"]
               for c in output["classification:classes"])
    assert _mlm_problems(fields) == []


def test_valid_fields_pass_and_are_returned_as_given() -> None:
    assert _mlm_problems(VALID) == []
    props = {key.removeprefix("mlm:"): value for key, value in VALID.items()}
    props["tasks"] = {"classification"}
    assert _mlm_dump(props) == VALID


@pytest.mark.parametrize(("edit", "where", "says"), [
    (lambda f: f["mlm:input"][0]["input"].update(data_type="float128"), "/properties/mlm:input/0/input/data_type", "float128"),
    (lambda f: f.update({"mlm:tasks": ["guessing"]}), "/properties/mlm:tasks/0", "guessing"),
    (lambda f: f.update({"mlm:total_parameters": -3}), "/properties/mlm:total_parameters", "minimum"),
    (lambda f: f.update({"mlm:name": "-bad name-"}), "/properties/mlm:name", "does not match"),
    (lambda f: f["mlm:output"][0]["result"].update(dim_order=["batch"]), "/properties/mlm:output/0/result",
     "shape and dim_order differ"),
    (lambda f: f["mlm:output"][0]["classification:classes"][1].update(name=" "), "/properties/mlm:output/0/classification:classes/1",
     "no name"),
    (lambda f: f.update({"mlm:architecture": ""}), "/properties/mlm:architecture", "empty"),
])
def test_invalid_fields_are_named_with_their_place(edit: Any, where: str, says: str) -> None:
    fields = copy.deepcopy(VALID)
    edit(fields)
    problems = _mlm_problems(fields)
    assert any(p.where == where and says in p.message for p in problems), problems
    with pytest.raises(PublishError, match="not valid MLM v1.5.2"):
        _mlm_dump({key.removeprefix("mlm:"): value for key, value in fields.items()})


def test_missing_required_fields_are_left_to_the_whole_item_validation() -> None:
    """A field no source states is left out, not an error here: `publish` lists it with the reason."""
    assert _mlm_problems({"mlm:name": "demo-model"}) == []


def test_validate_definition_checks_one_field_of_a_schema() -> None:
    schemas = load_schemas()
    assert schemas.validate_definition(["classification"], MLM_SCHEMA, "mlm:tasks") == []
    errors = schemas.validate_definition(["nope"], MLM_SCHEMA, "mlm:tasks", at=("properties", "mlm:tasks"))
    assert [e.where for e in errors] == ["/properties/mlm:tasks/0"]
    assert schemas.validate_definition("anything", MLM_SCHEMA, "no-such-definition") == []


def test_publish_needs_neither_stac_model_nor_pydantic() -> None:
    import validator.publish.item as item

    source = Path(item.__file__).read_text(encoding="utf-8")
    assert "stac_model" not in source and "pydantic" not in source
