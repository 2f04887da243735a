"""The card forms real authors use (docs/research/real-packages.md §2, fixture ideas 1-25 and 27), one
self-written package per form (tests/card_forms.py): what model-check reports on each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from card_forms import (
    APACHE_TEXT,
    AUTHORS_ROW,
    CC_BY_TEXT,
    CHANNEL_SECTION,
    CLASS_SECTION,
    INFERENCE,
    LICENSE_ROW,
    NAME_ROWS,
    NORMALIZATION,
    PREDICTS,
    PYPROJECT,
    SHAPE_ROW,
    TITLE,
    Form,
    base_card,
    html_sections,
    without,
)
from helpers import findings, line_of, run_static

from validator.readers.card import CardFacts
from validator.readers.package import ModelPackage

README = "README.md"


def check(form: Form, tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    root = form.build(tmp_path / "pkg")
    report = run_static(root, only=["model-card", "license"])
    return root, findings(report)


def facts_of(root: Path) -> CardFacts:
    pkg = ModelPackage(root)
    try:
        facts = pkg.card_facts
    finally:
        pkg.close()
    assert facts is not None
    return facts


def rules(found: list[dict[str, Any]]) -> list[str]:
    return sorted(f["rule"] for f in found if f["severity"] != "info")


def only(found: list[dict[str, Any]], rule: str) -> dict[str, Any]:
    matching = [f for f in found if f["rule"] == rule]
    assert len(matching) == 1, found
    return matching[0]


# -- 2.1 title and headings -----------------------------------------------------------------------
def test_html_headings(tmp_path: Path) -> None:
    """Form 1: `<h1 align="center">Name</h1>` and every section as `<h2 align="center">`."""
    card = html_sections(base_card()).replace(TITLE, '<h1 align="center">Tiny Scene Classifier</h1>\n')
    root, found = check(Form("HTML headings", without(*NAME_ROWS), readme=card), tmp_path)
    assert rules(found) == []
    facts = facts_of(root)
    assert facts.name is not None and facts.name.value == "Tiny Scene Classifier" and facts.name.line == 1


def test_h1_holding_only_an_image_takes_the_name_from_pyproject(tmp_path: Path) -> None:
    """Form 2: the `<h1>` holds only a logo; the name is in pyproject.toml: implicit, not missing."""
    form = Form("logo-only h1", ((TITLE, '<h1 align="center"><br><img src="logo.png" width="400px"><br></h1>\n'),
                                 *without(*NAME_ROWS)), {"pyproject.toml": PYPROJECT})
    root, found = check(form, tmp_path)
    assert rules(found) == ["MC232"]
    implicit = only(found, "MC232")
    assert implicit["severity"] == "warning" and implicit["file"] == README
    assert "pyproject.toml" in implicit["message"] and "tiny-scene" in implicit["message"]
    assert "state it in the card too" in implicit["message"]


def test_h1_holding_only_an_image_without_metadata_is_missing(tmp_path: Path) -> None:
    form = Form("logo-only h1", ((TITLE, '<h1 align="center"><img src="logo.png"></h1>\n'), *without(*NAME_ROWS)))
    _, found = check(form, tmp_path)
    assert rules(found) == ["MC201"]
    assert only(found, "MC201")["severity"] == "error"


def test_linked_logo_in_the_first_heading_is_not_the_name(tmp_path: Path) -> None:
    """Form 3: `# [![Org](logo)](url) tiny-scene`: the name is `tiny-scene`."""
    form = Form("logo in heading", ((TITLE, "# [![Example Org](img/logo.png)](https://example.org) tiny-scene\n"),
                                    *without(*NAME_ROWS)))
    root, found = check(form, tmp_path)
    assert rules(found) == []
    facts = facts_of(root)
    assert facts.name is not None and facts.name.value == "tiny-scene"


def test_details_blocks_hold_items(tmp_path: Path) -> None:
    """Form 4: `<details><summary>Class names</summary>` hiding the class list and the install steps."""
    form = Form("details", (
        (CLASS_SECTION, "<details><summary>Class names</summary>\n\n1. clear\n2. cloud\n3. shadow\n\n</details>\n\n"),
        (INFERENCE, "## How to run inference\n\n<details>\n<summary>Dependencies</summary>\n\n```bash\n"
                    "pip install -r requirements.txt\n```\n\n</details>\n\n```bash\npython inference.py\n```\n\n")))
    root, found = check(form, tmp_path)
    assert rules(found) == []
    facts = facts_of(root)
    assert facts.classes is not None and facts.classes[0] == ["clear", "cloud", "shadow"]


def test_headings_inside_details_belong_to_its_summary(tmp_path: Path) -> None:
    """Seen on a real card: `<summary>🔍 <strong>More examples</strong></summary>` followed by `### Batch`
    headings and code; the summary holds them, so it is not an empty section (MC230)."""
    form = Form("details with headings", (
        (INFERENCE, INFERENCE + "<details>\n<summary>🔍 <strong>More examples</strong></summary>\n\n### Batch processing\n\n"
                                "```python\nbatch = [load(p) for p in paths]\n```\n\n### Export\n\nSee `inference.py`.\n\n</details>\n\n"),))
    _, found = check(form, tmp_path)
    assert rules(found) == []


def test_div_wrapper_and_emoji_headings(tmp_path: Path) -> None:
    """Form 5: a `<div align="center">` around an emoji title; emoji, shortcodes and `<!-- omit in toc -->` in headings."""
    form = Form("div + emoji", (
        (TITLE, '<div align="center">\n\n# 🛰️ Tiny Scene Classifier :earth_africa:\n\n</div>\n'),
        *without(*NAME_ROWS),
        ("## Intended use", "## 🎯 Intended use"),
        ("## Known limitations", "## :warning: Known limitations <!-- omit in toc -->"),
        ("## Caveats", "## ⚠️ Caveats"),
        ("| License | MIT |\n", ""), ("## Citation", "## 📜 License\n\nMIT\n\n## Citation")))
    root, found = check(form, tmp_path)
    assert rules(found) == []
    facts = facts_of(root)
    assert facts.name is not None and facts.name.value == "Tiny Scene Classifier"
    assert facts.license is not None and facts.license.value == "MIT"


def test_yaml_front_matter_states_license_and_datasets(tmp_path: Path) -> None:
    """Form 6: Hugging Face front matter (`license`, `tags`, `datasets`, `base_model`) and prose."""
    front = "---\nlicense: mit\ntags:\n  - earth-observation\ndatasets:\n  - example-org/tiny-tiles\nbase_model: tinynet-base\n---\n"
    form = Form("front matter", (("# Tiny", front + "# Tiny"), *without(LICENSE_ROW),
                                 ("| Training data | None: untrained, seeded demonstration weights |\n", "")))
    root, found = check(form, tmp_path)
    assert rules(found) == []
    facts = facts_of(root)
    assert facts.license is not None and facts.license.value == "mit" and facts.license.line == 2
    assert facts.found["training_data"].line == 5


def test_hugging_face_space_front_matter_names_the_model(tmp_path: Path) -> None:
    """Form 7: HF Space front matter: `title` is the name, `license` the license."""
    front = ("---\ntitle: Tiny Scene Classifier\nemoji: 🛰️\ncolorFrom: blue\ncolorTo: green\nsdk: gradio\n"
             "app_file: app.py\nlicense: mit\n---\n")
    form = Form("space", (("# Tiny Scene Classifier\n", front), *without(*NAME_ROWS, LICENSE_ROW)))
    root, found = check(form, tmp_path)
    assert rules(found) == []
    facts = facts_of(root)
    assert facts.name is not None and facts.name.value == "Tiny Scene Classifier" and facts.name.line == 2


def test_empty_readme_next_to_metadata(tmp_path: Path) -> None:
    """Form 8: a 0-byte README beside pyproject.toml, CITATION.cff, LICENSE and labels.json: no crash;
    what the structured files state is implicit (a warning each), the rest missing."""
    root, found = check(Form("empty card", readme="", files={"pyproject.toml": PYPROJECT}), tmp_path)
    implicit = [f for f in found if f["rule"] == "MC232"]
    assert {f["message"].split(":")[0] for f in implicit} == {
        "the card does not state the model name", "the card does not state the authors",
        "the card does not state the license", "the card does not state the class names or output variables in order"}
    assert all(f["severity"] == "warning" for f in implicit)
    for rule in ("MC201", "MC203", "MC225", "MC218"):
        assert rule not in rules(found)
    for rule in ("MC202", "MC206", "MC211", "MC212", "MC226"):
        assert rule in rules(found)


def test_setext_title_and_link_title(tmp_path: Path) -> None:
    """Form 8a: a setext title (`Name` underlined), and a first heading that is a link."""
    setext = Form("setext", ((TITLE, "Tiny Scene Classifier\n---------------------\n"), *without(*NAME_ROWS)))
    root, found = check(setext, tmp_path / "a")
    assert rules(found) == []
    assert facts_of(root).name is not None and facts_of(root).name.value == "Tiny Scene Classifier"  # type: ignore[union-attr]
    linked = Form("link", ((TITLE, "# [Tiny Scene Classifier](https://example.org/tiny)\n"), *without(*NAME_ROWS)))
    root, found = check(linked, tmp_path / "b")
    assert rules(found) == []
    assert facts_of(root).name.value == "Tiny Scene Classifier"  # type: ignore[union-attr]


def test_front_matter_and_no_h1(tmp_path: Path) -> None:
    """Form 8b: front matter, then `### Model and Inputs` first: that heading is not the name."""
    form = Form("no h1", ((TITLE, "---\nlicense: mit\n---\n### Model and Inputs\n"), *without(*NAME_ROWS)))
    root, found = check(form, tmp_path)
    assert rules(found) == ["MC201"]
    assert facts_of(root).name is None


# -- 2.11 license ---------------------------------------------------------------------------------
CC_BLOCK = ('<a rel="license" href="http://creativecommons.org/licenses/by/4.0/"><img alt="Creative Commons Licence" '
            'style="border-width:0" src="https://i.creativecommons.org/l/by/4.0/88x31.png" /></a><br />This work is '
            'licensed under a <a rel="license" href="http://creativecommons.org/licenses/by/4.0/">Creative Commons '
            'Attribution 4.0 International License</a>.')


def test_creative_commons_html_block(tmp_path: Path) -> None:
    """Form 9: the license as the Creative Commons HTML snippet: stated, recognised, not a placeholder."""
    form = Form("cc html", (*without(LICENSE_ROW), ("## Citation", f"## License\n\n{CC_BLOCK}\n\n## Citation")),
                {"LICENSE": CC_BY_TEXT, "CITATION.cff": (Path(__file__).parent / "rules" / "base" / "CITATION.cff")
                 .read_text(encoding="utf-8").replace("license: MIT", "license: CC-BY-4.0")}, weights_license="CC-BY-4.0")
    root, found = check(form, tmp_path)
    assert "MC225" not in rules(found) and "MC230" not in rules(found) and "MC804" not in rules(found)
    assert rules(found) in ([], ["MC803"])
    facts = facts_of(root)
    assert facts.license is not None and "creativecommons.org/licenses/by/4.0" in facts.license.value


def test_license_in_prose(tmp_path: Path) -> None:
    """Form 10: "released under the MIT license" in a sentence, no heading, no field."""
    form = Form("prose", (*without(LICENSE_ROW), ("## Citation", "## Terms\n\nThis package is released under the MIT "
                                                                 "license; see LICENSE.\n\n## Citation")))
    root, found = check(form, tmp_path)
    assert "MC225" not in rules(found) and "MC804" not in rules(found)
    card = root / README
    assert facts_of(root).license.line == line_of(card, "released under the MIT")  # type: ignore[union-attr]


def test_license_badge_contradicting_itself_and_the_license_file(tmp_path: Path) -> None:
    """Form 11: alt text `License: CC BY-NC 4.0`, badge label MIT, LICENSE MIT: a contradiction at the badge."""
    badge = "[![License: CC BY-NC 4.0](https://img.shields.io/badge/License-MIT-yellow.svg)](LICENSE)\n\n"
    form = Form("badge", ((TITLE, TITLE + "\n" + badge),))
    root, found = check(form, tmp_path)
    at_badge = [f for f in found if f["rule"] == "MC804" and f["file"] == README]
    assert [f["line"] for f in at_badge] == [line_of(root / README, "[![License: CC BY-NC 4.0]")]
    assert "(license badge) says 'CC BY-NC 4.0'" in at_badge[0]["message"]
    assert all("CC BY-NC 4.0" in f["message"] for f in found if f["rule"] == "MC804")  # LICENSE vs the badge too


def test_license_badge_agreeing_with_the_license_is_quiet(tmp_path: Path) -> None:
    badge = "[![License: MIT](https://img.shields.io/badge/License-MIT-yellow.svg)](LICENSE)\n\n"
    _, found = check(Form("badge", ((TITLE, TITLE + "\n" + badge), *without(LICENSE_ROW))), tmp_path)
    assert rules(found) == []


def test_package_metadata_license_contradicting_the_license_file(tmp_path: Path) -> None:
    """Form 12: setup.py `license="MIT"` (and an MIT classifier) while LICENSE is the Apache License 2.0."""
    setup = ('from setuptools import setup\n\nsetup(\n    name="tiny-scene",\n    license="MIT",\n'
             '    classifiers=["License :: OSI Approved :: MIT License"],\n)\n')
    form = Form("metadata", files={"setup.py": setup, "LICENSE": APACHE_TEXT})
    _, found = check(form, tmp_path)
    messages = [f["message"] for f in found if f["rule"] == "MC804" and f["file"] == "LICENSE"]
    assert any("setup.py:5 (package metadata) says 'MIT'" in m for m in messages), found


def test_split_code_and_weights_licenses(tmp_path: Path) -> None:
    """Form 13: code Apache-2.0, weights CC-BY-4.0: stated, both recorded, no mismatch between them."""
    form = Form("split", (*without(LICENSE_ROW), ("## Citation", "## License\n\n- Code: Apache-2.0\n- Weights: CC-BY-4.0\n\n## Citation")),
                {"LICENSE": APACHE_TEXT, "CITATION.cff": (Path(__file__).parent / "rules" / "base" / "CITATION.cff")
                 .read_text(encoding="utf-8").replace("license: MIT", "license: Apache-2.0")}, weights_license="CC-BY-4.0")
    root, found = check(form, tmp_path)
    assert rules(found) == []
    pkg = ModelPackage(root)
    try:
        card = [(s.part, s.spdx) for s in pkg.license.statements if s.source == "model card"]
    finally:
        pkg.close()
    assert card == [("code", "Apache-2.0"), ("weights", "CC-BY-4.0")]


# -- 2.4 channels ---------------------------------------------------------------------------------
@pytest.mark.parametrize("written", [
    "### Channel order\n\n```python\nband_order = [\"red\", \"green\", \"blue\", \"nir\"]\n```\n\n",
    "### Input\n\n```yaml\nbands: [red, green, blue, nir]\n```\n\n",
    "### Spectral input\n\nThe model takes four bands, in this order:\n\n1.  red\n2.  green\n3.  blue\n4.  nir\n\n",
    "### Spectral input\n\nThe model requires the bands red, green, blue, nir of the scene.\n\n",
    "### Spectral input\n\nTiles hold four bands (red, green, blue, nir).\n\n",
])
def test_band_order_forms(tmp_path: Path, written: str) -> None:
    """Form 14: Python list, YAML flow list, numbered list, comma prose."""
    root, found = check(Form("bands", ((CHANNEL_SECTION, written),)), tmp_path)
    assert "MC212" not in rules(found)
    facts = facts_of(root)
    assert facts.channels is not None and facts.channels[0] == ["red", "green", "blue", "nir"]


def test_time_stacked_band_names(tmp_path: Path) -> None:
    """Form 15: time-suffixed names (`B04_t1 … B08_t2`), eight channels, read in order."""
    names = ["B04_t1", "B03_t1", "B02_t1", "B08_t1", "B04_t2", "B03_t2", "B02_t2", "B08_t2"]
    written = f"### Spectral input\n\nThe model requires bands {', '.join(names)}.\n\n"
    root, _ = check(Form("time bands", ((CHANNEL_SECTION, written),)), tmp_path)
    assert facts_of(root).channels == (names, line_of(root / README, "The model requires bands"))


def test_band_indices_only_in_code_are_implicit(tmp_path: Path) -> None:
    """Form 16: `MODEL_BAND_IDS = [0, 1, 3, 4]` in a code block, no names: implicit, at the code line."""
    written = "### Spectral input\n\n```python\nMODEL_BAND_IDS = [0, 1, 3, 4]\n```\n\n"
    root, found = check(Form("band ids", ((CHANNEL_SECTION, written),)), tmp_path)
    implicit = only(found, "MC232")
    assert "MC212" not in rules(found)
    assert implicit["line"] == line_of(root / README, "MODEL_BAND_IDS")
    assert "channel order" in implicit["message"]


# -- 2.5 scaling ----------------------------------------------------------------------------------
@pytest.mark.parametrize("written", [
    "### Scaling\n\nReflectances are `B_i/10000`.\n\n",
    "### Value range\n\nDivide the digital numbers by 255 and clip to [0, 1].\n\n",
])
def test_scaling_as_a_formula(tmp_path: Path, written: str) -> None:
    """Form 17: scaling written as a formula or a division in prose."""
    form = Form("scaling", ((NORMALIZATION, written), ("after normalization every", "afterwards every")))
    _, found = check(form, tmp_path)
    assert "MC214" not in rules(found)


def test_scaling_only_in_a_statistics_sidecar_is_implicit(tmp_path: Path) -> None:
    """Form 17c: mean/std only in a JSON sidecar the code reads: implicit, naming the file."""
    form = Form("sidecar", ((NORMALIZATION, ""), ("after normalization every", "afterwards every")),
                {"stats.json": '{\n  "mean": [0.1, 0.1, 0.1, 0.2],\n  "std": [0.05, 0.05, 0.05, 0.1]\n}\n'})
    _, found = check(form, tmp_path)
    implicit = only(found, "MC232")
    assert "MC214" not in rules(found) and "stats.json:2" in implicit["message"]


def test_no_scaling_at_all_is_still_missing(tmp_path: Path) -> None:
    form = Form("scaling", ((NORMALIZATION, ""), ("after normalization every", "afterwards every")))
    _, found = check(form, tmp_path)
    assert "MC214" in rules(found)


# -- 2.6 input shape ------------------------------------------------------------------------------
@pytest.mark.parametrize(("written", "dims"), [
    ("The model takes tensors of shape (B, C, T, H, W).", ["N", "N", "N", "N", "N"]),
    ("Inputs are `[batch_size, num_timesteps, bands]` arrays.", ["N", "N", "N"]),
    ("Input shape: N,4", ["N", "4"]),
    ("Input shape: N,T", ["N", "N"]),
])
def test_input_shape_forms(tmp_path: Path, written: str, dims: list[str]) -> None:
    """Form 18: symbolic shapes of any rank, in prose or a field."""
    root, found = check(Form("shape", ((SHAPE_ROW, ""), ("## Outputs", f"{written}\n\n## Outputs"))), tmp_path)
    assert "MC211" not in rules(found)
    assert facts_of(root).input_shape == (dims, line_of(root / README, written))


def test_input_resolution_row_states_the_size(tmp_path: Path) -> None:
    root, found = check(Form("resolution", ((SHAPE_ROW, "| Input resolution | 16 × 16 pixels |\n"),)), tmp_path)
    assert "MC211" not in rules(found)
    assert facts_of(root).input_shape is None  # a size, not a shape other sources are compared with


def test_units_line_is_not_a_shape(tmp_path: Path) -> None:
    """Without an Input shape row, `Units: 1,1,1,1` under Inputs is not read as the input shape."""
    form = Form("units", ((SHAPE_ROW, ""), ("Units: top-of-atmosphere reflectance", "Units: 1,1,1,1; top-of-atmosphere reflectance")))
    root, found = check(form, tmp_path)
    assert facts_of(root).input_shape is None
    assert "MC211" in rules(found)


def test_shape_only_inside_code_is_implicit(tmp_path: Path) -> None:
    """Form 19: `torch.rand(2, 4, 16, 16)` in the example only: implicit, with the line."""
    form = Form("shape in code", ((SHAPE_ROW, ""), (INFERENCE, INFERENCE + "```python\nx = torch.rand(2, 4, 16, 16)\n```\n\n")))
    root, found = check(form, tmp_path)
    assert "MC211" not in rules(found)
    implicit = only(found, "MC232")
    assert implicit["line"] == line_of(root / README, "torch.rand(2, 4, 16, 16)")
    assert "2, 4, 16, 16" in implicit["message"]


# -- 2.7 classes ----------------------------------------------------------------------------------
def test_classes_as_a_code_comment(tmp_path: Path) -> None:
    """Form 20a: `# 0=clear, 1=cloud, 2=shadow` in the quick-start."""
    form = Form("classes comment", ((CLASS_SECTION, ""), (INFERENCE, INFERENCE.replace(
        "python inference.py\n", "python inference.py  # 0=clear, 1=cloud, 2=shadow\n"))))
    root, found = check(form, tmp_path)
    assert "MC218" not in rules(found)
    assert facts_of(root).classes is not None and facts_of(root).classes[0] == ["clear", "cloud", "shadow"]  # type: ignore[index]


def test_class_table_with_ids_from_one(tmp_path: Path) -> None:
    """Form 20b: a table `Class ID | Class Name | Description` starting at 1."""
    table = ("### Class names\n\n| Class ID | Class Name | Description |\n|---|---|---|\n| 1 | clear | no cloud |\n"
             "| 2 | cloud | thick or thin cloud |\n| 3 | shadow | cloud shadow |\n\n")
    root, found = check(Form("class table", ((CLASS_SECTION, table),)), tmp_path)
    assert "MC218" not in rules(found)
    assert facts_of(root).classes[0] == ["clear", "cloud", "shadow"]  # type: ignore[index]


@pytest.mark.parametrize(("rel", "content"), [
    ("labels.json", '["clear", "cloud", "shadow"]\n'),
    ("config.json", '{"id2label": {"0": "clear", "1": "cloud", "2": "shadow"}}\n'),
])
def test_classes_only_in_a_structured_file_are_implicit(tmp_path: Path, rel: str, content: str) -> None:
    """Forms 20c, 21: classes only in labels.json / config.json: a warning naming the file, not an error."""
    files: dict[str, str | None] = {rel: content}
    if rel != "labels.json":
        files["labels.json"] = None
    root, found = check(Form("classes in a file", ((CLASS_SECTION, ""),), files), tmp_path)
    assert "MC218" not in rules(found)
    implicit = only(found, "MC232")
    assert implicit["severity"] == "warning" and rel in implicit["message"] and "clear, cloud, shadow" in implicit["message"]


def test_classes_nowhere_are_still_missing(tmp_path: Path) -> None:
    _, found = check(Form("no classes", ((CLASS_SECTION, ""),), {"labels.json": None}), tmp_path)
    assert only(found, "MC218")["severity"] == "error"


# -- authors and license only in structured files -------------------------------------------------
def test_authors_only_in_citation_cff_are_implicit(tmp_path: Path) -> None:
    root, found = check(Form("authors", without(AUTHORS_ROW)), tmp_path)
    implicit = only(found, "MC232")
    assert "CITATION.cff" in implicit["message"] and "model-check contributors" in implicit["message"]
    assert "MC203" not in rules(found)


def test_authors_in_the_cards_bibtex_entry_are_stated(tmp_path: Path) -> None:
    """Seen on several real cards: no Authors field, the people named in the card's BibTeX entry."""
    bibtex = "## BibTeX\n\n```bibtex\n@article{tiny2025,\n  title  = {Tiny Scene},\n  author = {Doe, Jane and Roe, Ann},\n}\n```\n\n"
    root, found = check(Form("bibtex authors", (*without(AUTHORS_ROW), (INFERENCE, INFERENCE + bibtex))), tmp_path)
    assert "MC203" not in rules(found) and "MC232" not in rules(found)
    facts = facts_of(root)
    assert facts.found["authors"].how == "citation" and facts.found["authors"].line == line_of(root / README, "author = {Doe")
    slot = "## BibTeX\n\n```bibtex\n@article{tiny2025,\n  author = {insert_authors_here},\n}\n```\n\n"
    _, found = check(Form("bibtex slot", (*without(AUTHORS_ROW), (INFERENCE, INFERENCE + slot))), tmp_path / "slot")
    assert "MC203" in rules(found) or "MC232" in rules(found)


