"""Area license (MC801-MC812): a license is stated, as valid SPDX, the same everywhere (card,
safetensors metadata, LICENSE text, CITATION.cff), and citation guidance exists (valid CFF 1.2.0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import (
    copy_example,
    findings,
    line_of,
    remove_section,
    replace_in,
    run_static,
)
from safetensors import safe_open
from safetensors.numpy import save_file

from validator.checks.license import LicenseCheck
from validator.core.findings import Finding
from validator.core.options import Options
from validator.readers.license import parse_spdx
from validator.readers.license_text import identify
from validator.readers.package import ModelPackage

MIT_TEXT = """MIT License

Copyright (c) 2026 Example

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction.

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.
"""
CARD_LICENSE = "| License | Apache-2.0 |"


@pytest.fixture()
def pkg(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "pkg")


def run_license(root: Path) -> tuple[list[Finding], dict[str, Any]]:
    """The license check's findings, and the license statements it judged ({"spdx": agreed, "sources": [...]})."""
    package = ModelPackage(root)
    try:
        found = list(LicenseCheck().run(package, Options(env="none")))
        stated = package.license
    finally:
        package.close()
    return found, {"spdx": stated.agreed, "sources": [s.to_dict() for s in stated.statements]}


def rules(found: list[Finding]) -> list[str]:
    return sorted(f.rule for f in found)


def set_metadata_license(root: Path, value: str | None) -> None:
    """Rewrite model.safetensors with the same tensors and its metadata `license` changed or removed."""
    path = root / "model.safetensors"
    with safe_open(str(path), "np") as handle:
        metadata = dict(handle.metadata() or {})
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    metadata.pop("license", None)
    if value is not None:
        metadata["license"] = value
    save_file(tensors, str(path), metadata=metadata)


def drop_license_everywhere(root: Path) -> None:
    (root / "LICENSE").unlink()
    replace_in(root / "README.md", CARD_LICENSE, "| Licence terms | to be decided |")
    replace_in(root / "README.md", "| License | Apache-2.0 (see `LICENSE`) |", "| Terms | none yet |")
    replace_in(root / "CITATION.cff", "license: Apache-2.0\n", "")
    set_metadata_license(root, None)


# -- the example ---------------------------------------------------------------------------------
def test_example_states_one_valid_license_and_citation(pkg: Path) -> None:
    report = run_static(pkg, only=["license"])
    assert findings(report, area="license") == []
    found, results = run_license(pkg)
    assert found == []
    assert results["spdx"] == "Apache-2.0"
    sources = {s["source"]: s for s in results["sources"]}
    assert set(sources) == {"model card", "safetensors metadata", "CITATION.cff", "LICENSE file"}
    assert sources["model card"]["line"] == line_of(pkg / "README.md", CARD_LICENSE)
    assert sources["CITATION.cff"]["line"] == line_of(pkg / "CITATION.cff", "license:")
    assert all(s["spdx"] == "Apache-2.0" for s in sources.values())


# -- presence ------------------------------------------------------------------------------------
def test_no_license_anywhere_is_an_error(pkg: Path) -> None:
    drop_license_everywhere(pkg)
    report = run_static(pkg, only=["license"])
    assert [f["rule"] for f in findings(report, area="license")] == ["MC801"]
    assert run_license(pkg)[1] == {"spdx": None, "sources": []}


def test_license_named_without_its_text_is_a_warning(pkg: Path) -> None:
    (pkg / "LICENSE").unlink()
    found, results = run_license(pkg)
    [warning] = found
    assert warning.rule == "MC806" and warning.file == "README.md"
    assert results["spdx"] == "Apache-2.0"


@pytest.mark.parametrize("name", ["LICENSE.md", "COPYING", "license.txt"])
def test_license_file_under_other_names(pkg: Path, name: str) -> None:
    (pkg / "LICENSE").rename(pkg / name)
    found, results = run_license(pkg)
    assert found == []
    assert any(s["file"] == name and s["spdx"] == "Apache-2.0" for s in results["sources"])


def test_code_named_license_is_not_a_license_text(pkg: Path) -> None:
    (pkg / "LICENSE").unlink()
    (pkg / "license.py").write_text("SPDX = 'Apache-2.0'\n", encoding="utf-8")
    found, _ = run_license(pkg)
    assert rules(found) == ["MC806"]


def test_empty_license_file_is_an_error(pkg: Path) -> None:
    (pkg / "LICENSE").write_text("\n", encoding="utf-8")
    found, _ = run_license(pkg)
    assert rules(found) == ["MC807"]


