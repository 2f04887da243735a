"""What each kind of package file is as a STAC asset under the MLM extension: key, roles, media
type and artifact type. The publish command writes these; the publishing lint expects them.

Media types follow the MLM README ("Model Artifact Media-Type"): `application/octet-stream`, the
registered type for arbitrary binary data, with an (unofficial) `framework` parameter telling the
artefacts apart; `mlm:artifact_type` says how to load each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

MLM_VERSION = "1.5.2"
MLM_SCHEMA = f"https://stac-extensions.github.io/mlm/v{MLM_VERSION}/schema.json"
OSC_SCHEMA = "https://stac-extensions.github.io/osc/v1.0.0/schema.json"
THEMES_SCHEMA = "https://stac-extensions.github.io/themes/v1.0.0/schema.json"
OSC_THEME_SCHEME = "https://github.com/stac-extensions/osc#theme"
REPORT_NAME = "validation-report.json"
ATTESTATION_NAME = "validation.intoto.json"  # `model-check attest`, in the package root
SIGNATURE_NAME = "model.sig"  # `model-check sign` (model-signing's default), in the package root


@dataclass(frozen=True)
class AssetKind:
    key: str  # asset key in the item
    title: str
    roles: tuple[str, ...]
    media_type: str
    artifact_type: str | None = None  # only for assets with the mlm:model role


SAFETENSORS = AssetKind("weights", "Model weights (safetensors, PyTorch state dict)", ("mlm:model", "mlm:weights"),
                        "application/octet-stream; framework=pytorch", "safetensors.torch.save_file")
ONNX = AssetKind("onnx", "Model graph (ONNX)", ("mlm:model",), "application/octet-stream; framework=onnx", "onnx")
INFERENCE_CODE = AssetKind("inference", "Inference code", ("mlm:source_code", "code"), "text/x-python")
MODEL_CARD = AssetKind("model-card", "Model card", ("metadata",), "text/markdown")
REPORT = AssetKind("validation-report", "Validation evidence (model-check report)", ("metadata",), "application/json")
# The attestation and signature of the package (`model-check attest`, `model-check sign`): metadata, with the
# role naming what each is; media types of in-toto (DSSE payload type) and of Sigstore bundles v0.3.
ATTESTATION = AssetKind("validation-attestation", "Validation attestation (in-toto Statement v1, model-check)",
                        ("metadata", "attestation"), "application/vnd.in-toto+json")
SIGNATURE = AssetKind("signature", "Package signature (OpenSSF model signing, Sigstore bundle)", ("metadata", "signature"),
                      "application/vnd.dev.sigstore.bundle.v0.3+json")
_RUNTIME_TYPES = {"requirements.txt": "text/plain", "environment.yml": "application/yaml",
                  "environment.yaml": "application/yaml", "Dockerfile": "text/plain"}


def runtime_kind(rel: str) -> AssetKind:
    name = PurePosixPath(rel).name
    key = "runtime" if name == "requirements.txt" else f"runtime-{PurePosixPath(name).stem.lower()}"
    return AssetKind(key, f"Inference runtime ({name})", ("mlm:inference-runtime", "runtime"),
                     _RUNTIME_TYPES.get(name, "text/plain"))


# File suffixes of model artefacts, with the loader family an mlm:artifact_type should name.
MODEL_SUFFIXES = {".safetensors": "safetensors", ".onnx": "onnx", ".pt": "torch", ".pth": "torch", ".ckpt": "torch",
                  ".pt2": "torch", ".bin": "", ".h5": "keras", ".keras": "keras", ".pb": "tensorflow",
                  ".tflite": "tflite", ".joblib": "joblib", ".pkl": "pickle", ".pickle": "pickle"}
ARTIFACT_EXAMPLES = {"safetensors": SAFETENSORS.artifact_type, "onnx": ONNX.artifact_type, "torch": "torch.save",
                     "keras": "tf.keras.Model.save", "tensorflow": "tf.saved_model.save"}


def model_family(href: str) -> str | None:
    """The loader family of a model artefact named by `href` ("" when unknown), None for other files."""
    return MODEL_SUFFIXES.get(PurePosixPath(href_name(href)).suffix.lower())


def href_name(href: str) -> str:
    """The file name an href ends with (query and fragment dropped)."""
    path = href.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1]
