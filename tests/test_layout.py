"""Area layout (MC101-MC110): the guideline's file table, opaque checkpoints, config.json, files
that cannot be read, and the open artefacts of other frameworks. Also MC001: a crashing check."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from helpers import findings, replace_in, rules_fired, run_static

from validator.checks.layout import LayoutCheck
from validator.core.findings import Finding

LAYOUT = "layout"


def layout_report(root: Path) -> dict[str, Any]:
    return run_static(root, only=[LAYOUT, "model-card"])


def layout_rules(root: Path) -> set[str]:
    return rules_fired(layout_report(root), area=LAYOUT)


def make_non_pytorch(root: Path) -> None:
    """Turn the example copy into a scikit-learn style package: ONNX, no torch anywhere."""
    for name in ("model.safetensors", "inference.py", "model.py", "make_weights.py", "example_inference.ipynb"):
        (root / name).unlink()
    (root / "requirements.txt").write_text("scikit-learn==1.5.2\nskl2onnx==1.17.0\nonnxruntime==1.20.1\n", encoding="utf-8")


def test_example_has_no_layout_finding(example_pkg: Path) -> None:
    assert findings(layout_report(example_pkg), area=LAYOUT) == []


# -- MC101 README.md --------------------------------------------------------------------------
def test_missing_readme_is_mc101(pkg_copy: Path) -> None:
    (pkg_copy / "README.md").unlink()
    found = findings(layout_report(pkg_copy), rule="MC101")
    assert len(found) == 1 and found[0]["severity"] == "error" and "README.md" in found[0]["message"]


def test_readme_that_is_a_directory_is_mc101_on_that_path(pkg_copy: Path) -> None:
    (pkg_copy / "README.md").unlink()
    (pkg_copy / "README.md").mkdir()
    found = findings(layout_report(pkg_copy), rule="MC101")
    assert [(f["file"], "directory" in f["message"]) for f in found] == [("README.md", True)]


def test_readme_name_is_matched_case_insensitively(pkg_copy: Path) -> None:
    (pkg_copy / "README.md").rename(pkg_copy / "Readme.md")
    assert "MC101" not in layout_rules(pkg_copy)


# -- MC102 runtime definition -----------------------------------------------------------------
def test_missing_runtime_definition_is_mc102(pkg_copy: Path) -> None:
    (pkg_copy / "requirements.txt").unlink()
    found = findings(layout_report(pkg_copy), rule="MC102")
    assert len(found) == 1 and found[0]["severity"] == "error"
    assert all(name in found[0]["message"] for name in ("requirements.txt", "environment.yml", "Dockerfile"))


@pytest.mark.parametrize(("name", "content"), [
    ("environment.yml", "channels: [conda-forge]\ndependencies:\n  - python=3.11\n"),
    ("Dockerfile", "FROM python:3.11-slim\n"),
])
def test_any_one_runtime_definition_is_enough(pkg_copy: Path, name: str, content: str) -> None:
    (pkg_copy / "requirements.txt").unlink()
    (pkg_copy / name).write_text(content, encoding="utf-8")
    assert "MC102" not in layout_rules(pkg_copy)


# -- MC103 / MC104 / MC105 recommended files --------------------------------------------------
@pytest.mark.parametrize(("name", "rule"), [
    ("model.safetensors", "MC103"), ("model.onnx", "MC104"), ("inference.py", "MC105"),
])
def test_missing_recommended_file_is_a_warning(pkg_copy: Path, name: str, rule: str) -> None:
    (pkg_copy / name).unlink()
    report = layout_report(pkg_copy)
    found = findings(report, area=LAYOUT)
    assert [(f["rule"], f["severity"]) for f in found] == [(rule, "warning")]
    assert report["status"] == "passed"  # recommended, not required


def test_other_inference_script_named_by_the_card_counts(pkg_copy: Path) -> None:
    (pkg_copy / "inference.py").rename(pkg_copy / "predict.py")
    replace_in(pkg_copy / "README.md", "python inference.py", "python predict.py")
    assert "MC105" not in layout_rules(pkg_copy)


def test_card_command_naming_a_missing_script_does_not_count(pkg_copy: Path) -> None:
    (pkg_copy / "inference.py").unlink()
    replace_in(pkg_copy / "README.md", "python inference.py", "python predict.py")
    assert "MC105" in layout_rules(pkg_copy)


# -- MC110 and non-PyTorch models -------------------------------------------------------------
def test_onnx_only_package_of_another_framework_needs_no_safetensors(pkg_copy: Path) -> None:
    make_non_pytorch(pkg_copy)
    assert "MC103" not in layout_rules(pkg_copy)


@pytest.mark.parametrize(("rel", "content", "framework"), [
    ("model.keras", b"PK\x03\x04keras", "Keras"),
    ("saved_model/saved_model.pb", b"\x08\x01", "TensorFlow SavedModel"),
    ("model.json", b'{"learner": {"gradient_booster": {"name": "gbtree"}}, "version": [2, 1, 0]}', "XGBoost"),
    ("model.txt", b"tree\nversion=v4\nnum_class=1\n", "LightGBM"),
])
def test_open_artefact_of_another_framework_is_recognised(pkg_copy: Path, rel: str, content: bytes, framework: str) -> None:
    make_non_pytorch(pkg_copy)
    (pkg_copy / "model.onnx").unlink()
    (pkg_copy / rel).parent.mkdir(parents=True, exist_ok=True)
    (pkg_copy / rel).write_bytes(content)
    found = findings(layout_report(pkg_copy), area=LAYOUT)
    recognised = [f for f in found if f["rule"] == "MC110"]
    assert [(f["file"], f["severity"]) for f in recognised] == [(rel, "info")]
    assert framework in recognised[0]["message"]
    assert "MC103" not in {f["rule"] for f in found}
    assert not [f for f in found if f["rule"] in ("MC106", "MC107") and f["file"] == rel]


def test_a_large_booster_with_any_name_is_recognised_by_its_content(pkg_copy: Path) -> None:
    """An 11 MB LightGBM text booster named after its task: past the 10 MiB text reader, and no "model" in its name."""
    make_non_pytorch(pkg_copy)
    (pkg_copy / "model.onnx").unlink()
    tree = "Tree=0\nnum_leaves=31\nsplit_feature=" + " ".join(["3"] * 30) + "\n\n"
    with (pkg_copy / "cloud_detector.txt").open("w", encoding="utf-8") as handle:
        handle.write("tree\nversion=v4\nnum_class=1\nmax_feature_idx=12\n\n")
        while handle.tell() < 11 * 1024 * 1024:
            handle.write(tree * 1000)
    found = findings(layout_report(pkg_copy), area=LAYOUT)
    assert [(f["rule"], f["file"]) for f in found if f["rule"] == "MC110"] == [("MC110", "cloud_detector.txt")]
    assert "LightGBM" in next(f["message"] for f in found if f["rule"] == "MC110")
    assert "MC103" not in {f["rule"] for f in found}  # no "add model.safetensors" to a package that is not PyTorch


def test_plain_json_file_is_not_taken_for_a_booster(pkg_copy: Path) -> None:
    (pkg_copy / "model_meta.json").write_text('{"name": "x"}', encoding="utf-8")
    assert "MC110" not in layout_rules(pkg_copy)


def test_pytorch_package_with_open_artefact_still_wants_safetensors(pkg_copy: Path) -> None:
    (pkg_copy / "model.safetensors").unlink()
    (pkg_copy / "model.keras").write_bytes(b"PK\x03\x04")
    assert {"MC103", "MC110"} <= layout_rules(pkg_copy)


# -- MC106 / MC107 opaque checkpoints ---------------------------------------------------------
def test_only_an_opaque_checkpoint_is_mc106(pkg_copy: Path) -> None:
    for name in ("model.safetensors", "model.onnx", "inference.py", "model.py", "make_weights.py", "example_inference.ipynb"):
        (pkg_copy / name).unlink()
    (pkg_copy / "model.pt").write_bytes(b"\x80\x02}q\x00.")
    found = findings(layout_report(pkg_copy), rule="MC106")
    assert [(f["file"], f["severity"]) for f in found] == [("model.pt", "error")]


def test_opaque_checkpoint_with_loading_code_and_runtime_is_only_a_warning(pkg_copy: Path) -> None:
    for name in ("model.safetensors", "model.onnx"):
        (pkg_copy / name).unlink()
    (pkg_copy / "model.ckpt").write_bytes(b"\x80\x02}q\x00.")
    rules = layout_rules(pkg_copy)
    assert "MC107" in rules and "MC106" not in rules


@pytest.mark.parametrize("name", ["model.pt", "weights.pth", "model.pkl", "model.joblib", "model.h5"])
def test_opaque_checkpoint_alongside_open_artefacts_is_mc107(pkg_copy: Path, name: str) -> None:
    (pkg_copy / name).write_bytes(b"\x80\x02}q\x00.")
    found = findings(layout_report(pkg_copy), area=LAYOUT)
    assert [(f["rule"], f["file"], f["severity"]) for f in found] == [("MC107", name, "warning")]


# -- MC108 config.json ------------------------------------------------------------------------
def test_config_json_no_code_reads_is_mc108(pkg_copy: Path) -> None:
    (pkg_copy / "config.json").write_text('{"num_classes": 6}', encoding="utf-8")
    found = findings(layout_report(pkg_copy), rule="MC108")
    assert [(f["file"], f["severity"]) for f in found] == [("config.json", "warning")]


def test_config_json_read_by_inference_code_is_fine(pkg_copy: Path) -> None:
    (pkg_copy / "config.json").write_text('{"num_classes": 6}', encoding="utf-8")
    with (pkg_copy / "inference.py").open("a", encoding="utf-8") as handle:
        handle.write('\nCONFIG_FILE = "config.json"\n')
    assert "MC108" not in layout_rules(pkg_copy)


# -- MC109 files that cannot be read ----------------------------------------------------------
def test_fifo_is_mc109(pkg_copy: Path) -> None:
    os.mkfifo(pkg_copy / "labels.pipe")
    found = findings(layout_report(pkg_copy), rule="MC109")
    assert [(f["file"], "fifo" in f["message"]) for f in found] == [("labels.pipe", True)]


def test_symlink_leaving_the_package_is_mc109_and_not_read(pkg_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("# Secret card\n\nLicense: MIT\n", encoding="utf-8")
    (pkg_copy / "README.md").unlink()
    (pkg_copy / "README.md").symlink_to(outside)
    (pkg_copy / "data").symlink_to(tmp_path, target_is_directory=True)
    report = layout_report(pkg_copy)
    unreadable = {f["file"]: f["message"] for f in findings(report, rule="MC109")}
    assert set(unreadable) == {"README.md", "data"} and "outside the package" in unreadable["data"]
    assert [f["file"] for f in findings(report, rule="MC101")] == ["README.md"]
    assert not any("Secret card" in f["message"] for f in report["findings"])
    assert all(a["path"] not in ("README.md",) and not a["path"].startswith("data/") for a in report["artefacts"])


def test_symlink_inside_the_package_is_not_a_finding(pkg_copy: Path) -> None:
    (pkg_copy / "CARD.md").symlink_to("README.md")
    assert "MC109" not in layout_rules(pkg_copy)


def test_symlink_loop_is_mc109_not_a_crash(pkg_copy: Path) -> None:
    (pkg_copy / "a").symlink_to("b")
    (pkg_copy / "b").symlink_to("a")
    found = findings(layout_report(pkg_copy), rule="MC109")
    assert sorted(f["file"] for f in found) == ["a", "b"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: file permissions do not stop root from reading "
                           "(test_file_that_cannot_be_opened_is_mc109 covers the same path)")
def test_file_without_read_permission_is_mc109(pkg_copy: Path) -> None:
    target = pkg_copy / "labels.json"
    target.chmod(0)
    try:
        found = findings(layout_report(pkg_copy), rule="MC109")
    finally:
        target.chmod(0o644)
    assert [f["file"] for f in found] == ["labels.json"]


def test_file_that_cannot_be_opened_is_mc109(pkg_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a chmod 000 file does for a non-root user: opening it raises PermissionError."""
    real_open = pathlib.Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "README.md":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", refusing_open)
    report = run_static(pkg_copy, only=[LAYOUT, "model-card"])
    assert [f["file"] for f in findings(report, rule="MC109")] == ["README.md"]
    card = findings(report, area="model-card")
    assert [f["rule"] for f in card] == ["MC200"] and "Permission denied" in card[0]["message"]


