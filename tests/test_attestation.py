"""`model-check attest` and `model-check verify`: the validation attestation (an in-toto Statement v1) of a
package, checked after the package was copied elsewhere, and every way of tampering with it failing
with a finding that names the file. Static runs (--env none) of the rule examples' base package."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import check_report

from validator.cli.main import main
from validator.core.findings import Area, Artefact, CheckRecord, CheckStatus, Severity
from validator.core.report import Report
from validator.publish import attestation

BASE = Path(__file__).resolve().parent / "rules" / "base"
OTHER = Path(__file__).resolve().parent.parent / "examples" / "goes-cloud-regime"


@pytest.fixture(scope="module")
def attested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base package, checked (static) and attested once for the module, with its report."""
    root = tmp_path_factory.mktemp("attested") / "pkg"
    shutil.copytree(BASE, root)
    report = root.parent / "report.json"
    assert main(["check", str(root), "--env", "none", "--json", str(report), "--quiet"]) == 0
    assert main(["attest", str(root), "--report", str(report), "--predicate", str(root.parent / "predicate.json"),
                 "--subjects", str(root.parent / "subjects.sha256")]) == 0
    return root


def _copy(attested: Path, tmp_path: Path) -> Path:
    target = tmp_path / "downloaded"
    shutil.copytree(attested, target)
    return target


