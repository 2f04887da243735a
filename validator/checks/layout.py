"""Area layout: the guideline's file table (required, recommended, optional files), pointers left where
the weights should be (Git LFS, git-annex, DVC), and each model artefact named by what its content is."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from validator.checks.base import StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding
from validator.core.options import Options
from validator.readers.file_kinds import TORCH_SAVE, TORCHSCRIPT, Kind, kind_of, model_kind, read_head
from validator.readers.keras_config import read_keras_config
from validator.readers.package import ModelPackage
from validator.readers.pointers import MAX_DVC_BYTES, Pointer, annex_link, read_dvc
from validator.scanners.archives import zip_archive_kind

TABLE = "the guideline's package layout table"

OPAQUE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".h5", ".hdf5", ".bin", ".pb", ".mar", ".npz", ".sav", ".dill")
# Open, documented artefacts of other frameworks (the guideline's "equivalent open artefact"), by name:
# used when the content gives no answer (file_kinds.model_kind and zip_model_kind recognise by content).
OPEN_ARTEFACTS = {
    ".keras": "Keras", ".tflite": "TensorFlow Lite", ".pmml": "PMML", ".ubj": "XGBoost (UBJSON)",
    ".mlmodel": "Core ML", ".gguf": "GGUF",
}
# Pickle-bearing formats recognised by content: named in the report, judged as opaque checkpoints.
PICKLE_BEARING = {TORCHSCRIPT: ("a TorchScript archive", "its code, constants and tensors are pickled"),
                  TORCH_SAVE: ("a torch.save checkpoint", "a zip holding pickles")}
# Files never sniffed for a model format: source, documents, images.
_NOT_MODELS = (".py", ".md", ".ipynb", ".yaml", ".yml", ".toml", ".cff", ".cfg", ".ini", ".sh", ".csv", ".png", ".jpg",
               ".jpeg", ".gif", ".svg", ".tif", ".tiff", ".html", ".rst", ".lock", ".gitignore", ".gitattributes", ".dvc")


def artefact_kinds(pkg: ModelPackage) -> dict[str, str]:
    """Every model artefact recognised by its content (signature, zip members, SavedModel layout), whatever
    its size and name, and the named formats without a signature read here: path -> format."""
    found: dict[str, str] = {}
    for rel in pkg.files:
        path = PurePosixPath(rel)
        suffix = path.suffix.lower()
        if rel in pkg.pointers or suffix in _NOT_MODELS:
            continue
        if path.name == "saved_model.pb":
            folder = f"{path.parent}/" if str(path.parent) != "." else ""
            has_variables = any(f.startswith(f"{folder}variables/") for f in pkg.files)
            found[rel] = "TensorFlow SavedModel" + ("" if has_variables else " (saved_model.pb without variables/)")
            continue
        kind = _content_kind(pkg, rel)
        if kind is not None:
            found[rel] = kind
        elif suffix in OPEN_ARTEFACTS:
            found[rel] = OPEN_ARTEFACTS[suffix]
    return found


def _content_kind(pkg: ModelPackage, rel: str) -> str | None:
    """A few bytes of every file; the first 64 KiB only of those that may be a JSON or text booster."""
    try:
        head, whole = read_head(pkg.path(rel), 512)
        if kind_of(head, whole) is Kind.ZIP:
            return zip_archive_kind(pkg.path(rel))
        if not whole and (head.lstrip()[:1] == b"{" or head.startswith(b"tree")):
            head, _ = read_head(pkg.path(rel))
    except OSError:
        return None
    return model_kind(head)


def open_artefacts(pkg: ModelPackage) -> dict[str, str]:
    """Recognised non-PyTorch open artefacts: path -> framework."""
    return {rel: kind for rel, kind in artefact_kinds(pkg).items() if kind not in PICKLE_BEARING}


def annex_links(pkg: ModelPackage) -> list[Pointer]:
    """Symlinks to git-annex objects (locked annexed files), dangling until `git annex get`."""
    found: list[Pointer] = []
    for entry in pkg.special:
        pointer = annex_link(entry.target, entry.path) if entry.kind == "symlink" and entry.target else None
        if pointer is not None and not os.path.exists(pkg.path(entry.path)):
            found.append(pointer)
    return found


def dvc_pointers(pkg: ModelPackage) -> list[Pointer]:
    """The outs of the package's `.dvc` files that are absent: data DVC tracks and nobody pulled."""
    def exists(rel: str) -> bool:
        return pkg.has(rel) or rel in pkg.dirs or os.path.lexists(pkg.path(rel))

    found: list[Pointer] = []
    for rel in pkg.files:
        if rel.endswith(".dvc") and PurePosixPath(rel).name != ".dvc":
            text = pkg.read_text(rel, limit=MAX_DVC_BYTES).text
            found += read_dvc(text, rel, exists) if text is not None else []
    return found