def test_a_maintainer_line_names_the_authors(tmp_path: Path) -> None:
    """Seen on a real card: `**Maintainer:** Jane Doe` and no Authors field."""
    _, found = check(Form("maintainer", (*without(AUTHORS_ROW), (INFERENCE, INFERENCE + "**Maintainer:** Jane Doe\n\n"))), tmp_path)
    assert "MC203" not in rules(found) and "MC232" not in rules(found)


def test_license_only_in_license_file_is_implicit(tmp_path: Path) -> None:
    _, found = check(Form("license", without(LICENSE_ROW)), tmp_path)
    implicit = only(found, "MC232")
    assert "LICENSE" in implicit["message"] and "MIT" in implicit["message"]
    assert "MC225" not in rules(found)


def test_license_nowhere_is_still_missing(tmp_path: Path) -> None:
    form = Form("no license", without(LICENSE_ROW), {"LICENSE": None, "CITATION.cff": (
        Path(__file__).parent / "rules" / "base" / "CITATION.cff").read_text(encoding="utf-8").replace("license: MIT\n", "")})
    _, found = check(form, tmp_path)
    assert only(found, "MC225")["severity"] == "error"


# -- 2.3 purpose, 2.14 entry point ----------------------------------------------------------------
def test_detector_says_what_the_model_predicts(tmp_path: Path) -> None:
    """Form 22: "TinyDetector – cloud detector for Sentinel-2", no verb."""
    form = Form("detector", (("## Model details", "## Identification"), ("uncertainty estimate", "uncertainty information"), (PREDICTS, "## At a glance\n\nTinyDetector – a cloud detector for Sentinel-2 tiles, "
                                        "for scientific cloud screening.\n\n"),))
    _, found = check(form, tmp_path)
    assert "MC206" not in rules(found)


