"""Parity for models that are not PyTorch: the framework's own open artefact, loaded natively.

The guideline: "If your model is not PyTorch-based, use the equivalent open, documented, and
validated artefact for that framework." The layout area recognises the artefact by its content
(validator.checks.layout.artefact_kinds); here the parity check loads it with the framework's safe
loader in the package's rebuilt environment (validator/runtime/probes/framework_probe.py: skops with
its default trusted types only, LightGBM and XGBoost boosters, Keras v3 with safe_mode=True), runs the
same inputs as the ONNX graph, and compares the class probabilities (a classifier) or predictions.
Converters write a classifier as a label output plus probabilities (skl2onnx, onnxmltools; a ZipMap
arrives as an (N, K) array): the probabilities are compared, the labels must agree, and the classes
the native model holds must be the ones, in the order, labels.json or the card states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from validator.checks.layout import artefact_kinds
from validator.core.catalogue import rule
from validator.core.findings import Finding
from validator.readers.declared import CLASS_COUNT, CLASSES
from validator.readers.package import ModelPackage
from validator.runtime.probes.protocol import FrameworkPlan, FrameworkResult, InputSetPlan, OutputRecord, SetRecord

if TYPE_CHECKING:  # numpy is imported where arrays are handled (CLI start-up: issue 16)
    import numpy as np

# artefact kind (file_kinds / layout names) -> (framework, distributions the loader needs, loader named in reports)
FRAMEWORKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "scikit-learn (skops)": ("sklearn", ("scikit-learn", "skops"), "skops.io.load (skops' default trusted types)"),
    "LightGBM (text)": ("lightgbm", ("lightgbm",), "lightgbm.Booster(model_file=…)"),
    "XGBoost (JSON)": ("xgboost", ("xgboost|xgboost-cpu",), "xgboost.Booster.load_model"),
    "XGBoost (UBJSON)": ("xgboost", ("xgboost|xgboost-cpu",), "xgboost.Booster.load_model"),
    "Keras v3 (.keras)": ("keras", ("keras",), "keras.saving.load_model(safe_mode=True)"),
    "Keras": ("keras", ("keras",), "keras.saving.load_model(safe_mode=True)"),
}
KERAS_BACKENDS = (("tensorflow", "tensorflow"), ("tensorflow-cpu", "tensorflow"), ("jax", "jax"), ("torch", "torch"))
LIBRARY_NAMES = {"sklearn": "scikit-learn", "lightgbm": "LightGBM", "xgboost": "XGBoost", "keras": "Keras"}
LABEL_NAMES = ("label", "output_label", "labels")
SCORE_NAMES = ("probabilities", "output_probability", "probability", "scores", "variable")
LISTED = 6


@dataclass(frozen=True)
class Artefact:
    rel: str
    kind: str  # the format as the layout area names it
    framework: str
    needs: tuple[str, ...]
    loader: str


def find(pkg: ModelPackage) -> Artefact | None:
    """The package's non-PyTorch native artefact (a `model.*` first, else the first in name order)."""
    known = {rel: kind for rel, kind in artefact_kinds(pkg).items() if kind in FRAMEWORKS}
    if not known:
        return None
    rel = sorted(known, key=lambda r: (not r.rsplit("/", 1)[-1].startswith("model."), r))[0]
    framework, needs, loader = FRAMEWORKS[known[rel]]
    return Artefact(rel, known[rel], framework, needs, loader)


def skip_reason(artefact: Artefact, installed: dict[str, str]) -> str | None:
    """Why the artefact cannot be loaded in this environment (a distribution is missing), or None."""
    if not installed:
        return None
    missing = [need.split("|")[0] for need in artefact.needs if not any(n in installed for n in need.split("|"))]
    if missing:
        return f"the runtime does not install {' and '.join(missing)}, which loading {artefact.rel} ({artefact.kind}) needs"
    if artefact.framework == "keras" and keras_backend(installed) is None:
        return "the runtime installs keras but none of its backends (tensorflow, jax or torch)"
    return None


def skip_finding(artefact: Artefact, reason: str) -> Finding:
    return rule("native-framework-not-installed").finding(
        f"{artefact.rel} ({artefact.kind}) was not loaded natively: {reason}. Add it (the version you exported with) to "
        f"the runtime file so the native model can be compared with the ONNX graph", file=artefact.rel)


def keras_backend(installed: dict[str, str]) -> str | None:
    """The Keras backend the environment has: TensorFlow first (Keras' default), then JAX, then torch."""
    return next((backend for name, backend in KERAS_BACKENDS if name in installed), None)


