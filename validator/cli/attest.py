"""`model-check attest PATH`: check the package (or take a report of `check --json`) and write the validation
attestation, an in-toto Statement v1 over every file of the package (validator/publish/attestation.py).

The subjects are always a fresh hash of the package; a report file is untrusted: it is validated against
the report schema and refused when its artefacts differ from the files now. Exit codes: 0 written and
passed; 1 written but the verdict is failed, or refused (a stale report); 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, add_check_options
    from validator.readers.stac_assets import ATTESTATION_NAME  # light: the parser is built at every start

    parser = subparsers.add_parser(
        "attest", help="write an in-toto attestation of what was validated, over every file of the package",
        description="Check the package (or take --report) and write an in-toto Statement v1 whose subjects are every "
                    "file of the package (path, sha256) and whose predicate (model-check's validation predicate v1) is the validation: "
                    "tool and version, checks and rules with their outcomes, the release gate, the rebuilt environment, "
                    "parity, what was skipped and why. By default it is written into the package as "
                    f"{ATTESTATION_NAME}, so that a signature of the package covers it.",
        epilog=f"exit codes:\n  {EXIT_OK}  written; the package passed\n  {EXIT_FINDINGS}  written, but the package failed "
               f"(the attestation says so); or refused: the report is for other files\n  {EXIT_USAGE}  usage error or a "
               "failure of model-check itself",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="the package folder")
    parser.add_argument("--report", metavar="REPORT.json",
                        help="use this report of `model-check check --json` (or of the Action) instead of checking; its findings are taken "
                             "as they are: give only a report of your own run")
    parser.add_argument("--out", metavar="FILE", help=f"where to write the attestation (default: PATH/{ATTESTATION_NAME})")
    parser.add_argument("--predicate", metavar="FILE", help="also write the predicate alone (for actions/attest's predicate-path)")
    parser.add_argument("--subjects", metavar="FILE",
                        help="also write the subjects as a sha256sum file (`<sha256>  <path>`; actions/attest's subject-checksums)")
    add_check_options(parser)
    parser.set_defaults(handler=cmd_attest)


def cmd_attest(args: argparse.Namespace) -> int:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, UsageError, check_report_paths, options_from_args, resolve_package
    from validator.cli.publish import _read_report
    from validator.core.escape import log_line
    from validator.pipeline.runner import run
    from validator.publish.attestation import ATTESTATION_NAME, stale_files, statement, subjects, to_json, unattested
    from validator.readers.package import ModelPackage
    from validator.reporters.files import write_reports

    root = resolve_package(args.path)
    check_report_paths(args)
    out = Path(args.out) if args.out else root / ATTESTATION_NAME
    for flag, target in (("--out", args.out), ("--predicate", args.predicate), ("--subjects", args.subjects)):
        if target and not Path(target).parent.is_dir():
            raise UsageError(f"{flag} {target}: no folder {Path(target).parent}; create it first")
        if target and Path(target).is_dir():
            raise UsageError(f"{flag} {target}: is a folder; give a file name")
    if args.report:
        report = _read_report(Path(args.report), UsageError)
        report_text = Path(args.report).read_text(encoding="utf-8")
    else:
        options, loaded = options_from_args(args, root)
        report = run(root, options, loaded, display_path=args.path)
        write_reports(report, json_path=args.json, markdown_path=args.markdown, sarif_path=args.sarif)
        report_text = report.to_json()
    skip = unattested(root, out)
    pkg = ModelPackage(root)
    try:
        files = subjects(pkg.manifest, skip)
        special = [f"{e.path} ({e.kind})" for e in pkg.special if e.path not in skip]
        truncated = pkg.truncated
    finally:
        pkg.close()
    if special or truncated:  # what a digest cannot cover would escape verification: refused, as `sign` does
        why = f"it holds {', '.join(special[:5])}" if special else "it has more files than model-check lists"
        print(log_line(f"model-check attest: refused: {why}; an attestation covers regular files only"), file=sys.stderr)
        return EXIT_FINDINGS
    if stale := stale_files(report, files, skip):
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        print(log_line(f"model-check attest: refused: the report was made for other files ({shown}): check the package "
                       "again"), file=sys.stderr)
        return EXIT_FINDINGS
    data = statement(report, files, skip, report_text)
    replace_file(out, to_json(data))  # a symlink, FIFO or hard link planted at the name is replaced, never followed
    if args.predicate:
        Path(args.predicate).write_text(to_json(data["predicate"]), encoding="utf-8")
    if args.subjects:
        Path(args.subjects).write_text("".join(f"{a.sha256}  {a.path}\n" for a in files), encoding="utf-8")
    verdict = data["predicate"]["verdict"]
    from validator.publish.verification import unread_folders

    if unread := unread_folders(root):  # never attested; `verify` reports them (Python loads __pycache__)
        print(log_line(f"note: {', '.join(f + '/' for f in unread[:5])} not attested (model-check reads no such folder): "
                       "remove them before publishing, or `model-check verify` fails"), file=sys.stderr)
    print(log_line(f"attested: {len(files)} file(s) of {report.package_name or args.path}"
                   f"{f' {report.package_version}' if report.package_version else ''}, verdict {verdict}: {out}"))
    for extra in (args.predicate, args.subjects):
        if extra and not args.quiet:
            print(log_line(f"  {extra}"))
    if verdict != "passed":
        print(log_line(f"model-check attest: the package failed validation ({len(report.failing)} finding(s) at or above "
                       f"{report.fail_on.value}); the attestation says so and `model-check verify` will fail"), file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


def replace_file(path: Path, text: str) -> None:
    """Write `text` as a new regular file at `path` (a temporary file beside it, then renamed over it)."""
    import os
    import tempfile

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
