"""Several models in one package: each artefact is judged with its own declared facts.

Forms from docs/research/real-packages.md §3.3 and §5 (ideas 34 and 35), and the version places
of §3.6 (ideas 44 and 45). Every package here is written by the test itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from helpers import findings, run_static
from onnx import TensorProto, helper
from safetensors.numpy import save_file

from validator.core.report import Report
from validator.pipeline.release_gate import gate
from validator.publish.item import PublishSettings, build_item
from validator.readers.declared import CHANNELS, INPUT_SHAPE, MODEL_VERSION, VERSION
from validator.readers.package import ModelPackage

BANDS_4 = ["blue", "green", "red", "nir"]
BANDS_6 = BANDS_4 + ["swir16", "swir22"]

Dims = list[int | str | None]


def _segmenter(path: Path, channels: int, classes: int = 3, size: int = 256, batch: int | str = "batch",
               elem: int = TensorProto.FLOAT) -> None:
    """A 1x1-convolution 'U-Net' stand-in: (batch, channels, size, size) -> (batch, classes, size, size)."""
    x = helper.make_tensor_value_info("input", elem, [batch, channels, size, size])
    y = helper.make_tensor_value_info("output", elem, [batch, classes, size, size])
    w = helper.make_tensor("w", elem, [classes, channels, 1, 1], np.zeros(classes * channels, dtype=np.float32).tolist())
    graph = helper.make_graph([helper.make_node("Conv", ["input", "w"], ["output"])], "seg", [x], [y], initializer=[w])
    _save(graph, path)


def _sequence_model(path: Path, batch: int | str | None, length: int | str | None, elem: int = TensorProto.FLOAT) -> None:
    """input [batch, length] -> output [batch, 1] (a voice-activity-style detector, one flavour of export)."""
    x = helper.make_tensor_value_info("input", elem, [batch, length])
    y = helper.make_tensor_value_info("output", elem, [batch, 1])
    graph = helper.make_graph([helper.make_node("ReduceMean", ["input"], ["output"], axes=[1], keepdims=1)],
                              "seq", [x], [y])
    _save(graph, path)


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _sidecar(path: Path, bands: list[str], version: str, classes: int = 3) -> None:
    """The nested sidecar form: data.in_channels, data.classes (a count), data.stats.band_names, model.version."""
    path.write_text(json.dumps({
        "data": {"in_channels": len(bands), "classes": classes,
                 "dataset_statistics": {"mean": [0.1] * len(bands), "band_names": bands}, "target_size": [256, 256]},
        "model": {"version": version, "decoder": "unet"},
    }, indent=4) + "\n", encoding="utf-8")


def _card(root: Path, body: str) -> None:
    (root / "README.md").write_text("# Acme Cloud Mask\n\nSegments clouds and cloud shadows in optical imagery.\n\n"
                                    + body, encoding="utf-8")


# The output contract's card-completeness warnings (task, units, nodata: tests/test_output_contract.py) also
# come from the consistency check; these segmenters' cards state no nodata, which is not what is tested here.
CONTRACT_CARD_RULES = {"MC240", "MC241", "MC242"}


def _consistency(root: Path) -> list[dict[str, Any]]:
    return [f for f in findings(run_static(root, only=["consistency"]))
            if f["severity"] != "info" and f["rule"] not in CONTRACT_CARD_RULES]


@pytest.fixture()
def banded(tmp_path: Path) -> Path:
    """Idea 34: a 4-band and a 6-band graph, each with a same-stem JSON sidecar, in the Python package."""
    root = tmp_path / "acme-mask"
    pkg = root / "acme_mask"
    pkg.mkdir(parents=True)
    _segmenter(pkg / "model_4b.onnx", 4)
    _segmenter(pkg / "model_6b.onnx", 6)
    _sidecar(pkg / "model_4b.json", BANDS_4, "1.0.0-4B")
    _sidecar(pkg / "model_6b.json", BANDS_6, "1.0.0-6B")
    _card(root, "## Models\n\nTwo models: one for four bands, one for six. The band list picks the model.\n")
    return root


def test_band_variants_give_no_cross_model_mismatch(banded: Path) -> None:
    assert _consistency(banded) == []


def test_each_sidecar_is_paired_with_its_own_graph(banded: Path) -> None:
    pkg = ModelPackage(banded)
    try:
        table = pkg.declared
        shapes = {f.file: f.model for f in table.of(INPUT_SHAPE)}
        channels = {f.file: f.model for f in table.of(CHANNELS)}
    finally:
        pkg.close()
    assert shapes["acme_mask/model_4b.onnx"] == "acme_mask/model_4b"
    assert shapes["acme_mask/model_6b.onnx"] == "acme_mask/model_6b"
    assert channels == {"acme_mask/model_4b.json": "acme_mask/model_4b", "acme_mask/model_6b.json": "acme_mask/model_6b"}


def test_sidecar_against_its_own_graph_names_both_files(banded: Path) -> None:
    _sidecar(banded / "acme_mask" / "model_4b.json", BANDS_4 + ["swir16"], "1.0.0-4B")
    found = _consistency(banded)
    assert [f["rule"] for f in found] == ["MC604"], found
    assert found[0]["file"] == "acme_mask/model_4b.onnx"
    assert "acme_mask/model_4b.json" in found[0]["message"] and "model_6b" not in found[0]["message"]


def test_card_shape_matching_one_model_is_accepted(banded: Path) -> None:
    _card(banded, "## Input\n\nInput shape: N,6,256,256\n")
    assert _consistency(banded) == []


def test_card_shape_matching_no_model_names_each_file(banded: Path) -> None:
    _card(banded, "## Input\n\nInput shape: N,5,256,256\n")
    found = _consistency(banded)
    assert [f["rule"] for f in found] == ["MC605"], found
    assert found[0]["file"] == "README.md" and found[0]["line"] is not None
    assert "model_4b.onnx" in found[0]["message"] and "model_6b.onnx" in found[0]["message"]
    assert "N,5,256,256" in found[0]["message"]


def test_card_bands_matching_one_model_is_accepted(banded: Path) -> None:
    _card(banded, "## Bands\n\nBand order: blue, green, red, nir\n")
    assert _consistency(banded) == []


def test_card_naming_the_file_pairs_its_fact_with_that_model(banded: Path) -> None:
    _card(banded, "## model_6b.onnx\n\nInput shape: N,4,256,256\n")
    found = _consistency(banded)
    assert "MC605" in [f["rule"] for f in found], found
    assert all("model_6b" in f["message"] and "model_4b" not in f["message"] for f in found)


def test_primary_model_takes_the_cards_facts(tmp_path: Path) -> None:
    """model.onnx (N,6) is the package's model; other.onnx (N,4) is judged alone."""
    root = tmp_path / "pkg"
    root.mkdir()
    _segmenter(root / "model.onnx", 6)
    _segmenter(root / "other.onnx", 4)
    _card(root, "## Input\n\nInput shape: N,6,256,256\n")
    assert _consistency(root) == []
    _card(root, "## Input\n\nInput shape: N,4,256,256\n")
    found = _consistency(root)
    assert [f["rule"] for f in found] == ["MC605"] and found[0]["file"] == "model.onnx", found
    assert "other.onnx" not in found[0]["message"]