def plan(artefact: Artefact, installed: dict[str, str], input_files: list[InputSetPlan]) -> FrameworkPlan:
    return {"framework": artefact.framework, "artefact": artefact.rel,
            "backend": keras_backend(installed) if artefact.framework == "keras" else None, "input_sets": input_files}


def described(artefact: Artefact, result: FrameworkResult) -> str:
    """'model.skops with skops.io.load (…) (scikit-learn 1.9.1): sklearn.linear_model.LogisticRegression'."""
    version = f" ({LIBRARY_NAMES.get(artefact.framework, artefact.framework)} {result['version']})" if result.get("version") else ""
    backend = f", backend {result['backend']}" if result.get("backend") else ""
    return f"{artefact.rel} with {artefact.loader}{version}{backend}: {result.get('model_class', '?')}"


def outcome(artefact: Artefact, result: FrameworkResult, pkg: ModelPackage) -> list[Finding]:
    """Findings of a framework probe that produced a result (what loaded, what did not, the classes)."""
    status = result.get("status")
    if status == "unavailable":
        return [rule("native-framework-not-installed").finding(
            f"the runtime lists the framework, yet importing it fails, so {artefact.rel} was not loaded: {_tail(str(result.get('reason')))}",
            file=artefact.rel)]
    if status == "untrusted":
        types = result.get("untrusted") or []
        shown = ", ".join(t[:200] for t in types[:LISTED]) + (f" and {len(types) - LISTED} more" if len(types) > LISTED else "")
        return [rule("skops-untrusted-types").finding(
            f"{artefact.rel} holds {len(types)} type(s) skops does not trust by default: {shown}. model-check does not "
            f"trust them and did not load the file", file=artefact.rel)]
    if status == "load-failed":
        return [rule("native-artefact-does-not-load").finding(
            f"{artefact.loader} cannot load {artefact.rel}: {_tail(str(result.get('reason')))}", file=artefact.rel)]
    findings = [rule("native-model-does-not-run").finding(
        f"the native model ({artefact.rel}) raises on {s.get('id')}: {_tail(str(s.get('traceback') or s['error']))}",
        file=artefact.rel) for s in result.get("sets") or [] if s.get("error")]
    findings += class_findings(artefact, result, pkg)
    findings.append(rule("native-artefact-loaded").finding(f"{described(artefact, result)}{_classes_phrase(result)}",
                                                           file=artefact.rel))
    return findings


def class_findings(artefact: Artefact, result: FrameworkResult, pkg: ModelPackage) -> list[Finding]:
    """The classes the native model holds against the class names (or count) labels.json and the card state."""
    facts = [f for f in pkg.declared.of(CLASSES) if f.strength == "declared" and f.source != "ONNX graph"
             and isinstance(f.value, list) and f.value]
    counts = [f for f in pkg.declared.of(CLASS_COUNT) if f.strength == "declared" and f.source != "ONNX graph"]
    native = result.get("classes")
    count = len(native) if native else result.get("class_count") or result.get("output_units")
    found: list[Finding] = []
    for fact in facts:
        stated = [str(v) for v in fact.value]
        if native and all(not name.lstrip("-").isdigit() for name in native):
            if stated != native:
                order = "the same classes in another order" if sorted(stated) == sorted(native) else "other classes"
                found.append(rule("native-class-order-mismatch").finding(
                    f"{artefact.rel} holds classes_ {native} ({artefact.framework} output columns in this order), "
                    f"while {fact.file or fact.source} states {stated}: {order}", file=fact.file, line=fact.line))
        elif count and len(stated) != count:
            found.append(rule("native-class-order-mismatch").finding(
                f"{artefact.rel} is a {count}-class model ({_what_count(result)}), while {fact.file or fact.source} "
                f"states {len(stated)} classes {stated}", file=fact.file, line=fact.line))
    if not facts and count and result.get("status") == "ok":
        for fact in counts:
            if isinstance(fact.value, int) and fact.value != count:
                found.append(rule("native-class-order-mismatch").finding(
                    f"{artefact.rel} is a {count}-class model ({_what_count(result)}), while {fact.file or fact.source} "
                    f"states {fact.value} classes", file=fact.file, line=fact.line))
    return found


def scores_only(arrays: dict[str, np.ndarray], sets: list[SetRecord] | None) -> list[SetRecord] | None:
    """The set records with only the outputs compared within tolerance: the probabilities of a classifier
    written as label + probabilities, every numeric output otherwise."""
    if sets is None:
        return None
    return [{**record, "outputs": _scores(arrays, record.get("outputs") or [])} for record in sets]


