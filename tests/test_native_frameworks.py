"""Models that are not PyTorch: scikit-learn (skops), LightGBM, XGBoost and Keras v3 artefacts are
loaded natively in the package's rebuilt environment (sandboxed) and compared with their ONNX export.

The models are real and tiny: trained here in seconds (the test extra installs the frameworks and the
converters skl2onnx and onnxmltools), saved in each framework's own format, converted to ONNX, and
checked with `model-check check` in one environment holding the four frameworks (uv, cached).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import probe_packages as pp
import pytest
from helpers import RunCli, findings, run_static

from validator.runtime.environments.venv import VenvEnv

RUNTIME = """\
numpy==2.4.6
onnx==1.23.2
onnxruntime==1.32.0
scikit-learn==1.9.1
skops==0.16.0
lightgbm==4.7.0
xgboost-cpu==3.2.0
keras==3.15.1
h5py==3.16.0
torch==2.13.0
"""
CLASSES = ["clear", "cloud", "haze"]
AREAS = ("runtime", "parity")
Maker = Callable[..., Path]


def _data() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(90, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)


def _scale(values: Any) -> Any:  # a function of the test module: a type skops does not trust
    return values * 2.0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> VenvEnv:
    return pp.build_env(tmp_path_factory.mktemp("nontorch-env"), RUNTIME)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every model file the packages are made of, trained and exported once."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import lightgbm
    import onnxmltools
    import skops.io as sio
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    out = tmp_path_factory.mktemp("artefacts")
    x, y = _data()
    names = np.asarray(CLASSES)[y]
    logistic = LogisticRegression(max_iter=300).fit(x, names)
    sio.dump(logistic, out / "logistic.skops")
    (out / "logistic.onnx").write_bytes(to_onnx(logistic, x[:1]).SerializeToString())  # ZipMap probabilities
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(x, names)
    (out / "forest.onnx").write_bytes(to_onnx(forest, x[:1], options={"zipmap": False}).SerializeToString())
    regression = LinearRegression().fit(x, x @ np.asarray([0.5, -1.0, 2.0, 0.1]))
    sio.dump(regression, out / "regression.skops")
    (out / "regression.onnx").write_bytes(to_onnx(regression, x[:1]).SerializeToString())  # (N, 1) vs predict's (N,)
    sio.dump(make_pipeline(FunctionTransformer(_scale), LogisticRegression(max_iter=300)).fit(x, names), out / "untrusted.skops")

    booster = lightgbm.LGBMClassifier(n_estimators=8, num_leaves=4, min_child_samples=2, verbose=-1).fit(x, y)
    booster.booster_.save_model(out / "lightgbm.txt")
    (out / "lightgbm.onnx").write_bytes(onnxmltools.convert_lightgbm(
        booster, initial_types=[("input", FloatTensorType([None, 4]))], zipmap=False).SerializeToString())

    boosted = xgboost.XGBClassifier(n_estimators=8, max_depth=2).fit(x, y)
    boosted.save_model(out / "xgboost.json")
    (out / "xgboost.onnx").write_bytes(onnxmltools.convert_xgboost(
        boosted, initial_types=[("input", FloatTensorType([None, 4]))]).SerializeToString())

    keras.utils.set_random_seed(0)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    dense(x[:1])
    dense.save(out / "dense.keras")
    dense.export(str(out / "dense.onnx"), format="onnx", verbose=False)
    unsafe = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2.0), keras.layers.Dense(3)])
    unsafe.save(out / "lambda.keras")
    np.save(out / "input_0.npy", x[:5])
    return out


@pytest.fixture()
def make(tmp_path: Path, artefacts: Path) -> Maker:
    def build(native: str, target: str, onnx: str, classes: list[str] | None = None) -> Path:
        root = tmp_path / "pkg"
        (root / "test_data").mkdir(parents=True)
        (root / "requirements.txt").write_text(RUNTIME, encoding="utf-8")
        (root / "README.md").write_text("# Tiny classifier\n\nA test model.\n", encoding="utf-8")
        shutil.copyfile(artefacts / native, root / target)
        shutil.copyfile(artefacts / onnx, root / "model.onnx")
        shutil.copyfile(artefacts / "input_0.npy", root / "test_data" / "input_0.npy")
        if classes is not None:
            (root / "labels.json").write_text(json.dumps(classes), encoding="utf-8")
        return root
    return build


def _parity(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in findings(report, area="parity") if f["severity"] in ("error", "warning")]


@pytest.mark.slow  # one environment build (about 45 s cold) and a probe run per package
@pytest.mark.parametrize(("native", "target", "onnx", "loader"), [
    ("logistic.skops", "model.skops", "logistic.onnx", "skops.io.load"),
    ("regression.skops", "model.skops", "regression.onnx", "skops.io.load"),
    ("lightgbm.txt", "model.txt", "lightgbm.onnx", "lightgbm.Booster"),
    ("xgboost.json", "model.json", "xgboost.onnx", "xgboost.Booster"),
    ("dense.keras", "model.keras", "dense.onnx", "keras.saving.load_model"),
])
def test_native_artefact_agrees_with_its_onnx_export(make: Maker, env: VenvEnv, native: str, target: str, onnx: str,
                                                     loader: str) -> None:
    root = make(native, target, onnx, None if native.startswith("regression") else CLASSES)
    report = run_static(root, only=AREAS, env="venv")
    assert _parity(report) == []
    loaded = findings(report, rule="MC930")
    assert len(loaded) == 1 and loaded[0]["file"] == target and loader in loaded[0]["message"]
    assert report["parity"]["passed"] is True and report["parity"]["max_abs_diff"] < 1e-4
    assert {o["kind"] for o in report["parity"]["outputs"]} == {"native vs ONNX"}
    if target == "model.keras":
        assert "backend torch" in loaded[0]["message"]  # torch is installed, tensorflow is not


@pytest.mark.slow
def test_model_check_check_passes_parity_for_a_skops_package(make: Maker, env: VenvEnv, run_cli: RunCli,
                                                             tmp_path: Path) -> None:
    root = make("logistic.skops", "model.skops", "logistic.onnx", CLASSES)
    code, out, _ = run_cli(["check", root, "--env", "venv", "--json", tmp_path / "report.json"])
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert _parity(report) == [] and findings(report, rule="MC930"), out
    assert not findings(report, rule="MC103")  # no model.safetensors is asked of a scikit-learn package
    assert findings(report, rule="MC110")  # the skops file is named as the framework's open artefact


@pytest.mark.slow
def test_onnx_of_another_model_is_a_parity_mismatch(make: Maker, env: VenvEnv) -> None:
    report = run_static(make("logistic.skops", "model.skops", "forest.onnx", CLASSES), only=AREAS, env="venv")
    assert findings(report, rule="MC901") and report["parity"]["passed"] is False


@pytest.mark.slow
def test_swapped_class_order_is_reported(make: Maker, env: VenvEnv) -> None:
    report = run_static(make("logistic.skops", "model.skops", "logistic.onnx", ["cloud", "clear", "haze"]),
                        only=AREAS, env="venv")
    mismatch = findings(report, rule="MC933")
    assert len(mismatch) == 1 and mismatch[0]["file"] == "labels.json" and "another order" in mismatch[0]["message"]


@pytest.mark.slow
def test_class_count_of_a_booster_is_checked(make: Maker, env: VenvEnv) -> None:
    report = run_static(make("xgboost.json", "model.json", "xgboost.onnx", ["clear", "cloud"]), only=AREAS, env="venv")
    assert "3-class" in findings(report, rule="MC933")[0]["message"]


@pytest.mark.slow
def test_untrusted_skops_type_is_not_loaded(make: Maker, env: VenvEnv) -> None:
    report = run_static(make("untrusted.skops", "model.skops", "logistic.onnx", CLASSES), only=AREAS, env="venv")
    untrusted = findings(report, rule="MC931")
    assert len(untrusted) == 1 and "_scale" in untrusted[0]["message"] and untrusted[0]["file"] == "model.skops"
    assert not findings(report, rule="MC930")


@pytest.mark.slow
def test_keras_lambda_is_refused_by_safe_mode(make: Maker, env: VenvEnv) -> None:
    report = run_static(make("lambda.keras", "model.keras", "dense.onnx"), only=AREAS, env="venv")
    refused = findings(report, rule="MC932")
    assert len(refused) == 1 and "Lambda" in refused[0]["message"] and "safe_mode" in refused[0]["message"]


def test_keras_on_torch_is_not_asked_for_safetensors(tmp_path: Path) -> None:
    """torch in requirements.txt as Keras' backend does not make a PyTorch package; a .pkl beside it stays opaque."""
    root = tmp_path / "pkg"
    root.mkdir()
    with zipfile.ZipFile(root / "model.keras", "w") as archive:
        for name in ("config.json", "metadata.json", "model.weights.h5"):
            archive.writestr(name, "{}")
    (root / "requirements.txt").write_text("keras==3.15.1\ntorch==2.13.0\n", encoding="utf-8")
    (root / "inference.py").write_text("import keras\n\nmodel = keras.saving.load_model('model.keras')\n", encoding="utf-8")
    (root / "scaler.pkl").write_bytes(b"\x80\x04K\x01.")
    report = run_static(root, only=("layout",))
    assert not findings(report, rule="MC103")
    assert [f["file"] for f in findings(report, rule="MC110")] == ["model.keras"]
    assert [f["file"] for f in findings(report, rule="MC107")] == ["scaler.pkl"]
    (root / "inference.py").write_text("import torch\n", encoding="utf-8")  # PyTorch code: safetensors is wanted
    assert findings(run_static(root, only=("layout",)), rule="MC103")