def _verify(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = root.parent / "verify.json"
    code = main(["verify", str(root), "--json", str(out), "--quiet", *args])
    return code, check_report(json.loads(out.read_text(encoding="utf-8")))


def _fired(report: dict[str, Any]) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for finding in report["findings"]:
        found.setdefault(finding["rule"], []).append(finding["file"])
    return found


def test_the_statement_covers_every_file_and_matches_its_schema(attested: Path) -> None:
    data = json.loads((attested / attestation.ATTESTATION_NAME).read_text(encoding="utf-8"))
    attestation.validate(data)
    assert data["_type"] == "https://in-toto.io/Statement/v1"
    assert data["predicateType"] == attestation.PREDICATE_TYPE
    files = sorted(p.relative_to(attested).as_posix() for p in attested.rglob("*")
                   if p.is_file() and p.name != attestation.ATTESTATION_NAME)
    assert [s["name"] for s in data["subject"]] == files
    for subject in data["subject"]:
        assert subject["digest"]["sha256"] == hashlib.sha256((attested / subject["name"]).read_bytes()).hexdigest()
    predicate = data["predicate"]
    assert predicate["verdict"] == "passed" and predicate["validator"]["name"] == "model-check"
    assert predicate["package"] == {"name": "Tiny Scene Classifier", "version": "v1.0.0"}
    assert predicate["environment"] is None and predicate["releaseGate"]["outcome"] == "not-run"
    assert any(s["step"] == "runtime: environment rebuild" for s in predicate["skipped"])  # --env none: said why
    assert {c["name"] for c in predicate["checks"]} >= {"model card", "security scan"}
    assert predicate["unattested"] == sorted({attestation.ATTESTATION_NAME, attestation.SIGNATURE_NAME})
    report_text = (attested.parent / "report.json").read_text(encoding="utf-8")
    assert predicate["report"]["sha256"] == hashlib.sha256(report_text.encode()).hexdigest()
    # what actions/attest takes: the predicate alone, and the subjects as a sha256sum file
    attestation.validate_predicate(json.loads((attested.parent / "predicate.json").read_text(encoding="utf-8")))
    lines = (attested.parent / "subjects.sha256").read_text(encoding="utf-8").splitlines()
    assert lines == [f"{s['digest']['sha256']}  {s['name']}" for s in data["subject"]]


def test_the_in_toto_project_reads_it_as_a_statement_v1(attested: Path) -> None:
    """The in-toto attestation framework's own Python bindings parse and validate the Statement."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    data = json.loads((attested / attestation.ATTESTATION_NAME).read_text(encoding="utf-8"))
    parsed = json_format.ParseDict(data, statement_pb2.Statement())
    Statement.copy_from_pb(parsed).validate()
    assert parsed.predicate_type == attestation.PREDICATE_TYPE and len(parsed.subject) == len(data["subject"])


def test_the_predicate_records_the_environment_parity_and_release_gate() -> None:
    """A run that rebuilt an environment and compared outputs (as the Action's release job does)."""
    report = Report("pkg", "demo", "1.0.0", Severity.ERROR)
    report.checks = [CheckRecord(Area.PARITY, "native vs ONNX parity", CheckStatus.PASSED),
                     CheckRecord(Area.INFERENCE, "inference example", CheckStatus.SKIPPED, "no inference.py"),
                     CheckRecord(Area.PUBLISHING, "release tag gate", CheckStatus.PASSED, "release tag v1.0.0")]
    report.environment = {"kind": "venv", "python": "3.11.9", "cache_key": "abc", "cached": False, "build_s": 3.0,
                          "installed": {"torch": "2.13.0+cpu", "numpy": "2.1.0"}, "torch_backend": "cpu", "notes": []}
    report.parity = {"passed": True, "rtol": 1e-4, "atol": 1e-4, "max_abs_diff": 1e-7, "max_rel_diff": 2e-6,
                     "inputs": [], "outputs": [{"kind": "logits"}, {"kind": "logits"}], "onnx_skipped": "one graph only"}
    files = [Artefact("model.onnx", 3, "0" * 64)]
    predicate = attestation.statement(report, files, {attestation.ATTESTATION_NAME})["predicate"]
    env = predicate["environment"]
    assert env["distributions"] == {"numpy": "2.1.0", "torch": "2.13.0+cpu"}
    assert env["digest"]["sha256"] == hashlib.sha256(b"numpy==2.1.0\ntorch==2.13.0+cpu\n").hexdigest()
    assert predicate["parity"] == {"passed": True, "rtol": 1e-4, "atol": 1e-4, "maxAbsDiff": 1e-7, "maxRelDiff": 2e-6,
                                   "comparisons": 2}
    assert predicate["releaseGate"] == {"outcome": "passed", "reason": "release tag v1.0.0"}
    assert {"step": "inference: inference example", "reason": "no inference.py"} in predicate["skipped"]
    assert {"step": "parity: ONNX run", "reason": "one graph only"} in predicate["skipped"]


def test_a_copied_package_verifies(attested: Path, tmp_path: Path) -> None:
    code, report = _verify(_copy(attested, tmp_path))
    assert code == 0 and report["status"] == "passed" and not report["findings"]
    assert report["package"]["name"] == "Tiny Scene Classifier"
    assert [(c["name"], c["status"]) for c in report["checks"]] == [("attestation", "passed"), ("signature", "skipped")]


def test_a_changed_byte_in_the_weights_fails(attested: Path, tmp_path: Path) -> None:
    root = _copy(attested, tmp_path)
    weights = bytearray((root / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01
    (root / "model.safetensors").write_bytes(bytes(weights))
    code, report = _verify(root)
    assert code == 1 and _fired(report) == {"MC892": ["model.safetensors"]}


def test_an_added_file_fails(attested: Path, tmp_path: Path) -> None:
    root = _copy(attested, tmp_path)
    (root / "test_data" / "extra.pkl").write_bytes(b"\x80\x04N.")
    code, report = _verify(root)
    assert code == 1 and _fired(report) == {"MC893": ["test_data/extra.pkl"]}


def test_an_added_symlink_fails(attested: Path, tmp_path: Path) -> None:
    root = _copy(attested, tmp_path)
    (root / "weights.bin").symlink_to(root / "model.safetensors")
    code, report = _verify(root)
    assert code == 1 and _fired(report) == {"MC893": ["weights.bin"]}
    assert main(["attest", str(root), "--env", "none"]) == 1  # refused: a digest cannot cover a link


def test_a_renamed_file_fails_naming_both_paths(attested: Path, tmp_path: Path) -> None:
    root = _copy(attested, tmp_path)
    (root / "model.onnx").rename(root / "model-v2.onnx")
    code, report = _verify(root)
    assert code == 1 and _fired(report) == {"MC893": ["model-v2.onnx"], "MC894": ["model.onnx"]}
    messages = " ".join(f["message"] for f in report["findings"])
    assert "same content as model.onnx" in messages and "now at model-v2.onnx" in messages


def test_a_swapped_attestation_of_another_package_fails(attested: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(OTHER, other)
    assert main(["attest", str(other), "--env", "none", "--quiet"]) == 0
    root = _copy(attested, tmp_path)
    shutil.copyfile(other / attestation.ATTESTATION_NAME, root / attestation.ATTESTATION_NAME)
    code, report = _verify(root)
    fired = _fired(report)
    assert code == 1 and fired["MC896"] == [attestation.ATTESTATION_NAME]
    assert "model.safetensors" in fired["MC892"] and "stac-item.json" in fired["MC893"] and "model.py" in fired["MC894"]
    # the same, given as a downloaded file beside the package
    (root / attestation.ATTESTATION_NAME).unlink()
    code, report = _verify(root, "--attestation", str(other / attestation.ATTESTATION_NAME))
    assert code == 1 and "MC896" in _fired(report)


def test_an_attestation_saying_failed_fails(attested: Path, tmp_path: Path) -> None:
    root = _copy(attested, tmp_path)
    path = root / attestation.ATTESTATION_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    data["predicate"]["verdict"] = "failed"
    data["predicate"]["summary"]["error"] = 1
    data["predicate"]["rules"] = [{"id": "MC102", "name": "runtime-missing", "severity": "error", "count": 1,
                                   "fails": True, "files": []}]
    path.write_text(json.dumps(data), encoding="utf-8")
    code, report = _verify(root)
    assert code == 1 and _fired(report) == {"MC895": [attestation.ATTESTATION_NAME]}
    assert "MC102" in report["findings"][0]["message"]


def test_a_missing_or_foreign_attestation_fails(attested: Path, tmp_path: Path) -> None:
    root = _copy(attested, tmp_path)
    (root / attestation.ATTESTATION_NAME).unlink()
    code, report = _verify(root)
    assert code == 1 and _fired(report) == {"MC890": [attestation.ATTESTATION_NAME]}
    envelope = {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}
    (root / attestation.ATTESTATION_NAME).write_text(json.dumps(envelope), encoding="utf-8")
    code, report = _verify(root)
    assert code == 1 and _fired(report) == {"MC891": [attestation.ATTESTATION_NAME]}
    assert "DSSE envelope" in report["findings"][0]["message"]


@pytest.mark.no_report_check  # the forged report is left in tmp_path on purpose
def test_a_stale_or_forged_report_is_refused(attested: Path, tmp_path: Path) -> None:
    root = _copy(attested, tmp_path)
    report = json.loads((attested.parent / "report.json").read_text(encoding="utf-8"))
    (root / "inference.py").write_text("print('changed')\n", encoding="utf-8")
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(report), encoding="utf-8")
    assert main(["attest", str(root), "--report", str(stale)]) == 1  # subjects are the files now, not the report's
    report["status"] = "excellent"
    stale.write_text(json.dumps(report), encoding="utf-8")
    assert main(["attest", str(root), "--report", str(stale)]) == 2  # not a model-check report
    with pytest.raises(jsonschema.ValidationError):
        attestation.validate({"_type": attestation.STATEMENT_TYPE, "subject": [], "predicateType": attestation.PREDICATE_TYPE,
                              "predicate": {}})


def test_attesting_a_failing_package_says_so(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    shutil.copytree(BASE, root)
    (root / "requirements.txt").unlink()
    assert main(["attest", str(root), "--env", "none"]) == 1
    data = json.loads((root / attestation.ATTESTATION_NAME).read_text(encoding="utf-8"))
    assert data["predicate"]["verdict"] == "failed"
    assert any(r["fails"] for r in data["predicate"]["rules"])
    code, report = _verify(root)
    assert code == 1 and "MC895" in _fired(report)


@pytest.fixture(scope="module")
def ec_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A P-256 key pair made for the module (private, public), PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("keys")
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "signer.pem", folder / "signer.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def test_the_whole_chain_check_attest_sign_publish_verify(attested: Path, ec_key: tuple[Path, Path], tmp_path: Path) -> None:
    """The README's chain: the signature covers the attestation; the STAC item links both, the OSC product names
    them as validation evidence; a downloaded copy verifies, and a changed byte fails both halves, naming the file."""
    from validator.readers.stac_assets import ATTESTATION, SIGNATURE

    private, public = ec_key
    root = _copy(attested, tmp_path)
    assert main(["sign", str(root), "--key", str(private)]) == 0
    out = tmp_path / "published"
    assert main(["publish", str(root), "--base-url", "https://example.org/models/tiny/v1.0.0", "--out", str(out),
                 "--report", str(attested.parent / "report.json"), "--product"]) == 0  # the report predates both files
    item = json.loads((out / "tiny-scene-classifier.json").read_text(encoding="utf-8"))
    for kind, name in ((ATTESTATION, attestation.ATTESTATION_NAME), (SIGNATURE, attestation.SIGNATURE_NAME)):
        asset = item["assets"][kind.key]
        assert asset["href"] == f"https://example.org/models/tiny/v1.0.0/{name}"
        assert asset["roles"] == list(kind.roles) and asset["type"] == kind.media_type
        assert asset["file:checksum"] == "1220" + hashlib.sha256((root / name).read_bytes()).hexdigest()
    evidence = {link["href"].rsplit("/", 1)[1]: link["type"] for link in
                json.loads((out / "collection.json").read_text(encoding="utf-8"))["links"] if link["rel"] == "describedby"}
    assert evidence == {"validation-report.json": "application/json", attestation.ATTESTATION_NAME: "application/vnd.in-toto+json",
                        attestation.SIGNATURE_NAME: "application/vnd.dev.sigstore.bundle.v0.3+json"}
    downloaded = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(root, downloaded)
    code, report = _verify(downloaded, "--key", str(public))
    assert code == 0 and [c["status"] for c in report["checks"]] == ["passed", "passed"], report["findings"]
    weights = bytearray((downloaded / "model.safetensors").read_bytes())
    weights[len(weights) // 2] ^= 0x80
    (downloaded / "model.safetensors").write_bytes(bytes(weights))
    code, report = _verify(downloaded, "--key", str(public))
    assert code == 1 and all(f["file"] == "model.safetensors" for f in report["findings"] if f["severity"] == "error")
    assert {"MC892"} < {f["rule"] for f in report["findings"]}  # and the signature's own finding
