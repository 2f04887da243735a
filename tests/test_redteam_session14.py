"""Red-team reproductions against the surfaces added in session 14 (attest/sign/verify, publish --workflow/
--experiment, native non-PyTorch artefacts, the output contract, CWL application packages), each through the
real CLI on a crafted package. Each test failed (a traceback, a hang, a write outside the package, or a pass)
on the code before its fix; the fix is named in the test's docstring."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from validator.cli.main import main

BASE = Path(__file__).resolve().parent / "rules" / "base"


@pytest.fixture(scope="module")
def attested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rule examples' base package, attested once (static check)."""
    root = tmp_path_factory.mktemp("redteam14") / "pkg"
    shutil.copytree(BASE, root)
    assert main(["attest", str(root), "--env", "none", "--quiet"]) == 0
    return root


@pytest.fixture()
def pkg(attested: Path, tmp_path: Path) -> Path:
    target = tmp_path / "downloaded"
    shutil.copytree(attested, target, symlinks=True)
    return target


def _verify(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = root.parent / "verify.json"
    code = main(["verify", str(root), "--json", str(out), "--quiet", *args])
    return code, json.loads(out.read_text(encoding="utf-8"))


def _rules(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    return sorted((f["rule"], f["file"]) for f in report["findings"])


# -- attest / sign / verify ------------------------------------------------------------------------------

@pytest.mark.no_report_check  # conftest's report validation would hit the same RecursionError
@pytest.mark.parametrize("text", ["[" * 200_000 + "]" * 200_000,  # RecursionError in json
                                  '{"_type": "https://in-toto.io/Statement/v1", "_type": "x"}'],  # duplicate key
                         ids=["nested", "duplicate-key"])
def test_a_hostile_attestation_is_a_finding_not_a_traceback(pkg: Path, text: str) -> None:
    """attestation.read: strict JSON (nesting, duplicate keys); it raised RecursionError (exit 2) before."""
    (pkg / "validation.intoto.json").write_text(text, encoding="utf-8")
    code, report = _verify(pkg)
    assert code == 1 and _rules(report) == [("MC891", "validation.intoto.json")]


def test_an_attestation_with_escaping_or_too_many_subjects_is_refused(pkg: Path) -> None:
    """attestation.read: subjects are package-relative paths, at most MAX_FILES of them (a 30 MB forged
    attestation of 250,000 `../` subjects took 14 s and gave 250,000 findings)."""
    path = pkg / "validation.intoto.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["subject"].append({"name": "../../etc/passwd", "digest": {"sha256": "0" * 64}})
    path.write_text(json.dumps(data), encoding="utf-8")
    code, report = _verify(pkg)
    assert code == 1 and _rules(report) == [("MC891", "validation.intoto.json")]
    assert "not a relative path inside the package" in report["findings"][0]["message"]
    data["subject"] = [{"name": f"f{i}", "digest": {"sha256": "0" * 64}} for i in range(20_001)]
    path.write_text(json.dumps(data), encoding="utf-8")
    code, report = _verify(pkg)
    assert code == 1 and "more than 20,000 subjects" in report["findings"][0]["message"]


def test_an_attestation_symlink_is_never_followed(pkg: Path, tmp_path: Path) -> None:
    """attestation.read refuses a link (it read a file outside the package); a link loop at the attestation's
    or the signature's name was an internal error (RuntimeError in Path.resolve) in verify, attest and sign."""
    outside = tmp_path / "elsewhere.json"
    shutil.copy(pkg / "validation.intoto.json", outside)
    (pkg / "validation.intoto.json").unlink()
    (pkg / "validation.intoto.json").symlink_to(outside)
    code, report = _verify(pkg)
    assert code == 1 and "symlink" in report["findings"][0]["message"]
    (pkg / "validation.intoto.json").unlink()
    (pkg / "validation.intoto.json").symlink_to("validation.intoto.json")  # a loop
    code, report = _verify(pkg)
    assert code == 1 and [r for r, _ in _rules(report)] == ["MC890"]
    (pkg / "model.sig").symlink_to("model.sig")
    code, _ = _verify(pkg)
    assert code == 1


def test_attest_never_writes_through_a_planted_link_or_fifo(pkg: Path, tmp_path: Path) -> None:
    """cli/attest.replace_file: the attestation wrote through `validation.intoto.json -> ../outside` (a file
    outside the package overwritten) and hung forever on a FIFO planted at that name."""
    outside = tmp_path / "precious.txt"
    outside.write_text("precious", encoding="utf-8")
    (pkg / "validation.intoto.json").unlink()
    (pkg / "validation.intoto.json").symlink_to(outside)
    assert main(["attest", str(pkg), "--env", "none", "--quiet"]) == 1  # the check reports the link
    assert outside.read_text(encoding="utf-8") == "precious"
    assert not (pkg / "validation.intoto.json").is_symlink()
    (pkg / "validation.intoto.json").unlink()
    os.mkfifo(pkg / "validation.intoto.json")
    assert main(["attest", str(pkg), "--env", "none", "--quiet"]) == 1
    assert (pkg / "validation.intoto.json").is_file()
    assert not list(pkg.glob(".validation.intoto.json.*"))


def test_sign_refuses_a_fifo_or_link_at_the_signature_name(pkg: Path, tmp_path: Path) -> None:
    """signing.sign_package: a FIFO at model.sig was reported as a bad key (exit 2), a link loop as an
    internal error."""
    from signing_fixtures import key_pair

    keys = key_pair(tmp_path / "keys", "k")
    os.mkfifo(pkg / "model.sig")
    assert main(["sign", str(pkg), "--key", str(keys.private)]) == 1
    (pkg / "model.sig").unlink()
    (pkg / "model.sig").symlink_to("model.sig")
    assert main(["sign", str(pkg), "--key", str(keys.private)]) == 1


def test_sign_refuses_a_tree_deeper_than_it_walks(pkg: Path, tmp_path: Path) -> None:
    """signing.covered_files: a package 1,500 folders deep made model-signing's recursive walk raise
    RecursionError, reported as a bad key (exit 2)."""
    from signing_fixtures import key_pair

    keys = key_pair(tmp_path / "keys", "k")
    deep = pkg / "/".join(["d"] * 250)
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x", encoding="utf-8")
    assert main(["sign", str(pkg), "--key", str(keys.private)]) == 1


@pytest.mark.no_report_check
def test_a_nested_signature_bundle_is_a_finding(pkg: Path, tmp_path: Path) -> None:
    """signing.read_bundle: RecursionError (exit 2) for a deeply nested bundle or DSSE payload."""
    from signing_fixtures import key_pair

    keys = key_pair(tmp_path / "keys", "k")
    (pkg / "model.sig").write_text('{"a":' * 200_000 + "1" + "}" * 200_000, encoding="utf-8")
    code, report = _verify(pkg, "--key", str(keys.public))
    assert code == 1 and ("MC882", "model.sig") in _rules(report)
    payload = base64.b64encode(b"[" * 200_000).decode()
    (pkg / "model.sig").write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                                               "dsseEnvelope": {"payload": payload}}), encoding="utf-8")
    code, report = _verify(pkg, "--key", str(keys.public))
    assert code == 1 and ("MC882", "model.sig") in _rules(report)


