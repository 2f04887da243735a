"""Framework probe: load a non-PyTorch native artefact with its own framework's safe loader, run it.

Runs with the PACKAGE environment's Python, inside model-check's sandbox, in a scratch copy of the
package:

    python framework_probe.py PLAN.json

PLAN.json (written by validator.checks.parity):
    framework     "sklearn" (skops), "lightgbm", "xgboost" or "keras"
    artefact      path of the native file (model.skops, model.txt, model.json / .ubj, model.keras)
    backend       KERAS_BACKEND to use (chosen from the environment's distributions), or null
    input_sets    [{"id": str, "inputs": [{"name": str, "file": str}]}]
    out_file      .npz written here: output k of input set i is the array "s<i>_o<k>"
    result        path of the JSON result written here

Safe loaders only: skops.io.load with skops' default trusted types (the types
skops.io.get_untrusted_types lists are reported and the file is NOT loaded), lightgbm.Booster
(model_file=...), xgboost.Booster.load_model, keras.saving.load_model(safe_mode=True). Never pickle.
Outputs: a classifier's class probabilities (N, K) and its predicted labels; a regressor's
predictions; a Keras model's first output.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only
    from validator.runtime.probes.protocol import FrameworkPlan, FrameworkResult, SetRecord


def tail(limit: int = 25) -> str:
    lines = traceback.format_exc().rstrip().splitlines()
    return "\n".join(lines[-limit:])


def write_result(path: str, result: FrameworkResult) -> None:
    Path(path).write_text(json.dumps(result, indent=1), encoding="utf-8")


def main() -> int:
    plan: FrameworkPlan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result: FrameworkResult = {"status": "ok", "framework": plan["framework"], "sets": []}
    if plan.get("backend"):
        os.environ["KERAS_BACKEND"] = str(plan["backend"])
    try:
        import numpy as np

        runner = LOADERS[plan["framework"]]
        library = runner.importer()
    except Exception as exc:  # the runtime lacks the framework
        result["status"], result["reason"] = "unavailable", f"{type(exc).__name__}: {exc}"[:2000]
        write_result(plan["result"], result)
        return 0
    result["version"] = str(getattr(library, "__version__", "?"))
    path = str(Path(plan["artefact"]).resolve())
    try:
        model = runner.load(library, path, result)
    except Exception as exc:
        result["status"], result["reason"], result["traceback"] = "load-failed", f"{type(exc).__name__}: {exc}"[:2000], tail()
    if result["status"] != "ok":
        write_result(plan["result"], result)
        return 0
    arrays: dict[str, Any] = {}
    for index, input_set in enumerate(plan["input_sets"]):
        record: SetRecord = {"id": input_set["id"], "outputs": []}
        try:
            given = [np.load(i["file"], allow_pickle=False) for i in input_set["inputs"]]
            for position, (name, value) in enumerate(runner.run(library, model, given, np, result)):
                array = np.asarray(value)
                if array.dtype.kind == "O":
                    array = array.astype(str)
                key = f"s{index}_o{position}"
                arrays[key] = array
                record["outputs"].append({"name": name, "key": key, "shape": list(array.shape), "dtype": str(array.dtype)})
        except (Exception, SystemExit) as exc:
            record["error"], record["traceback"] = f"{type(exc).__name__}: {exc}"[:2000], tail()
        result["sets"].append(record)
    np.savez(plan["out_file"], **arrays)
    write_result(plan["result"], result)
    return 0


def one_input(given: list[Any]) -> Any:
    if len(given) != 1:
        raise ValueError(f"the model takes one input array, the test case has {len(given)}")
    return given[0]


def two_columns(probabilities: Any, np: ModuleType) -> Any:
    """A binary booster's P(class 1) as the (N, 2) probabilities ONNX converters write."""
    p = np.asarray(probabilities, dtype=np.float32)
    return np.stack([1.0 - p, p], axis=1) if p.ndim == 1 else p


# -- scikit-learn (skops) ------------------------------------------------------------------------------

