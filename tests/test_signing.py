"""`model-check sign` and the signature half of `model-check verify` (validator/publish/signing.py):
real OpenSSF model signing with EC keys and a small CA made here (root -> intermediate -> leaf),
offline. Sigstore keyless needs Fulcio, Rekor and an OIDC token, so it is covered by its
configuration (the options map onto model-signing's sigstore config) and by the identity check,
which runs offline on a certificate that names a GitHub workflow the way Fulcio's do."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import EXAMPLE, RunCli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signing_fixtures import CertificateAuthority, KeyPair, certificate_authority, key_pair

from validator.cli.common import UsageError
from validator.cli.sign import add_trust_options, sign_with_from_args, trust_from_args
from validator.core.findings import Finding
from validator.publish.signing import (
    GITHUB_ISSUER,
    SIGNATURE_NAME,
    SignWith,
    Trust,
    covered_files,
    expand_identity,
    hashing_config,
    sigstore_signer_kwargs,
    sigstore_verifier_kwargs,
    verify_signature,
)

WORKFLOW = "earthcode/models/.github/workflows/release.yml@refs/tags/v1.0.0"
IDENTITY = "https://github.com/" + WORKFLOW


@dataclass(frozen=True)
class Material:
    key: KeyPair
    other_key: KeyPair
    ca: CertificateAuthority
    other_ca: CertificateAuthority
    fulcio_like: CertificateAuthority  # its leaf names a GitHub workflow and GitHub's OIDC issuer
    key_signed: Path  # a copy of the example signed with `key`
    cert_signed: Path  # signed with the CA's leaf


def _sign(run: list[str], package: Path) -> None:
    from validator.cli.main import main

    assert main(["sign", str(package), *run]) == 0


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    base = tmp_path_factory.mktemp("signing")
    keys = base / "keys"
    m = Material(key_pair(keys, "publisher"), key_pair(keys, "someone-else"), certificate_authority(keys, "publisher"),
                 certificate_authority(keys, "other"), certificate_authority(keys, "fulcio", IDENTITY, GITHUB_ISSUER),
                 base / "key-signed", base / "cert-signed")
    for target in (m.key_signed, m.cert_signed):
        shutil.copytree(EXAMPLE, target)
    _sign(["--key", str(m.key.private)], m.key_signed)
    _sign(["--key", str(m.ca.leaf_key), "--signing-certificate", str(m.ca.leaf), "--certificate-chain", str(m.ca.intermediate)],
          m.cert_signed)
    return m


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "downloaded"
    shutil.copytree(source, target)
    return target


def _rules(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(f.rule, f.file) for f in findings]


def _key(m: Material, public: Path | None = None) -> Trust:
    return Trust(public_key=public or m.key.public)


# -- signing and verifying for real --------------------------------------------------------------------

def test_a_key_signed_package_copied_elsewhere_verifies(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    findings = verify_signature(package, package / SIGNATURE_NAME, _key(material))
    assert _rules(findings) == [("MC889", SIGNATURE_NAME)]
    assert "15 file(s)" in findings[0].message and "publisher.pub" in findings[0].message


def test_the_signature_covers_every_file_but_itself(material: Material) -> None:
    bundle = json.loads((material.key_signed / SIGNATURE_NAME).read_text(encoding="utf-8"))
    assert bundle["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    import base64

    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    signed = sorted(r["name"] for r in payload["predicate"]["resources"])
    assert signed == covered_files(material.key_signed, {SIGNATURE_NAME})
    assert SIGNATURE_NAME not in signed and "model.safetensors" in signed and "test_data/input_0.npy" in signed


def test_a_certificate_signed_package_verifies_against_its_root(material: Material, tmp_path: Path) -> None:
    package = _copy(material.cert_signed, tmp_path)
    findings = verify_signature(package, package / SIGNATURE_NAME, Trust(certificate_chain=(material.ca.root,)))
    assert _rules(findings) == [("MC889", SIGNATURE_NAME)]
    assert "publisher signer" in findings[0].message  # the leaf's subject names who signed


@pytest.mark.parametrize("signed", ["key", "certificate"])
def test_a_changed_byte_in_the_weights_names_the_file(material: Material, tmp_path: Path, signed: str) -> None:
    package = _copy(material.key_signed if signed == "key" else material.cert_signed, tmp_path)
    weights = bytearray((package / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01
    (package / "model.safetensors").write_bytes(bytes(weights))
    trust = _key(material) if signed == "key" else Trust(certificate_chain=(material.ca.root,))
    findings = verify_signature(package, package / SIGNATURE_NAME, trust)
    assert _rules(findings) == [("MC885", "model.safetensors")]
    assert "changed since it was signed" in findings[0].message


def test_an_added_file_is_named(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    (package / "test_data" / "extra.npy").write_bytes(b"\x93NUMPY")
    assert _rules(verify_signature(package, package / SIGNATURE_NAME, _key(material))) == [("MC886", "test_data/extra.npy")]


def test_a_removed_file_is_named(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    (package / "labels.json").unlink()
    assert _rules(verify_signature(package, package / SIGNATURE_NAME, _key(material))) == [("MC887", "labels.json")]


def test_a_renamed_file_is_named_both_ways(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    (package / "model.onnx").rename(package / "model-v2.onnx")
    findings = verify_signature(package, package / SIGNATURE_NAME, _key(material))
    assert _rules(findings) == [("MC886", "model-v2.onnx"), ("MC887", "model.onnx")]
    assert "renamed?" in findings[0].message and "model.onnx" in findings[0].message
    assert "now at model-v2.onnx" in findings[1].message


def test_a_signature_by_another_key_is_untrusted(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    _sign(["--key", str(material.other_key.private)], package)  # re-signed by someone else
    findings = verify_signature(package, package / SIGNATURE_NAME, _key(material))
    assert _rules(findings) == [("MC883", SIGNATURE_NAME)]
    assert "does not verify with the public key publisher.pub" in findings[0].message


def test_a_forged_key_hint_still_fails_the_signature(material: Material, tmp_path: Path) -> None:
    """Someone else's signature, relabelled with the publisher's key hint: the ECDSA check fails."""
    package = _copy(material.key_signed, tmp_path)
    hint = json.loads((package / SIGNATURE_NAME).read_text(encoding="utf-8"))["verificationMaterial"]["publicKey"]["hint"]
    _sign(["--key", str(material.other_key.private)], package)
    bundle = json.loads((package / SIGNATURE_NAME).read_text(encoding="utf-8"))
    bundle["verificationMaterial"]["publicKey"]["hint"] = hint
    (package / SIGNATURE_NAME).write_text(json.dumps(bundle), encoding="utf-8")
    assert _rules(verify_signature(package, package / SIGNATURE_NAME, _key(material))) == [("MC883", SIGNATURE_NAME)]


def test_a_certificate_chain_from_another_ca_is_untrusted(material: Material, tmp_path: Path) -> None:
    package = _copy(material.cert_signed, tmp_path)
    findings = verify_signature(package, package / SIGNATURE_NAME, Trust(certificate_chain=(material.other_ca.root,)))
    assert _rules(findings) == [("MC883", SIGNATURE_NAME)]
    assert "certificate chain other-root.pem" in findings[0].message


def test_a_key_signature_checked_as_a_certificate_says_how_it_was_made(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    findings = verify_signature(package, package / SIGNATURE_NAME, Trust(certificate_chain=(material.ca.root,)))
    assert _rules(findings) == [("MC883", SIGNATURE_NAME)] and "bare key (verify with --key)" in findings[0].message


def test_files_the_signer_excluded_are_not_covered(material: Material, tmp_path: Path) -> None:
    """A signature made (with model-signing directly) with ignore_paths verifies for model-signing,
    but the weights it leaves out are unsigned: model-check names them."""
    from model_signing.signing import Config

    package = _copy(EXAMPLE, tmp_path)
    config = Config()  # type: ignore[no-untyped-call]  # model-signing's __init__ has no annotations
    config.set_hashing_config(hashing_config([SIGNATURE_NAME, "model.safetensors"])).use_elliptic_key_signer(
        private_key=material.key.private).sign(package, package / SIGNATURE_NAME)
    findings = verify_signature(package, package / SIGNATURE_NAME, _key(material))
    assert _rules(findings) == [("MC886", "model.safetensors")] and "ignore_paths" in findings[0].message


# -- missing, unverified and malformed signatures ---------------------------------------------------------

def test_no_signature(material: Material, tmp_path: Path) -> None:
    package = _copy(EXAMPLE, tmp_path)
    assert verify_signature(package, package / SIGNATURE_NAME, None) == []
    assert _rules(verify_signature(package, package / SIGNATURE_NAME, _key(material))) == [("MC880", SIGNATURE_NAME)]


def test_a_signature_nobody_checked_is_a_warning(material: Material) -> None:
    findings = verify_signature(material.key_signed, material.key_signed / SIGNATURE_NAME, None)
    assert _rules(findings) == [("MC881", SIGNATURE_NAME)] and findings[0].severity.value == "warning"


@pytest.mark.parametrize(("content", "says"), [
    (b"not json", "is not JSON"),
    (b'{"mediaType": "text/plain"}', "is not a Sigstore bundle"),
    (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": {"payload": "!!"}}',
     "not model-signing's manifest"),
    (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "no DSSE envelope"),
    (b"\xff\xfe\x00", "is not JSON"),
    (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": {"payload": "WzFd"}}',
     "not model-signing's manifest"),  # the payload is the JSON list [1]
    (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": [], '
     b'"dsseEnvelope": {"payload": "eyJwcmVkaWNhdGUiOiB7InJlc291cmNlcyI6IFtdfX0="}}', "verification material is not a JSON object"),
    (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {"certificate": {"rawBytes": 7}}, '
     b'"dsseEnvelope": {"payload": "eyJwcmVkaWNhdGUiOiB7InJlc291cmNlcyI6IFtdfX0="}}', "a certificate has no rawBytes"),
])
def test_a_malformed_signature_is_one_finding(material: Material, tmp_path: Path, content: bytes, says: str) -> None:
    package = _copy(material.key_signed, tmp_path)
    (package / SIGNATURE_NAME).write_bytes(content)
    findings = verify_signature(package, package / SIGNATURE_NAME, _key(material))
    assert _rules(findings) == [("MC882", SIGNATURE_NAME)] and says in findings[0].message


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(material_value=_JSON, envelope=_JSON, payload=_JSON)
def test_any_bundle_shape_is_a_finding_never_a_traceback(material: Material, tmp_path: Path, material_value: object,
                                                          envelope: object, payload: object) -> None:
    import base64

    package = material.key_signed
    signature = tmp_path / "fuzzed.sig"
    if isinstance(envelope, dict):
        envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    signature.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                                     "verificationMaterial": material_value, "dsseEnvelope": envelope}), encoding="utf-8")
    findings = verify_signature(package, signature, _key(material))
    assert len(findings) >= 1 and all(f.severity.value == "error" for f in findings)


def test_a_truncated_signature_is_one_finding(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    text = (package / SIGNATURE_NAME).read_bytes()
    (package / SIGNATURE_NAME).write_bytes(text[: len(text) // 2])
    assert _rules(verify_signature(package, package / SIGNATURE_NAME, _key(material))) == [("MC882", SIGNATURE_NAME)]


def test_a_signature_outside_the_package_verifies(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    outside = tmp_path / "downloaded.sig"
    (package / SIGNATURE_NAME).rename(outside)
    # model.sig was ignored when signing; the package without it verifies against the detached file
    assert _rules(verify_signature(package, outside, _key(material)))[0][0] == "MC889"


# -- what hashing refuses: symlinks, special files ---------------------------------------------------------

def test_a_symlink_is_refused_by_sign_and_verify(material: Material, tmp_path: Path, run_cli: RunCli) -> None:
    package = _copy(material.key_signed, tmp_path)
    (package / "secrets").symlink_to("/etc/passwd")
    code, _, err = run_cli(["sign", package, "--key", material.key.private])
    assert code == 1 and "secrets is a symlink (to /etc/passwd)" in err
    findings = verify_signature(package, package / SIGNATURE_NAME, _key(material))
    assert _rules(findings) == [("MC888", "secrets")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused(material: Material, tmp_path: Path) -> None:
    package = _copy(material.key_signed, tmp_path)
    os.mkfifo(package / "pipe")
    assert _rules(verify_signature(package, package / SIGNATURE_NAME, _key(material))) == [("MC888", "pipe")]


# -- the command line -------------------------------------------------------------------------------------

def test_sign_needs_a_method(tmp_path: Path, run_cli: RunCli) -> None:
    package = _copy(EXAMPLE, tmp_path)
    code, _, err = run_cli(["sign", package])
    assert code == 2 and "--key PRIVATE.pem" in err
    code, _, err = run_cli(["sign", package, "--key", tmp_path / "absent.pem"])
    assert code == 2 and "no such file" in err
    assert not (package / SIGNATURE_NAME).exists()


def test_sign_with_an_unusable_key_is_a_usage_error(tmp_path: Path, run_cli: RunCli) -> None:
    package = _copy(EXAMPLE, tmp_path)
    (tmp_path / "bad.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    code, _, err = run_cli(["sign", package, "--key", tmp_path / "bad.pem"])
    assert code == 2 and "is not a PEM private key" in err and "Traceback" not in err
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    code, _, err = run_cli(["sign", package, "--key", tmp_path / "rsa.pem"])
    assert code == 2 and "is not an EC P-256, P-384 or P-521 private key" in err
    assert not (package / SIGNATURE_NAME).exists()


def test_a_certificate_that_is_not_the_keys_is_refused(material: Material, tmp_path: Path, run_cli: RunCli) -> None:
    package = _copy(EXAMPLE, tmp_path)
    code, _, err = run_cli(["sign", package, "--key", material.key.private, "--signing-certificate", material.ca.leaf])
    assert code == 2 and "does not match" in err


def test_sign_writes_where_asked(material: Material, tmp_path: Path, run_cli: RunCli) -> None:
    package = _copy(EXAMPLE, tmp_path)
    code, out, err = run_cli(["sign", package, "--key", material.key.private, "--signature", tmp_path / "detached.sig"])
    assert code == 0 and "signed 15 file(s)" in out and (tmp_path / "detached.sig").is_file()
    assert "no validation.intoto.json: run `model-check attest` before signing" in err
    assert _rules(verify_signature(package, tmp_path / "detached.sig", _key(material)))[0][0] == "MC889"


def _verify_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_trust_options(parser.add_argument_group("signature"))
    return parser.parse_args(list(argv))


def test_trust_options(material: Material) -> None:
    assert trust_from_args(_verify_args()) is None
    assert trust_from_args(_verify_args("--key", str(material.key.public))) == Trust(public_key=material.key.public)
    trust = trust_from_args(_verify_args("--identity", WORKFLOW))
    assert trust is not None and trust.kind == "sigstore" and trust.identity_provider == GITHUB_ISSUER
    with pytest.raises(UsageError, match="not --key and --identity"):
        trust_from_args(_verify_args("--key", str(material.key.public), "--identity", WORKFLOW))
    with pytest.raises(UsageError, match="no such file"):
        trust_from_args(_verify_args("--certificate-chain", "/nonexistent/root.pem"))
    with pytest.raises(UsageError, match="is not a PEM public key"):
        trust_from_args(_verify_args("--key", str(material.key.private)))  # the private key given by mistake
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        trust_from_args(_verify_args("--certificate-chain", str(material.key.public)))


# -- Sigstore keyless: configuration and the identity check (no network here) -------------------------------

def _sign_args(*argv: str) -> argparse.Namespace:
    from validator.cli.main import build_parser

    return build_parser().parse_args(["sign", "pkg", *argv])


def test_sigstore_signing_needs_an_oidc_token() -> None:
    with pytest.raises(UsageError, match="id-token: write"):
        sign_with_from_args(_sign_args("--sigstore"), {})


def test_sigstore_signing_in_github_actions_uses_the_ambient_token() -> None:
    github = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://example.invalid/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    method = sign_with_from_args(_sign_args("--sigstore"), github)
    assert method == SignWith(sigstore=True)
    kwargs = sigstore_signer_kwargs(method)
    assert kwargs["use_ambient_credentials"] is True and kwargs["identity_token"] is None and kwargs["force_oob"] is True
    from model_signing.signing import Config

    inspect.signature(Config.use_sigstore_signer).bind(None, **kwargs)  # model-signing takes exactly these


def test_sigstore_signing_with_a_given_token() -> None:
    method = sign_with_from_args(_sign_args("--sigstore"), {"SIGSTORE_ID_TOKEN": "eyJ.token"})
    assert sigstore_signer_kwargs(method)["identity_token"] == "eyJ.token"
    assert sigstore_signer_kwargs(method)["use_ambient_credentials"] is False
    with pytest.raises(UsageError, match="drop --key"):
        sign_with_from_args(_sign_args("--sigstore", "--key", "k.pem"), {"SIGSTORE_ID_TOKEN": "t"})


def test_sigstore_verification_maps_repository_and_workflow_to_githubs_san() -> None:
    from model_signing.verifying import Config

    trust = Trust(identity=WORKFLOW)
    kwargs = sigstore_verifier_kwargs(trust)
    assert kwargs == {"identity": IDENTITY, "oidc_issuer": GITHUB_ISSUER}
    inspect.signature(Config.use_sigstore_verifier).bind(None, **kwargs)
    assert expand_identity("someone@example.org") == "someone@example.org"
    assert expand_identity(IDENTITY) == IDENTITY


def test_a_wrong_sigstore_identity_is_named_offline(material: Material, tmp_path: Path) -> None:
    """A signing certificate that names a GitHub workflow and GitHub's issuer, as Fulcio's do:
    another repository's workflow, or another issuer, is reported before any network is needed."""
    package = _copy(EXAMPLE, tmp_path)
    ca = material.fulcio_like
    _sign(["--key", str(ca.leaf_key), "--signing-certificate", str(ca.leaf), "--certificate-chain", str(ca.intermediate)], package)
    other = "someone/fork/.github/workflows/release.yml@refs/tags/v1.0.0"
    findings = verify_signature(package, package / SIGNATURE_NAME, Trust(identity=other))
    assert _rules(findings) == [("MC884", SIGNATURE_NAME)]
    assert f"signed by {IDENTITY}, not https://github.com/{other}" in findings[0].message
    findings = verify_signature(package, package / SIGNATURE_NAME, Trust(identity=WORKFLOW, identity_provider="https://accounts.google.com"))
    assert _rules(findings) == [("MC884", SIGNATURE_NAME)] and f"issued by {GITHUB_ISSUER}" in findings[0].message
    findings = verify_signature(material.key_signed, material.key_signed / SIGNATURE_NAME, Trust(identity=WORKFLOW))
    assert _rules(findings) == [("MC883", SIGNATURE_NAME)] and "bare key" in findings[0].message