def test_keras_lambda_bytecode_is_found_statically(tmp_path: Path) -> None:
    """config.json read as data: a marshalled lambda is reported without loading anything (--env none)."""
    root = tmp_path / "pkg"
    root.mkdir()
    lambda_layer = {"class_name": "Lambda", "config": {"name": "double", "function": {"class_name": "__lambda__",
                                                                                       "config": {"code": "AAAA"}}}}
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [lambda_layer, {"class_name": "Dense", "config": {"name": "d"}}]}}
    with zipfile.ZipFile(root / "model.keras", "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", "")
    found = findings(run_static(root, only=("layout",)), rule="MC430")
    assert len(found) == 1 and found[0]["file"] == "model.keras" and "Lambda layer 'double'" in found[0]["message"]
    config["config"]["layers"] = config["config"]["layers"][1:]  # type: ignore[index]
    with zipfile.ZipFile(root / "model.keras", "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", "")
    assert not findings(run_static(root, only=("layout",)), rule="MC430")


def test_joblib_sklearn_model_stays_a_security_finding(tmp_path: Path) -> None:
    """A scikit-learn model pickled with joblib is never loaded: the pickle scanner names what it would import."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    root = tmp_path / "pkg"
    root.mkdir()
    x, y = _data()
    joblib.dump(LogisticRegression(max_iter=300).fit(x, y), root / "model.joblib")
    report = run_static(root, only=("security", "layout"))
    pickled = findings(report, rule="MC702")
    assert pickled and pickled[0]["file"] == "model.joblib" and "sklearn.linear_model" in pickled[0]["message"]
    assert findings(report, rule="MC106")  # an opaque checkpoint, and nothing open beside it