class Sklearn:
    @staticmethod
    def importer() -> ModuleType:
        importlib.import_module("skops.io")
        return importlib.import_module("sklearn")

    @staticmethod
    def load(library: ModuleType, path: str, result: FrameworkResult) -> Any:
        sio = importlib.import_module("skops.io")
        untrusted = [str(t) for t in sio.get_untrusted_types(file=path)]
        if untrusted:  # never trusted automatically: the file is not loaded
            result["status"], result["untrusted"] = "untrusted", untrusted
            return None
        model = sio.load(path)  # skops' default trusted types only
        result["model_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
        classes = getattr(model, "classes_", None)
        if classes is not None:
            result["classes"] = [str(c) for c in list(classes)]
        return model

    @staticmethod
    def run(library: ModuleType, model: Any, given: list[Any], np: ModuleType, result: FrameworkResult) -> list[tuple[str | None, Any]]:
        x = one_input(given)
        if hasattr(model, "predict_proba") and getattr(model, "classes_", None) is not None:
            return [("label", model.predict(x)), ("probabilities", np.asarray(model.predict_proba(x), dtype=np.float32))]
        return [("variable", np.asarray(model.predict(x), dtype=np.float32))]


# -- LightGBM -----------------------------------------------------------------------------------------

class LightGBM:
    @staticmethod
    def importer() -> ModuleType:
        return importlib.import_module("lightgbm")

    @staticmethod
    def load(library: ModuleType, path: str, result: FrameworkResult) -> Any:
        booster = library.Booster(model_file=path)
        result["model_class"] = "lightgbm.Booster"
        dumped = booster.dump_model(num_iteration=0)
        result["objective"] = str(dumped.get("objective", ""))
        if result["objective"].startswith(("multiclass", "softmax", "multiclassova")):
            result["class_count"] = int(dumped.get("num_class", 0))
        elif result["objective"].startswith(("binary", "cross_entropy")):
            result["class_count"] = 2
        return booster

    @staticmethod
    def run(library: ModuleType, model: Any, given: list[Any], np: ModuleType, result: FrameworkResult) -> list[tuple[str | None, Any]]:
        predicted = model.predict(one_input(given))
        if result.get("class_count"):
            probabilities = two_columns(predicted, np)
            return [("label", probabilities.argmax(axis=1)), ("probabilities", probabilities)]
        return [("variable", np.asarray(predicted, dtype=np.float32))]


# -- XGBoost ------------------------------------------------------------------------------------------

class XGBoost:
    @staticmethod
    def importer() -> ModuleType:
        return importlib.import_module("xgboost")

    @staticmethod
    def load(library: ModuleType, path: str, result: FrameworkResult) -> Any:
        booster = library.Booster()
        booster.load_model(path)
        result["model_class"] = "xgboost.Booster"
        learner = json.loads(booster.save_config()).get("learner", {})
        objective = str(learner.get("objective", {}).get("name", ""))
        result["objective"] = objective
        classes = int(str(learner.get("learner_model_param", {}).get("num_class", "0")) or 0)
        if objective.startswith("multi:"):
            result["class_count"] = classes
        elif objective.startswith(("binary:logistic", "binary:logitraw", "binary:hinge")):
            result["class_count"] = 2
        return booster

    @staticmethod
    def run(library: ModuleType, model: Any, given: list[Any], np: ModuleType, result: FrameworkResult) -> list[tuple[str | None, Any]]:
        predicted = model.predict(library.DMatrix(one_input(given)))
        if result.get("class_count"):
            probabilities = two_columns(predicted, np)
            return [("label", probabilities.argmax(axis=1)), ("probabilities", probabilities)]
        return [("variable", np.asarray(predicted, dtype=np.float32))]


# -- Keras v3 -----------------------------------------------------------------------------------------

class Keras:
    @staticmethod
    def importer() -> ModuleType:
        return importlib.import_module("keras")

    @staticmethod
    def load(library: ModuleType, path: str, result: FrameworkResult) -> Any:
        model = library.saving.load_model(path, safe_mode=True, compile=False)  # refuses lambdas and arbitrary code
        result["model_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
        result["backend"] = str(library.backend.backend())
        outputs = list(getattr(model, "outputs", None) or [])
        if outputs and outputs[0].shape and outputs[0].shape[-1]:
            result["output_units"] = int(outputs[0].shape[-1])
        return model

    @staticmethod
    def run(library: ModuleType, model: Any, given: list[Any], np: ModuleType, result: FrameworkResult) -> list[tuple[str | None, Any]]:
        produced = model(given[0] if len(given) == 1 else given, training=False)
        values = produced if isinstance(produced, (list, tuple)) else [produced]
        return [(None, np.asarray(library.ops.convert_to_numpy(v))) for v in values]


LOADERS: dict[str, Any] = {"sklearn": Sklearn, "lightgbm": LightGBM, "xgboost": XGBoost, "keras": Keras}


if __name__ == "__main__":
    sys.exit(main())
