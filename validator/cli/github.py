"""`model-check github post REPORT.json…`: post reports made elsewhere (or by the action) to GitHub.

Exit codes: 0 every report passed; 1 a report failed (gating included); 2 a report or the PR
number could not be used, or model-check itself failed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from validator.core.escape import log_line


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    github = subparsers.add_parser("github", help="post reports to GitHub (PR comment, check run, annotations, summary)")
    commands = github.add_subparsers(dest="github_command", required=True)
    post = commands.add_parser(
        "post", help="post JSON reports: sticky PR comment, check run or annotations, job summary, outputs",
        description="Post model-check JSON reports to GitHub. Reports are treated as untrusted data (size-capped, "
                    "schema-validated); in a workflow_run job the pull request is verified against the event.")
    post.add_argument("reports", nargs="+", metavar="REPORT.json", help="JSON reports written by `model-check check --json`")
    post.add_argument("--comment", action=argparse.BooleanOptionalAction, default=True, help="sticky PR comment (default: on)")
    post.add_argument("--annotations", action=argparse.BooleanOptionalAction, default=True,
                      help="check run with annotations, or workflow-command annotations when it cannot be created (default: on)")
    post.add_argument("--summary", action=argparse.BooleanOptionalAction, default=True, help="write the job summary (default: on)")
    post.add_argument("--outputs", action=argparse.BooleanOptionalAction, default=True, help="write step outputs (default: on)")
    post.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 for all reports")
    post.add_argument("--release-gate", action="store_true",
                      help="on a tag push or release event, gate the reports on the tag (the package folders must be checked out)")
    post.add_argument("--config", metavar="FILE", help="the --config the reports were made with (for release gating)")
    post.add_argument("--pr-file", metavar="FILE", help="file holding the pull request number written by the untrusted job")
    post.add_argument("--max-report-bytes", type=int, default=None, help="largest report accepted (default 16 MiB)")
    post.add_argument("--token-env", default="GITHUB_TOKEN", metavar="NAME",
                      help="environment variable holding the token (default GITHUB_TOKEN)")
    post.set_defaults(handler=cmd_post)


def cmd_post(args: argparse.Namespace) -> int:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
    from validator.github.context import GitHubContext
    from validator.github.post import MAX_REPORT_BYTES, PostSettings, UntrustedInputError, load_report, publish, read_pr_file

    paths = [Path(p) for p in args.reports]
    try:
        reports = [load_report(p, args.max_report_bytes or MAX_REPORT_BYTES) for p in paths]
        claimed = read_pr_file(Path(args.pr_file)) if args.pr_file else None
    except UntrustedInputError as exc:
        print(log_line(f"model-check: error: {exc}"), flush=True)
        return EXIT_USAGE
    settings = PostSettings(
        comment=args.comment,
        annotations=args.annotations,
        summary=args.summary,
        outputs=args.outputs,
        sarif=Path(args.sarif) if args.sarif else None,
        release_gate=args.release_gate,
        config=Path(args.config) if args.config else None,
        pr_number=claimed,
        token=os.environ.get(args.token_env, ""),
    )
    result = publish(paths, reports, GitHubContext.from_env(), settings)
    return EXIT_FINDINGS if result.status == "failed" else EXIT_OK
