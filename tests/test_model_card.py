"""Area model-card (MC200-MC230): every item of the guideline's card list, its evidence and line,
the natural ways people write it, placeholders, and a README that cannot be read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    card_lines,
    findings,
    line_of,
    remove_lines_containing,
    remove_section,
    replace_in,
    rules_fired,
    run_static,
)

from validator.readers.card import CARD_EXAMPLES, CARD_ITEMS, CardFacts, CardItem, card_example, read_card
from validator.readers.markdown import parse_markdown
from validator.readers.package import ModelPackage

README = "README.md"
CLASSES = ["Solid stratus", "Closed MCC", "Open MCC", "Disorganized MCC", "Clustered Cu", "Suppressed Cu"]
CHANNELS = ["BT15_minus_BT14", "BT14_minus_BT11", "BT14", "COD"]
Edit = Callable[[Path], None]


def card_report(root: Path) -> dict[str, Any]:
    return run_static(root, only=["model-card"])


def card_findings(root: Path) -> list[dict[str, Any]]:
    return findings(card_report(root), area="model-card")


def card_facts(root: Path) -> CardFacts:
    pkg = ModelPackage(root)
    try:
        facts = pkg.card_facts
    finally:
        pkg.close()
    assert facts is not None
    return facts


# -- edits of the example card --------------------------------------------------------------------
def drop(*needles: str) -> Edit:
    """Delete every line of the card containing one of `needles`."""
    return lambda root: remove_lines_containing(root / README, *needles)


def sections(*headings: str) -> Edit:
    def edit(root: Path) -> None:
        for heading in headings:
            remove_section(root / README, heading)
    return edit


def reword(*pairs: tuple[str, str]) -> Edit:
    def edit(root: Path) -> None:
        for old, new in pairs:
            replace_in(root / README, old, new)
    return edit


def delete(*rels: str) -> Edit:
    """Delete package files (the structured files that state an item implicitly: LICENSE, labels.json)."""
    def edit(root: Path) -> None:
        for rel in rels:
            (root / rel).unlink()
    return edit


def file_reword(rel: str, *pairs: tuple[str, str]) -> Edit:
    def edit(root: Path) -> None:
        for old, new in pairs:
            replace_in(root / rel, old, new)
    return edit


def edits(*steps: Edit) -> Edit:
    def edit(root: Path) -> None:
        for step in steps:
            step(root)
    return edit


# The example card states several items more than once (a table row and a sentence, say). Each
# entry removes every statement of one item, and nothing else the card needs; for the items the
# package's structured files state too (authors in CITATION.cff, classes in labels.json, the license in
# LICENSE and CITATION.cff), those go as well: with them the item is implicit (MC232, IMPLICIT below).
NOT_A_PREDICTION_HEADING = reword(("## Model details", "## Identification"))
ITEM_REMOVALS: dict[str, Edit] = {
    "MC201": drop("| Model name |", "| Model ID |", "# GOES Cloud-Regime Classifier (demonstration package)"),
    "MC202": drop("| Version |", "version v0.1.0. Apache-2.0."),
    "MC203": edits(drop("| Authors |"), file_reword("CITATION.cff", ('authors:\n  - name: "model-check contributors"\n'
                                                                     '    email: model-check-demo@example.org\n', ""))),
    "MC204": drop("| Project |"),
    "MC205": drop("| Contact |"),
    "MC206": edits(sections("## What the model predicts"), NOT_A_PREDICTION_HEADING,
                   reword(("no uncertainty estimate", "no uncertainty information"))),
    "MC207": edits(sections("## What the model predicts"), NOT_A_PREDICTION_HEADING,
                   reword(("Any scientific analysis", "Any analysis"))),
    "MC208": sections("## Intended use"),
    "MC209": sections("## Out-of-scope use"),
    "MC210": sections("## Known limitations"),
    "MC211": edits(drop("| Input shape |"), reword(("tensor `1,4,128,128` float32", "tensor"),
                                                   ("# raw tiles (N,4,128,128), physical units", "# raw tiles"))),
    "MC212": sections("### Channel order", "### Normalization"),
    "MC213": edits(sections("### Units", "### Normalization"),
                   reword((", dimensionless (unit `1`)", ""), ("physical units", "measured values"))),
    "MC214": edits(sections("### Normalization"),
                   reword(("The normalization constants are fixed", "The constants are fixed"),
                          ("which becomes 0 after normalization", "which becomes 0"),
                          ("After normalization, every", "Afterwards, every"),
                          ("already normalized tiles", "tiles"))),
    "MC215": edits(sections("### Nodata handling"), reword(("with a NaN patch", "with a gap"))),
    "MC216": edits(sections("### Spatial and temporal assumptions"),
                   reword(("## Caveats, domain limits, uncertainty, and bias", "## Caveats, uncertainty, and bias"),
                          ("No temporal or spatial context", "No context"),
                          ("Night-time tiles have no COD", "Some tiles have no COD"),
                          ("region, season, satellite", "satellite"))),
    "MC217": edits(sections("## Outputs"),
                   reword(("returns logits over", "returns scores over"),
                          ("the predicted classes and probabilities", "the predicted classes"),
                          ("Treating the softmax probabilities", "Treating the softmax scores"),
                          ("output `logits`", "output"), ("the expected logits", "the expected scores"),
                          ("PyTorch logits for", "PyTorch scores for"), ("with its probability", ""),
                          ("PyTorch logits agree", "PyTorch agree"), ("Softmax probabilities are not", "Softmax scores are not")),
                   # the class list lived under ## Outputs: put it back under its own heading
                   lambda root: replace_in(root / README, "## Data\n", "## Class names\n\n" + "\n".join(
                       f"{i}. {name}" for i, name in enumerate(CLASSES, start=1)) + "\n\n## Data\n")),
    "MC218": edits(sections("### Class names"), delete("labels.json")),
    "MC219": edits(drop("| Training data |"),
                   reword(("## Data\n", "## Data sources\n"), ("any training set", "any data set"),
                          ("never trained on any data", "never fitted"))),
    "MC220": edits(drop("| Validation data |", "| Test data |"),
                   reword(("## Data\n", "## Data sources\n"), ("and the test data |", "and the samples |"),
                          ("the test data is synthetic", "the samples are synthetic"))),
    "MC221": drop("| Related EarthCODE Products |", "| Related EarthCODE Experiments |"),
    "MC222": edits(drop("| Source repository |"),
                   reword((" Apache-2.0. https://github.com/earthcode-examples/goes-cloud-regime-demo", " Apache-2.0."))),
    "MC223": drop("| Release tag |"),
    "MC224": drop("| Commit hash |"),
    "MC225": edits(drop("| License |"), delete("LICENSE"), file_reword("CITATION.cff", ("license: Apache-2.0\n", ""))),
    "MC226": edits(sections("## How to run inference"),
                   reword(("`python make_weights.py` (writes", "`make_weights.py` (writes"),
                          ("`python make_weights.py` checks", "`make_weights.py` checks"),
                          ("- `python inference.py` and the notebook", "- the inference script and the notebook"),
                          ("| example_inference.ipynb | Notebook walk-through", "| (notebook) | Notebook walk-through"))),
    "MC227": edits(sections("## Caveats, domain limits, uncertainty, and bias"),
                   reword(("## Known limitations", "## Known issues"))),  # limitations count as caveats too
}


# Removing only the card's statement of these items leaves them implicit: where the package states them.
IMPLICIT: dict[str, tuple[Edit, str]] = {
    "MC203": (drop("| Authors |"), "CITATION.cff"),
    "MC218": (sections("### Class names"), "labels.json"),
    "MC225": (drop("| License |"), "LICENSE"),
}


@pytest.mark.parametrize("rule", sorted(IMPLICIT))
def test_an_item_only_in_a_structured_file_is_implicit(pkg_copy: Path, rule: str) -> None:
    edit, where = IMPLICIT[rule]
    edit(pkg_copy)
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["severity"], f["file"]) for f in found] == [("MC232", "warning", README)]
    item = next(i for i in CARD_ITEMS if i.rule_id == rule)
    assert f"the card does not state the {item.label}: it is only in {where}" in found[0]["message"]
    assert found[0]["message"].endswith("state it in the card too")


def test_every_card_item_has_a_removal_case() -> None:
    assert sorted(ITEM_REMOVALS) == sorted(item.rule_id for item in CARD_ITEMS)


def test_example_card_has_every_item(example_pkg: Path) -> None:
    assert card_findings(example_pkg) == []


def test_example_card_values_are_extracted_with_their_lines(example_pkg: Path) -> None:
    facts = card_facts(example_pkg)
    readme = example_pkg / README
    assert facts.name is not None and facts.name.value == "GOES Cloud-Regime Classifier (demo)"
    assert facts.name.line == line_of(readme, "| Model name |")
    assert facts.version is not None and facts.version.value == "v0.1.0"
    assert facts.input_shape == (["N", "4", "128", "128"], line_of(readme, "| Input shape |"))
    assert facts.channels is not None and facts.channels[0] == CHANNELS
    assert facts.classes is not None and facts.classes[0] == CLASSES
    assert facts.license is not None and facts.license.value == "Apache-2.0"
    assert facts.repository is not None and facts.repository.value == "https://github.com/earthcode-examples/goes-cloud-regime-demo"
    assert facts.release_tag is not None and facts.release_tag.value == "v0.1.0"
    assert facts.commit is not None and facts.commit.value == "5d1c2a9e8b7f4306a1c2e3d4f5b6a7980c1d2e3f"
    # the command that runs inference, not the set-up lines before it (venv, pip install)
    assert facts.inference_command is not None and facts.inference_command.value == "python inference.py"
    assert facts.inference_command.line == line_of(readme, "python inference.py")


@pytest.mark.parametrize("rule", sorted(ITEM_REMOVALS))
def test_removing_one_item_fires_exactly_its_rule(pkg_copy: Path, rule: str) -> None:
    ITEM_REMOVALS[rule](pkg_copy)
    found = card_findings(pkg_copy)
    assert [f["rule"] for f in found] == [rule], [f["message"] for f in found]
    assert found[0]["file"] == README
    item = next(i for i in CARD_ITEMS if i.rule_id == rule)
    assert found[0]["severity"] == item.severity.value
    assert item.label in found[0]["message"]


def test_half_the_card_removed_gives_one_finding_per_missing_item(pkg_copy: Path) -> None:
    """Done when (issue 2): a card cut after its inputs section fails once per missing item."""
    readme = pkg_copy / README
    lines = card_lines(readme)
    cut = lines.index("## Outputs")
    readme.write_text("\n".join(lines[:cut]) + "\n", encoding="utf-8")

    report = run_static(pkg_copy)
    found = findings(report, area="model-card")
    missing = {"MC232": "labels.json", "MC220": "validation data", "MC221": "EarthCODE Products",
               "MC222": "source repository", "MC223": "release tag", "MC224": "commit hash",
               "MC226": "inference command"}
    assert sorted(f["rule"] for f in found) == sorted(missing)
    for finding in found:
        assert finding["file"] == README
        assert missing[finding["rule"]] in finding["message"]
    assert report["status"] == "failed"


# -- natural variants -----------------------------------------------------------------------------
def append(root: Path, text: str) -> None:
    readme = root / README
    readme.write_text(readme.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + text.strip("\n") + "\n", encoding="utf-8")


@pytest.mark.parametrize(("rule", "heading", "body"), [
    ("MC203", "## Credits", "Jane Doe (ESA), John Roe (DLR)."),
    ("MC205", "## Point of contact", "Write to the maintainers through the issue tracker."),
    ("MC208", "## Uses", "Research on cloud regimes over the ocean."),
    ("MC208", "## Intended Uses", "Research on cloud regimes over the ocean."),
    ("MC209", "## Out-of-Scope Uses", "Land scenes and polar night."),
    ("MC210", "## Limitations", "Single time step only."),
    ("MC214", "## Preprocessing", "Subtract the channel mean and divide by the standard deviation."),
    ("MC215", "## Missing values", "Set to zero after scaling."),
    ("MC219", "## Training Dataset", "Tiles from 2019 to 2021 of GOES-16."),
    ("MC220", "## Evaluation data", "Tiles from 2022."),
    ("MC225", "## Licence", "CC-BY-4.0"),
])
def test_synonymous_headings_are_accepted(pkg_copy: Path, rule: str, heading: str, body: str) -> None:
    ITEM_REMOVALS[rule](pkg_copy)
    assert rule in rules_fired(card_report(pkg_copy), area="model-card")
    append(pkg_copy, f"{heading}\n\n{body}\n")
    assert card_findings(pkg_copy) == []


@pytest.mark.parametrize(("rule", "line"), [
    ("MC203", "**Authors:** Jane Doe, John Roe"),
    ("MC205", "- Contact: jane.doe@example.org"),
    ("MC211", "Input shape: `N,4,128,128`"),
    ("MC223", "Release tag: v0.1.0"),
    ("MC224", "Commit: 5d1c2a9e8b7f4306a1c2e3d4f5b6a7980c1d2e3f"),
])
def test_field_lines_are_accepted(pkg_copy: Path, rule: str, line: str) -> None:
    ITEM_REMOVALS[rule](pkg_copy)
    append(pkg_copy, line)
    assert card_findings(pkg_copy) == []
    evidence = card_facts(pkg_copy).found[next(i.key for i in CARD_ITEMS if i.rule_id == rule)]
    assert evidence.line == line_of(pkg_copy / README, line)


def test_field_value_table_is_read(pkg_copy: Path) -> None:
    ITEM_REMOVALS["MC203"](pkg_copy)
    ITEM_REMOVALS["MC225"](pkg_copy)
    append(pkg_copy, "## People\n\n| Field | Value |\n|---|---|\n| Authors | Jane Doe |\n| License | MIT |\n")
    assert card_findings(pkg_copy) == []
    facts = card_facts(pkg_copy)
    assert facts.license is not None and facts.license.value == "MIT"
    assert facts.license.line == line_of(pkg_copy / README, "| License | MIT |")


def test_input_shape_field_is_parsed(pkg_copy: Path) -> None:
    ITEM_REMOVALS["MC211"](pkg_copy)
    append(pkg_copy, "Input shape: `N,4,64,64`")
    assert card_facts(pkg_copy).input_shape == (["N", "4", "64", "64"], line_of(pkg_copy / README, "Input shape: `N,4,64,64`"))


@pytest.mark.parametrize(("written", "dims"), [
    ("`N,4`", ["N", "4"]),  # a pixel classifier: one sample of four band values
    ("(B, T)", ["N", "N"]),  # a sequence model, symbolic dimensions
    ("[batch, 6]", ["N", "6"]),
    ("Nx4x128x128", ["N", "4", "128", "128"]),
    ("N x 12 x 256 x 256 (float32)", ["N", "12", "256", "256"]),
])
def test_input_shape_field_of_any_rank_is_read(pkg_copy: Path, written: str, dims: list[str]) -> None:
    ITEM_REMOVALS["MC211"](pkg_copy)
    append(pkg_copy, f"Input shape: {written}")
    assert card_facts(pkg_copy).input_shape == (dims, line_of(pkg_copy / README, f"Input shape: {written}"))
    assert [f for f in card_findings(pkg_copy) if f["rule"] == "MC211"] == []


def test_numbers_in_prose_are_not_taken_for_a_shape(pkg_copy: Path) -> None:
    ITEM_REMOVALS["MC211"](pkg_copy)
    append(pkg_copy, "## Inputs\n\nTrained for 4, 8 epochs on tiles.\n")
    assert card_facts(pkg_copy).input_shape is None


def test_numbered_class_list_keeps_order(pkg_copy: Path) -> None:
    ITEM_REMOVALS["MC218"](pkg_copy)
    append(pkg_copy, "## Classes\n\n1. Open MCC\n2. Closed MCC\n3. Solid stratus\n4. Disorganized MCC\n5. Clustered Cu\n6. Suppressed Cu\n")
    assert card_findings(pkg_copy) == []
    facts = card_facts(pkg_copy)
    assert facts.classes is not None
    assert facts.classes[0] == ["Open MCC", "Closed MCC", "Solid stratus", "Disorganized MCC", "Clustered Cu", "Suppressed Cu"]


def test_class_table_keeps_order(pkg_copy: Path) -> None:
    ITEM_REMOVALS["MC218"](pkg_copy)
    rows = "\n".join(f"| {i} | {name} | morphology {i} |" for i, name in enumerate(reversed(CLASSES)))
    append(pkg_copy, f"## Output classes\n\n| Index | Class name | Description |\n|---|---|---|\n{rows}\n")
    assert card_findings(pkg_copy) == []
    facts = card_facts(pkg_copy)
    assert facts.classes is not None and facts.classes[0] == list(reversed(CLASSES))


def test_license_in_yaml_front_matter(pkg_copy: Path) -> None:
    ITEM_REMOVALS["MC225"](pkg_copy)
    assert "MC225" in rules_fired(card_report(pkg_copy), area="model-card")
    readme = pkg_copy / README
    readme.write_text("---\nlicense: apache-2.0\ntags:\n  - earth-observation\n---\n" + readme.read_text(encoding="utf-8"), encoding="utf-8")
    assert card_findings(pkg_copy) == []
    facts = card_facts(pkg_copy)
    assert facts.license is not None and facts.license.value == "apache-2.0" and facts.license.line == 2


# -- placeholders ---------------------------------------------------------------------------------
@pytest.mark.parametrize("placeholder", ["TODO", "TBD", "[More Information Needed]"])
def test_placeholder_value_of_an_item_fires_its_rule_at_its_line(pkg_copy: Path, placeholder: str) -> None:
    replace_in(pkg_copy / README, "| Authors | model-check contributors |", f"| Authors | {placeholder} |")
    found = card_findings(pkg_copy)
    assert [f["rule"] for f in found] == ["MC203"]
    assert found[0]["line"] == line_of(pkg_copy / README, f"| Authors | {placeholder} |")
    assert "placeholder" in found[0]["message"]


def test_section_holding_only_a_placeholder_is_not_the_item(pkg_copy: Path) -> None:
    remove_section(pkg_copy / README, "## Intended use")
    append(pkg_copy, "## Intended use\n\nTBD\n")
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["line"]) for f in found] == [("MC208", len(card_lines(pkg_copy / README)))]


def test_empty_item_section_fires_its_rule_at_the_heading(pkg_copy: Path) -> None:
    remove_section(pkg_copy / README, "## Out-of-scope use")
    append(pkg_copy, "## Out-of-scope use\n\n## Acknowledgements\n\nESA.\n")
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["line"]) for f in found] == [("MC209", line_of(pkg_copy / README, "## Out-of-scope use"))]


def test_placeholder_among_real_content_is_a_warning_at_its_line(pkg_copy: Path) -> None:
    replace_in(pkg_copy / README, "- Treating the softmax probabilities as calibrated confidence.",
               "- Treating the softmax probabilities as calibrated confidence.\n- TODO: list more misuses")
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["severity"], f["line"]) for f in found] == [
        ("MC230", "warning", line_of(pkg_copy / README, "- TODO: list more misuses"))]


def test_placeholder_in_any_section_is_flagged(pkg_copy: Path) -> None:
    append(pkg_copy, "## Acknowledgements\n\n[More Information Needed]\n")
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["line"]) for f in found] == [("MC230", len(card_lines(pkg_copy / README)))]


def test_empty_section_anywhere_is_flagged(pkg_copy: Path) -> None:
    append(pkg_copy, "## Acknowledgements\n\n## Funding\n\nESA.\n")
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["line"]) for f in found] == [("MC230", line_of(pkg_copy / README, "## Acknowledgements"))]


def test_placeholder_words_inside_code_blocks_are_not_placeholders(pkg_copy: Path) -> None:
    append(pkg_copy, "## Development\n\n```python\n# TODO: nothing, this is code\n```\n")
    assert card_findings(pkg_copy) == []


GITHUB_ACTIONS_SECTION = """## Continuous integration