def test_no_purpose_is_still_missing(tmp_path: Path) -> None:
    form = Form("nothing", (("## Model details", "## Identification"), ("uncertainty estimate", "uncertainty information"),
                            (PREDICTS, "## At a glance\n\nTinyNet, for scientific cloud screening.\n\n")))
    _, found = check(form, tmp_path)
    assert "MC206" in rules(found)


def test_complete_python_example_is_the_entry_point(tmp_path: Path) -> None:
    """Form 23: a complete Python example (import, load, call) and no shell command."""
    example = ("## How to run inference\n\n```python\nimport numpy as np\nimport onnxruntime as ort\n\n"
               "session = ort.InferenceSession(\"model.onnx\")\nlogits = session.run(None, {\"input\": np.zeros((1, 4, 16, 16), "
               "np.float32)})[0]\n```\n\n")
    root, found = check(Form("python example", ((INFERENCE, example),)), tmp_path)
    assert "MC226" not in rules(found)
    facts = facts_of(root)
    assert facts.inference_command is not None and facts.inference_command.how == "code"
    assert facts.inference_command.line == line_of(root / README, "import numpy as np")


# -- 2.20 placeholders ----------------------------------------------------------------------------
def test_placeholders_in_code_and_citations_are_flagged(tmp_path: Path) -> None:
    """Form 24: `{insert_doi_here}` in a BibTeX entry is a slot the author left unfilled: MC230 at its
    line. `<PATH_TO_DATA>` and `YOUR-AWS-REGION` in a command are slots for the user of the command
    (usage documentation, seen on real cards with "replace YOUR-… with your configuration"): not
    placeholders. HTML markup is not a placeholder; TODO in a code comment is code."""
    form = Form("placeholders", (
        (INFERENCE, INFERENCE + "```bash\npython inference.py --data <PATH_TO_DATA> --region YOUR-AWS-REGION\n```\n\n"
                                "```python\n# TODO: batch several tiles\n```\n\n"),
        ("## Citation\n\nCite this package as described in `CITATION.cff`.",
         "## Citation\n\n<p align=\"center\"><img src=\"logo.png\" width=\"120\"></p>\n\n```bibtex\n@misc{tiny,\n"
         "  title = {Tiny Scene Classifier},\n  doi = {insert_doi_here}\n}\n```")))
    root, found = check(form, tmp_path)
    placeholders = [f["line"] for f in found if f["rule"] == "MC230"]
    assert placeholders == [line_of(root / README, "{insert_doi_here}")]
    assert rules(found) == ["MC230"]


