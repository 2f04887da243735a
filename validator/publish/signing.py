"""Signing a package with OpenSSF model signing, and the signature's half of `model-check verify`.

The signature is model-signing's (the model transparency format): a Sigstore bundle whose DSSE
payload is an in-toto Statement listing every file's sha256. It covers every regular file of the
package, the validation attestation included, except the signature itself and model-signing's VCS
paths (.git/, .github/, .gitattributes, .gitignore). Signing and verifying only read files: a
bounded walk that follows no symlink first refuses links, special files and oversized packages,
then model-signing hashes. model-signing says only "Signature mismatch" for a changed package, so
verification reads the signed payload (after model-signing has verified its signature) and names
every file added, removed or changed.

model-signing (and Sigstore under it), hashlib and json are imported when a signature is made or
checked, never at the command line's start-up.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from validator.core.catalogue import rule
from validator.core.findings import Finding
from validator.readers.stac_assets import SIGNATURE_NAME  # model.sig, model-signing's default name, in the package root

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from model_signing.hashing import Config as HashingConfig
    from model_signing.verifying import Config as VerifyingConfig

__all__ = ["GITHUB_ISSUER", "SIGNATURE_NAME", "SignWith", "SigningError", "Trust", "sign_package", "verify_signature"]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"  # GitHub Actions' OIDC issuer (Fulcio certificates)
GITHUB_URL = "https://github.com/"
VCS_PATHS = (".git", ".github", ".gitattributes", ".gitignore")  # model-signing's ignore_git_paths
HASH_ALGORITHM: Literal["sha256"] = "sha256"
MAX_FILES = 20_000
MAX_DEPTH = 200  # folders
MAX_TOTAL_BYTES = 256 * 1024**3  # a bound on what one signature or verification reads
MAX_SIGNATURE_BYTES = 16 * 1024 * 1024
MAX_NAMED = 5
MAX_MESSAGE = 400
# Fulcio's certificate extensions: the OIDC issuer (v2, DER UTF8String; v1, raw bytes)
OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
MISMATCH_PREFIX = "Signature mismatch"  # model-signing 1.1's error once the signature itself verified


class SigningError(Exception):
    """The package cannot be signed or hashed (a symlink, a special file, too large), or the key,
    certificate or Sigstore configuration is unusable; the message says which file and why."""

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


# -- configuration ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignWith:
    """How `model-check sign` signs: an EC private key; the key with a signing certificate and its
    chain; or Sigstore keyless (an OIDC identity token: GitHub Actions' ambient one, or given)."""

    private_key: Path | None = None
    signing_certificate: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    sigstore: bool = False
    identity_token: str | None = None

    @property
    def kind(self) -> str:
        return "Sigstore identity token" if self.sigstore else "certificate" if self.signing_certificate else "key"


@dataclass(frozen=True)
class Trust:
    """Whom `model-check verify` trusts: a public key, a certificate chain (root and intermediates),
    or a Sigstore identity (the certificate's SAN, e.g. a GitHub workflow) and its OIDC issuer."""

    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    identity: str | None = None
    identity_provider: str = GITHUB_ISSUER

    @property
    def kind(self) -> str:
        return "sigstore" if self.identity else "certificate" if self.certificate_chain else "key"

    def describe(self) -> str:
        if self.identity:
            return f"Sigstore identity {expand_identity(self.identity)} (issuer {self.identity_provider})"
        if self.certificate_chain:
            return f"certificate chain {', '.join(p.name for p in self.certificate_chain)}"
        return f"public key {self.public_key.name if self.public_key else '?'}"


def expand_identity(text: str) -> str:
    """A Sigstore identity as the certificate states it: `OWNER/REPO/.github/workflows/FILE@REF`
    (a repository and workflow) becomes the SAN of GitHub's OIDC certificates,
    https://github.com/OWNER/REPO/.github/workflows/FILE@REF; anything else is kept."""
    text = text.strip()
    if "://" not in text and "/.github/workflows/" in text:
        return GITHUB_URL + text.lstrip("/")
    return text


def sigstore_signer_kwargs(method: SignWith) -> dict[str, Any]:
    """Arguments of model_signing.signing.Config.use_sigstore_signer: ambient credentials (GitHub
    Actions' OIDC token, `id-token: write`) unless a token is given; never an interactive flow."""
    return {"use_ambient_credentials": method.identity_token is None, "identity_token": method.identity_token,
            "force_oob": True}


def sigstore_verifier_kwargs(trust: Trust) -> dict[str, Any]:
    """Arguments of model_signing.verifying.Config.use_sigstore_verifier."""
    return {"identity": expand_identity(trust.identity or ""), "oidc_issuer": trust.identity_provider}


EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # what model-signing signs with


def key_problem(path: Path, private: bool) -> str | None:
    """Why the PEM file at `path` is not an EC key model-signing can use (None when it is)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    kind = "private" if private else "public"
    try:
        data = path.read_bytes()[:MAX_SIGNATURE_BYTES]
        key = load_pem_private_key(data, None) if private else load_pem_public_key(data)
    except TypeError:
        return f"is an encrypted {kind} key: give an unencrypted one"
    except (OSError, ValueError) as exc:
        return f"is not a PEM {kind} key ({_said(exc)})"
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in EC_CURVES:
        return f"is not an EC P-256, P-384 or P-521 {kind} key (model signing uses ECDSA)"
    return None


def certificates_problem(path: Path) -> str | None:
    """Why the file at `path` holds no PEM certificate (None when it holds one or more)."""
    from cryptography import x509

    try:
        x509.load_pem_x509_certificates(path.read_bytes()[:MAX_SIGNATURE_BYTES])
    except (OSError, ValueError) as exc:
        return f"holds no PEM certificate ({_said(exc)})"
    return None


def hashing_config(ignored: list[str]) -> HashingConfig:
    """sha256 of every file, no symlinks, the given package-relative paths and the VCS paths ignored."""
    from model_signing.hashing import Config

    config = Config()  # type: ignore[no-untyped-call]  # model-signing's __init__ has no annotations
    return config.use_file_serialization(hashing_algorithm=HASH_ALGORITHM, allow_symlinks=False).set_ignored_paths(
        paths=ignored, ignore_git_paths=True)


def verifying_config(trust: Trust) -> VerifyingConfig:
    from model_signing.verifying import Config

    config = Config()  # type: ignore[no-untyped-call]
    if trust.identity:
        return config.use_sigstore_verifier(**sigstore_verifier_kwargs(trust))
    if trust.certificate_chain:
        return config.use_certificate_verifier(certificate_chain=list(trust.certificate_chain))
    return config.use_elliptic_key_verifier(public_key=trust.public_key or Path())


# -- the files a signature covers ---------------------------------------------------------------------

def inside(root: Path, path: Path) -> str | None:
    """`path` relative to `root` (POSIX), or None when it lies outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):  # outside, or a symlink loop (RuntimeError before Python 3.13)
        return None


