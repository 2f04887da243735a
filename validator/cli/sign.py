"""`model-check sign PATH`: sign every file of the package with OpenSSF model signing
(validator/publish/signing.py), and the trust options `model-check verify` shares.

Three ways to sign, as model-signing offers them: an EC private key (`--key`); the key with a
signing certificate and its chain (`--signing-certificate`, `--certificate-chain`); Sigstore keyless
(`--sigstore`) with an OIDC identity token: GitHub Actions' (`permissions: id-token: write`) or one
in SIGSTORE_ID_TOKEN; model-check never starts an interactive login. Exit codes: 0 signed;
1 refused (the package holds a symlink, a special file, or is too large); 2 usage error (a key or
certificate model-signing cannot use, no OIDC token).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from validator.publish.signing import SignWith, Trust

TOKEN_ENV = "SIGSTORE_ID_TOKEN"  # sigstore-python's variable for an explicit identity token
GITHUB_OIDC_ENV = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")  # set by `id-token: write`


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
    from validator.publish.signing import SIGNATURE_NAME

    parser = subparsers.add_parser(
        "sign", help="sign every file of the package with OpenSSF model signing (a key, a certificate, or Sigstore)",
        description="Write an OpenSSF model signing signature (a Sigstore bundle over the sha256 of every file, the "
                    "validation attestation included) into the package as "
                    f"{SIGNATURE_NAME}. Files are only read: a symlink or special file is refused, nothing is run. "
                    "`model-check verify PATH --key PUBLIC.pem` (or --certificate-chain / --identity) checks it.",
        epilog=f"exit codes:\n  {EXIT_OK}  signed\n  {EXIT_FINDINGS}  refused: the package holds a symlink, a special file "
               f"or is too large\n  {EXIT_USAGE}  usage error: a key or certificate that cannot sign, no OIDC token",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="the package folder")
    parser.add_argument("--signature", metavar="FILE", help=f"where to write the signature (default: PATH/{SIGNATURE_NAME})")
    how = parser.add_argument_group("how to sign (one of)")
    how.add_argument("--key", metavar="PRIVATE.pem", help="an EC private key (P-256/384/521, PEM, unencrypted)")
    how.add_argument("--signing-certificate", metavar="CERT.pem",
                     help="with --key: the key's certificate, put in the signature with --certificate-chain")
    how.add_argument("--certificate-chain", metavar="PEM", action="append", default=[],
                     help="with --signing-certificate: an intermediate or root certificate (repeatable)")
    how.add_argument("--sigstore", action="store_true",
                     help="Sigstore keyless: needs GitHub Actions' OIDC token (permissions: id-token: write) or "
                          f"{TOKEN_ENV}; the identity is the workflow (verify with --identity)")
    parser.set_defaults(handler=cmd_sign)


def cmd_sign(args: argparse.Namespace) -> int:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, UsageError, resolve_package
    from validator.core.escape import log_line
    from validator.publish.attestation import ATTESTATION_NAME
    from validator.publish.signing import SIGNATURE_NAME, SigningError, sign_package

    root = resolve_package(args.path)
    signature = Path(args.signature) if args.signature else root / SIGNATURE_NAME
    if not signature.parent.is_dir() or signature.is_dir():
        raise UsageError(f"--signature {signature}: give a file in an existing folder")
    method = sign_with_from_args(args, dict(os.environ))
    try:
        signed = sign_package(root, signature, method)
    except SigningError as exc:
        if exc.file is None:  # the key, certificate or Sigstore: the caller's to fix
            raise UsageError(str(exc)) from None
        print(log_line(f"model-check sign: refused: {exc}"), file=sys.stderr)
        return EXIT_FINDINGS
    print(log_line(f"signed {len(signed.files)} file(s) of {args.path} with the {signed.kind} into {signature}"))
    if ATTESTATION_NAME not in signed.files:
        print(log_line(f"note: the package has no {ATTESTATION_NAME}: run `model-check attest` before signing so that the "
                       "signature covers what was validated"), file=sys.stderr)
    return EXIT_OK


def sign_with_from_args(args: argparse.Namespace, environ: dict[str, str]) -> SignWith:
    """The signing method the options name; a UsageError for a missing or contradictory one."""
    from validator.cli.common import UsageError
    from validator.publish.signing import SignWith

    chain = tuple(Path(p) for p in args.certificate_chain)
    if args.sigstore:
        if args.key or args.signing_certificate or chain:
            raise UsageError("--sigstore signs without a key: drop --key, --signing-certificate and --certificate-chain")
        token = environ.get(TOKEN_ENV) or None
        if token is None and not all(environ.get(name) for name in GITHUB_OIDC_ENV):
            raise UsageError("--sigstore needs an OIDC identity token: in GitHub Actions grant the job `permissions: "
                             f"id-token: write`; elsewhere set {TOKEN_ENV} (model-check starts no interactive login)")
        return SignWith(sigstore=True, identity_token=token)
    if not args.key:
        raise UsageError("say how to sign: --key PRIVATE.pem (with --signing-certificate for a certificate), or --sigstore")
    if chain and not args.signing_certificate:
        raise UsageError("--certificate-chain needs --signing-certificate (the certificate of --key)")
    _check_files([("--key", args.key, "private")] + [(flag, str(p), "certificate") for flag, p in
                  (("--signing-certificate", args.signing_certificate), *(("--certificate-chain", c) for c in chain)) if p])
    return SignWith(private_key=Path(args.key), signing_certificate=Path(args.signing_certificate) if args.signing_certificate else None,
                    certificate_chain=chain)


# -- the trust options of `model-check verify` ---------------------------------------------------------

def add_trust_options(group: argparse._ArgumentGroup) -> None:
    """--signature, --key, --certificate-chain, --identity, --identity-provider."""
    from validator.publish.signing import GITHUB_ISSUER, SIGNATURE_NAME

    group.add_argument("--signature", metavar="FILE", help=f"the model-signing signature (default: PATH/{SIGNATURE_NAME})")
    group.add_argument("--key", metavar="PUBLIC.pem", help="verify the signature with this EC public key")
    group.add_argument("--certificate-chain", metavar="PEM", action="append", default=[],
                       help="verify a certificate signature against this root (and intermediate) certificate (repeatable)")
    group.add_argument("--identity", metavar="ID",
                       help="verify a Sigstore keyless signature made by this identity: OWNER/REPO/.github/workflows/FILE@REF "
                            "(a GitHub workflow; https://github.com/ is added) or the certificate's exact SAN")
    group.add_argument("--identity-provider", metavar="URL", default=GITHUB_ISSUER,
                       help=f"the OIDC issuer of --identity (default: {GITHUB_ISSUER}, GitHub Actions)")


def trust_from_args(args: argparse.Namespace) -> Trust | None:
    """Whom the options trust, or None when they name nobody; a UsageError for several or a missing file."""
    from validator.cli.common import UsageError
    from validator.publish.signing import Trust

    chain = tuple(Path(p) for p in args.certificate_chain)
    given = [flag for flag, value in (("--key", args.key), ("--certificate-chain", chain), ("--identity", args.identity)) if value]
    if not given:
        return None
    if len(given) > 1:
        raise UsageError(f"give one of --key, --certificate-chain or --identity, not {' and '.join(given)}")
    _check_files([("--key", args.key, "public")] if args.key else [("--certificate-chain", str(c), "certificate") for c in chain])
    return Trust(public_key=Path(args.key) if args.key else None, certificate_chain=chain, identity=args.identity or None,
                 identity_provider=args.identity_provider)


def _check_files(files: list[tuple[str, str, str]]) -> None:
    """A UsageError for a missing file, or one that is not the EC key or PEM certificate its option needs."""
    from validator.cli.common import UsageError
    from validator.publish.signing import certificates_problem, key_problem

    for flag, text, kind in files:
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"{flag} {text}: no such file")
        problem = certificates_problem(path) if kind == "certificate" else key_problem(path, private=kind == "private")
        if problem:
            raise UsageError(f"{flag} {text}: {problem}")


def signature_path(args: argparse.Namespace, root: Path) -> Path:
    from validator.publish.signing import SIGNATURE_NAME

    return Path(args.signature) if args.signature else root / SIGNATURE_NAME
