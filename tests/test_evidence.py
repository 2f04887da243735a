"""Positive evidence, for real (issue 11): the report says what ran and what it showed, and when a
step cannot run, a finding says why and what the author can add.

In real uv environments (the session's light environment: torch, onnxruntime, safetensors):
- an ONNX-only package with several graphs (a 4-band and a 6-band one, no safetensors): each graph's
  ONNX Runtime session is recorded per file (providers, batch sizes, output names and shapes), and
  parity says, as a finding, that there is no native model to compare with and what to add;
- a graph whose spatial dimensions are free and not stated in the card: no test input, a finding
  naming the graph and what to ship; the session is still created and described;
- a graph ONNX Runtime cannot load (a custom operator domain): a finding for it, the others still run;
- a graph exported with a dynamic batch whose Reshape kept batch 1: the package's test case repeated
  to batch 2 fails, and the finding names that input;
- weights that load: the record names the architecture class and that the load was strict; weights
  that do not: the keys that did not fit;
- a native model that cannot be built (its module imports something the runtime lacks; a runtime
  without torch): a finding each saying why and what to add.
And the inference example: an entry point the card names that model-check cannot run (a code example,
a command with shell syntax) is a skip whose reason says why and what to add.
The ONNX graphs of the ONNX-only packages are written with onnx.helper in the test process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import probe_packages as pp
import pytest
from helpers import findings, run_static
from onnx import TensorProto, helper

from validator.core.report import Report
from validator.reporters.markdown import render_markdown
from validator.reporters.terminal import evidence_lines
from validator.runtime.environments.venv import VenvEnv

AREAS = ("runtime", "parity")
CARD = """# Two-sensor cloud mask

| Field | Value |
| --- | --- |
| Model name | Two-sensor cloud mask |
| Version | v0.1.0 |
| License | MIT |
{shape}
## How to run inference