def test_unrecognised_license_text_is_reported_not_compared(pkg: Path) -> None:
    (pkg / "LICENSE").write_text("You may use these weights for research, if you ask us first.\n", encoding="utf-8")
    found, _ = run_license(pkg)
    assert rules(found) == ["MC808"] and found[0].severity.value == "info"


# -- SPDX validity -------------------------------------------------------------------------------
def test_invalid_spdx_in_citation_cff_is_one_error_with_its_line(pkg: Path) -> None:
    replace_in(pkg / "CITATION.cff", "license: Apache-2.0", "license: Apache-2")
    found, _ = run_license(pkg)
    [error] = found  # the schema's own license enum error is not repeated
    assert error.rule == "MC802" and error.file == "CITATION.cff"
    assert error.line == line_of(pkg / "CITATION.cff", "license:") and "'Apache-2'" in error.message


def test_invalid_spdx_in_safetensors_metadata(pkg: Path) -> None:
    set_metadata_license(pkg, "Apache 2")
    found, _ = run_license(pkg)
    [error] = found
    assert error.rule == "MC802" and error.file == "model.safetensors"


def test_prose_license_in_card_is_a_warning_with_the_spdx_id(pkg: Path) -> None:
    replace_in(pkg / "README.md", CARD_LICENSE, "| License | Apache License, version 2.0 |")
    found, _ = run_license(pkg)
    [warning] = found
    assert warning.rule == "MC803" and "write Apache-2.0" in warning.message
    assert warning.line == line_of(pkg / "README.md", "Apache License, version 2.0")


def test_deprecated_spdx_id_is_an_info(pkg: Path) -> None:
    replace_in(pkg / "CITATION.cff", "license: Apache-2.0", "license: GPL-2.0")
    found, _ = run_license(pkg)
    deprecated = [f for f in found if f.rule == "MC805"]
    assert deprecated and "GPL-2.0-only" in deprecated[0].message


@pytest.mark.parametrize("text,expected", [
    ("Apache-2.0", "Apache-2.0"), ("mit", "MIT"), ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
    ("LicenseRef-ESA-Community", "LicenseRef-ESA-Community"), ("GPL-3.0-or-later", "GPL-3.0-or-later"),
])
def test_valid_spdx_expressions(text: str, expected: str) -> None:
    assert parse_spdx(text).spdx == expected


@pytest.mark.parametrize("text", ["Apache 2", "BSD", "proprietary", "MIT AND", ""])
def test_invalid_spdx_expressions(text: str) -> None:
    parsed = parse_spdx(text)
    assert parsed.spdx is None and parsed.problem


# -- agreement -----------------------------------------------------------------------------------
def test_card_and_citation_disagree_error_cites_both(pkg: Path) -> None:
    replace_in(pkg / "CITATION.cff", "license: Apache-2.0", "license: MIT")
    report = run_static(pkg, only=["license"])
    errors = findings(report, rule="MC804")
    cff_line = line_of(pkg / "CITATION.cff", "license:")
    readme_line = line_of(pkg / "README.md", CARD_LICENSE)
    [vs_card] = [e for e in errors if e["file"] == "CITATION.cff"]
    assert vs_card["line"] == cff_line and f"README.md:{readme_line}" in vs_card["message"]
    assert "'MIT'" in vs_card["message"] and "'Apache-2.0'" in vs_card["message"]
    assert run_license(pkg)[1]["spdx"] is None


def test_license_text_disagrees_with_declared_license(pkg: Path) -> None:
    (pkg / "LICENSE").write_text(MIT_TEXT, encoding="utf-8")
    found, _ = run_license(pkg)
    errors = [f for f in found if f.rule == "MC804"]
    assert len(errors) == 1 and errors[0].file == "LICENSE"
    assert "looks like the MIT License" in errors[0].message and "Apache-2.0" in errors[0].message


def test_metadata_disagrees_with_card(pkg: Path) -> None:
    set_metadata_license(pkg, "CC-BY-4.0")
    found, _ = run_license(pkg)
    assert rules(found) == ["MC804", "MC804"]
    by_file = {f.file: f.message for f in found}
    assert "README.md:" in by_file["model.safetensors"] and "'CC-BY-4.0'" in by_file["model.safetensors"]
    assert "looks like the Apache License 2.0" in by_file["LICENSE"] and "CC-BY-4.0" in by_file["LICENSE"]