def test_a_card_field_that_is_only_a_slot_is_a_placeholder(tmp_path: Path) -> None:
    """A card field whose whole value is a slot (`| Contact | <MAINTAINER_EMAIL> |`) is an unfinished item:
    the item is reported at that line (here MC205, contact), not accepted."""
    form = Form("slot field", (("| Contact | tiny-scene@example.org |", "| Contact | <MAINTAINER_EMAIL> |"),))
    root, found = check(form, tmp_path)
    assert [(f["rule"], f["line"]) for f in found] == [("MC205", line_of(root / README, "<MAINTAINER_EMAIL>"))]


def test_todo_in_the_only_code_of_an_item_section_is_not_a_placeholder_item(tmp_path: Path) -> None:
    """The item scan and the card-wide scan agree: a TODO comment in code is code."""
    form = Form("todo in code", ((INFERENCE, "## How to run inference\n\n```bash\n# TODO: faster\npython inference.py\n```\n\n"),))
    _, found = check(form, tmp_path)
    assert rules(found) == []


# -- 2.18 units -----------------------------------------------------------------------------------
def test_units_toggle_with_the_unit_named(tmp_path: Path) -> None:
    """Form 25: a regression card without units fails MC213; the same card with "metres" passes."""
    units = "### Units\n\nUnits: top-of-atmosphere reflectance, dimensionless (unit `1`) in every channel.\n\n"
    without_units = Form("no units", ((units, ""),))
    _, found = check(without_units, tmp_path / "a")
    assert "MC213" in rules(found)
    with_units = Form("metres", ((units, "### Inputs in metres\n\nEach channel is a height in metres above ground.\n\n"),))
    _, found = check(with_units, tmp_path / "b")
    assert "MC213" not in rules(found)


