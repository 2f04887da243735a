"""Model artefacts recognised by content, whatever their size and name (MC110 names open ones, MC107
names pickle-bearing ones): LightGBM, XGBoost JSON/UBJSON, skops, Keras v3, SavedModel, TFLite,
TorchScript and torch.save zips. Fixtures are self-written (study §3.5, §5 ideas 38-42)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from helpers import findings, run_static

from validator.readers.file_kinds import TORCH_SAVE, TORCHSCRIPT, model_kind, zip_model_kind

LAYOUT = "layout"
EMPTY_DICT_PICKLE = b"\x80\x02}q\x00."  # protocol 2: an empty dict, nothing imported


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def torchscript(root: str = "acme_net") -> bytes:
    """The member layout torch.jit.save writes: code/, constants.pkl, data.pkl, version."""
    return zip_bytes({f"{root}/data.pkl": EMPTY_DICT_PICKLE, f"{root}/constants.pkl": b"\x80\x02).",
                      f"{root}/code/__torch__/acme_net.py": b"class AcmeNet(Module):\n  pass\n",
                      f"{root}/code/__torch__/acme_net.py.debug_pkl": b"\x80\x02).", f"{root}/version": b"3\n"})


def torch_save(root: str = "archive") -> bytes:
    return zip_bytes({f"{root}/data.pkl": EMPTY_DICT_PICKLE, f"{root}/version": b"3\n", f"{root}/data/0": b"\x00" * 16})


def keras_v3() -> bytes:
    return zip_bytes({"metadata.json": b'{"keras_version": "3.6.0"}', "config.json": b'{"class_name": "Sequential"}',
                      "model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 32})


def skops() -> bytes:
    return zip_bytes({"schema.json": b'{"__class__": "RandomForestClassifier", "protocol": 2}',
                      "140234.npy": b"\x93NUMPY\x01\x00" + b"\x00" * 16})


def tflite() -> bytes:
    return struct.pack("<I", 28) + b"TFL3" + b"\x00" * 64


def xgboost_ubjson() -> bytes:
    def key(text: str) -> bytes:
        return b"L" + struct.pack(">q", len(text)) + text.encode()
    return (b"{" + key("learner") + b"{" + key("gradient_booster") + b"{" + key("name") + b"S" + key("gbtree")[1:]
            + b"}}" + key("version") + b"[$l#i\x03" + struct.pack(">lll", 2, 1, 0) + b"}")


def layout_findings(root: Path) -> list[dict[str, Any]]:
    return findings(run_static(root, only=[LAYOUT]), area=LAYOUT)


def make_non_pytorch(root: Path) -> None:
    for name in ("model.safetensors", "model.onnx", "inference.py", "model.py", "make_weights.py", "example_inference.ipynb"):
        (root / name).unlink()
    (root / "requirements.txt").write_text("numpy==2.4.6\n", encoding="utf-8")


# -- readers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("members", "kind"), [
    (["acme/data.pkl", "acme/constants.pkl", "acme/code/__torch__/acme.py", "acme/version"], TORCHSCRIPT),
    (["archive/data.pkl", "archive/version", "archive/data/0"], TORCH_SAVE),
    (["config.json", "metadata.json", "model.weights.h5"], "Keras v3 (.keras)"),
    (["schema.json", "1.npy"], "scikit-learn (skops)"),
    (["readme.txt", "data/1.csv"], None),
    ([], None),
])
def test_zip_kinds_by_member_names(members: list[str], kind: str | None) -> None:
    assert zip_model_kind(members) == kind


@pytest.mark.parametrize(("head", "kind"), [
    (tflite(), "TensorFlow Lite"),
    (xgboost_ubjson(), "XGBoost (UBJSON)"),
    (b'{"learner": {"gradient_booster": {"name": "gbtree"}}, "version": [2, 1, 0]}', "XGBoost (JSON)"),
    (b"tree\nversion=v4\nnum_class=1\n", "LightGBM (text)"),
    (b"torch==2.4.0\nnumpy==2.1.0\n", None),
    (b"{}", None),
    (b"", None),
])
def test_open_formats_by_first_bytes(head: bytes, kind: str | None) -> None:
    assert model_kind(head) == kind


# -- the layout check names each one ---------------------------------------------------------------
@pytest.mark.parametrize(("rel", "content", "framework"), [
    ("exports/cloud_v2", keras_v3(), "Keras v3"),  # no suffix at all
    ("model.keras", keras_v3(), "Keras v3"),
    ("classifier.skops", skops(), "scikit-learn (skops)"),
    ("detector.bin", tflite(), "TensorFlow Lite"),  # an "opaque" suffix, open content
    ("booster.ubj", xgboost_ubjson(), "XGBoost (UBJSON)"),
    ("booster.model", xgboost_ubjson(), "XGBoost (UBJSON)"),
])
def test_open_artefacts_are_named_by_content(pkg_copy: Path, rel: str, content: bytes, framework: str) -> None:
    make_non_pytorch(pkg_copy)
    (pkg_copy / rel).parent.mkdir(parents=True, exist_ok=True)
    (pkg_copy / rel).write_bytes(content)
    found = layout_findings(pkg_copy)
    recognised = [f for f in found if f["rule"] == "MC110"]
    assert [f["file"] for f in recognised] == [rel]
    assert framework in recognised[0]["message"]
    assert not [f for f in found if f["rule"] in ("MC103", "MC106", "MC107")]


def test_saved_model_folder_is_one_artefact_and_its_pb_files_are_not_opaque(pkg_copy: Path) -> None:
    make_non_pytorch(pkg_copy)
    folder = pkg_copy / "export" / "cloud_model"
    (folder / "variables").mkdir(parents=True)
    for name in ("saved_model.pb", "keras_metadata.pb", "fingerprint.pb"):
        (folder / name).write_bytes(b"\x08\x01\x12\x00")
    (folder / "variables" / "variables.index").write_bytes(b"\x00")
    (folder / "variables" / "variables.data-00000-of-00001").write_bytes(b"\x00" * 8)
    found = layout_findings(pkg_copy)
    assert [(f["rule"], f["file"]) for f in found if f["rule"] in ("MC106", "MC107", "MC110")] == [
        ("MC110", "export/cloud_model/saved_model.pb")]
    assert "TensorFlow SavedModel" in found[[f["rule"] for f in found].index("MC110")]["message"]


def test_saved_model_without_variables_says_so(pkg_copy: Path) -> None:
    make_non_pytorch(pkg_copy)
    (pkg_copy / "sm").mkdir()
    (pkg_copy / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
    [recognised] = [f for f in layout_findings(pkg_copy) if f["rule"] == "MC110"]
    assert "without variables/" in recognised["message"]


def test_torchscript_with_any_name_is_named_and_pickle_bearing(pkg_copy: Path) -> None:
    """Study idea 38: a `.jit` TorchScript export beside the open artefacts."""
    (pkg_copy / "acme_vad.jit").write_bytes(torchscript())
    report = run_static(pkg_copy, only=[LAYOUT, "security"])
    [opaque] = [f for f in findings(report, area=LAYOUT) if f["file"] == "acme_vad.jit"]
    assert opaque["rule"] == "MC107" and "TorchScript" in opaque["message"] and "pickle" in opaque["message"]
    security = [f for f in findings(report, area="security") if f["file"] == "acme_vad.jit"]
    assert security and all("TorchScript" in f["message"] for f in security)
    assert "MC110" not in {f["rule"] for f in findings(report, area=LAYOUT)}


def test_torch_save_zip_is_a_state_dict_pickle_not_torchscript(pkg_copy: Path) -> None:
    """Study idea 39: a `torch.save` zip `.pt` without code/."""
    (pkg_copy / "checkpoint.pt").write_bytes(torch_save())
    report = run_static(pkg_copy, only=[LAYOUT, "security"])
    [opaque] = [f for f in findings(report, area=LAYOUT) if f["file"] == "checkpoint.pt"]
    assert opaque["rule"] == "MC107" and "torch.save checkpoint" in opaque["message"]
    assert "TorchScript" not in opaque["message"]
    security = [f for f in findings(report, area="security") if f["file"] == "checkpoint.pt"]
    assert security and all("torch.save" in f["message"] and "TorchScript" not in f["message"] for f in security)


def test_a_zip_that_is_no_model_is_not_named(pkg_copy: Path) -> None:
    (pkg_copy / "samples.zip").write_bytes(zip_bytes({"a.csv": b"x,y\n1,2\n"}))
    assert [f for f in layout_findings(pkg_copy) if f["file"] == "samples.zip"] == []


def test_a_damaged_zip_is_no_crash(pkg_copy: Path) -> None:
    (pkg_copy / "model.keras").write_bytes(b"PK\x03\x04" + b"\xff" * 100)
    report = run_static(pkg_copy, only=[LAYOUT])
    assert "MC001" not in {f["rule"] for f in report["findings"]}


def test_requirements_starting_with_torch_is_not_a_pickle_but_a_real_pickle_is(pkg_copy: Path) -> None:
    """Study idea 42: a guideline-style requirements.txt (`torch==…` first) next to a protocol-4 stats.pkl."""
    text = (pkg_copy / "requirements.txt").read_text(encoding="utf-8")
    (pkg_copy / "requirements.txt").write_text("torch==2.14.1\n" + text, encoding="utf-8")
    (pkg_copy / "stats.pkl").write_bytes(b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.")
    security = findings(run_static(pkg_copy, only=["security"]), area="security")
    assert {f["file"] for f in security} == {"stats.pkl"}