def test_bytecode_dropped_in_pycache_after_attesting_fails_verify(pkg: Path) -> None:
    """verification.unread_findings: files in __pycache__/, .venv/, node_modules/… were neither attested nor
    seen by verify, which passed; Python loads an unchecked-hash .pyc from __pycache__ whatever the source says."""
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "inference.cpython-311.pyc").write_bytes(b"\xa7\r\r\n\x03\x00\x00\x00evil")
    (pkg / "sub" / ".venv" / "bin").mkdir(parents=True)
    (pkg / "sub" / ".venv" / "bin" / "python").write_text("evil", encoding="utf-8")
    (pkg / ".git").mkdir()
    (pkg / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")  # VCS: not flagged
    code, report = _verify(pkg)
    assert code == 1 and _rules(report) == [("MC893", "__pycache__"), ("MC893", "sub/.venv")]


def test_file_names_with_c1_controls_are_stripped_in_logs() -> None:
    """core/escape: C1 controls (U+009B is an 8-bit CSI some terminals obey) reached the terminal report."""
    from validator.core.escape import log_line, markdown_code

    assert log_line("a\x9b2Jb\x1b[31m") == "a2Jb[31m"
    assert "\x9b" not in markdown_code("x\x9by")


# -- publish --workflow / --experiment: git metadata read as files ---------------------------------------

def test_a_git_file_pointing_outside_a_repository_is_not_followed(tmp_path: Path) -> None:
    """vcs._in_git_dir: a package's `.git` file saying `gitdir: <any folder>` made model-check read that
    folder's HEAD/config/refs (and publish the commit it found); a real worktree (`.git/worktrees/<name>`)
    is still read."""
    import subprocess

    from validator.publish.vcs import read_git

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "refs" / "tags").mkdir(parents=True)
    (elsewhere / "HEAD").write_text("f" * 40 + "\n", encoding="utf-8")
    (elsewhere / "config").write_text('[remote "origin"]\n\turl = https://github.com/victim/private\n', encoding="utf-8")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / ".git").write_text(f"gitdir: {elsewhere}\n", encoding="utf-8")
    assert read_git(pkg) == {}
    (pkg / ".git").write_text("gitdir: .\n", encoding="utf-8")
    (pkg / "HEAD").write_text("f" * 40 + "\n", encoding="utf-8")
    assert read_git(pkg) == {}
    (pkg / ".git").unlink()
    (pkg / ".git").mkdir()
    (pkg / ".git" / "HEAD").symlink_to(elsewhere / "HEAD")  # a link out of the package's own .git
    assert read_git(pkg) == {}
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q",
                 "--allow-empty", "-m", "x"], ["worktree", "add", "-q", str(tmp_path / "wt")]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    assert len(read_git(tmp_path / "wt")["commit"].value) == 40