def _ignored(rel: str, ignored: set[str]) -> bool:
    return any(rel == p or rel.startswith(p + "/") for p in ignored)


def covered_files(root: Path, ignored: set[str]) -> list[str]:
    """The package-relative paths a signature covers, walked without following links; a
    SigningError for a symlink or special file (model-signing refuses them, and a link could lead
    out of the package), more than MAX_FILES files or MAX_TOTAL_BYTES bytes."""
    ignored = ignored | set(VCS_PATHS)
    files: list[str] = []
    total = 0
    stack = [root]
    while stack:
        current = stack.pop()
        if len(current.relative_to(root).parts) > MAX_DEPTH:  # model-signing walks recursively: RecursionError
            rel = current.relative_to(root).as_posix()
            raise SigningError(f"{rel[:120]}… is more than {MAX_DEPTH} folders deep: model-check signs no deeper tree", rel)
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            raise SigningError(f"{current}: cannot be listed ({exc.strerror})") from None
        for entry in entries:
            rel = Path(entry.path).relative_to(root).as_posix()
            if _ignored(rel, ignored):
                continue
            try:
                mode = entry.stat(follow_symlinks=False)
            except OSError as exc:
                raise SigningError(f"{rel} cannot be read ({exc.strerror})", rel) from None
            if stat.S_ISLNK(mode.st_mode):
                raise SigningError(f"{rel} is a symlink (to {os.readlink(entry.path)}): a signature covers regular files "
                                   "only; replace the link with the file", rel)
            if stat.S_ISDIR(mode.st_mode):
                stack.append(Path(entry.path))
            elif stat.S_ISREG(mode.st_mode):
                files.append(rel)
                total += mode.st_size
                if len(files) > MAX_FILES or total > MAX_TOTAL_BYTES:
                    raise SigningError(f"the package has more than {MAX_FILES} files or {MAX_TOTAL_BYTES // 1024**3} GiB: "
                                       "model-check signs no more", rel)
            else:
                raise SigningError(f"{rel} is not a regular file (a FIFO, socket or device): remove it", rel)
    return sorted(files)


