"""Area parity, for real: torch builds and runs the native model, ONNX Runtime runs the graph, in
environments rebuilt by model-check's venv builder, through the runner (report schema checked).

Cases: parity passes; ONNX exported from perturbed weights fails with figures; a wrong architecture
fails the strict load with the keys named; random inputs at batch 1 and 2 without test vectors;
ONNX-style .pb test vectors; an ONNX-only package (native parity skipped with the reason); a
runtime without onnxruntime (model-check's own runs, sandboxed, and the report says so); the GOES
layout (factory used, misleading `architecture` metadata reported; needs timm: slow); the example
(a plain-torch CNN, its free-text `architecture` metadata not tried against the weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import probe_packages as pp
import pytest
from helpers import EXAMPLE, findings, run_configured, run_static, tree_state
from onnx import numpy_helper

from validator.readers.package import ModelPackage
from validator.runtime.environments.venv import VenvEnv
from validator.runtime.parity import compare
from validator.runtime.test_vectors import InputSpec, load_npy, random_inputs

AREAS = ("runtime", "parity")


@pytest.fixture(scope="session")
def numpy_env(tmp_path_factory: pytest.TempPathFactory) -> VenvEnv:
    return pp.build_env(tmp_path_factory.mktemp("numpy-env"), pp.NUMPY_ONLY)


@pytest.fixture(scope="session")
def example_env(tmp_path_factory: pytest.TempPathFactory) -> VenvEnv:
    """The example's own runtime: CPU torch 2.13.0, onnx, onnxruntime, safetensors (about 1 GB, cached)."""
    return pp.build_env(tmp_path_factory.mktemp("example-env"), (EXAMPLE / "requirements.txt").read_text())


@pytest.fixture(scope="session")
def timm_env(tmp_path_factory: pytest.TempPathFactory) -> VenvEnv:
    """timm's runtime: torch 2.14.1, torchvision 0.29.1, timm (about 5.5 GB, cached)."""
    return pp.build_env(tmp_path_factory.mktemp("timm-env"), pp.TIMM_RUNTIME)


def parity_check(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["area"] == "parity")


def parity_errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in findings(report, area="parity") if f["severity"] in ("error", "warning")]


# -- comparison (numpy only) ----------------------------------------------------------------------

def test_compare_passes_exactly_when_assert_allclose_does() -> None:
    desired = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], dtype=np.float32)
    actual = desired + np.float32(2e-4)
    result = compare("x", actual, desired, rtol=1e-4, atol=1e-4)
    assert not result.passed and result.needed_atol is not None
    # The figures are the tolerances that would just pass.
    np.testing.assert_allclose(actual, desired, rtol=1e-4, atol=result.needed_atol * (1 + 1e-9) + 1e-12)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(actual, desired, rtol=1e-4, atol=result.needed_atol * 0.99)
    assert result.needed_rtol is None  # a difference where the desired value is 0: no rtol covers it
    assert result.max_abs_diff == pytest.approx(2e-4, rel=1e-2)
    assert result.argmax_agreement == 1.0
    assert compare("x", desired, desired, 1e-4, 1e-4).passed


def test_compare_reports_nan_shape_and_argmax() -> None:
    desired = np.array([[0.0, 1.0], [1.0, 0.0]])
    flipped = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert compare("x", flipped, desired, 1e-4, 1e-4).argmax_agreement == 0.5
    with_nan = desired.copy()
    with_nan[0, 0] = np.nan
    result = compare("x", with_nan, desired, 1e-4, 1e-4)
    assert not result.passed and result.nonfinite_actual == 1
    mismatch = compare("x", desired[:1], desired, 1e-4, 1e-4)
    assert not mismatch.passed and "shapes differ" in (mismatch.problem or "")


def test_random_inputs_are_seeded_at_batch_1_and_2() -> None:
    sets, reason = random_inputs([InputSpec("input", [None, 4, 8, 8], "float32")])
    assert reason is None
    assert [s.id for s in sets] == ["random batch 1", "random batch 2"]
    assert [s.inputs[0].data.shape for s in sets] == [(1, 4, 8, 8), (2, 4, 8, 8)]
    again, _ = random_inputs([InputSpec("input", [None, 4, 8, 8], "float32")])
    np.testing.assert_array_equal(sets[1].inputs[0].data, again[1].inputs[0].data)
    _, reason = random_inputs([InputSpec("input", [None, 4, None, None], "float32")])
    assert reason and "free dimensions" in reason