# -- MC001 a check that crashes ---------------------------------------------------------------
def test_crashing_check_is_mc001_and_the_run_goes_on(pkg_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: LayoutCheck, *args: object) -> NoReturn:
        raise ZeroDivisionError("boom in layout")

    monkeypatch.setattr(LayoutCheck, "run", explode)
    report = run_static(pkg_copy, only=[LAYOUT, "model-card", "runtime"])
    crash = findings(report, rule="MC001")
    assert len(crash) == 1
    assert crash[0]["area"] == LAYOUT and crash[0]["severity"] == "error"
    assert "ZeroDivisionError" in crash[0]["message"] and "boom in layout" in crash[0]["message"]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["package layout"] == "failed"
    assert statuses["model card"] == "passed" and statuses["runtime definition"] == "passed"
    assert report["status"] == "failed"


def test_check_crashing_while_its_findings_are_read_is_mc001_too(pkg_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: LayoutCheck, *args: object) -> Iterator[Finding]:
        yield from ()
        raise KeyError("no such thing")

    monkeypatch.setattr(LayoutCheck, "run", explode)
    report = run_static(pkg_copy, only=[LAYOUT])
    assert [f["rule"] for f in report["findings"]] == ["MC001"]


def test_no_mc001_on_the_example(example_pkg: Path) -> None:
    assert "MC001" not in rules_fired(run_static(example_pkg, only=[LAYOUT, "model-card", "runtime"]))