# -- 27: a file the card names that is not there --------------------------------------------------
def test_card_naming_a_near_miss_file(tmp_path: Path) -> None:
    """Form 27: the card runs `python inference_v1.py`, the package ships inference.py: the finding names it."""
    form = Form("near miss", ((INFERENCE, INFERENCE.replace("python inference.py\n", "python inference_v1.py\n")),))
    root, found = check(form, tmp_path)
    missing = only(found, "MC231")
    assert "inference_v1.py" in missing["message"] and "did you mean inference.py" in missing["message"]
    assert missing["line"] == line_of(root / README, "python inference_v1.py")


def test_badge_on_a_later_line_of_a_paragraph_is_located(tmp_path: Path) -> None:
    badges = ("[![PyPI](https://img.shields.io/badge/pypi-1.0-blue.svg)](https://example.org)\n"
              "[![License: Apache 2.0](https://img.shields.io/badge/License-Apache_2.0-blue.svg)](LICENSE)\n\n")
    root, found = check(Form("badges", ((TITLE, TITLE + "\n" + badges),)), tmp_path)
    at_badge = [f for f in found if f["rule"] == "MC804" and f["file"] == README]
    assert at_badge and {f["line"] for f in at_badge} == {line_of(root / README, "[![License: Apache 2.0]")}