def test_pickled_test_vector_is_refused_not_loaded(tmp_path: Path) -> None:
    (tmp_path / "test_data").mkdir()
    np.save(tmp_path / "test_data" / "input_0.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    pkg = ModelPackage(tmp_path)
    try:
        _, problem = load_npy(pkg, "test_data/input_0.npy")
    finally:
        pkg.close()
    assert problem and "pickle" in problem


# -- tiny torch packages ----------------------------------------------------------------------------

def test_parity_passes_and_reports_figures(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python)
    before = tree_state(root)
    report = run_static(root, only=AREAS, env="venv")
    assert parity_errors(report) == []
    assert parity_check(report)["status"] == "passed"
    parity = report["parity"]
    assert parity["passed"] is True and parity["rtol"] == 1e-4 and parity["atol"] == 1e-4
    assert parity["native"] == "factory inference:load_model"
    assert "package environment's onnxruntime" in parity["onnx_runtime"]
    kinds = {o["kind"] for o in parity["outputs"]}
    assert kinds == {"native vs ONNX", "native vs expected", "ONNX vs expected"}
    assert parity["max_abs_diff"] < 1e-4
    # The test case, and the same repeated to batch 2: the graph's dynamic batch really runs at 2.
    assert [i["id"] for i in parity["inputs"]] == ["test_data/input_0.npy", "test_data/input_0.npy, repeated to batch 2"]
    assert parity["inputs"][1]["arrays"][0]["shape"] == [2, 4, 16, 16]
    assert parity["inputs"][1]["expected"] == ["test_data/output_0.npy, repeated to batch 2"]
    summary = findings(report, rule="MC912")
    assert len(summary) == 1 and "native vs ONNX" in summary[0]["message"]
    assert tree_state(root) == before  # package code ran in a scratch copy


def test_parity_fails_for_onnx_from_perturbed_weights(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, onnx_noise=0.05)
    report = run_static(root, only=AREAS, env="venv")
    mismatch = findings(report, rule="MC901")
    assert len(mismatch) == 1, report["findings"]
    message = mismatch[0]["message"]
    assert "rtol=0.0001, atol=0.0001" in message and "max |diff|" in message and "would pass with atol >=" in message
    assert mismatch[0]["file"] == "model.onnx"
    assert {f["message"].split(" outputs")[0] for f in findings(report, rule="MC902")} == {"ONNX"}
    parity = report["parity"]
    assert parity["passed"] is False and parity["max_abs_diff"] > 1e-4
    assert parity_check(report)["status"] == "failed"


def test_tolerance_from_options_decides(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, onnx_noise=0.05)
    strict = run_static(root, only=AREAS, env="venv")
    needed = max(o["needed_atol"] for o in strict["parity"]["outputs"] if o["kind"] == "native vs ONNX")
    loose = run_static(root, only=AREAS, env="venv", atol=min(0.99, needed * 1.01 + 1e-6))
    assert findings(loose, rule="MC901") == []


def test_strict_load_fails_for_wrong_architecture(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, factory_width=16)
    report = run_static(root, only=AREAS, env="venv")
    failed = findings(report, rule="MC903")
    assert len(failed) == 1, report["findings"]
    message = failed[0]["message"]
    assert "does not load strictly into the model from factory inference:load_model" in message
    assert "conv1.weight" in message and "[8, 4, 3, 3]" in message and "[16, 4, 3, 3]" in message
    assert failed[0]["file"] == "model.safetensors"
    assert findings(report, rule="MC901") == []  # no native model, so no native comparison
    assert report["parity"]["outputs"] and {o["kind"] for o in report["parity"]["outputs"]} == {"ONNX vs expected"}


def test_factory_named_in_configuration_gets_the_weights_loaded(tmp_path: Path, light_env: VenvEnv) -> None:
    inference = pp.TINY_NET + "\n\ndef make_net():\n    return TinyNet()  # random weights: model-check loads the file\n"
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, inference=inference)
    (root / "model-check.toml").write_text('native = "inference:make_net"\n', encoding="utf-8")
    report = run_configured(root, only=AREAS, env="venv")
    assert parity_errors(report) == []
    assert report["parity"]["native"] == "factory inference:make_net (model-check.toml)"
    assert report["parity"]["passed"] is True


def test_no_factory_and_no_architecture_is_reported(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, factory_width=None)
    report = run_static(root, only=AREAS, env="venv")
    unbuildable = findings(report, rule="MC904")
    assert len(unbuildable) == 1 and "load_model" in unbuildable[0]["message"]


def test_inference_module_that_exits_at_import_is_reported(tmp_path: Path, light_env: VenvEnv) -> None:
    inference = "import sys\nprint('running at import')\nsys.exit(2)\n\ndef load_model():\n    pass\n"
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, inference=inference)
    report = run_static(root, only=AREAS, env="venv")
    unbuildable = findings(report, rule="MC904")
    assert len(unbuildable) == 1, report["findings"]
    assert "import of inference.py" in unbuildable[0]["message"] and "SystemExit: 2" in unbuildable[0]["message"]