def test_the_identity_of_a_fulcio_like_certificate(material: Material) -> None:
    from cryptography import x509

    from validator.publish.signing import certificate_identity

    leaf = x509.load_pem_x509_certificate(material.fulcio_like.leaf.read_bytes())
    assert certificate_identity(leaf) == ([IDENTITY], GITHUB_ISSUER)
    plain = x509.load_pem_x509_certificate(material.ca.leaf.read_bytes())
    assert certificate_identity(plain) == ([], None)


def test_a_matching_identity_goes_on_to_sigstore_verification(material: Material, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity matches, so model-signing's Sigstore verifier runs: it needs Sigstore's trust root
    (TUF, online) and Fulcio's CA; neither is here, so the signature is untrusted, never a traceback."""
    for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME"):  # where sigstore's TUF client keeps its metadata
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    package = _copy(EXAMPLE, tmp_path)
    ca = material.fulcio_like
    _sign(["--key", str(ca.leaf_key), "--signing-certificate", str(ca.leaf), "--certificate-chain", str(ca.intermediate)], package)
    findings = verify_signature(package, package / SIGNATURE_NAME, Trust(identity=WORKFLOW))
    assert _rules(findings) == [("MC883", SIGNATURE_NAME)]
    assert f"Sigstore identity {IDENTITY}" in findings[0].message


def test_sigstore_signing_reaches_model_signing_and_fails_cleanly_offline(tmp_path: Path, run_cli: RunCli,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """--sigstore with a token builds model-signing's Sigstore signer for real; without Sigstore's
    trust root (TUF, online) or with a token Fulcio refuses, it is a usage error, and nothing is written."""
    for name in ("XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "not-a-real-token")
    package = _copy(EXAMPLE, tmp_path)
    code, _, err = run_cli(["sign", package, "--sigstore"])
    assert code == 2 and "could not sign with the Sigstore identity token" in err and "Traceback" not in err
    assert not (package / SIGNATURE_NAME).exists()