def test_pipeline_tag_says_what_the_model_predicts(tmp_path: Path) -> None:
    """Hugging Face front matter `pipeline_tag: image-classification` states the task."""
    form = Form("pipeline tag", (("# Tiny", "---\npipeline_tag: image-classification\n---\n# Tiny"),
                                 ("## Model details", "## Identification"), ("uncertainty estimate", "uncertainty information"),
                                 (PREDICTS, "## At a glance\n\nTinyNet, for scientific cloud screening.\n\n")))
    _, found = check(form, tmp_path)
    assert "MC206" not in rules(found)


# -- untrusted text -------------------------------------------------------------------------------
ADVERSARIAL = {
    "band list": "The bands " + "ab, " * 60_000,
    "symbolic shape": "input shape " + "(b, " * 60_000,
    "class pairs": "0=a " * 60_000,
    "slot": "<A" + "_A" * 120_000,
    "role noun": "is a x " * 40_000,
    "division": "divide " * 40_000,
    "html": "<div><h2>" * 30_000,
    "badge": "![License](https://img.shields.io/badge/" + "a-" * 120_000 + ")",
    "code list": "```python\nbands = [" + "a," * 120_000 + "]\n```",
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_card_forms_are_read_without_error(name: str) -> None:
    """The new forms' patterns on ~250 KB of adversarial text give a card, never a traceback (their
    cost per MB is measured in benchmarks/bench_card.py, which mixes these runs into its document)."""
    from validator.readers.card import read_card
    from validator.readers.markdown import parse_markdown

    card = read_card(parse_markdown("# T\n\n## Inputs\n\n" + ADVERSARIAL[name] + "\n", README))
    assert card.name is not None and card.name.value == "T"


def test_front_matter_aliases_are_not_expanded() -> None:
    """A billion-laughs front matter (nested YAML aliases) is refused, not expanded: a card's metadata
    never needs aliases, and the expanded value would be 9**15 items."""
    from validator.readers.markdown import parse_markdown

    levels = "".join(f"l{i + 1}: &l{i + 1} [" + ", ".join([f"*l{i}"] * 9) + "]\n" for i in range(14))
    parsed = parse_markdown("---\nl0: &l0 [x, x, x, x, x, x, x, x, x]\n" + levels + "---\n# T\n", README)
    assert parsed.front_matter == {}
    plain = parse_markdown("---\nlicense: mit\ntags: [eo, cloud]\n---\n# T\n", README)
    assert plain.front_matter == {"license": "mit", "tags": ["eo", "cloud"]}


@pytest.mark.parametrize("line", [
    "[![DOI](https://zenodo.org/badge/DOI/10.5281/zenodo.1234567.svg)](https://doi.org/10.5281/zenodo.1234567)",
    "Funded under contract No. 4000123456/20/I-XY.",
    "A large-scale benchmark dataset designed to advance field mapping.",
    "See the paper: https://doi.org/10.1038/s41597-000-00000-0.",
])
def test_numbers_after_a_slash_are_not_a_scaling(tmp_path: Path, line: str) -> None:
    """Seen on real cards: DOIs, contract numbers and "large-scale" read as a scaling formula hid a
    missing normalisation. Only a named value over a number (`B_i/10000`) is a formula."""
    normalisation = ("### Normalization\n\n`preprocess()` in `inference.py`: `x[:, c] = (raw[:, c] - MEAN[c]) / STD[c]` with\n"
                     "MEAN = 0.1, 0.1, 0.1, 0.2 and STD = 0.05, 0.05, 0.05, 0.1.\n\n")
    form = Form("no scaling", ((normalisation, line + "\n\n"), ("after normalization every", "afterwards every")))
    root, found = check(form, tmp_path)
    assert "MC214" in rules(found)


# -- items stated in prose (seen on real cards without the item's heading) -------------------------
PROJECT_ROW = "| Project | EarthCODE model-check rule examples |\n"
INTENDED = "## Intended use\n\n- Testing model-check: every rule has a failing and a passing example built on this package.\n\n"
NODATA = "### Nodata handling\n\nNodata is NaN in the raw input; after normalization every non-finite value is set to 0.\n\n"
CAVEATS = ("## Caveats\n\n- Data caveats: the test input is random noise.\n- Uncertainty: the outputs carry no uncertainty "
           "estimate; bias risks were not assessed.\n\n")


@pytest.mark.parametrize(("rule", "removed", "prose"), [
    ("MC204", (PROJECT_ROW,), "This work was funded by the Example Agency under contract No. 4000-1234."),
    ("MC204", (PROJECT_ROW,), "See the project page at https://example.org/tiny for background."),
    ("MC208", (INTENDED,), "The classifier is designed for screening 64-pixel tiles before a land-cover workflow."),
    ("MC208", (INTENDED,), "It works with any multispectral imagery that has the four bands below."),
    ("MC215", (NODATA,), "Pass `nodata_value=0` so that those pixels are skipped."),
    ("MC227", (CAVEATS, "## Known limitations"),
     "The classifier is known to make some errors where fields and meadows look alike."),
    ("MC227", (CAVEATS, "## Known limitations"), "It may not generalise to scenes from other sensors."),
])
def test_items_stated_in_prose(tmp_path: Path, rule: str, removed: tuple[str, ...], prose: str) -> None:
    """Without the item's heading or field, a sentence that states it counts; without it, the rule fires."""
    edits = tuple((old, "## Notes" if old.startswith("## Known") else "") for old in removed)
    _, bare = check(Form("removed", edits), tmp_path / "bare")
    assert rule in rules(bare)
    _, found = check(Form("prose", (*edits, (INFERENCE, INFERENCE + prose + "\n\n"))), tmp_path / "prose")
    assert rule not in rules(found)


def test_output_meaning_in_prose(tmp_path: Path) -> None:
    """"estimates canopy height for every pixel" / "outputs a cloud mask" state what the output means;
    "returns scores" alone does not."""
    outputs = ("## Outputs\n\n| Field | Value |\n| --- | --- |\n| Output name (ONNX) | logits |\n| Output shape | `N,3` |\n"
               "| Output meaning | logits over three scene classes (apply softmax for probabilities) |\n\n### Class names")
    removed = ((outputs, "## Class names"), ("one of three scene classes and returns logits.", "one of three scene classes."))
    _, bare = check(Form("no output", removed), tmp_path / "bare")
    assert "MC217" in rules(bare)
    for n, prose in enumerate(("The model estimates a scene class for every 64-pixel tile.",
                               "The network outputs a cloud mask at the input resolution.")):
        _, found = check(Form("prose", (*removed, (INFERENCE, INFERENCE + prose + "\n\n"))), tmp_path / f"p{n}")
        assert "MC217" not in rules(found), prose
    _, vague = check(Form("vague", (*removed, (INFERENCE, INFERENCE + "The network returns scores.\n\n"))), tmp_path / "vague")
    assert "MC217" in rules(vague)