def test_export_flavours_are_judged_alone(tmp_path: Path) -> None:
    """Idea 35: one graph exported as dynamic batch, fp16, and fixed [1,576]."""
    root = tmp_path / "vad"
    root.mkdir()
    _sequence_model(root / "detector.onnx", "batch", "samples")
    _sequence_model(root / "detector_half.onnx", "batch", "samples", TensorProto.FLOAT16)
    _sequence_model(root / "detector_fixed.onnx", 1, 576)
    _card(root, "## Input\n\nInput shape: `[batch, samples]`\n")
    assert _consistency(root) == []


def test_fixed_shape_flavours_for_two_rates_are_not_compared_with_each_other(tmp_path: Path) -> None:
    """Fixed-shape exports for two sample rates ([1,256] and [1,576]) beside the dynamic one: no MC605 between them."""
    root = tmp_path / "vad"
    root.mkdir()
    _sequence_model(root / "detector.onnx", "batch", "samples")
    _sequence_model(root / "detector_8k_fixed.onnx", 1, 256)
    _sequence_model(root / "detector_16k_fixed.onnx", 1, 576)
    _card(root, "## Input\n\nInput shape: N,576\n")
    assert _consistency(root) == []
    pkg = ModelPackage(root)
    try:
        table = pkg.declared
    finally:
        pkg.close()
    assert sorted(table.models) == ["detector", "detector_16k_fixed", "detector_8k_fixed"] and table.primary is None
    assert table.model_of("detector_8k_fixed.onnx") == "detector_8k_fixed"