def _pointer_message(pointer: Pointer) -> str:
    if pointer.tool == "DVC":
        parts = [f"{pointer.files:,} files" if pointer.files is not None else "",
                 f"{pointer.size:,} bytes" if pointer.size is not None else ""]
        detail = f" ({', '.join(p for p in parts if p)})" if any(parts) else ""
        return (f"{pointer.rel} is a DVC pointer for {pointer.target}{detail}, which is not in the package: the data was "
                f"never fetched, so nothing can read or run it (run `{pointer.fetch}` before checking or publishing; "
                "in GitHub Actions, a `dvc pull` step after actions/checkout)")
    stands_for = f" for {pointer.size:,} bytes" if pointer.size is not None else ""
    ci = {"Git LFS": "; in GitHub Actions, actions/checkout with `lfs: true`", "git-annex": " or `datalad get`"}.get(pointer.tool, "")
    return (f"{pointer.rel} is a {pointer.tool} pointer{stands_for}: the file itself was never fetched, so nothing "
            f"can read or run it (run `{pointer.fetch}`{ci})")


def _in_saved_model(pkg: ModelPackage, rel: str) -> bool:
    """A .pb of a SavedModel folder (keras_metadata.pb, fingerprint.pb) is part of that artefact."""
    folder = str(PurePosixPath(rel).parent)
    return folder != "." and pkg.has(f"{folder}/saved_model.pb")


def uses_pytorch(pkg: ModelPackage) -> bool:
    if pkg.with_suffix(".safetensors", ".pt", ".pth", ".ckpt"):
        return True
    for rel in pkg.runtime_files + [f for f in pkg.files if f.endswith(".py")]:
        text = pkg.read_text(rel).text or ""
        if "torch" in text:
            return True
    return False


def _keras_lambdas(pkg: ModelPackage, rel: str) -> Iterable[Finding]:
    """A .keras file whose config.json holds Python bytecode (a Lambda layer's lambda): loading it runs code."""
    config = read_keras_config(pkg.path(rel))
    lambdas = config.lambdas
    if config.problem and not lambdas:  # fail closed: an unread config.json could hide a lambda (a bomb, padding)
        yield rule("keras-lambda-bytecode").finding(
            f"{rel}: {config.problem}, so model-check cannot rule out Python bytecode (a Lambda layer's lambda) in it; "
            "save the model again with model.save('model.keras')", file=rel)
    if lambdas:
        yield rule("keras-lambda-bytecode").finding(
            f"{rel} holds Python bytecode in its config.json ({', '.join(lambdas[:4])}"
            f"{f' and {len(lambdas) - 4} more' if len(lambdas) > 4 else ''}): keras.saving.load_model runs it, and "
            "refuses to with safe_mode=True", file=rel)