The workflow passes the token as `${{ secrets.TOKEN }}` and tests on Python ${{ matrix.python }}.

Python version: ${{ matrix.python }}

```yaml
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
      - run: model-check check . --json r.json
        env:
          GITHUB_TOKEN: ${{ secrets.TOKEN }}
          ENABLED: ${{ github.event_name == 'push' && 'yes' || 'no' }}
```
"""


def test_github_actions_expressions_are_not_placeholders(pkg_copy: Path) -> None:
    """`${{ … }}` in prose, a field value and a workflow snippet is a GitHub Actions expression."""
    append(pkg_copy, GITHUB_ACTIONS_SECTION)
    assert card_findings(pkg_copy) == []


@pytest.mark.parametrize("slot", ["{insert_dataset_doi_here}", "{{ model_name }}"])
def test_real_slots_beside_github_actions_expressions_are_still_found(pkg_copy: Path, slot: str) -> None:
    append(pkg_copy, GITHUB_ACTIONS_SECTION + f"\n## Data\n\nTrained on {slot} with ${{{{ matrix.python }}}}.\n")
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["line"]) for f in found] == [("MC230", len(card_lines(pkg_copy / README)))]
    assert slot in found[0]["message"]


# -- README that cannot be read (MC200) -----------------------------------------------------------
@pytest.mark.parametrize(("content", "reason"), [
    ("Mod\u00e8le".encode("latin-1") + b"\n", "not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
])
def test_readme_that_is_not_text_is_mc200(pkg_copy: Path, content: bytes, reason: str) -> None:
    (pkg_copy / README).write_bytes(content)
    found = card_findings(pkg_copy)
    assert [(f["rule"], f["file"]) for f in found] == [("MC200", README)]
    assert reason in found[0]["message"]


def test_huge_readme_is_mc200_not_parsed(pkg_copy: Path) -> None:
    readme = pkg_copy / README
    with readme.open("wb") as handle:  # 50 MB of valid Markdown
        line = b"- a line of a very long model card\n"
        handle.write(line * (50 * 1024 * 1024 // len(line)))
    found = card_findings(pkg_copy)
    assert [f["rule"] for f in found] == ["MC200"]
    assert "bytes" in found[0]["message"]


def test_readme_with_bom_is_read(pkg_copy: Path) -> None:
    readme = pkg_copy / README
    readme.write_bytes(b"\xef\xbb\xbf" + readme.read_bytes())
    assert card_findings(pkg_copy) == []


def test_no_readme_skips_the_card_check_with_a_reason(pkg_copy: Path) -> None:
    (pkg_copy / README).unlink()
    report = run_static(pkg_copy)
    assert findings(report, area="model-card") == []
    record = next(c for c in report["checks"] if c["area"] == "model-card")
    assert record["status"] == "skipped" and "MC101" in record["reason"]


def test_a_hugging_face_style_card_is_read_as_authors_write_it() -> None:
    """Front matter, several `**Key:** value` fields on one line, a channel table whose names are
    expressions, a numbered class list under a lead-in sentence, prose for the assumptions."""
    from validator.readers.card import CARD_ITEMS, read_card
    from validator.readers.markdown import parse_markdown

    path = Path(__file__).parent / "fixtures" / "cards" / "hf_style.md"
    facts = read_card(parse_markdown(path.read_text(encoding="utf-8"), "README.md"))
    missing = [item.key for item in CARD_ITEMS if item.key not in facts.found]
    assert missing == []
    assert facts.version is not None and facts.version.value == "0.1.0"
    assert facts.found["authors"].value.startswith("Jane Doe")
    assert facts.found["project"].value == "EarthCODE cloud regimes"
    assert facts.channels is not None and facts.channels[0] == ["BT15 - BT14", "BT14 - BT11", "BT14", "COD"]
    assert facts.classes is not None and facts.classes[0][0] == "Solid stratus" and len(facts.classes[0]) == 6
    assert facts.license is not None and facts.license.value == "apache-2.0"
    assert facts.inference_command is not None and facts.inference_command.value == "python inference.py"


def test_list_items_keep_expressions_and_drop_descriptions() -> None:
    from validator.readers.card import _strip_item

    assert _strip_item("1. BT15 - BT14 (K)") == "BT15 - BT14"
    assert _strip_item("**BT14** - brightness temperature at 11.2 µm") == "BT14"
    assert _strip_item("BT15 - BT14 - brightness temperature difference") == "BT15 - BT14"
    assert _strip_item("`COD` cloud optical depth") == "COD"
    assert _strip_item("0: Solid stratus") == "Solid stratus"


# -- files the card's commands need ---------------------------------------------------------------
def test_after_an_unpacked_archive_files_of_the_package_are_still_checked(pkg_copy: Path) -> None:
    """Only folders the archive made are exempt: `python train.py` at the root is still the package's."""
    append(pkg_copy, "## Training\n\n```bash\ntar -xf data.tar.gz\n./data/prepare.sh\npython train.py\n```\n")
    found = [f for f in card_findings(pkg_copy) if f["rule"] == "MC231"]
    assert [f["line"] for f in found] == [line_of(pkg_copy / README, "python train.py")]


