"""Area publishing: STAC/OSC records shipped in a package are checked against MLM and against the
package. The record shaped like the published GOES item (tests/fixtures/osc/, a copy of the real
Open Science Catalog entry) gets the findings EARTHCODE.md lists, each at the line of its key."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, RunCli, findings, rules_fired, run_static

GOES_RECORD = REPO / "tests" / "fixtures" / "osc" / "earthcare-goes-cloud-regime-classifier.json"
BASE = "https://example.org/models/goes/v0.1.0"


def lint(root: Path) -> dict[str, Any]:
    return run_static(root, only=["publishing"])


def line_after(path: Path, anchor: str, needle: str) -> int:
    """1-based line of the first `needle` at or after the first line holding `anchor`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if anchor in line)
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def write_record(root: Path, data: dict[str, Any], name: str = "catalog/item.json") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def goes_record(pkg_copy: Path) -> Path:
    target = pkg_copy / "catalog" / GOES_RECORD.name
    target.parent.mkdir()
    shutil.copy(GOES_RECORD, target)
    return target


@pytest.fixture()
def generated_item(pkg_copy: Path, tmp_path: Path, run_cli: RunCli) -> dict[str, Any]:
    """An item written by `model-check publish` for the package (outside it)."""
    code, _, stderr = run_cli(["publish", pkg_copy, "--base-url", BASE, "--out", tmp_path / "pub"])
    assert code == 0, stderr
    item: dict[str, Any] = json.loads(next((tmp_path / "pub").glob("earthcode-*-demo.json")).read_text(encoding="utf-8"))
    return item


def at(report: dict[str, Any], rule: str, text: str) -> dict[str, Any]:
    hits = [f for f in findings(report, rule=rule) if text in f["message"]]
    assert len(hits) == 1, (rule, text, findings(report, area="publishing"))
    return hits[0]


def test_published_goes_item_gets_the_findings_earthcode_lists(goes_record: Path, pkg_copy: Path) -> None:
    report = lint(pkg_copy)
    rel = "catalog/" + GOES_RECORD.name
    empty = at(report, "MC851", "stac_extensions is empty")
    assert (empty["file"], empty["line"]) == (rel, line_after(goes_record, '"stac_extensions"', '"stac_extensions"'))
    assert "model.onnx" in empty["message"] and "mlm/v1.5.2" in empty["message"]
    ml_model = at(report, "MC853", "'model-onnx'")
    assert '"ml-model"' in ml_model["message"] and '["mlm:model"]' in ml_model["message"]
    assert ml_model["line"] == line_after(goes_record, '"model-onnx"', '"roles"')
    octet = at(report, "MC855", "'model-onnx'")
    assert "application/octet-stream; framework=onnx" in octet["message"]
    assert octet["line"] == line_after(goes_record, '"model-onnx"', '"type"')
    duplicate = at(report, "MC856", "'data' and 'model-safetensors'")
    assert duplicate["line"] == line_after(goes_record, '"model-safetensors"', '"model-safetensors"')
    title = at(report, "MC859", "(SafeTensors)")
    assert "onnx" in title["message"] and title["line"] == line_after(goes_record, '"collection": "earthcare', '"title"')
    license_ = at(report, "MC871", "CC-BY-4.0")
    assert license_["severity"] == "error" and license_["line"] == line_after(goes_record, '"license"', '"license"')
    item_id = at(report, "MC870", "earthcare-goes-cloud-regime-classifier")
    assert item_id["line"] == line_after(goes_record, '"id"', '"id"')
    assert all(f["file"] == rel for f in findings(report, area="publishing"))
    assert report["status"] == "failed"  # the license mismatch is an error


def test_an_item_written_by_publish_passes_the_lint(pkg_copy: Path, generated_item: dict[str, Any]) -> None:
    write_record(pkg_copy, generated_item)
    report = lint(pkg_copy)
    assert findings(report, area="publishing") == []
    assert next(c for c in report["checks"] if c["area"] == "publishing")["status"] == "passed"