def _sha256(path: Path) -> str:
    import hashlib

    with path.open("rb") as handle:
        return hashlib.file_digest(handle, HASH_ALGORITHM).hexdigest()


# -- signing ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Signed:
    signature: Path
    files: list[str]
    kind: str


def sign_package(root: Path, signature: Path, method: SignWith) -> Signed:
    """Sign every file of the package at `root` into `signature` (the file itself is not covered)."""
    from model_signing.signing import Config

    rel = inside(root, signature)
    if signature.is_symlink() or (signature.exists() and not signature.is_file()):  # never written through
        raise SigningError(f"{rel or signature} is a symlink or special file: remove it", rel or str(signature))
    files = covered_files(root, {rel} if rel else set())
    config = Config()  # type: ignore[no-untyped-call]
    config.set_hashing_config(hashing_config([rel] if rel else []))
    try:
        if method.sigstore:
            config.use_sigstore_signer(**sigstore_signer_kwargs(method))
        elif method.signing_certificate is not None:
            config.use_certificate_signer(private_key=method.private_key or Path(),
                                          signing_certificate=method.signing_certificate,
                                          certificate_chain=list(method.certificate_chain))
        else:
            config.use_elliptic_key_signer(private_key=method.private_key or Path())
        config.sign(root, signature)
    except SigningError:
        raise
    except Exception as exc:  # model-signing and cryptography raise ValueError, TypeError, OSError…
        online = " (Sigstore signing needs the network: its trust root, Fulcio and Rekor)" if method.sigstore else ""
        raise SigningError(f"model-signing could not sign with the {method.kind}: {_said(exc)}{online}") from None
    return Signed(signature, files, method.kind)


# -- verification -------------------------------------------------------------------------------------

@dataclass
class Bundle:
    """What verification reads of a signature before trusting it: the bundle's verification
    material and the signed payload's files (trusted only once model-signing verified it)."""

    data: dict[str, Any]
    resources: dict[str, str] = field(default_factory=dict)  # path -> sha256

    @property
    def certificates(self) -> list[bytes]:
        material = _mapping(self.data.get("verificationMaterial"))
        if "certificate" in material:
            return [_b64(_mapping(material["certificate"]).get("rawBytes"))]
        chain = _mapping(material.get("x509CertificateChain")).get("certificates") or []
        if not isinstance(chain, list):
            raise BundleError("its certificate chain is not a list")
        return [_b64(_mapping(c).get("rawBytes")) for c in chain]