def test_ensemble_members_each_take_their_folder_config(tmp_path: Path) -> None:
    """§3.3 ensembles: members/<name>/model.onnx with its own config.json; a member's config is compared with it alone."""
    root = tmp_path / "ens"
    for name, channels in (("a", 4), ("b", 4)):
        _segmenter(root / "members" / name / "model.onnx", channels)
        (root / "members" / name / "config.json").write_text(json.dumps({"in_channels": 4, "classes": 3}, indent=2) + "\n",
                                                             encoding="utf-8")
    _card(root, "Two members, averaged.\n")
    assert _consistency(root) == []
    (root / "members" / "b" / "config.json").write_text(json.dumps({"bands": BANDS_6}, indent=2) + "\n", encoding="utf-8")
    found = _consistency(root)
    assert [(f["rule"], f["file"]) for f in found] == [("MC604", "members/b/model.onnx")], found
    assert "members/b/config.json" in found[0]["message"] and "members/a" not in found[0]["message"]


def test_registry_with_per_model_class_counts(tmp_path: Path) -> None:
    """§3.3 registry: a 2-class and a 3-class model; labels.json fits one of them, else a finding names both."""
    root = tmp_path / "fields"
    root.mkdir()
    _segmenter(root / "fields_2class.onnx", 4, classes=2)
    _segmenter(root / "fields_3class.onnx", 4, classes=3)
    for stem, classes in (("fields_2class", 2), ("fields_3class", 3)):
        (root / f"{stem}.yaml").write_text(f"model:\n  num_classes: {classes}\n  in_chans: 4\n", encoding="utf-8")
    (root / "labels.json").write_text(json.dumps(["background", "field", "boundary"]), encoding="utf-8")
    _card(root, "Field boundaries.\n")
    assert _consistency(root) == []
    (root / "labels.json").write_text(json.dumps(["background", "field", "boundary", "road"]), encoding="utf-8")
    found = _consistency(root)
    assert [(f["rule"], f["file"]) for f in found] == [("MC602", "labels.json")], found
    assert "fields_2class.onnx" in found[0]["message"] and "fields_3class.onnx" in found[0]["message"]


