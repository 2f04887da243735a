"""Consistency area: every source of declared facts is compared, differences cite both places."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from safetensors.numpy import save_file

from validator.checks.consistency import normalise
from validator.core.options import Options
from validator.core.report import validate_report
from validator.pipeline.runner import run

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "goes-cloud-regime"
CLASSES = ["Solid stratus", "Closed MCC", "Open MCC", "Disorganized MCC", "Clustered Cu", "Suppressed Cu"]
CHANNELS = ["BT15_minus_BT14", "BT14_minus_BT11", "BT14", "COD"]


def _findings(root: Path, area: str = "consistency") -> list[dict[str, Any]]:
    report = run(root, Options(env="none"))
    data = report.to_dict()
    validate_report(data)
    return [f for f in data["findings"] if f["area"] == area]


def _rules(findings: list[dict[str, Any]]) -> list[str]:
    return sorted(f["rule"] for f in findings)


@pytest.fixture()
def pkg(tmp_path: Path) -> Path:
    target = tmp_path / "pkg"
    shutil.copytree(EXAMPLE, target)
    return target


def _write_safetensors(path: Path, metadata: dict[str, str], classes: int = 6, channels: int = 4) -> None:
    tensors = {
        "conv1.weight": np.zeros((8, channels, 3, 3), dtype=np.float32),
        "fc.weight": np.zeros((classes, 8), dtype=np.float32),
        "fc.bias": np.zeros((classes,), dtype=np.float32),
    }
    save_file(tensors, str(path), metadata=metadata)


def _write_onnx(path: Path, in_shape: list[str | int], out_shape: list[str | int]) -> None:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)
    node = helper.make_node("ReduceMean", ["input"], ["pooled"], axes=[2, 3], keepdims=0)
    channels, classes = int(in_shape[1]), int(out_shape[1])
    w = helper.make_tensor("w", TensorProto.FLOAT, [channels, classes], [0.0] * (channels * classes))
    gemm = helper.make_node("MatMul", ["pooled", "w"], ["logits"])
    graph = helper.make_graph([node, gemm], "g", [x], [y], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _metadata(**overrides: str) -> dict[str, str]:
    base = {
        "model_id": "earthcode-goes-cloud-regime-classifier-demo", "version": "v0.1.0", "architecture": "CloudRegimeCNN",
        "input_shape": "N,4,128,128", "channel_names": ",".join(CHANNELS), "channel_units": "K,K,K,1",
        "class_names": ",".join(CLASSES), "license": "Apache-2.0",
        "source_repository": "https://github.com/earthcode-examples/goes-cloud-regime-demo",
        "training_data": "none", "validation_data": "none",
    }
    base.update(overrides)
    return base


def test_example_package_is_consistent(pkg: Path) -> None:
    findings = _findings(pkg)
    assert [f for f in findings if f["severity"] != "info"] == []


def test_normalise_treats_spelling_variants_alike() -> None:
    assert normalise("BT15 - BT14") == normalise("BT15_minus_BT14") == normalise("bt15−bt14")
    assert normalise("Open MCC") == normalise("open_mcc")
    assert normalise("BT15") != normalise("BT14")


def test_class_order_difference_cites_both_places(pkg: Path) -> None:
    swapped = [CLASSES[1], CLASSES[0]] + CLASSES[2:]
    (pkg / "labels.json").write_text(json.dumps(swapped))
    findings = _findings(pkg)
    order = [f for f in findings if f["rule"] == "MC601"]
    assert len(order) == 1
    assert order[0]["file"] == "labels.json"
    assert "README.md" in order[0]["message"] and "labels.json" in order[0]["message"]
    assert "order" in order[0]["message"]


def test_class_name_difference_is_an_error(pkg: Path) -> None:
    renamed = CLASSES[:5] + ["Cumulus congestus"]
    _write_safetensors(pkg / "model.safetensors", _metadata(class_names=",".join(renamed)))
    findings = [f for f in _findings(pkg) if f["rule"] == "MC601"]
    assert findings and findings[0]["file"] == "model.safetensors"
    assert "Cumulus congestus" in findings[0]["message"]


def test_spelling_difference_is_info_only(pkg: Path) -> None:
    spelled = ["BT15 - BT14", "BT14 - BT11", "BT14", "COD"]
    _write_safetensors(pkg / "model.safetensors", _metadata(channel_names=",".join(spelled)))
    findings = _findings(pkg)
    assert "MC603" not in _rules(findings)
    info = [f for f in findings if f["rule"] == "MC607"]
    assert info and info[0]["severity"] == "info" and "BT15 - BT14" in info[0]["message"]


def test_channel_order_difference(pkg: Path) -> None:
    _write_safetensors(pkg / "model.safetensors", _metadata(channel_names=",".join(reversed(CHANNELS))))
    assert "MC603" in _rules(_findings(pkg))


def test_class_count_against_onnx_output_width(pkg: Path) -> None:
    _write_onnx(pkg / "model.onnx", ["batch", 4, 128, 128], ["batch", 5])
    findings = [f for f in _findings(pkg) if f["rule"] == "MC602"]
    assert any(f["file"] == "model.onnx" and f["severity"] == "error" and "5" in f["message"] for f in findings)


def test_class_count_against_classifier_weight_is_a_warning(pkg: Path) -> None:
    _write_safetensors(pkg / "model.safetensors", _metadata(), classes=7)
    findings = [f for f in _findings(pkg) if f["rule"] == "MC602" and f["file"] == "model.safetensors"]
    assert findings and findings[0]["severity"] == "warning" and "fc.weight" in findings[0]["message"]


def test_channel_count_against_onnx_input(pkg: Path) -> None:
    _write_onnx(pkg / "model.onnx", ["batch", 3, 128, 128], ["batch", 6])
    rules = _rules(_findings(pkg))
    assert "MC604" in rules and "MC605" in rules


def test_input_shape_mismatch_between_card_and_metadata(pkg: Path) -> None:
    _write_safetensors(pkg / "model.safetensors", _metadata(input_shape="N,4,256,256"))
    findings = [f for f in _findings(pkg) if f["rule"] == "MC605"]
    assert findings and "256" in findings[0]["message"] and "README.md" in findings[0]["message"]


def test_version_mismatch_and_leading_v_tolerated(pkg: Path) -> None:
    citation = (pkg / "CITATION.cff").read_text()
    (pkg / "CITATION.cff").write_text(citation.replace("version: v0.1.0", "version: 0.1.0"))
    assert "MC606" not in _rules(_findings(pkg))
    (pkg / "CITATION.cff").write_text(citation.replace("version: v0.1.0", "version: v0.2.0"))
    findings = [f for f in _findings(pkg) if f["rule"] == "MC606"]
    assert findings and findings[0]["file"] == "CITATION.cff" and findings[0]["line"] is not None


def test_versions_in_pyproject_and_code_join_the_comparison(pkg: Path) -> None:
    """CITATION.cff says v0.1.0 (as the card does); the code and pyproject.toml moved on to 1.0.0."""
    (pkg / "pyproject.toml").write_text('[project]\nname = "goes-cloud"\nversion = "1.0.0"\n', encoding="utf-8")
    (pkg / "goes_cloud").mkdir()
    (pkg / "goes_cloud" / "__init__.py").write_text('"""The model."""\n\n__version__ = "1.0.0"\n', encoding="utf-8")
    found = [f for f in _findings(pkg) if f["rule"] == "MC606"]
    # the version the package is built with is the reference: one finding for the other value, at its first place,
    # naming every place and value
    assert [(f["file"], f["line"]) for f in found] == [("README.md", 18)]
    message = found[0]["message"]
    for place in ("pyproject.toml:3 says 1.0.0", "goes_cloud/__init__.py:3 says 1.0.0", "README.md:18 says v0.1.0",
                  "CITATION.cff:5 says v0.1.0", "model.safetensors says v0.1.0"):
        assert place in message, message


def test_versions_that_agree_or_are_not_static_strings_pass(pkg: Path) -> None:
    (pkg / "pyproject.toml").write_text('[project]\nname = "goes-cloud"\ndynamic = ["version"]\n', encoding="utf-8")
    (pkg / "goes_cloud").mkdir()
    (pkg / "goes_cloud" / "__init__.py").write_text('__version__ = "0.1.0"\n', encoding="utf-8")
    (pkg / "goes_cloud" / "_version.py").write_text('import importlib.metadata\n__version__ = importlib.metadata.version("x")\n',
                                                    encoding="utf-8")
    assert "MC606" not in _rules(_findings(pkg))


def test_model_id_not_mentioned_in_card(pkg: Path) -> None:
    _write_safetensors(pkg / "model.safetensors", _metadata(model_id="something-else-entirely"))
    assert "MC608" in _rules(_findings(pkg))


@pytest.mark.parametrize("content, rule", [("{not json", "MC609"), ('{"a": 1}', "MC609"), ('[1, 2]', "MC609")])
def test_labels_json_unreadable(pkg: Path, content: str, rule: str) -> None:
    (pkg / "labels.json").write_text(content)
    findings = [f for f in _findings(pkg) if f["rule"] == rule]
    assert findings and findings[0]["file"] == "labels.json"


def test_labels_json_mapping_form_is_accepted(pkg: Path) -> None:
    (pkg / "labels.json").write_text(json.dumps({str(i): name for i, name in enumerate(CLASSES)}))
    assert [f for f in _findings(pkg) if f["severity"] != "info"] == []


def test_config_json_invalid_and_compared(pkg: Path) -> None:
    (pkg / "config.json").write_text('{"num_classes": 6, "num_classes": 7}')
    assert "MC610" in _rules(_findings(pkg))
    (pkg / "config.json").write_text(json.dumps({"num_classes": 5, "in_chans": 4}))
    findings = [f for f in _findings(pkg) if f["rule"] == "MC602"]
    assert findings and findings[0]["file"] == "config.json" and findings[0]["line"] == 1