def _mapping(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BundleError("its verification material is not a JSON object")
    return value


class BundleError(Exception):
    pass


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise BundleError("a certificate has no rawBytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("a certificate's rawBytes is not base64") from None


def read_bundle(path: Path) -> Bundle:
    """The bundle at `path` and its payload's manifest; a BundleError saying what is malformed."""
    import json

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SIGNATURE_BYTES + 1)
    except OSError as exc:
        raise BundleError(f"cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise BundleError(f"is larger than {MAX_SIGNATURE_BYTES // 1024**2} MiB: not a signature bundle")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"is not JSON ({exc})") from None
    except RecursionError:
        raise BundleError("is nested too deeply to be a signature bundle") from None
    if not isinstance(data, dict) or not str(data.get("mediaType", "")).startswith("application/vnd.dev.sigstore.bundle"):
        raise BundleError("is not a Sigstore bundle (no mediaType application/vnd.dev.sigstore.bundle…)")
    envelope = data.get("dsseEnvelope")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), str):
        raise BundleError("has no DSSE envelope: not a model-signing signature")
    try:
        payload = json.loads(base64.b64decode(envelope["payload"], validate=True))
        predicate = payload["predicate"]
        resources = {str(r["name"]): str(r["digest"]) for r in predicate["resources"]}
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise BundleError("has a DSSE payload that is not model-signing's manifest (in-toto Statement with resources)") from None
    bundle = Bundle(data, resources)
    bundle.certificates  # noqa: B018  (malformed certificates are reported here, not half-way through)
    return bundle


def verify_signature(root: Path, signature: Path, trust: Trust | None) -> list[Finding]:
    """The findings of verifying the package at `root` against the signature at `signature`: one for
    each file added, removed or changed since signing, for a signature not made by `trust`, a
    malformed one, a missing one, or (no trust given) one nobody checked; an info finding when it
    verifies. Never raises for a bad package or signature."""
    shown = inside(root, signature) or str(signature)
    if not signature.is_file():
        if trust is None:
            return []
        return [rule("signature-missing").finding(
            f"{shown}: no signature, so nothing shows the files are the ones {trust.describe()} signed", file=shown)]
    if trust is None:
        return [rule("signature-unverified").finding(
            f"{shown} was not verified: give whom you trust (--key PUBLIC.pem, --certificate-chain PEM or "
            "--identity OWNER/REPO/.github/workflows/FILE@REF)", file=shown)]
    try:
        bundle = read_bundle(signature)
    except BundleError as exc:
        return [rule("signature-invalid").finding(f"{shown} {exc}", file=shown)]
    rel = inside(root, signature)
    try:
        files = covered_files(root, {rel} if rel else set())
    except SigningError as exc:
        return [rule("signature-package-unhashable").finding(f"cannot re-hash the package: {exc}", file=exc.file or shown)]
    refused = _kind_mismatch(bundle, trust, shown) or _identity_mismatch(bundle, trust, shown)
    if refused:
        return refused
    try:
        verifying_config(trust).verify(root, signature)
    except Exception as exc:  # model-signing, sigstore and cryptography raise many kinds; none reaches the user as a traceback
        text = _said(exc)
        if not text.startswith(MISMATCH_PREFIX):
            online = " (Sigstore fetches its trust root over the network: verify online)" if "TUF" in type(exc).__name__ else ""
            return [rule("signature-untrusted").finding(
                f"{shown} does not verify with the {trust.describe()}: {text}{online}", file=shown)]
        changes = _changes(root, bundle, files, rel)
        return changes or [rule("signed-file-changed").finding(f"the package differs from {shown}: {text}", file=shown)]
    extra = [p for p in files if p not in bundle.resources]  # verified, yet excluded by the signature's ignore_paths
    if extra:
        return [rule("signed-file-added").finding(
            f"{p} is not covered by {shown}: the signature's ignore_paths exclude it; sign the whole package", file=p)
            for p in extra]
    return [rule("signature-verified").finding(
        f"{shown} verifies with the {trust.describe()}{_signer(bundle)}: {len(bundle.resources)} file(s), "
        "none added, removed or changed", file=shown)]


def _changes(root: Path, bundle: Bundle, files: list[str], rel: str | None) -> list[Finding]:
    """One finding per file added, removed or changed between the signed manifest and the package."""
    then = bundle.resources
    try:
        now = {p: _sha256(root / p) for p in files}
    except OSError as exc:
        return [rule("signature-package-unhashable").finding(f"cannot re-hash the package: {exc}", file=rel)]
    shown = rel or "the signature"
    moved_from = _by_digest({p: d for p, d in then.items() if p not in now})
    moved_to = _by_digest({p: d for p, d in now.items() if p not in then})
    findings: list[Finding] = []
    for path in sorted(p for p in now.keys() & then.keys() if now[p] != then[p]):
        findings.append(rule("signed-file-changed").finding(
            f"{path} changed since it was signed: sha256 {now[path][:12]}… now, {then[path][:12]}… in {shown}", file=path))
    for path in sorted(now.keys() - then.keys()):
        was = moved_from.get(now[path], [])
        hint = f" (the same content as {_join(was)}, signed but missing: renamed?)" if was else ""
        findings.append(rule("signed-file-added").finding(f"{path} was added since {shown} was made{hint}", file=path))
    for path in sorted(then.keys() - now.keys()):
        moved = moved_to.get(then[path], [])
        hint = f" (its content is now at {_join(moved)}: renamed?)" if moved else ""
        findings.append(rule("signed-file-removed").finding(f"{path} is signed by {shown} but not in the package{hint}", file=path))
    return findings


def _by_digest(files: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, digest in sorted(files.items()):
        out.setdefault(digest, []).append(path)
    return out


def _kind_mismatch(bundle: Bundle, trust: Trust, shown: str) -> list[Finding]:
    """A key-signed bundle checked against a certificate or identity, or the other way round."""
    has_certificates = bool(bundle.certificates)
    if has_certificates == (trust.kind != "key"):
        return []
    made = "a certificate (verify with --certificate-chain or --identity)" if has_certificates else "a bare key (verify with --key)"
    return [rule("signature-untrusted").finding(
        f"{shown} was made with {made}, not by the {trust.describe()}", file=shown)]


def _identity_mismatch(bundle: Bundle, trust: Trust, shown: str) -> list[Finding]:
    """For a Sigstore identity: the signing certificate's SAN and OIDC issuer, compared offline
    before Sigstore verifies the chain, so a wrong identity is named even without its trust root."""
    if not trust.identity:
        return []
    try:
        identities, issuer = certificate_identity(_leaf(bundle))
    except (BundleError, ValueError) as exc:
        return [rule("signature-invalid").finding(f"{shown}: its signing certificate cannot be read ({exc})", file=shown)]
    expected = expand_identity(trust.identity)
    problems = []
    if expected not in identities:
        problems.append(f"it was signed by {_join(identities) or 'no identity'}, not {expected}")
    if issuer != trust.identity_provider:
        problems.append(f"its identity was issued by {issuer or 'no OIDC issuer'}, not {trust.identity_provider}")
    if not problems:
        return []
    return [rule("signature-identity-mismatch").finding(f"{shown}: {'; '.join(problems)}", file=shown)]


def _leaf(bundle: Bundle) -> Certificate:
    from cryptography import x509

    certificates = bundle.certificates
    if not certificates:
        raise BundleError("the bundle carries no certificate")
    return x509.load_der_x509_certificate(certificates[0])


def certificate_identity(certificate: Certificate) -> tuple[list[str], str | None]:
    """The identities (SAN URIs and e-mail addresses) and Fulcio OIDC issuer of a certificate."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        identities = [*san.get_values_for_type(x509.UniformResourceIdentifier), *san.get_values_for_type(x509.RFC822Name)]
    except x509.ExtensionNotFound:
        identities = []
    issuer = None
    for oid, decode in ((OID_ISSUER_V2, _der_utf8), (OID_ISSUER_V1, _raw_text)):
        try:
            ext = certificate.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value
        except x509.ExtensionNotFound:
            continue
        issuer = decode(getattr(ext, "value", b""))
        break
    return identities, issuer


def _der_utf8(data: bytes) -> str:
    """A DER UTF8String (tag 12), as Fulcio's v2 extensions hold their value."""
    if len(data) < 2 or data[0] != 0x0C:
        raise ValueError("the OIDC issuer extension is not a UTF8String")
    length, start = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(data[2:2 + count], "big"), 2 + count
    return data[start:start + length].decode("utf-8")


def _raw_text(data: bytes) -> str:
    return data.decode("utf-8")


def _signer(bundle: Bundle) -> str:
    """`, signed by …` naming the certificate's identity or subject, when the bundle has one."""
    try:
        leaf = _leaf(bundle)
    except (BundleError, ValueError):
        return ""
    identities, _ = certificate_identity(leaf)
    return f", signed by {_join(identities) if identities else leaf.subject.rfc4514_string()}"


def _said(exc: BaseException) -> str:
    """An exception as one bounded line: its type when it says nothing else."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def _join(items: list[str]) -> str:
    return ", ".join(items[:MAX_NAMED]) + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")