def test_about_a_model_gives_its_facts_and_the_primarys_the_package_facts(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    _segmenter(root / "model.onnx", 6)
    _segmenter(root / "other.onnx", 4)
    _card(root, "## Input\n\nInput shape: N,6,256,256\n")
    pkg = ModelPackage(root)
    try:
        table = pkg.declared
    finally:
        pkg.close()
    assert table.primary == "model"
    assert {f.file for f in table.about("model") if f.key == INPUT_SHAPE} == {"README.md", "model.onnx"}
    assert {f.file for f in table.about("other") if f.key == INPUT_SHAPE} == {"other.onnx"}


def test_safetensors_and_onnx_of_one_stem_are_one_model(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    _segmenter(root / "model_4b.onnx", 4)
    _segmenter(root / "model_6b.onnx", 6)
    save_file({"conv1.weight": np.zeros((8, 4, 3, 3), dtype=np.float32)}, str(root / "model_4b.safetensors"),
              metadata={"channel_names": ",".join(BANDS_6)})
    _card(root, "Two models.\n")
    found = _consistency(root)
    assert {(f["rule"], f["file"]) for f in found} == {("MC604", "model_4b.onnx"), ("MC604", "model_4b.safetensors")}, found
    assert all("model_6b" not in f["message"] for f in found)
    pkg = ModelPackage(root)
    try:
        models = pkg.declared.models
    finally:
        pkg.close()
    assert models == {"model_4b": ("model_4b.onnx", "model_4b.safetensors"), "model_6b": ("model_6b.onnx",)}


# -- versions (ideas 44, 45) -----------------------------------------------------------------------

def _versioned(root: Path) -> None:
    """The package form of §3.6: CITATION.cff left at an old release, the code and the model moved on."""
    (root / "CITATION.cff").write_text("cff-version: 1.2.0\nmessage: Cite it.\ntitle: Acme Cloud Mask\nversion: 0.1.3\n"
                                       "authors:\n  - name: Acme\n", encoding="utf-8")
    (root / "acme_mask" / "__init__.py").write_text('"""Acme."""\n\n__version__ = "1.0.0"\n', encoding="utf-8")
    (root / "pyproject.toml").write_text('[project]\nname = "acme-mask"\nversion = "1.0.0"\n', encoding="utf-8")


def test_stale_citation_named_with_every_place(banded: Path) -> None:
    _versioned(banded)
    found = [f for f in _consistency(banded) if f["rule"] == "MC606"]
    assert len(found) == 1, found
    assert found[0]["file"] == "CITATION.cff" and found[0]["line"] == 4
    message = found[0]["message"]
    for place in ("CITATION.cff:4", "0.1.3", "acme_mask/__init__.py:3", "pyproject.toml:3", "1.0.0"):
        assert place in message, message
    assert "1.0.0-4B" not in message  # a model version is another axis


def test_stale_citation_is_not_the_package_version(banded: Path) -> None:
    _versioned(banded)
    pkg = ModelPackage(banded)
    try:
        table = pkg.declared
    finally:
        pkg.close()
    assert table.first(VERSION) == "1.0.0"
    assert {f.value for f in table.of(MODEL_VERSION)} == {"1.0.0-4B", "1.0.0-6B"}
    assert run_static(banded, only=["consistency"])["package"]["version"] == "1.0.0"  # the report's package version


def test_stale_citation_is_not_published_as_the_version(banded: Path) -> None:
    _versioned(banded)
    pkg = ModelPackage(banded)
    try:
        built = build_item(pkg, pkg.declared, "", PublishSettings(base_url="https://example.org/acme"))
    finally:
        pkg.close()
    assert built.item["properties"]["version"] == "1.0.0"


def test_release_gate_compares_the_tag_with_package_versions_only(banded: Path) -> None:
    """The tag v1.0.0 against CITATION.cff 0.1.3 (refused), not against the models' 1.0.0-4B / 1.0.0-6B."""
    _versioned(banded)
    report = Report.from_dict(run_static(banded, only=["consistency"]))
    refusals = [f for f in gate(report, "v1.0.0", banded) if f.rule == "MC860"]
    assert [(f.file, f.line) for f in refusals] == [("CITATION.cff", 4)], refusals


def test_model_versions_of_one_model_are_compared(banded: Path) -> None:
    onnx_path = banded / "acme_mask" / "model_4b.onnx"
    model = onnx.load(str(onnx_path))
    helper.set_model_props(model, {"version": "1.0.0-4X"})
    onnx.save(model, str(onnx_path))
    found = [f for f in _consistency(banded) if f["rule"] == "MC606"]
    assert len(found) == 1, found
    assert "1.0.0-4X" in found[0]["message"] and "1.0.0-4B" in found[0]["message"]
    assert "model_6b" not in found[0]["message"]


@pytest.mark.parametrize("name, text, line", [
    ("setup.py", 'from setuptools import setup\n\nsetup(\n    name="acme-mask",\n    version="1.0.0",\n)\n', 5),
    ("setup.cfg", "[metadata]\nname = acme-mask\nversion = 1.0.0\n", 3),
])
def test_setup_files_state_the_build_version(banded: Path, name: str, text: str, line: int) -> None:
    (banded / "CITATION.cff").write_text("cff-version: 1.2.0\nmessage: Cite it.\ntitle: Acme\nversion: 0.1.3\n", encoding="utf-8")
    (banded / name).write_text(text, encoding="utf-8")
    found = [f for f in _consistency(banded) if f["rule"] == "MC606"]
    assert [(f["file"], f["line"]) for f in found] == [("CITATION.cff", 4)], found
    assert f"{name}:{line} says 1.0.0" in found[0]["message"]


def test_setup_version_read_from_the_code_is_not_a_static_version(banded: Path) -> None:
    (banded / "setup.py").write_text("from setuptools import setup\nimport acme_mask\n\nsetup(version=acme_mask.__version__)\n",
                                     encoding="utf-8")
    (banded / "setup.cfg").write_text("[metadata]\nversion = attr: acme_mask.__version__\n", encoding="utf-8")
    (banded / "CITATION.cff").write_text("cff-version: 1.2.0\nmessage: Cite it.\ntitle: Acme\nversion: 0.1.3\n", encoding="utf-8")
    assert [f for f in _consistency(banded) if f["rule"] == "MC606"] == []


def test_dockerfile_label_joins_the_package_versions(banded: Path) -> None:
    (banded / "pyproject.toml").write_text('[project]\nname = "acme-mask"\nversion = "1.7.1"\n', encoding="utf-8")
    (banded / "Dockerfile").write_text('FROM python:3.11-slim\nLABEL maintainer="acme" \\\n      version="1.1"\n'
                                       'COPY . /app\n', encoding="utf-8")
    found = [f for f in _consistency(banded) if f["rule"] == "MC606"]
    assert len(found) == 1 and found[0]["file"] == "Dockerfile" and found[0]["line"] == 3, found
    assert "1.1" in found[0]["message"] and "pyproject.toml:3" in found[0]["message"]
    (banded / "Dockerfile").write_text('FROM python:3.11-slim\nLABEL org.opencontainers.image.version="1.7.1"\n',
                                       encoding="utf-8")
    assert [f for f in _consistency(banded) if f["rule"] == "MC606"] == []


def test_version_module_and_a_dockerfile_one_folder_down(banded: Path) -> None:
    """Seen on a real package: pyproject's version is dynamic (attr of `pkg/__version__.py`, 1.7.1) and
    `docker/Dockerfile` labels the image 1.1."""
    (banded / "pyproject.toml").write_text('[project]\nname = "acme-mask"\ndynamic = ["version"]\n', encoding="utf-8")
    (banded / "acme_mask").mkdir(exist_ok=True)
    (banded / "acme_mask" / "__version__.py").write_text('__version__ = "1.7.1"\n', encoding="utf-8")
    (banded / "docker").mkdir()
    (banded / "docker" / "Dockerfile").write_text('FROM python:3.11-slim\nLABEL version="1.1"\n', encoding="utf-8")
    found = [f for f in _consistency(banded) if f["rule"] == "MC606"]
    assert [(f["file"], f["line"]) for f in found] == [("docker/Dockerfile", 2)], found
    assert "acme_mask/__version__.py:1 says 1.7.1" in found[0]["message"]


def test_dockerfile_label_from_a_build_argument_is_not_read(banded: Path) -> None:
    (banded / "pyproject.toml").write_text('[project]\nname = "acme-mask"\nversion = "1.7.1"\n', encoding="utf-8")
    (banded / "Dockerfile").write_text('FROM python:3.11-slim\nARG VERSION\nLABEL version=$VERSION\n', encoding="utf-8")
    assert [f for f in _consistency(banded) if f["rule"] == "MC606"] == []


@pytest.mark.parametrize("model_version, compared", [
    ("v0.1", False),        # a model number of another form than the package's 1.7.3
    ("1.0.0-4BL1C", False),  # a release number with a variant label
    ("1.7.2", True),        # the same form as the package version: the same axis
])
def test_single_model_version_compared_only_when_of_the_same_form(tmp_path: Path, model_version: str, compared: bool) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    _segmenter(root / "model.onnx", 4)
    (root / "config.json").write_text(json.dumps({"version": model_version, "in_channels": 4}, indent=2), encoding="utf-8")
    (root / "pyproject.toml").write_text('[project]\nname = "acme-mask"\nversion = "1.7.3"\n', encoding="utf-8")
    _card(root, "One model.\n")
    found = [f for f in _consistency(root) if f["rule"] == "MC606"]
    assert bool(found) is compared, found
    if compared:
        assert found[0]["file"] == "config.json" and "pyproject.toml:3" in found[0]["message"]


@pytest.mark.parametrize("card_version, compared", [("v0.1", False), ("v0.2.0", True)])
def test_card_version_of_another_form_is_the_models(tmp_path: Path, card_version: str, compared: bool) -> None:
    """A card's `Version: v0.1` beside pyproject 1.7.3 numbers the model; `v0.2.0` contradicts the package."""
    root = tmp_path / "pkg"
    root.mkdir()
    _segmenter(root / "model.onnx", 4)
    (root / "pyproject.toml").write_text('[project]\nname = "acme-mask"\nversion = "1.7.3"\n', encoding="utf-8")
    _card(root, f"## Details\n\n| Field | Value |\n| --- | --- |\n| Version | {card_version} |\n")
    found = [f for f in _consistency(root) if f["rule"] == "MC606"]
    assert bool(found) is compared, found
    if compared:
        assert found[0]["file"] == "README.md" and "pyproject.toml:3 says 1.7.3" in found[0]["message"]


def test_config_yaml_is_read(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    _segmenter(root / "model.onnx", 4)
    (root / "config.yaml").write_text("model:\n  version: 2.0.0\ndata:\n  bands: [blue, green, red]\n", encoding="utf-8")
    (root / "pyproject.toml").write_text('[project]\nname = "acme-mask"\nversion = "2.1.0"\n', encoding="utf-8")
    _card(root, "One model.\n")
    rules = sorted(f["rule"] for f in _consistency(root))
    assert rules == ["MC604", "MC606"], rules


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"version": 3}', "model: [unclosed\n"])
def test_odd_sidecars_give_no_traceback(banded: Path, text: str) -> None:
    (banded / "acme_mask" / "model_4b.json").write_text(text, encoding="utf-8")
    (banded / "config.yaml").write_text(text, encoding="utf-8")
    report = run_static(banded, only=["consistency"])
    assert not [f for f in findings(report) if f["rule"] == "MC001"]