def test_same_license_in_other_spelling_agrees(pkg: Path) -> None:
    replace_in(pkg / "README.md", CARD_LICENSE, "| License | [apache-2.0](https://spdx.org/licenses/Apache-2.0) |")
    set_metadata_license(pkg, "(Apache-2.0)")
    found, results = run_license(pkg)
    assert found == [] and results["spdx"] == "Apache-2.0"


def test_citation_cff_license_ids_are_case_sensitive(pkg: Path) -> None:
    replace_in(pkg / "CITATION.cff", "license: Apache-2.0", "license: apache-2.0")
    found, _ = run_license(pkg)
    [error] = found  # valid SPDX (ids are case-insensitive), but CFF 1.2.0 lists the exact spelling
    assert error.rule == "MC812" and error.line == line_of(pkg / "CITATION.cff", "license:")


def test_dual_license_with_a_file_per_license(pkg: Path) -> None:
    replace_in(pkg / "README.md", CARD_LICENSE, "| License | MIT OR Apache-2.0 |")
    replace_in(pkg / "CITATION.cff", "license: Apache-2.0", "license:\n  - MIT\n  - Apache-2.0")
    set_metadata_license(pkg, "Apache-2.0 OR MIT")
    (pkg / "LICENSE").rename(pkg / "LICENSE-APACHE")
    (pkg / "LICENSE-MIT").write_text(MIT_TEXT, encoding="utf-8")
    found, results = run_license(pkg)
    assert found == []
    assert results["spdx"] == "MIT OR Apache-2.0"


@pytest.mark.parametrize("text,ids", [
    (MIT_TEXT, {"MIT"}),
    ("GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n", {"GPL-3.0-only", "GPL-3.0-or-later", "GPL-3.0"}),
    ("GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3 ... the GNU General Public License", {"LGPL-3.0-only",
                                                                                         "LGPL-3.0-or-later", "LGPL-3.0"}),
    ("Attribution 4.0 International\n\nCreative Commons Corporation", {"CC-BY-4.0"}),
])
def test_license_texts_are_recognised_by_title(text: str, ids: set[str]) -> None:
    guess = identify(text)
    assert guess is not None and set(guess.ids) == ids


# -- citation ------------------------------------------------------------------------------------
def test_citation_section_alone_is_enough(pkg: Path) -> None:
    (pkg / "CITATION.cff").unlink()
    found, _ = run_license(pkg)
    assert found == []


def test_no_citation_guidance_is_an_error(pkg: Path) -> None:
    (pkg / "CITATION.cff").unlink()
    remove_section(pkg / "README.md", "## Citation")
    found, _ = run_license(pkg)
    assert rules(found) == ["MC811"]


def test_citation_cff_with_wrong_types_and_missing_keys(pkg: Path) -> None:
    cff = pkg / "CITATION.cff"
    replace_in(cff, 'title: "GOES Cloud-Regime Classifier (demonstration package)"',
               'title:\n  - "GOES"\n  - "classifier"')
    replace_in(cff, "authors:\n  - name: \"model-check contributors\"\n    email: model-check-demo@example.org",
               "authors: model-check contributors")
    lines = cff.read_text(encoding="utf-8").splitlines()
    cff.write_text("\n".join(line for line in lines if not line.startswith("message:")) + "\n", encoding="utf-8")
    report = run_static(pkg, only=["license"])
    errors = findings(report, rule="MC812")
    by_message = {e["message"].split(": ")[1]: e for e in errors}
    assert set(by_message) == {"top level", "authors", "title"}
    assert "'message' is a required property" in by_message["top level"]["message"]
    assert by_message["authors"]["line"] == line_of(cff, "authors:")
    assert by_message["title"]["line"] == line_of(cff, "title:") + 1  # the list starts on the next line


def test_unquoted_release_date_is_valid_cff(pkg: Path) -> None:
    replace_in(pkg / "CITATION.cff", 'date-released: "2026-11-24"', "date-released: 2026-11-24")
    found, _ = run_license(pkg)
    assert found == []


def test_citation_cff_that_is_not_yaml(pkg: Path) -> None:
    (pkg / "CITATION.cff").write_text('cff-version: 1.2.0\ntitle: "open\nauthors: [\n', encoding="utf-8")
    found, _ = run_license(pkg)
    [error] = [f for f in found if f.rule == "MC812"]
    assert "not valid YAML" in error.message and error.line is not None