```python
import onnxruntime as ort
session = ort.InferenceSession("model.onnx")
```
"""


def pooling_graph(path: Path, channels: int, size: int | str, output: str = "logits") -> None:
    """input [batch, channels, size, size] -> GlobalAveragePool -> Flatten -> output [batch, channels]."""
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], [output], axis=1)],
        "pool",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, size, size])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", channels])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="test-evidence")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def onnx_only_package(root: Path, graphs: dict[str, tuple[int, int | str]], card_shape: str | None) -> Path:
    root.mkdir(parents=True)
    shape = f"| Input shape | `{card_shape}` |\n" if card_shape else ""
    (root / "README.md").write_text(CARD.format(shape=shape), encoding="utf-8")
    (root / "requirements.txt").write_text(pp.LIGHT, encoding="utf-8")
    for name, (channels, size) in graphs.items():
        pooling_graph(root / name, channels, size)
    return root


def sessions(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {session["file"]: session for session in report["parity"]["onnx_sessions"]}


def markdown(report: dict[str, Any]) -> str:
    return render_markdown(Report.from_dict(report))


# -- ONNX-only packages ---------------------------------------------------------------------------

def test_onnx_only_package_with_two_graphs_records_each_session(tmp_path: Path, light_env: VenvEnv) -> None:
    root = onnx_only_package(tmp_path / "pkg", {"model.onnx": (4, 16), "sensor_b.onnx": (6, 16)}, "N,4,16,16")
    report = run_static(root, only=AREAS, env="venv")
    ran = sessions(report)
    assert list(ran) == ["model.onnx", "sensor_b.onnx"]  # the compared graph first
    for rel, channels in (("model.onnx", 4), ("sensor_b.onnx", 6)):
        session = ran[rel]
        assert session["loaded"] is True and session["providers"] == ["CPUExecutionProvider"]
        assert "package environment's onnxruntime" in session["runner"] and "1.32.0" in session["runner"]
        assert session["inputs"] == [{"name": "input", "type": "tensor(float)", "shape": ["batch", channels, 16, 16]}]
        assert [run["batch"] for run in session["runs"]] == [1, 2]
        assert [run["outputs"] for run in session["runs"]] == [
            [{"name": "logits", "shape": [1, channels], "dtype": "float32"}],
            [{"name": "logits", "shape": [2, channels], "dtype": "float32"}]]
    ran_findings = {f["file"]: f for f in findings(report, rule="MC913")}
    assert set(ran_findings) == {"model.onnx", "sensor_b.onnx"}
    assert all(f["severity"] == "info" for f in ran_findings.values())
    message = ran_findings["sensor_b.onnx"]["message"]
    assert "CPUExecutionProvider" in message and "at batch size 1, 2" in message and "'logits' [2, 6]" in message
    # No native model: a finding says parity could not compare, and what to add.
    (no_native,) = findings(report, rule="MC914")
    assert no_native["severity"] == "info" and no_native["file"] == "model.onnx"
    assert "no .safetensors" in no_native["message"] and "model.onnx, sensor_b.onnx" in no_native["message"]
    assert "model.safetensors" in no_native["message"] and "load_model()" in no_native["message"]
    assert findings(report, rule="MC911") == [] and findings(report, rule="MC906") == []
    assert report["parity"]["passed"] is None  # nothing to compare: no native model, no expected outputs
    assert "native_load" not in report["parity"]
    check = next(c for c in report["checks"] if c["area"] == "parity")
    assert check["status"] == "passed" and "no .safetensors file" in check["reason"]
    shown = markdown(report)
    assert "nothing was compared" in shown
    assert "- ONNX Runtime: `sensor_b.onnx` (CPUExecutionProvider): batch 1, 2 → `logits` [1, 6]; [2, 6]" in shown


def test_free_spatial_dimensions_without_card_shape_give_a_finding_per_graph(tmp_path: Path, light_env: VenvEnv) -> None:
    root = onnx_only_package(tmp_path / "pkg", {"model.onnx": (4, 16), "tiles.onnx": (4, "height")}, None)
    report = run_static(root, only=AREAS, env="venv")
    (no_inputs,) = findings(report, rule="MC911")
    assert no_inputs["file"] == "tiles.onnx" and no_inputs["severity"] == "warning"
    message = no_inputs["message"]
    assert "free dimensions besides the batch ([?, 4, ?, ?])" in message
    assert "test_data/input_0.npy" in message and "Input shape" in message  # what to add
    # The session is still created and described, and the report says it was not run.
    tiles = sessions(report)["tiles.onnx"]
    assert tiles["loaded"] is True and tiles["runs"] == []
    assert tiles["inputs"][0]["shape"] == ["batch", 4, "height", "height"]
    (loads,) = [f for f in findings(report, rule="MC913") if f["file"] == "tiles.onnx"]
    assert "loads in ONNX Runtime" in loads["message"] and "it was not run" in loads["message"]
    assert sessions(report)["model.onnx"]["runs"]  # the other graph ran
    assert "- ONNX Runtime: `tiles.onnx` (CPUExecutionProvider): session created, not run (no test input)" in markdown(report)


def test_no_input_for_the_compared_graph_still_creates_the_session(tmp_path: Path, light_env: VenvEnv) -> None:
    root = onnx_only_package(tmp_path / "pkg", {"model.onnx": (4, "size")}, None)
    report = run_static(root, only=AREAS, env="venv")
    (no_inputs,) = findings(report, rule="MC911")
    assert no_inputs["file"] == "model.onnx"
    assert sessions(report)["model.onnx"]["loaded"] is True
    assert len(findings(report, rule="MC914")) == 1


def test_a_graph_onnx_runtime_cannot_load_is_reported_and_the_others_still_run(tmp_path: Path, light_env: VenvEnv) -> None:
    root = onnx_only_package(tmp_path / "pkg", {"model.onnx": (4, 16)}, "N,4,16,16")
    graph = helper.make_graph(
        [helper.make_node("CloudMask", ["input"], ["logits"], domain="org.example.ops")], "custom",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("org.example.ops", 1)])
    model.ir_version = 8
    onnx.save(model, str(root / "custom_ops.onnx"))
    report = run_static(root, only=AREAS, env="venv")
    (broken,) = findings(report, rule="MC906")
    assert broken["file"] == "custom_ops.onnx" and "cannot load custom_ops.onnx" in broken["message"]
    custom = sessions(report)["custom_ops.onnx"]
    assert custom["loaded"] is False and "org.example.ops" in custom["error"] and custom["runs"] == []
    assert [f["file"] for f in findings(report, rule="MC913")] == ["model.onnx"]
    assert "- ONNX Runtime: `custom_ops.onnx` not run:" in markdown(report)


def test_a_graph_whose_dynamic_batch_does_not_run_at_2_is_found(tmp_path: Path, light_env: VenvEnv) -> None:
    """Exported with a dynamic batch, but a Reshape kept the export's batch of 1: the test case repeated to batch 2 fails."""
    root = onnx_only_package(tmp_path / "pkg", {}, "N,4,16,16")
    shape = helper.make_tensor("fixed_shape", TensorProto.INT64, [2], [1, 1024])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "fixed_shape"], ["logits"])], "baked-batch",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1024])], initializer=[shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(root / "model.onnx"))
    (root / "test_data").mkdir()
    np.save(root / "test_data" / "input_0.npy", np.ones((1, 4, 16, 16), np.float32))
    report = run_static(root, only=AREAS, env="venv")
    (fails,) = findings(report, rule="MC906")
    assert fails["file"] == "model.onnx" and "test_data/input_0.npy, repeated to batch 2" in fails["message"]
    runs = sessions(report)["model.onnx"]["runs"]
    assert [(run["batch"], "error" in run) for run in runs] == [(1, False), (2, True)]


# -- native weights -------------------------------------------------------------------------------

