"""Area layout: the guideline's file table (required, recommended, optional files)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from validator.checks.base import StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.package import RUNTIME_FILES, ModelPackage

TABLE = "the guideline's package layout table"

OPAQUE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".h5", ".hdf5", ".bin", ".pb", ".mar", ".npz", ".sav", ".dill")
# Open, documented artefacts of other frameworks (the guideline's "equivalent open artefact").
OPEN_ARTEFACTS = {
    ".keras": "Keras", ".tflite": "TensorFlow Lite", ".pmml": "PMML", ".ubj": "XGBoost (UBJSON)",
    ".mlmodel": "Core ML", ".gguf": "GGUF",
}


def open_artefacts(pkg: ModelPackage) -> dict[str, str]:
    """Recognised non-PyTorch open artefacts: path -> framework."""
    found: dict[str, str] = {}
    for rel in pkg.files:
        path = PurePosixPath(rel)
        suffix = path.suffix.lower()
        if rel in pkg.pointers:
            continue
        if suffix in OPEN_ARTEFACTS:
            found[rel] = OPEN_ARTEFACTS[suffix]
        elif path.name == "saved_model.pb":
            found[rel] = "TensorFlow SavedModel"
        elif suffix in (".json", ".txt") and (booster := _looks_like_booster(pkg, rel)):
            found[rel] = booster
    return found


BOOSTER_HEAD = 64 * 1024  # where the signatures below stand, whatever the file's size


def _looks_like_booster(pkg: ModelPackage, rel: str) -> str | None:
    """A gradient-boosting model saved in its framework's open text format, recognised by its first bytes
    (an 11 MB LightGBM booster is too large for the text reader, and its name need not say what it is)."""
    try:
        with pkg.path(rel).open("rb") as handle:
            head = handle.read(BOOSTER_HEAD).decode("utf-8", errors="replace")
    except OSError:
        return None
    if head.lstrip().startswith("{") and '"learner"' in head and '"gradient_booster"' in head:
        return "XGBoost (JSON)"
    if head.startswith("tree\nversion=") or ("\ntree_sizes=" in head and head.startswith("tree")):
        return "LightGBM (text)"
    return None


def uses_pytorch(pkg: ModelPackage) -> bool:
    if pkg.with_suffix(".safetensors", ".pt", ".pth", ".ckpt"):
        return True
    for rel in pkg.runtime_files + [f for f in pkg.files if f.endswith(".py")]:
        text = pkg.read_text(rel).text or ""
        if "torch" in text:
            return True
    return False


class LayoutCheck(StaticCheck):
    name = "package layout"
    area = Area.LAYOUT

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding]:
        yield from self._unreadable(pkg)
        readme = pkg.find("README.md")
        if readme is None:
            special = pkg.is_special("README.md")
            if "README.md" in pkg.dirs:
                yield rule("readme-missing").finding("README.md is a directory, not the model card", file="README.md")
            elif special is not None:
                yield rule("readme-missing").finding(f"README.md is a {special.kind}, not a regular file: it is not read as the model card",
                                             file="README.md")
            else:
                yield rule("readme-missing").finding("the package has no README.md model card")
        if not pkg.runtime_files:
            yield rule("runtime-missing").finding(
                f"none of {', '.join(RUNTIME_FILES[:3])} or {RUNTIME_FILES[3]} is in the package root")

        for pointer in pkg.pointers.values():
            stands_for = f" for {pointer.size:,} bytes" if pointer.size is not None else ""
            yield rule("artefact-not-fetched").finding(
                f"{pointer.rel} is a {pointer.tool} pointer{stands_for}: the file itself was never fetched, so nothing "
                f"can read or run it (run `{pointer.fetch}`; in GitHub Actions, actions/checkout with `lfs: true`)",
                file=pointer.rel)
        others = open_artefacts(pkg)
        pytorch = uses_pytorch(pkg)
        for rel, framework in sorted(others.items()):
            yield rule("open-artefact-recognised").finding(f"{rel} is a {framework} model artefact", file=rel)
        if not pkg.with_suffix(".safetensors") and (pytorch or not (others or pkg.with_suffix(".onnx"))):
            yield rule("safetensors-missing").finding("the package has no model.safetensors")
        if not pkg.with_suffix(".onnx"):
            yield rule("onnx-missing").finding("the package has no model.onnx")
        if pkg.find("inference.py") is None and not self._other_entry_point(pkg):
            yield rule("inference-script-missing").finding("the package has no inference.py")

        opaque = [f for f in pkg.files if f.lower().endswith(OPAQUE_SUFFIXES) and f not in others and f not in pkg.pointers
                  and PurePosixPath(f).name != "saved_model.pb"]
        opaque = [f for f in opaque if not f.startswith(("test_data", "tests/")) or not f.endswith((".pb", ".npz"))]
        if opaque:
            has_code = any(f.endswith((".py", ".ipynb")) for f in pkg.files)
            has_open = bool(pkg.with_suffix(".safetensors", ".onnx") or others)
            for rel in opaque:
                if not has_open and not (has_code and pkg.runtime_files):
                    yield rule("opaque-checkpoint-only").finding(
                        f"{rel} is an opaque checkpoint and the package has neither an open artefact "
                        "(safetensors, ONNX) nor loading code with a runtime", file=rel)
                else:
                    yield rule("opaque-checkpoint").finding(f"{rel} is an opaque checkpoint; users are better served by safetensors/ONNX", file=rel)

        config = pkg.find("config.json")
        if config is not None and not pkg.code_mentions("config.json"):
            yield rule("config-unused").finding("config.json is not read by any script or notebook in the package", file=config)

    def _other_entry_point(self, pkg: ModelPackage) -> bool:
        """A card that names another script (e.g. `python predict.py`) that exists counts too."""
        facts = pkg.card_facts
        command = facts.inference_command if facts else None
        if command is None:
            return False
        return any(token in pkg.files for token in command.value.split())

    def _unreadable(self, pkg: ModelPackage) -> Iterable[Finding]:
        for entry in pkg.special:
            if entry.kind in ("fifo", "socket", "device"):
                yield rule("file-unreadable").finding(f"{entry.path} is a {entry.kind}, not a regular file", file=entry.path)
            elif entry.kind == "unreadable":
                yield rule("file-unreadable").finding(f"{entry.path} cannot be read: {entry.target}", file=entry.path)
            elif entry.kind == "symlink" and entry.escapes:
                yield rule("file-unreadable").finding(f"{entry.path} is a symlink to {entry.target}, outside the package: it is not read, "
                                         "and users of the published package will not have it", file=entry.path)
        for rel in pkg.files:
            try:
                with pkg.path(rel).open("rb"):
                    pass
            except OSError as exc:
                yield rule("file-unreadable").finding(f"{rel} cannot be read: {exc.strerror or exc}", file=rel)