# -- an empty folder --------------------------------------------------------------------------
def test_empty_package_reports_every_required_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    report = run_static(empty)
    assert {"MC101", "MC102"} <= rules_fired(report, area=LAYOUT)
    assert report["status"] == "failed"
    assert report["artefacts"] == []



# -- pointers left by a checkout without its large files -------------------------------------------
LFS_OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"


def lfs_pointer(size: int, oid: str = LFS_OID) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def test_lfs_and_annex_pointers_are_one_clear_error_each_and_nothing_else(pkg_copy: Path) -> None:
    """The form that reaches CI most (actions/checkout without `lfs: true`): a 130-byte text where the weights
    should be. One MC111 per file naming the fix; no header, graph or checkpoint findings about the pointer."""
    (pkg_copy / "model.safetensors").write_bytes(lfs_pointer(110_367_416))
    (pkg_copy / "model.onnx").write_bytes(lfs_pointer(98_113_024, "0" * 64))
    (pkg_copy / "extra.bin").write_bytes(b"/annex/objects/SHA256E-s1048576--" + b"ab" * 32 + b".bin\n")
    report = run_static(pkg_copy)
    pointers = findings(report, rule="MC111")
    assert {f["file"] for f in pointers} == {"model.safetensors", "model.onnx", "extra.bin"}
    assert all(f["severity"] == "error" for f in pointers)
    by_file = {f["file"]: f["message"] for f in pointers}
    assert "Git LFS pointer for 110,367,416 bytes" in by_file["model.safetensors"] and "git lfs pull" in by_file["model.safetensors"]
    assert "lfs: true" in by_file["model.onnx"]
    assert "git-annex pointer for 1,048,576 bytes" in by_file["extra.bin"] and "git annex get" in by_file["extra.bin"]
    about_pointers = [f for f in report["findings"] if f["file"] in by_file and f["rule"] != "MC111"]
    assert about_pointers == []