def test_random_inputs_without_test_vectors(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, test_vectors=False)
    report = run_static(root, only=AREAS, env="venv")
    assert parity_errors(report) == []
    inputs = report["parity"]["inputs"]
    assert [i["id"] for i in inputs] == ["random batch 1", "random batch 2"]
    assert [i["arrays"][0]["shape"] for i in inputs] == [[1, 4, 16, 16], [2, 4, 16, 16]]
    assert {o["shape"][0] for o in report["parity"]["outputs"]} == {1, 2}


def test_onnx_style_pb_test_vectors(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python)
    case = root / "test_data_set_0"
    case.mkdir()
    for kind in ("input", "output"):
        array = np.load(root / "test_data" / f"{kind}_0.npy")
        name = "input" if kind == "input" else "logits"
        (case / f"{kind}_0.pb").write_bytes(numpy_helper.from_array(array, name).SerializeToString())
    (case / "output_1.pb").write_bytes(b"\xff\xff\xff\xff not a TensorProto")
    report = run_static(root, only=AREAS, env="venv")
    bad = findings(report, rule="MC909")
    assert len(bad) == 1 and bad[0]["file"] == "test_data_set_0/output_1.pb"
    parity = report["parity"]
    assert [i["id"] for i in parity["inputs"]] == ["test_data/input_0.npy", "test_data_set_0",
                                                   "test_data/input_0.npy, repeated to batch 2"]
    assert parity["inputs"][1]["expected"] == ["test_data_set_0/output_0.pb"]
    assert parity["passed"] is True
    assert "ONNX vs expected" in {o["kind"] for o in parity["outputs"] if o["input"] == "test_data_set_0"}
    assert onnx.load(str(root / "model.onnx")).graph.input[0].name == "input"


def test_onnx_only_package_skips_native_parity_with_reason(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, weights=False)
    report = run_static(root, only=AREAS, env="venv")
    record = parity_check(report)
    assert record["status"] == "passed"  # the ONNX side ran and agrees with the expected output
    assert "native parity skipped: no .safetensors file" in record["reason"]
    (no_native,) = findings(report, rule="MC914")  # and a finding says so, with what to add
    assert no_native["file"] == "model.onnx" and "load_model()" in no_native["message"]
    assert report["parity"]["passed"] is True
    assert {o["kind"] for o in report["parity"]["outputs"]} == {"ONNX vs expected"}


def test_runtime_without_onnxruntime_uses_model_checks_own(tmp_path: Path, light_env: VenvEnv, numpy_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, weights=False, requirements=pp.NUMPY_ONLY)
    report = run_static(root, only=AREAS, env="venv")
    assert parity_errors(report) == []
    assert report["parity"]["onnx_runtime"].startswith("model-check's onnxruntime in a sandboxed child process")
    assert any("model-check's onnxruntime" in note for note in report.get("notes", []))


# -- timm: the GOES layout (timm's runtime, ~5.5 GB, cached) -------------------------------------

@pytest.mark.slow
def test_goes_layout_uses_factory_and_reports_misleading_architecture(tmp_path: Path, timm_env: VenvEnv) -> None:
    root = pp.goes_layout_package(tmp_path / "pkg", timm_env.python, pp.TIMM_RUNTIME)
    report = run_static(root, only=AREAS, env="venv")
    misleading = findings(report, rule="MC905")
    assert len(misleading) == 1, report["findings"]
    message = misleading[0]["message"]
    assert "'timm.resnet18d'" in message and "factory inference:load_model" in message
    assert "conv1" in message  # the keys that differ
    assert report["parity"]["native"] == "factory inference:load_model"
    assert report["parity"]["passed"] is True
    assert findings(report, rule="MC903") == []


# -- the example (its own runtime: CPU torch, about 1 GB, cached) -------------------------------

@pytest.mark.slow
def test_parity_passes_on_the_example(example_env: VenvEnv) -> None:
    report = run_static(EXAMPLE, only=AREAS, env="venv")
    assert parity_errors(report) == []
    assert report["parity"]["passed"] is True
    assert report["parity"]["native"] == "factory inference:load_model"
    assert report["parity"]["max_abs_diff"] < 1e-5
    load = report["parity"]["native_load"]  # the evidence: which class, loaded strictly, run at which batch
    assert load["strict"] is True and load["model_class"] == "model.CloudRegimeCNN" and load["runs"]
    # free-text `architecture` metadata ("CloudRegimeCNN") names no library model: nothing to call misleading
    assert findings(report, rule="MC905") == []
    (session,) = report["parity"]["onnx_sessions"]
    assert session["file"] == "model.onnx" and session["loaded"] and session["providers"] == ["CPUExecutionProvider"]
    assert [f["file"] for f in findings(report, rule="MC913")] == ["model.onnx"]
    assert len(findings(report, rule="MC915")) == 1 and findings(report, rule="MC914") == []