def test_weights_that_load_name_the_class_and_the_strict_load(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python)
    report = run_static(root, only=AREAS, env="venv")
    load = report["parity"]["native_load"]
    assert load["model_class"] == "inference.TinyNet" and load["strict"] is True
    assert load["built_by"] == "factory inference:load_model" and load["weights"] == "model.safetensors"
    assert load["tensors"] == 9 and load["parameters"] > 0 and load["torch"].startswith("2.13.0")
    assert [run["batch"] for run in load["runs"]] == [1, 2]  # the test case, and the same repeated to batch 2
    assert [run["outputs"][0]["shape"] for run in load["runs"]] == [[1, 3], [2, 3]]
    (loaded,) = findings(report, rule="MC915")
    assert loaded["file"] == "model.safetensors" and loaded["severity"] == "info"
    assert "loaded strictly into inference.TinyNet" in loaded["message"] and "strict=True" in loaded["message"]
    assert "all 9 tensors" in loaded["message"] and "test_data/input_0.npy -> [1, 3]" in loaded["message"]
    assert findings(report, rule="MC914") == [] and len(findings(report, rule="MC913")) == 1
    assert "- native: `model.safetensors` into `inference.TinyNet` (factory inference:load\\_model), loaded strictly" in markdown(report)
    assert any(line.startswith("model.safetensors loaded strictly into inference.TinyNet") for line in
               evidence_lines(Report.from_dict(report)))


EXTRA_LAYER = pp.TINY_NET + '''

class TinyNetWithHead(TinyNet):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 3)


def load_model():
    return TinyNetWithHead()  # random weights: model-check loads the file strictly
'''


def test_weights_that_do_not_load_strictly_name_the_keys(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, inference=EXTRA_LAYER)
    report = run_static(root, only=AREAS, env="venv")
    load = report["parity"]["native_load"]
    assert load["model_class"] == "inference.TinyNetWithHead" and load["strict"] is False
    assert load["missing_count"] == 2 and load["missing"] == ["head.weight", "head.bias"]
    assert "unexpected_count" not in load and load["runs"] == []
    (failed,) = findings(report, rule="MC903")
    assert "head.weight" in failed["message"]
    assert findings(report, rule="MC915") == []
    attempt = report["parity"]["native_attempts"][0]
    assert attempt["model_class"] == "inference.TinyNetWithHead" and attempt["missing_count"] == 2
    assert "❌ not loaded strictly (2 missing)" in markdown(report)


def test_architecture_module_that_cannot_be_imported_is_a_finding(tmp_path: Path, light_env: VenvEnv) -> None:
    inference = "import segmentation_models_nowhere as smp\n\n\ndef load_model():\n    return smp.Unet()\n"
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, inference=inference)
    report = run_static(root, only=AREAS, env="venv")
    (unbuildable,) = findings(report, rule="MC904")
    assert unbuildable["file"] == "model.safetensors"
    assert "import of inference.py" in unbuildable["message"] and "segmentation_models_nowhere" in unbuildable["message"]
    assert "native_load" not in report["parity"]
    assert report["parity"]["native_attempts"][0]["built"] is False
    assert len(findings(report, rule="MC913")) == 1  # the ONNX side still ran, and says so


@pytest.fixture(scope="module")
def numpy_env(tmp_path_factory: pytest.TempPathFactory) -> VenvEnv:
    return pp.build_env(tmp_path_factory.mktemp("numpy-env"), pp.NUMPY_ONLY)


def test_runtime_without_torch_cannot_build_the_native_model(tmp_path: Path, light_env: VenvEnv, numpy_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, requirements=pp.NUMPY_ONLY)
    report = run_static(root, only=AREAS, env="venv")
    (unbuildable,) = findings(report, rule="MC904")
    assert unbuildable["file"] == "model.safetensors"
    assert "does not install torch" in unbuildable["message"] and "Add torch and safetensors" in unbuildable["message"]
    assert findings(report, rule="MC914") == []  # the package has native weights: it is not ONNX-only
    (ran,) = findings(report, rule="MC913")
    assert "model-check's onnxruntime" in ran["message"]


# -- the inference example ------------------------------------------------------------------------

@pytest.mark.parametrize(("entry_point", "why"), [
    (None, "is a Python code example in the card, not a command"),
    ("```bash\npython predict.py --tiles data/ > masks.txt\n```\n", "is not a plain `python script.py …` command"),
])
def test_an_entry_point_model_check_cannot_run_says_why_and_what_to_add(tmp_path: Path, light_env: VenvEnv,
                                                                       entry_point: str | None, why: str) -> None:
    root = onnx_only_package(tmp_path / "pkg", {"model.onnx": (4, 16)}, "N,4,16,16")
    if entry_point is not None:
        (root / "predict.py").write_text("print('mask')\n", encoding="utf-8")
        readme = root / "README.md"
        text = readme.read_text(encoding="utf-8")
        readme.write_text(text[:text.index("```python")] + entry_point, encoding="utf-8")
    report = run_static(root, only=("runtime", "inference"), env="venv")
    check = next(c for c in report["checks"] if c["area"] == "inference")
    assert check["status"] == "skipped"
    assert "the inference example was not run" in check["reason"] and why in check["reason"]
    assert "add an inference.py" in check["reason"] and "inference-command" in check["reason"]