@pytest.mark.parametrize("content", [
    lfs_pointer(10)[:-1],  # no final newline: not what git-lfs writes
    lfs_pointer(10).replace(b"sha256:", b"md5:"),
    b"version https://git-lfs.github.com/spec/v1\nsize 10\n",  # no oid
    b"\x00" * 200,
])
def test_small_files_that_are_not_pointers_are_read_as_what_they_are(pkg_copy: Path, content: bytes) -> None:
    (pkg_copy / "extra.bin").write_bytes(content)
    report = run_static(pkg_copy)
    assert findings(report, rule="MC111") == []
    assert [f["rule"] for f in report["findings"] if f["file"] == "extra.bin"] == ["MC107"]  # an opaque checkpoint


# -- DVC pointers: a `.dvc` file whose tracked path is absent ---------------------------------------
DVC_DIR = "outs:\n- md5: 3f2a9c0d1e4b5a697887766554433221.dir\n  size: 48210944\n  nfiles: 3\n  path: models\n"


def test_dvc_pointer_without_its_folder_is_one_clear_error(pkg_copy: Path) -> None:
    """Study idea 32: `models.dvc` tracking a folder that is not in the package (`dvc pull` never ran)."""
    (pkg_copy / "models.dvc").write_text(DVC_DIR, encoding="utf-8")
    report = run_static(pkg_copy)
    [pointer] = findings(report, rule="MC111")
    assert pointer["file"] == "models.dvc" and pointer["severity"] == "error"
    assert "DVC pointer for models (3 files, 48,210,944 bytes)" in pointer["message"] and "dvc pull" in pointer["message"]
    assert "lfs: true" not in pointer["message"]
    assert [f for f in report["findings"] if f["file"] == "models.dvc" and f["rule"] != "MC111"] == []