@pytest.mark.parametrize("url", ['https://github.com/o/r"><script>alert(1)</script>', "https://github.com/o/r%0a::error::x",
                                 "https://github.com/ghp_abcdefghijklmnopqrstuvwxyz0123456789/r",
                                 "https://github.com/o/r/../../x"])
def test_a_remote_url_with_markup_a_token_or_dot_segments_is_not_published(url: str) -> None:
    """vcs.public_url dropped only the user and password: markup, %-escapes, a token in the path and `..`
    segments of .git/config's URL reached the published records."""
    from validator.publish.vcs import public_url

    assert public_url(url) is None


def test_a_model_id_cannot_write_outside_the_publish_folder(tmp_path: Path) -> None:
    """item._item_id: safetensors metadata `model_id: ../../../x` named the item's files, so `publish` wrote
    `<out>/../../../x.json` and `x.provenance.json` outside --out."""
    import struct

    pkg = tmp_path / "pkg"
    shutil.copytree(BASE, pkg)
    weights = pkg / "model.safetensors"
    data = weights.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    header["__metadata__"]["model_id"] = "../../../escaped"
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    weights.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size:])
    out = tmp_path / "a" / "b" / "c"
    code = main(["publish", str(pkg), "--base-url", "https://example.org/m", "--out", str(out), "--env", "none",
                 "--allow-failing", "--quiet"])
    assert code != 0
    assert not list(tmp_path.rglob("escaped*"))


# -- non-PyTorch native artefacts ----------------------------------------------------------------------

