"""Real keys and a small CA for the signing tests: EC P-256 key pairs, and root -> intermediate ->
leaf certificates made with the cryptography package (the leaf may carry a Sigstore-style identity:
a SAN URI and Fulcio's OIDC issuer extension)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

FULCIO_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


@dataclass(frozen=True)
class CertificateAuthority:
    root: Path  # the root certificate a verifier trusts
    intermediate: Path
    leaf: Path  # the signing certificate
    leaf_key: Path  # its private key


def key_pair(folder: Path, name: str) -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private, public)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "model-check tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey,
                 ca: bool, path_length: int | None = None, identity: str | None = None,
                 oidc_issuer: str | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                      crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                                      crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    if identity:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
    if oidc_issuer:
        value = oidc_issuer.encode()
        der = bytes([0x0C, len(value)]) + value  # a DER UTF8String, as Fulcio writes it
        builder = builder.add_extension(x509.UnrecognizedExtension(FULCIO_ISSUER_V2, der), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def certificate_authority(folder: Path, name: str, identity: str | None = None,
                          oidc_issuer: str | None = None) -> CertificateAuthority:
    """root -> intermediate -> leaf; the leaf (a code-signing certificate) may name an identity."""
    folder.mkdir(parents=True, exist_ok=True)
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate(f"{name} root", root_key, _name(f"{name} root"), root_key, ca=True, path_length=1)
    mid = _certificate(f"{name} intermediate", mid_key, root.subject, root_key, ca=True, path_length=0)
    leaf = _certificate(f"{name} signer", leaf_key, mid.subject, mid_key, ca=False, identity=identity, oidc_issuer=oidc_issuer)
    paths = CertificateAuthority(folder / f"{name}-root.pem", folder / f"{name}-intermediate.pem", folder / f"{name}-leaf.pem",
                                 folder / f"{name}-leaf-key.pem")
    for path, cert in ((paths.root, root), (paths.intermediate, mid), (paths.leaf, leaf)):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.leaf_key.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return paths