def test_dvc_pointer_for_a_model_file_stands_in_for_it(pkg_copy: Path) -> None:
    """A newer-format .dvc (`hash: md5`) for model.onnx: MC111, and no "no model.onnx" on top."""
    (pkg_copy / "model.onnx").unlink()
    (pkg_copy / "model.onnx.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 1048576\n  hash: md5\n  path: model.onnx\n", encoding="utf-8")
    rules = layout_rules(pkg_copy)
    assert "MC111" in rules and "MC104" not in rules


def test_dvc_file_whose_data_was_pulled_is_fine(pkg_copy: Path) -> None:
    (pkg_copy / "model.onnx.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 1048576\n  path: model.onnx\n", encoding="utf-8")
    (pkg_copy / "test_data.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: test_data\n", encoding="utf-8")
    assert "MC111" not in layout_rules(pkg_copy)


@pytest.mark.parametrize("text", [
    "outs: [unclosed\n",
    "just text\n",
    "outs:\n- path: models\n",  # no hash: not a DVC out
    "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: ../../etc/passwd\n",  # outside the package: not ours to say
    "- 1\n- 2\n",
])
def test_dvc_files_that_are_not_pointers_give_no_finding_and_no_crash(pkg_copy: Path, text: str) -> None:
    (pkg_copy / "data.dvc").write_text(text, encoding="utf-8")
    report = run_static(pkg_copy, only=[LAYOUT])
    assert [f["rule"] for f in report["findings"] if f["file"] == "data.dvc"] == []
    assert "MC001" not in rules_fired(report)


def test_annex_pointer_message_does_not_suggest_lfs(pkg_copy: Path) -> None:
    (pkg_copy / "extra.bin").write_bytes(b"/annex/objects/SHA256E-s1048576--" + b"ab" * 32 + b".bin\n")
    [pointer] = findings(layout_report(pkg_copy), rule="MC111")
    assert "git annex get" in pointer["message"] and "lfs: true" not in pointer["message"]


def test_locked_annex_symlink_is_a_pointer_not_a_missing_model(pkg_copy: Path) -> None:
    """Study idea 30: a committed symlink into .git/annex/objects, dangling until `git annex get`."""
    key = "SHA256E-s123456--" + "ab" * 32 + ".onnx"
    (pkg_copy / "model.onnx").unlink()
    (pkg_copy / "model.onnx").symlink_to(f".git/annex/objects/Ab/Cd/{key}/{key}")
    (pkg_copy / "sub").mkdir()
    (pkg_copy / "sub" / "extra.onnx").symlink_to(f"../../.git/annex/objects/Ab/Cd/{key}/{key}")  # leaves the package
    found = findings(layout_report(pkg_copy), area=LAYOUT)
    assert sorted((f["rule"], f["file"]) for f in found) == [("MC111", "model.onnx"), ("MC111", "sub/extra.onnx")]
    assert "git-annex pointer for 123,456 bytes" in found[0]["message"] and "git annex get" in found[0]["message"]


def test_a_symlink_that_only_looks_like_annex_is_not_a_pointer(pkg_copy: Path) -> None:
    (pkg_copy / "notes.onnx").symlink_to("../.git/annex/objects/readme")
    assert "MC111" not in layout_rules(pkg_copy)