def align_shapes(native: tuple[dict[str, np.ndarray], list[SetRecord] | None],
                 onnx: tuple[dict[str, np.ndarray], list[SetRecord] | None]) -> None:
    """A native (N,) prediction against an ONNX (N, 1) one (and the like): the native array is reshaped
    when the two differ only by dimensions of size 1."""
    if native[1] is None or onnx[1] is None:
        return
    for mine, theirs in zip(native[1], onnx[1], strict=False):
        for a, b in zip(mine.get("outputs") or [], theirs.get("outputs") or [], strict=False):
            left, right = native[0].get(a["key"]), onnx[0].get(b["key"])
            if left is None or right is None or left.shape == right.shape or left.size != right.size:
                continue
            if [d for d in left.shape if d != 1] == [d for d in right.shape if d != 1]:
                native[0][a["key"]] = left.reshape(right.shape)
                a["shape"] = list(right.shape)


def label_findings(native: tuple[dict[str, np.ndarray], list[SetRecord] | None],
                   onnx: tuple[dict[str, np.ndarray], list[SetRecord] | None], artefact: Artefact,
                   onnx_rel: str | None, classes: list[str] | None) -> list[Finding]:
    """The predicted labels of the native model and of the ONNX graph, sample by sample."""
    import numpy as np

    if native[1] is None or onnx[1] is None:
        return []
    differ, total, example = 0, 0, ""
    for mine, theirs in zip(native[1], onnx[1], strict=False):
        a, b = _label(native[0], mine), _label(onnx[0], theirs)
        if a is None or b is None or a.shape != b.shape:
            continue
        a_text, b_text = a.astype(str), b.astype(str)
        if classes and b.dtype.kind in "iu" and a.dtype.kind not in "iu":  # integer labels index classes_
            b_text = np.asarray([classes[int(i)] if 0 <= int(i) < len(classes) else str(i) for i in b.ravel()]).reshape(b.shape)
        elif (a.dtype.kind in "iu") != (b.dtype.kind in "iu"):  # class indices vs names the booster does not hold
            continue
        wrong = a_text != b_text
        total += int(a.size)
        if wrong.any():
            differ += int(wrong.sum())
            index = int(np.flatnonzero(wrong.ravel())[0])
            example = example or f"e.g. on {mine.get('id')} sample {index}: native {a_text.ravel()[index]!r}, ONNX {b_text.ravel()[index]!r}"
    if not differ:
        return []
    return [rule("parity-mismatch").finding(
        f"the predicted labels of {artefact.rel} and {onnx_rel} differ on {differ} of {total} sample(s) ({example}): "
        f"the ONNX graph was converted from another model or with another class order", file=onnx_rel)]


def _scores(arrays: dict[str, np.ndarray], outputs: list[OutputRecord]) -> list[OutputRecord]:
    import numpy as np

    numeric = [o for o in outputs if _known_dtype(o) and np.dtype(o["dtype"]).kind in "biuf"]
    if len(outputs) < 2:
        return numeric
    named = [o for o in numeric if str(o.get("name") or "").lower() in SCORE_NAMES]
    if named:
        return named[:1]
    floats = [o for o in numeric if o.get("dtype", "").startswith("float") and str(o.get("name") or "").lower() not in LABEL_NAMES]
    return floats or numeric


def _label(arrays: dict[str, np.ndarray], record: SetRecord) -> np.ndarray | None:
    for output in record.get("outputs") or []:
        if str(output.get("name") or "").lower() in LABEL_NAMES and output.get("key") in arrays:
            return arrays[output["key"]]
    return None


def _known_dtype(output: OutputRecord) -> bool:
    import numpy as np

    try:
        np.dtype(output.get("dtype") or "O")
    except TypeError:
        return False
    return True


def _what_count(result: FrameworkResult) -> str:
    if result.get("output_units"):
        return f"its output has {result.get('output_units')} units"
    return f"objective {result.get('objective') or '?'}"


def _classes_phrase(result: FrameworkResult) -> str:
    if result.get("classes"):
        return f"; classes_ {result.get('classes')}"
    if result.get("class_count"):
        return f"; {result.get('class_count')} classes (objective {result.get('objective')})"
    if result.get("output_units"):
        return f"; output units {result.get('output_units')}"
    return ""


def _tail(text: str, limit: int = 800) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
