"""`model-check verify PATH`: after a download, is this the package that was validated?

Re-hashes every file, checks that the validation attestation covers exactly these files and says
passed (validator/publish/verification.py), and verifies the signature when one is given. The result
is a report like `check`'s: the same terminal output, --json/--markdown/--sarif, and exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from validator.core.report import Report
    from validator.publish.signing import Trust


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from validator.cli.common import EXIT_CODES_EPILOG
    from validator.cli.sign import add_trust_options
    from validator.readers.stac_assets import ATTESTATION_NAME  # light: the parser is built at every start

    parser = subparsers.add_parser(
        "verify", help="verify a downloaded package against its attestation (and signature)",
        description="Re-hash the package and check that its validation attestation (written by `model-check attest`) "
                    "covers exactly these files and says the package passed: one finding for every file added, "
                    "removed or changed since, for an attestation of another package, and for a failed verdict. "
                    "With --key, --certificate-chain or --identity, also verify the package's signature "
                    "(`model-check sign`, OpenSSF model signing), which covers the attestation too.",
        epilog=EXIT_CODES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default=".", help="the package folder (default: .)")
    parser.add_argument("--attestation", metavar="FILE",
                        help=f"the attestation (default: PATH/{ATTESTATION_NAME}; e.g. the one the STAC item links)")
    add_trust_options(parser.add_argument_group("signature (model-check sign)"))
    out = parser.add_argument_group("reports")
    out.add_argument("--json", metavar="FILE", help="write the JSON report")
    out.add_argument("--markdown", metavar="FILE", help="write the Markdown report")
    out.add_argument("--sarif", metavar="FILE", help="write a SARIF 2.1.0 report")
    out.add_argument("--verbose", "-v", action="store_true", help="also print info findings")
    out.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    parser.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.console import Console

    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, check_report_paths, resolve_package
    from validator.cli.sign import signature_path, trust_from_args
    from validator.reporters.files import write_reports
    from validator.reporters.terminal import print_report

    root = resolve_package(args.path)
    check_report_paths(args)
    trust = trust_from_args(args)
    report = verify(root, args.path, Path(args.attestation) if args.attestation else None, signature_path(args, root), trust)
    write_reports(report, json_path=args.json, markdown_path=args.markdown, sarif_path=args.sarif)
    console = Console(stderr=False, highlight=False)
    if args.quiet:
        s = report.summary
        console.print(f"{report.status}: {s['error']} error(s), {s['warning']} warning(s), {s['info']} info")
    else:
        print_report(report, console, verbose=args.verbose)
    return EXIT_FINDINGS if report.status == "failed" else EXIT_OK


def verify(root: Path, shown_path: str, attestation: Path | None, signature: Path, trust: Trust | None) -> Report:
    """The verification report of the package at `root`: its attestation, then its signature (when one is
    there or trust is given: validator.publish.signing)."""
    import time

    from validator.core.catalogue import rule
    from validator.core.findings import Area, CheckRecord, CheckStatus, Severity
    from validator.core.report import Report
    from validator.publish.attestation import ATTESTATION_NAME, subjects, unattested
    from validator.publish.signing import verify_signature
    from validator.publish.verification import attestation_findings, unread_findings
    from validator.readers.package import ModelPackage

    started = time.monotonic()
    path = attestation if attestation is not None else root / ATTESTATION_NAME
    skip = unattested(root, path, signature)
    pkg = ModelPackage(root)
    try:
        manifest = pkg.manifest
        special = [e for e in pkg.special if e.path not in skip]
    finally:
        pkg.close()
    files = subjects(manifest, skip)
    shown = _shown(path, root)
    findings, read = attestation_findings(path, shown, files)
    findings += [rule("attestation-file-added").finding(
        f"{e.path} is a {e.kind}{f' to {e.target}' if e.target else ''}: no attestation covers it, and it was not there "
        "when the package was attested", file=e.path) for e in special]
    findings += unread_findings(root)
    name, version = (read.predicate["package"]["name"], read.predicate["package"]["version"]) if read else (None, None)
    report = Report(package_path=shown_path, package_name=name[:200] if isinstance(name, str) else None,  # attestation text
                    package_version=version[:100] if isinstance(version, str) else None, fail_on=Severity.ERROR)
    report.findings = findings
    report.artefacts = manifest
    status = CheckStatus.FAILED if any(f.severity is Severity.ERROR for f in findings) else CheckStatus.PASSED
    reason = f"{shown}: {len(files)} file(s) against {len(read.subjects)} attested" if read else shown
    report.checks.append(CheckRecord(Area.PUBLISHING, "attestation", status, reason, round(time.monotonic() - started, 2)))
    started = time.monotonic()
    if trust is None and not signature.is_file():
        report.checks.append(CheckRecord(Area.PUBLISHING, "signature", CheckStatus.SKIPPED,
                                         f"no signature ({_shown(signature, root)}) and no --key, --certificate-chain or --identity"))
        return report
    signed = verify_signature(root, signature, trust)
    report.findings += signed
    status = CheckStatus.FAILED if any(f.severity is Severity.ERROR for f in signed) else CheckStatus.PASSED
    how = f"against the {trust.describe()}" if trust is not None else "not verified: no trust option"
    report.checks.append(CheckRecord(Area.PUBLISHING, "signature", status, f"{_shown(signature, root)}: {how}",
                                     round(time.monotonic() - started, 2)))
    return report


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):  # outside, or a symlink loop (RuntimeError before Python 3.13)
        return str(path)
