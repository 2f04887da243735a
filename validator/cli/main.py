"""The model-check command line: the parser of every subcommand, and main()."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from validator import __version__
from validator.cli import attest, check, discover, github, publish, rules, sign, verify
from validator.cli.common import EXIT_USAGE, UsageError

SUBCOMMANDS = (check, rules, discover, github, publish, attest, sign, verify)  # each has register(subparsers), setting `handler`


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="model-check", description="Validate an ML model package against EarthCODE's FAIR ML Model Packaging guideline.")
    parser.add_argument("--version", action="version", version=f"model-check {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        print(f"model-check: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("model-check: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # model-check itself failed: exit 2, one line plus where
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"model-check: internal error: {type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})", file=sys.stderr)
        return EXIT_USAGE