def test_sizes_and_checksums_must_match_the_manifest(pkg_copy: Path, generated_item: dict[str, Any]) -> None:
    item = copy.deepcopy(generated_item)
    item["assets"]["weights"]["file:size"] += 1
    item["assets"]["onnx"]["file:checksum"] = "1220" + "0" * 64
    sha = item["assets"]["runtime"]["file:checksum"][4:]
    item["assets"]["runtime"]["file:checksum"] = sha
    path = write_record(pkg_copy, item)
    report = lint(pkg_copy)
    size = at(report, "MC858", "file:size")
    assert "model.safetensors" in size["message"] and size["line"] == line_after(path, '"weights"', '"file:size"')
    assert at(report, "MC858", "'onnx'")["severity"] == "error"
    assert "multihash" in at(report, "MC858", "bare hex digest (matches")["message"]


def test_undeclared_extensions_are_named_but_mlm_owned_fields_are_not(pkg_copy: Path, generated_item: dict[str, Any]) -> None:
    item = copy.deepcopy(generated_item)
    item["stac_extensions"] = [u for u in item["stac_extensions"] if "/file/" not in u]
    item["properties"]["processing:level"] = "L4"
    path = write_record(pkg_copy, item)
    report = lint(pkg_copy)
    fired = {f["message"].split(" ", 1)[0] for f in findings(report, rule="MC852")}
    assert fired == {"/assets/weights/file:size", "/properties/processing:level"}  # classification:classes sits inside mlm:output
    assert at(report, "MC852", "processing:level")["line"] == line_after(path, '"processing:level"', '"processing:level"')


def test_artifact_types_must_fit_the_file(pkg_copy: Path, generated_item: dict[str, Any]) -> None:
    item = copy.deepcopy(generated_item)
    del item["assets"]["weights"]["mlm:artifact_type"]
    item["assets"]["onnx"]["mlm:artifact_type"] = "torch.save"
    write_record(pkg_copy, item)
    report = lint(pkg_copy)
    assert "safetensors.torch.save_file" in at(report, "MC854", "'weights'")["message"]
    assert "'onnx'" in at(report, "MC854", "has mlm:artifact_type 'torch.save'")["message"]


def test_hrefs_must_name_package_files(pkg_copy: Path, generated_item: dict[str, Any]) -> None:
    item = copy.deepcopy(generated_item)
    item["assets"]["onnx"]["href"] = BASE + "/model-v2.onnx"
    path = write_record(pkg_copy, item)
    finding = at(lint(pkg_copy), "MC857", "model-v2.onnx")
    assert finding["line"] == line_after(path, '"onnx": {', '"href"')


def test_version_and_id_follow_the_package(pkg_copy: Path, generated_item: dict[str, Any]) -> None:
    item = copy.deepcopy(generated_item)
    item["properties"]["version"] = "v0.2.0"
    item["id"] = item["id"] + "-v0.1.0"  # the model id followed by the version is fine
    write_record(pkg_copy, item)
    report = lint(pkg_copy)
    assert rules_fired(report, area="publishing") == {"MC874"}
    assert "'v0.1.0'" in at(report, "MC874", "v0.2.0")["message"]


def test_declared_schemas_are_validated_offline(pkg_copy: Path, generated_item: dict[str, Any]) -> None:
    item = copy.deepcopy(generated_item)
    item["properties"]["mlm:tasks"] = ["guessing"]
    path = write_record(pkg_copy, item)
    finding = at(lint(pkg_copy), "MC872", "/properties/mlm:tasks/0")
    assert "guessing" in finding["message"] and finding["line"] == line_after(path, '"mlm:tasks"', '"guessing"')


def test_an_unreadable_record_is_a_finding(pkg_copy: Path) -> None:
    (pkg_copy / "item.json").write_text('{"stac_version": "1.1.0", "id": NaN}\n', encoding="utf-8")
    finding = at(lint(pkg_copy), "MC873", "item.json")
    assert finding["severity"] == "error"


@pytest.mark.parametrize("assets", [[], {"a": "x"}, {"a": {"href": 3, "roles": "mlm:model"}},
                                    {"a": {"href": "model.onnx", "roles": [None, 1], "type": 5}}])
def test_odd_records_do_not_crash_the_check(pkg_copy: Path, assets: Any) -> None:
    write_record(pkg_copy, {"type": "Feature", "stac_version": "1.1.0", "stac_extensions": "none", "id": 1,
                            "properties": [], "assets": assets})
    report = lint(pkg_copy)
    assert not findings(report, rule="MC001")


def test_packages_without_records_skip_with_a_reason(example_pkg: Path) -> None:
    report = lint(example_pkg)
    record = next(c for c in report["checks"] if c["area"] == "publishing")
    assert record["status"] == "skipped" and "no STAC or OSC record" in record["reason"]
