"""`model-check check PATH`: run every check on one package, print the verdict, write the reports."""

from __future__ import annotations

import argparse

from validator.cli.common import (
    EXIT_CODES_EPILOG,
    EXIT_FINDINGS,
    EXIT_OK,
    add_check_options,
    check_report_paths,
    options_from_args,
    resolve_package,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = subparsers.add_parser("check", help="check a model package", description="Check a model package against "
                                  "EarthCODE's FAIR ML Model Packaging guideline and write the reports asked for.",
                                  epilog=EXIT_CODES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("path", nargs="?", default=".", help="the package folder (default: .)")
    add_check_options(check)
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    root = resolve_package(args.path)
    check_report_paths(args)
    options, loaded = options_from_args(args, root)
    from validator.pipeline.opening import open_package

    package = open_package(root, options)  # its files hash from here on, while the checks' modules are imported
    # Imported here, not at the top: `--help` and the spinner's first frame do not wait for every check's imports.
    from rich.console import Console

    from validator.cli.progress import progress_for

    console = Console(stderr=False, highlight=False)
    with progress_for(args.path, quiet=args.quiet) as progress:  # a spinner, or log lines (CI): see progress.py
        from validator.pipeline import runner

        report = runner.run(root, options, loaded, progress=progress, display_path=args.path, package=package)
    from validator.reporters.files import write_reports  # after the run: the first progress line does not wait
    from validator.reporters.terminal import print_report

    write_reports(report, json_path=args.json, markdown_path=args.markdown, sarif_path=args.sarif)
    if args.quiet:
        s = report.summary
        console.print(f"{report.status}: {s['error']} error(s), {s['warning']} warning(s), {s['info']} info")
    else:
        print_report(report, console, verbose=args.verbose)
    return EXIT_FINDINGS if report.status == "failed" else EXIT_OK