def _keras(path: Path, config: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")


def test_a_keras_config_too_large_to_read_fails_closed(tmp_path: Path) -> None:
    """layout._keras_lambdas: a config.json model-check could not read (over 16 MB, a zip bomb) gave no
    finding, so padding hid a Lambda layer's bytecode from MC430."""
    pkg = tmp_path / "pkg"
    shutil.copytree(BASE, pkg)
    _keras(pkg / "model.keras", b" " * (17 * 1024 * 1024) + b'{"class_name": "__lambda__"}')
    out = tmp_path / "report.json"
    assert main(["check", str(pkg), "--env", "none", "--json", str(out), "--quiet"]) == 1
    found = [f for f in json.loads(out.read_text(encoding="utf-8"))["findings"] if f["rule"] == "MC430"]
    assert found and "cannot rule out" in found[0]["message"]


def test_padding_cannot_hide_a_lambda_and_many_lambdas_are_linear() -> None:
    """keras_config._lambdas: 250,000 empty objects after a lambda layer hid it (the walk stopped at its
    bound and said nothing); 25,000 lambda layers took 6 s (a list membership test per layer)."""
    import time

    from validator.readers.keras_config import _lambdas

    lam: dict[str, Any] = {"class_name": "Lambda",
                           "config": {"name": "evil", "function": {"class_name": "__lambda__", "config": {}}}}
    found, complete = _lambdas({"config": {"layers": [lam] + [{} for _ in range(250_000)]}})
    assert not complete
    started = time.monotonic()
    found, complete = _lambdas({"config": {"layers": [{**lam, "config": {**lam["config"], "name": f"l{i}"}}
                                                      for i in range(25_000)]}})
    assert complete and len(found) == 25_000 and time.monotonic() - started < 3


def test_untrusted_skops_type_names_are_bounded_in_findings() -> None:
    """parity_frameworks.outcome: the type names a skops file's schema lists (package text, from the probe)
    reached the finding whole (one name of 1 MB)."""
    from validator.checks import parity_frameworks
    from validator.readers.package import ModelPackage

    artefact = parity_frameworks.Artefact("model.skops", "scikit-learn (skops)", "sklearn", ("scikit-learn", "skops"), "skops")
    pkg = ModelPackage(BASE)
    try:
        findings = parity_frameworks.outcome(artefact, {"status": "untrusted", "framework": "sklearn", "sets": [],
                                                        "untrusted": ["sklearn." + "a" * 1_000_000]}, pkg)
        findings += parity_frameworks.outcome(artefact, {"status": "unavailable", "framework": "sklearn", "sets": [],
                                                         "reason": "x" * 1_000_000}, pkg)
    finally:
        pkg.close()
    assert len(findings) == 2 and all(len(f.message) < 2000 for f in findings)


# -- the output contract ---------------------------------------------------------------------------------

def test_hostile_output_contract_values_are_bounded() -> None:
    """output_contract: `Value range: <20,000 digits>` took 24 s (quadratic backtracking) and 40,000 took
    two minutes; a value_range bound of 10**400 crashed float(); `-1 to 1` was read as "none stated" (_NONE
    matched the minus sign), so a stated range was never checked."""
    import time

    from validator.readers.output_contract import _config_output, parse_nodata, parse_range

    started = time.monotonic()
    assert parse_range("1" * 40_000) is None and parse_range("1." + "1" * 40_000) is None
    assert parse_nodata("1" * 40_000) is not None
    assert time.monotonic() - started < 1
    assert parse_range("-1 to 1") == (-1.0, 1.0) and parse_range("-10.5..3") == (-10.5, 3.0)
    assert parse_range("-") is None and parse_range("none") is None
    spec = _config_output({"name": "x", "value_range": [0, 10**400]}, "config.json")
    assert spec is not None and spec.value_range is None


@pytest.mark.no_report_check
def test_a_json_file_with_a_huge_integer_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """json_strict.parse_json_strict: an integer of 5,000 digits raised ValueError (int conversion limit),
    so three checks crashed (MC001)."""
    pkg = tmp_path / "pkg"
    shutil.copytree(BASE, pkg)
    (pkg / "config.json").write_text('{"a": ' + "1" * 5000 + "}", encoding="utf-8")
    out = tmp_path / "report.json"
    main(["check", str(pkg), "--env", "none", "--json", str(out), "--quiet"])
    assert "MC001" not in {f["rule"] for f in json.loads(out.read_text(encoding="utf-8"))["findings"]}


# -- CWL application packages ----------------------------------------------------------------------------

def _cwl_findings(tmp_path: Path, document: str, extra: dict[str, str]) -> list[dict[str, Any]]:
    pkg = tmp_path / "pkg"
    shutil.copytree(BASE, pkg)
    (pkg / "app.cwl").write_text(document, encoding="utf-8")
    for name, text in extra.items():
        (pkg / name).write_text(text, encoding="utf-8")
    out = tmp_path / "report.json"
    main(["check", str(pkg), "--env", "none", "--json", str(out), "--quiet"])
    return [f for f in json.loads(out.read_text(encoding="utf-8"))["findings"] if f["rule"] == "MC365"]


def test_a_percent_encoded_reference_cannot_leave_the_package(tmp_path: Path) -> None:
    """cwl.reference_problem: `$include: ..%2f..%2fetc%2fhostname` with a decoy file of that literal name in the
    package passed MC365, and schema-salad percent-decodes the path: cwltool included /etc/hostname."""
    document = ("cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs:\n  x:\n    type: string\n"
                '    default: {$include: "..%2f..%2f..%2f..%2fetc%2fhostname"}\noutputs: []\n')
    found = _cwl_findings(tmp_path, document, {"..%2f..%2f..%2f..%2fetc%2fhostname": "decoy"})
    assert found and "out of the package" in found[0]["message"]


def test_a_step_without_in_still_has_its_run_checked(tmp_path: Path) -> None:
    """cwl.references: `run` was checked only in a mapping that also had `in`; a step leaving `in` out (it is
    optional in CWL v1.2) named any file."""
    document = ("cwlVersion: v1.2\nclass: Workflow\ninputs: {}\noutputs: {}\nsteps:\n  s:\n"
                "    run: ../../../../tmp/evil.cwl\n    out: []\n")
    found = _cwl_findings(tmp_path, document, {})
    assert [f["line"] for f in found] == [7]


def test_a_huge_osc_record_is_not_validated_for_minutes() -> None:
    """osc_records.problems: a 3 MB workflow record of 300,000 links took 76 s of schema validation (every
    error was collected, then sorted)."""
    import time

    from validator.readers.osc_records import problems

    started = time.monotonic()
    found = problems({"type": "Feature", "properties": {"type": "workflow"}, "links": [{"rel": 1}] * 300_000}, "workflow")
    assert len(found) == 1 and "does not validate it" in found[0][1] and time.monotonic() - started < 2
