"""`model-check publish`: the STAC MLM item, its provenance, the validation evidence and the OSC
product written for a package, validated offline; failing packages and stale reports are refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, REPO, RunCli, check_report, remove_section, replace_in

from validator.readers.json_lines import line_of
from validator.readers.stac_assets import MLM_SCHEMA, OSC_SCHEMA, REPORT_NAME
from validator.readers.stac_schemas import SchemaSet, load_schemas

BASE = "https://example.org/models/goes/v0.1.0"
ITEM_ID = "earthcode-goes-cloud-regime-classifier-demo"
REFERENCE_SCHEMAS = REPO.parent / "shared" / "reference" / "stac-schemas"


def publish(run_cli: RunCli, package: Path, out: Path, *extra: str | Path) -> tuple[int, str, str]:
    return run_cli(["publish", package, "--base-url", BASE, "--out", out, *extra])


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def reference_schemas() -> SchemaSet:
    if not (REFERENCE_SCHEMAS / "mlm-v1.5.2.schema.json").is_file():
        pytest.skip(f"reference schemas not found at {REFERENCE_SCHEMAS} (../shared/reference is outside this repository)")
    return load_schemas(REFERENCE_SCHEMAS)


@pytest.fixture()
def published(tmp_path: Path, run_cli: RunCli) -> Path:
    out = tmp_path / "out"
    code, _, stderr = publish(run_cli, EXAMPLE, out)
    assert code == 0, stderr
    return out


def test_example_item_is_valid_mlm_against_the_bundled_schemas(published: Path) -> None:
    item = load(published / f"{ITEM_ID}.json")
    assert MLM_SCHEMA in item["stac_extensions"]
    schemas = load_schemas()
    assert schemas.validate(item, MLM_SCHEMA) == []
    assert item["geometry"] is None and "bbox" not in item  # a model has no footprint of its own


def test_example_item_is_valid_against_the_reference_schemas(published: Path) -> None:
    schemas = reference_schemas()
    errors, unchecked = schemas.validate_declared(load(published / f"{ITEM_ID}.json"))
    assert errors == []
    assert MLM_SCHEMA not in unchecked


def test_example_item_states_the_package_facts(published: Path) -> None:
    item = load(published / f"{ITEM_ID}.json")
    props = item["properties"]
    labels = load(EXAMPLE / "labels.json")
    output = props["mlm:output"][0]
    assert [c["name"] for c in output["classification:classes"]] == labels
    assert [c["value"] for c in output["classification:classes"]] == list(range(len(labels)))
    model_input = props["mlm:input"][0]
    assert model_input["bands"] == ["BT15_minus_BT14", "BT14_minus_BT11", "BT14", "COD"]
    assert [b["name"] for b in props["bands"]] == model_input["bands"]
    assert [b["unit"] for b in props["bands"]] == ["K", "K", "K", "1"]
    assert model_input["input"] == {"shape": [-1, 4, 128, 128], "dim_order": ["batch", "bands", "height", "width"],
                                    "data_type": "float32"}
    assert output["result"] == {"shape": [-1, 6], "dim_order": ["batch", "class"], "data_type": "float32"}
    assert model_input["value_scaling"] == [
        {"type": "z-score", "mean": -1.5, "stddev": 1.0}, {"type": "z-score", "mean": 1.0, "stddev": 1.5},
        {"type": "z-score", "mean": 285.0, "stddev": 10.0}, {"type": "z-score", "mean": 8.0, "stddev": 10.0}]
    assert props["mlm:tasks"] == ["classification"]
    assert props["mlm:name"] == ITEM_ID == item["id"]
    assert props["mlm:architecture"] == "CloudRegimeCNN"
    assert (props["mlm:framework"], props["mlm:framework_version"]) == ("PyTorch", "2.13.0")
    assert props["mlm:total_parameters"] == 61_578  # every tensor of the safetensors header
    assert "mlm:pretrained" not in props  # no source says so: left out, not defaulted
    assert props["license"] == "Apache-2.0" and props["version"] == "v0.1.0"
    assert props["datetime"] == "2026-11-24T00:00:00Z"  # CITATION.cff date-released


def test_example_assets_have_mlm_roles_and_the_manifest_sizes_and_checksums(published: Path) -> None:
    assets = load(published / f"{ITEM_ID}.json")["assets"]
    expected = {"weights": "model.safetensors", "onnx": "model.onnx", "inference": "inference.py",
                "model-card": "README.md", "runtime": "requirements.txt"}
    for key, rel in expected.items():
        data = (EXAMPLE / rel).read_bytes()
        assert assets[key]["href"] == f"{BASE}/{rel}"
        assert assets[key]["file:size"] == len(data)
        assert assets[key]["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()
    assert assets["weights"]["roles"] == ["mlm:model", "mlm:weights"]
    assert assets["weights"]["mlm:artifact_type"] == "safetensors.torch.save_file"
    assert assets["onnx"]["roles"] == ["mlm:model"] and assets["onnx"]["mlm:artifact_type"] == "onnx"
    assert assets["weights"]["type"] != assets["onnx"]["type"]
    assert "code" in assets["inference"]["roles"] and assets["inference"]["mlm:entrypoint"] == "inference:main"
    assert assets["model-card"]["roles"] == ["metadata"] and assets["model-card"]["type"] == "text/markdown"
    assert "mlm:inference-runtime" in assets["runtime"]["roles"]
    report_bytes = (published / REPORT_NAME).read_bytes()
    assert assets["validation-report"]["file:checksum"] == "1220" + hashlib.sha256(report_bytes).hexdigest()
    assert assets["validation-report"]["roles"] == ["metadata"]


def test_validation_report_and_links_are_written_beside_the_item(published: Path) -> None:
    report = check_report(published / REPORT_NAME)
    assert report["status"] == "passed"
    links = {(link["rel"], link["href"]) for link in load(published / f"{ITEM_ID}.json")["links"]}
    assert ("self", f"{BASE}/{ITEM_ID}.json") in links
    assert ("describedby", f"{BASE}/README.md") in links
    assert ("describedby", f"{BASE}/{REPORT_NAME}") in links
    assert ("license", f"{BASE}/LICENSE") in links


def test_provenance_names_a_source_for_every_value_and_lists_what_was_left_out(published: Path) -> None:
    provenance = load(published / f"{ITEM_ID}.provenance.json")
    sources = provenance["sources"]
    assert sources["/properties/mlm:output/0/classification:classes"]["file"] == "README.md"
    assert sources["/properties/mlm:input/0/input/shape"]["source"] == "ONNX graph"
    assert sources["/properties/mlm:total_parameters"]["file"] == "model.safetensors"
    assert sources["/properties/mlm:framework_version"] == {"source": "runtime pin", "file": "requirements.txt",
                                                            "line": 25, "detail": "torch==2.13.0"}
    assert sources["/properties/mlm:input/0/value_scaling"]["line"] == _line(EXAMPLE / "README.md", "| Channel | Unit | Mean | Std |")
    item = load(published / f"{ITEM_ID}.json")
    for key in item["properties"]:
        if key.startswith("mlm:"):
            assert f"/properties/{key}" in sources or any(s.startswith(f"/properties/{key}/") for s in sources), key
    omitted = {entry["field"] for entry in provenance["omitted"]}
    assert {"/properties/mlm:pretrained", "/geometry"} <= omitted


def test_values_without_a_source_are_left_out_and_reported(pkg_copy: Path, tmp_path: Path, run_cli: RunCli) -> None:
    remove_section(pkg_copy / "README.md", "### Normalization")
    replace_in(pkg_copy / "requirements.txt", "torch==2.13.0\n", "torch\n")
    code, stdout, stderr = publish(run_cli, pkg_copy, tmp_path / "out", "--allow-failing")
    assert code == 0, stderr
    props = load(tmp_path / "out" / f"{ITEM_ID}.json")["properties"]
    assert "value_scaling" not in props["mlm:input"][0]
    assert "mlm:framework" not in props and "mlm:framework_version" not in props
    omitted = {e["field"] for e in load(tmp_path / "out" / f"{ITEM_ID}.provenance.json")["omitted"]}
    assert {"/properties/mlm:input/0/value_scaling", "/properties/mlm:framework"} <= omitted
    assert "/properties/mlm:input/0/value_scaling" in stdout


def test_failing_package_is_refused(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out"
    code, _, stderr = publish(run_cli, REPO / "tests" / "fixtures" / "broken-package", out)
    assert code == 1
    assert "refused" in stderr and "--allow-failing" in stderr
    assert not out.exists()


def test_allow_failing_publishes_and_the_evidence_says_failed(pkg_copy: Path, tmp_path: Path, run_cli: RunCli) -> None:
    remove_section(pkg_copy / "README.md", "## Known limitations")
    code, _, stderr = publish(run_cli, pkg_copy, tmp_path / "refused")
    assert code == 1 and "MC210" in stderr
    code, stdout, stderr = publish(run_cli, pkg_copy, tmp_path / "out", "--allow-failing")
    assert code == 0, stderr
    assert "--allow-failing" in stdout
    assert check_report(tmp_path / "out" / REPORT_NAME)["status"] == "failed"


def test_a_given_report_is_the_evidence(tmp_path: Path, run_cli: RunCli) -> None:
    report_path = tmp_path / "report.json"
    code, _, _ = run_cli(["check", EXAMPLE, "--env", "none", "--json", report_path, "-q"])
    assert code == 0
    code, _, stderr = publish(run_cli, EXAMPLE, tmp_path / "out", "--report", report_path)
    assert code == 0, stderr
    assert load(tmp_path / "out" / REPORT_NAME) == load(report_path)


def test_a_report_of_other_files_is_refused(pkg_copy: Path, tmp_path: Path, run_cli: RunCli) -> None:
    report_path = tmp_path / "report.json"
    run_cli(["check", pkg_copy, "--env", "none", "--json", report_path, "-q"])
    replace_in(pkg_copy / "README.md", "Solid stratus", "Solid stratus ")
    code, _, stderr = publish(run_cli, pkg_copy, tmp_path / "out", "--report", report_path)
    assert code == 1
    assert "README.md" in stderr and "check the package again" in stderr


def test_product_collection_meets_the_osc_schema(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out"
    code, _, stderr = publish(run_cli, EXAMPLE, out, "--product", "--project", "esa-science-hub-johanna-mayer",
                              "--theme", "atmosphere", "--variable", "cloud-type", "--mission", "goes-16")
    assert code == 0, stderr
    collection = load(out / "collection.json")
    assert collection["type"] == "Collection" and collection["osc:type"] == "product"
    assert collection["osc:project"] == "esa-science-hub-johanna-mayer" and collection["osc:status"] == "completed"
    assert collection["themes"][0]["concepts"] == [{"id": "atmosphere"}]
    assert {"rel": "item", "href": f"./{ITEM_ID}.json"}.items() <= collection["links"][0].items()
    assert load_schemas().validate(collection, OSC_SCHEMA) == []
    item = load(out / f"{ITEM_ID}.json")
    assert item["collection"] == collection["id"]
    assert item["properties"]["osc:project"] == "esa-science-hub-johanna-mayer"
    assert load_schemas().validate_declared(item)[0] == []
    provenance = load(out / f"{ITEM_ID}.provenance.json")
    assert {p["field"] for p in provenance["collection"]["placeholders"]} == {"/extent/spatial"}


def test_product_without_project_is_a_valid_skeleton_with_a_flagged_placeholder(tmp_path: Path, run_cli: RunCli) -> None:
    code, stdout, stderr = publish(run_cli, EXAMPLE, tmp_path / "out", "--product")
    assert code == 0, stderr
    collection = load(tmp_path / "out" / "collection.json")
    assert load_schemas().validate(collection, OSC_SCHEMA) == []
    assert collection["osc:project"] == "TODO-osc-project-id"
    placeholders = load(tmp_path / "out" / f"{ITEM_ID}.provenance.json")["collection"]["placeholders"]
    assert "/osc:project" in {p["field"] for p in placeholders}
    assert "/osc:project" in stdout and "osc:project" not in load(tmp_path / "out" / f"{ITEM_ID}.json")["properties"]


def test_product_collection_is_valid_against_the_reference_osc_schema(tmp_path: Path, run_cli: RunCli) -> None:
    schemas = reference_schemas()
    code, _, stderr = publish(run_cli, EXAMPLE, tmp_path / "out", "--product", "--project", "p", "--theme", "land",
                              "--schema-dir", REFERENCE_SCHEMAS, "--bbox", "-135", "-22.5", "15", "35")
    assert code == 0, stderr
    collection = load(tmp_path / "out" / "collection.json")
    assert schemas.validate(collection, OSC_SCHEMA) == []
    assert collection["extent"]["spatial"]["bbox"] == [[-135.0, -22.5, 15.0, 35.0]]


def test_usage_errors(tmp_path: Path, run_cli: RunCli) -> None:
    assert run_cli(["publish", EXAMPLE, "--base-url", "models/goes"])[0] == 2
    code, _, stderr = run_cli(["publish", EXAMPLE, "--base-url", BASE, "--mission", "goes-16"])
    assert code == 2 and "--project" in stderr
    (tmp_path / "schemas").mkdir()
    code, _, stderr = run_cli(["publish", EXAMPLE, "--base-url", BASE, "--schema-dir", tmp_path / "schemas"])
    assert code == 2 and "mlm-v1.5.2.schema.json" in stderr


def test_processing_schema_resolves_by_the_url_mlm_uses() -> None:
    """The processing file's $id says v1.0.0; MLM refers to v1.1.0: both must resolve offline."""
    schemas = load_schemas()
    item: dict[str, Any] = {"type": "Feature", "stac_extensions": [MLM_SCHEMA], "properties": {
        "mlm:name": "m-1", "mlm:architecture": "ResNet", "mlm:tasks": ["classification"],
        "mlm:input": [{"name": "x", "input": {"shape": [-1, 3], "dim_order": ["batch", "channel"], "data_type": "float32"},
                       "pre_processing_function": {"format": "python", "expression": "pkg.mod:fn"}}],
        "mlm:output": [{"name": "y", "tasks": ["classification"],
                        "result": {"shape": [-1, 2], "dim_order": ["batch", "class"], "data_type": "float32"}}]},
        "assets": {"m": {"href": "m.onnx", "roles": ["mlm:model"], "mlm:artifact_type": "onnx"}}}
    assert schemas.validate(item, MLM_SCHEMA) == []
    item["properties"]["mlm:input"][0]["pre_processing_function"] = {"format": "python"}
    assert schemas.validate(item, MLM_SCHEMA) != []


def test_line_of_finds_keys_and_elements() -> None:
    text = '{\n "a": {"x": 1,\n  "y": [\n   "p",\n   {"q": "}\\""}\n  ]},\n "b": 2\n}\n'
    assert line_of(text, ["b"]) == 7
    assert line_of(text, ["a", "y", 1, "q"]) == 5
    assert line_of(text, ["a", "missing"]) == 2  # the deepest part found
    assert line_of("{broken", ["a"]) is None


def _line(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)