def test_commands_naming_files_the_package_lacks_are_warnings_at_their_line(pkg_copy: Path) -> None:
    append(pkg_copy, "## Training\n\n```bash\npip install -r requirements-train.txt\n$ python train.py --epochs 3\n"
                     "python inference.py\n```\n")
    found = [f for f in card_findings(pkg_copy) if f["rule"] == "MC231"]
    readme = pkg_copy / README
    assert [(f["line"], f["severity"]) for f in found] == [
        (line_of(readme, "pip install -r requirements-train.txt"), "warning"), (line_of(readme, "$ python train.py"), "warning")]
    assert "requirements-train.txt" in found[0]["message"] and "train.py" in found[1]["message"]


@pytest.mark.parametrize("block", [
    "```python\nimport train\ntrain.main('data.csv')\n```",  # Python code, not a shell command
    "```bash\ngit clone https://example.org/org/model.git && cd model\npip install -r requirements.txt\n```",
    "```bash\nwget https://example.org/setup.sh && bash setup.sh\n```",  # downloaded by the block itself
    # an archive the block unpacks: its folder is not the package's
    "```bash\ncurl -O https://example.org/sdk-1.0-linux.tar.gz\ntar -xf sdk-1.0-linux.tar.gz\n./sdk/install.sh\n```",
    "```bash\npython -m venv .venv && source .venv/bin/activate\npython -m pip install -r requirements.txt\n```",
    "```bash\npython inference.py --input $DATA/scene.tif --out /tmp/out.tif\n```",
    "```sh\npython ${SCRIPT}\npython <your_script>.py\n```",
])
def test_commands_whose_files_exist_or_cannot_be_judged_pass(pkg_copy: Path, block: str) -> None:
    append(pkg_copy, f"## Usage\n\n{block}\n")
    assert [f for f in card_findings(pkg_copy) if f["rule"] == "MC231"] == []


# -- the example each missing-item finding shows (validator.readers.card.CARD_EXAMPLES) ---------
def test_every_card_item_has_one_example_and_its_rule_finds_it() -> None:
    assert set(CARD_EXAMPLES) == {item.key for item in CARD_ITEMS}
    for item in CARD_ITEMS:
        assert card_example(item.rule_id) == CARD_EXAMPLES[item.key]
        assert "\n" not in CARD_EXAMPLES[item.key] and len(CARD_EXAMPLES[item.key]) <= 100
    assert card_example("MC101") is None and card_example("MC230") is None


@pytest.mark.parametrize("item", CARD_ITEMS, ids=lambda item: item.rule_id)
def test_each_card_example_pasted_alone_is_read_as_its_item(item: CardItem) -> None:
    """A user who pastes the example the report shows gets the finding fixed: the card reader finds the item,
    with its value (no placeholder)."""
    facts = read_card(parse_markdown(f"# A model\n\n{CARD_EXAMPLES[item.key]}\n", README))
    assert item.key in facts.found, CARD_EXAMPLES[item.key]
    assert not facts.placeholders
    value = CARD_EXAMPLES[item.key].split(": ", 1)[1]
    assert facts.found[item.key].value == value