def _torch_in_code(pkg: ModelPackage) -> bool:
    """The package's own Python code imports torch (a PyTorch model, whatever else it ships)."""
    return any(re.search(r"^\s*(import|from)\s+torch\b", pkg.read_text(rel).text or "", re.MULTILINE)
               for rel in pkg.files if rel.endswith(".py"))


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
        # Imported here: the runtime readers (pip-requirements-parser, 0.1 s) load after the first progress line.
        from validator.checks.runtime_pins import runtime_missing

        yield from runtime_missing(pkg)  # MC102, unless a lock file pins the runtime (MC390)

        dvc = dvc_pointers(pkg)
        links = annex_links(pkg)
        for pointer in [*pkg.pointers.values(), *links, *dvc]:
            yield rule("artefact-not-fetched").finding(_pointer_message(pointer), file=pointer.rel)
        # reported above; not "missing" as well
        unfetched = [p.target.lower() for p in dvc if p.target] + [p.rel.lower() for p in links]
        kinds = artefact_kinds(pkg)
        others = {rel: kind for rel, kind in kinds.items() if kind not in PICKLE_BEARING}
        # torch only in a runtime file beside a framework's own artefact is a backend (Keras on torch), not a PyTorch model
        pytorch = (bool(pkg.with_suffix(".pt", ".pth", ".ckpt")) or any(kind in PICKLE_BEARING for kind in kinds.values())
                   or (uses_pytorch(pkg) and (not others or _torch_in_code(pkg))))
        for rel, framework in sorted(others.items()):
            yield rule("open-artefact-recognised").finding(f"{rel} is a model artefact in an open format: {framework}", file=rel)
            if framework.startswith("Keras v3"):
                yield from _keras_lambdas(pkg, rel)
        has_safetensors = bool(pkg.with_suffix(".safetensors")) or any(t.endswith(".safetensors") for t in unfetched)
        has_onnx = bool(pkg.with_suffix(".onnx")) or any(t.endswith(".onnx") for t in unfetched)
        if not has_safetensors and (pytorch or not (others or has_onnx)):
            yield rule("safetensors-missing").finding("the package has no model.safetensors")
        if not has_onnx:
            yield rule("onnx-missing").finding("the package has no model.onnx")
        if pkg.find("inference.py") is None and not self._other_entry_point(pkg):
            yield rule("inference-script-missing").finding("the package has no inference.py")

        opaque = [f for f in pkg.files if (f.lower().endswith(OPAQUE_SUFFIXES) or kinds.get(f) in PICKLE_BEARING)
                  and f not in others and f not in pkg.pointers and not _in_saved_model(pkg, f)]
        opaque = [f for f in opaque if not f.startswith(("test_data", "tests/")) or not f.endswith((".pb", ".npz"))]
        if opaque:
            has_code = any(f.endswith((".py", ".ipynb")) for f in pkg.files)
            has_open = bool(pkg.with_suffix(".safetensors", ".onnx") or others)
            for rel in opaque:
                what = f"{rel} is an opaque checkpoint"
                if kinds.get(rel) in PICKLE_BEARING:
                    name, detail = PICKLE_BEARING[kinds[rel]]
                    what = f"{rel} is {name}, an opaque checkpoint ({detail}: loading it unpickles)"
                if not has_open and not (has_code and pkg.runtime_files):
                    yield rule("opaque-checkpoint-only").finding(
                        f"{what}, and the package has neither an open artefact (safetensors, ONNX) nor loading code "
                        "with a runtime", file=rel)
                else:
                    yield rule("opaque-checkpoint").finding(f"{what}; users are better served by safetensors/ONNX", file=rel)

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
            elif entry.kind == "symlink" and entry.escapes and not (entry.target and annex_link(entry.target, entry.path)):
                yield rule("file-unreadable").finding(f"{entry.path} is a symlink to {entry.target}, outside the package: it is not read, "
                                         "and users of the published package will not have it", file=entry.path)
        for rel in pkg.files:
            try:
                with pkg.path(rel).open("rb"):
                    pass
            except OSError as exc:
                yield rule("file-unreadable").finding(f"{rel} cannot be read: {exc.strerror or exc}", file=rel)
