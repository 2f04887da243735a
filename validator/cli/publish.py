"""`model-check publish PATH --base-url URL`: check the package (or take a report), refuse a failing
one, then write beside each other in --out:

    <item-id>.json              STAC Item, MLM extension v1.5.2 (validated offline before it is written)
    <item-id>.provenance.json   where every value of the item comes from, and what was left out
    validation-report.json      the model-check report: the validation evidence the item links to
    collection.json             with --product: the OSC product Collection skeleton

With --workflow / --experiment (the provenance chain; they imply --product) the same files are written
in the Open Science Catalog's tree instead, so that the records' relative links resolve:

    products/<product-id>/      collection.json, the item, its provenance (all records), the report
    workflows/<id>/record.json  the OSC workflow record
    experiments/<id>/           record.json (the OSC experiment record) and input.yaml

Exit codes: 0 written; 1 refused (failing package, stale report, a record that fails its schema);
2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from validator.core.escape import log_line
from validator.core.report import Report
from validator.readers.stac_assets import MLM_SCHEMA, OSC_SCHEMA, REPORT_NAME

if TYPE_CHECKING:  # jsonschema is imported when publish runs, not at the command line's start-up
    from validator.readers.stac_schemas import SchemaError, SchemaSet

OSC_STATUSES = ("planned", "ongoing", "completed")
MAX_REPORT_BYTES = 16 * 1024 * 1024
MAX_LISTED = 10
PUBLISH_ENV = "none"  # --env of publish when none is given: the static checks


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, add_check_options

    parser = subparsers.add_parser(
        "publish", help="write a STAC MLM item (and an OSC product) for a package that passes the checks",
        description="Check the package (static by default), refuse it when it fails, and write a STAC Item with the "
                    "Machine Learning Model extension, its provenance, the validation report and optionally an Open "
                    "Science Catalog product Collection. Every value comes from the package; nothing is guessed.",
        epilog=f"exit codes:\n  {EXIT_OK}  the records were written\n  {EXIT_FINDINGS}  refused: the package fails the checks, the "
               f"report is stale, or a record fails its schema\n  {EXIT_USAGE}  usage error or a failure of model-check itself",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="the package folder")
    parser.add_argument("--base-url", required=True, help="URL the package files are published under (asset hrefs = URL/path)")
    parser.add_argument("--out", default="publish", metavar="DIR", help="folder to write the records to (default: ./publish)")
    parser.add_argument("--report", metavar="REPORT.json", help="use this report of `model-check check --json` instead of checking")
    parser.add_argument("--allow-failing", action="store_true", help="publish even when the checks fail (the report says so)")
    parser.add_argument("--schema-dir", metavar="DIR", help="folder of STAC extension schemas (default: the copies bundled with model-check)")
    osc = parser.add_argument_group("Open Science Catalog")
    osc.add_argument("--product", action="store_true", help="also write the OSC product collection.json skeleton")
    osc.add_argument("--product-id", help="id of the OSC product (default: the item id)")
    osc.add_argument("--project", help="osc:project, the OSC project id")
    osc.add_argument("--status", choices=OSC_STATUSES, help="osc:status (default: completed)")
    osc.add_argument("--theme", action="append", default=[], help="OSC theme id, e.g. atmosphere (repeatable)")
    osc.add_argument("--variable", action="append", default=[], help="osc:variables entry (repeatable)")
    osc.add_argument("--mission", action="append", default=[], help="osc:missions entry (repeatable)")
    osc.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"),
                     help="region the model is meant for (default: no geometry)")
    chain = parser.add_argument_group("provenance chain (OSC workflow and experiment records; imply --product)")
    chain.add_argument("--workflow", nargs="?", const="", metavar="ID",
                       help="also write the OSC workflow record of the package's code (default id: <item id>-workflow)")
    chain.add_argument("--experiment", nargs="?", const="", metavar="ID",
                       help="also write the OSC experiment record of the run that produced the model, with --workflow's "
                            "record (default id: <item id>-experiment)")
    chain.add_argument("--repository", metavar="URL", help="source repository (default: the card, the GitHub Actions "
                                                           "context, then the git checkout's remote origin)")
    chain.add_argument("--ref", metavar="TAG", help="release tag (default: the card, the GitHub context, a git tag of HEAD)")
    chain.add_argument("--commit", metavar="SHA", help="commit (default: the card, the GitHub context, git HEAD)")
    add_check_options(parser, env_default=PUBLISH_ENV)
    parser.set_defaults(handler=cmd_publish)


@dataclass
class Outcome:
    """What a publication produced, before anything is written."""

    item: dict[str, Any]
    provenance: dict[str, Any]
    report_text: str
    collection: dict[str, Any] | None
    unchecked: list[str]  # declared extension schemas that were not available offline
    chain: Any = None  # the workflow/experiment records (ChainRecords), written in the catalog's tree


def cmd_publish(args: argparse.Namespace) -> int:
    from validator.cli.common import EXIT_FINDINGS, EXIT_OK, UsageError, check_report_paths, options_from_args, resolve_package
    from validator.pipeline.runner import run
    from validator.reporters.files import write_reports

    root = resolve_package(args.path)
    check_report_paths(args)
    base_url = _base_url(args.base_url, UsageError)
    if (args.variable or args.mission) and not args.project:
        raise UsageError("--variable and --mission are OSC fields: give --project too")
    chain_settings, context = _chain_args(args, UsageError)
    from validator.readers.stac_schemas import load_schemas

    schemas = load_schemas(Path(args.schema_dir) if args.schema_dir else None)
    if not schemas.has(MLM_SCHEMA):
        unusable = f" ({len(schemas.problems)} file(s) could not be used: {schemas.problems[0]}…)" if schemas.problems else ""
        raise UsageError(f"--schema-dir {schemas.directory}: no schema of {MLM_SCHEMA} (mlm-v1.5.2.schema.json){unusable}")
    if args.report:
        report = _read_report(Path(args.report), UsageError)
    else:
        if args.env is None:
            args.env = PUBLISH_ENV  # publishing needs the static verdict; --env builds and runs as `check` does
        options, loaded = options_from_args(args, root)
        report = run(root, options, loaded, display_path=args.path)
        write_reports(report, json_path=args.json, markdown_path=args.markdown, sarif_path=args.sarif)
    if report.failing and not args.allow_failing:
        _refuse(report)
        return EXIT_FINDINGS
    settings = _settings(args, base_url)
    outcome = _build(root, report, settings, schemas, check_manifest=bool(args.report), chain_settings=chain_settings,
                     context=context)
    if isinstance(outcome, str):
        print(log_line(f"model-check publish: not published: {outcome}"), file=sys.stderr)
        return EXIT_FINDINGS
    written = _write(Path(args.out), outcome)
    _summary(report, outcome, written, schemas, args.allow_failing)
    return EXIT_OK


def _build(root: Path, report: Report, settings: Any, schemas: SchemaSet, check_manifest: bool, chain_settings: Any = None,
           context: Any = None) -> Outcome | str:
    """The records, validated; or why nothing can be published."""
    from validator.publish.item import PublishError, build_item
    from validator.publish.lineage import build_chain, view
    from validator.publish.product import build_product
    from validator.readers.declared import gather
    from validator.readers.package import ModelPackage

    pkg = ModelPackage(root)
    try:
        if check_manifest and (stale := _stale(report, pkg)):
            return f"the report was made for other files ({stale}): check the package again"
        report_text = report.to_json()
        try:
            built = build_item(pkg, gather(pkg), report_text, settings)
        except PublishError as exc:
            return str(exc)
        package_view = view(pkg, root, context) if chain_settings is not None else None
    finally:
        pkg.close()
    errors, unchecked = schemas.validate_declared(built.item)
    provenance: dict[str, Any] = {"item": built.file_name, **built.provenance.to_dict()}
    collection = None
    chain = None
    if settings.product:
        collection, product_prov = build_product(built, settings)
        if package_view is not None:
            chain = build_chain(package_view, built, settings, chain_settings, collection, product_prov)
        product_errors, product_unchecked = schemas.validate_declared(collection)
        errors += product_errors
        unchecked += [u for u in product_unchecked if u not in unchecked]
        provenance["collection"] = {"file": "collection.json", **product_prov.to_dict()}
    if chain is not None:
        provenance.update(chain.provenance)
        if chain.problems:
            return ("the provenance chain's records do not validate (schemas in validator/schemas/osc, links between them):\n"
                    + "\n".join(f"  {p}" for p in chain.problems[:MAX_LISTED]) + _left_out(provenance))
    if errors:
        omitted = [f"  {o['field']}: {o['reason']}" for o in provenance["omitted"]]
        return ("the records do not validate against their schemas:\n" + "\n".join(_schema_line(e) for e in errors[:MAX_LISTED])
                + ("\nvalues left out for lack of a source:\n" + "\n".join(omitted) if omitted else ""))
    return Outcome(built.item, provenance, report_text, collection, unchecked, chain)


def _left_out(provenance: dict[str, Any]) -> str:
    sections = [("item", provenance), *((k, provenance[k]) for k in ("collection", "workflow", "experiment") if k in provenance)]
    lines = [f"  {name} {o['field']}: {o['reason']}" for name, section in sections for o in section["omitted"]]
    return "\nvalues left out for lack of a source:\n" + "\n".join(lines) if lines else ""


def _chain_args(args: argparse.Namespace, usage_error: type[Exception]) -> tuple[Any, Any]:
    """The provenance chain requested (None) and the versioning context: options, then GitHub Actions."""
    import re

    from validator.github.context import GitHubContext
    from validator.publish.chain import ChainSettings
    from validator.publish.vcs import Context, public_url

    wanted = args.workflow is not None or args.experiment is not None
    if not wanted:
        if args.repository or args.ref or args.commit:
            raise usage_error("--repository, --ref and --commit fill the workflow and experiment records: give --workflow "
                              "or --experiment")
        return None, None
    if args.repository and (public_url(args.repository) != args.repository.rstrip("/").removesuffix(".git")
                            or not args.repository.startswith("https://")):
        raise usage_error(f"--repository {args.repository!r}: give the https URL of the repository, without credentials")
    if args.commit and not re.fullmatch(r"[0-9a-f]{7,40}", args.commit):
        raise usage_error(f"--commit {args.commit!r}: give the commit hash (7 to 40 lower-case hex digits)")
    for flag, value in (("--workflow", args.workflow), ("--experiment", args.experiment)):
        if value and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,99}", value):
            raise usage_error(f"{flag} {value!r}: an OSC id is lower-case letters, digits, '.', '_' and '-'")
    github = GitHubContext.from_env()
    repo_url = f"{github.server_url}/{github.repository}" if github.in_actions and github.repository else None
    context = Context(repository=args.repository.rstrip("/").removesuffix(".git") if args.repository else None,
                      ref=args.ref, commit=args.commit, ci_repository=repo_url,
                      ci_tag=github.tag if github.in_actions else None,
                      ci_commit=(github.head_sha or None) if github.in_actions else None)
    chain = ChainSettings(workflow_id=args.workflow or "", experiment_id=args.experiment, workflow_id_given=bool(args.workflow),
                          experiment_id_given=bool(args.experiment))  # "": the default id, set once the item id is known
    return chain, context


def _settings(args: argparse.Namespace, base_url: str) -> Any:
    from validator.publish.item import PublishSettings

    return PublishSettings(
        base_url=base_url, project=args.project, status=args.status, themes=tuple(args.theme),
        variables=tuple(args.variable), missions=tuple(args.mission), bbox=tuple(args.bbox) if args.bbox else None,
        product=args.product or args.workflow is not None or args.experiment is not None, product_id=args.product_id,
    )


def _write(out: Path, outcome: Outcome) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    item_name = f"{outcome.item['id']}.json"
    folder = out if outcome.chain is None or outcome.collection is None else out / "products" / str(outcome.collection["id"])
    files = [(folder / item_name, _json(outcome.item)),
             (folder / f"{outcome.item['id']}.provenance.json", _json(outcome.provenance)),
             (folder / REPORT_NAME, outcome.report_text)]
    if outcome.collection is not None:
        files.append((folder / "collection.json", _json(outcome.collection)))
    if outcome.chain is not None:  # catalog paths built from validated ids ([a-z0-9._-])
        files += [(out / rel, _json(record)) for rel, record in outcome.chain.records.items()]
        files += [(out / rel, text) for rel, text in outcome.chain.texts.items()]
    for path, text in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in files]


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _summary(report: Report, outcome: Outcome, written: list[Path], schemas: SchemaSet, allowed_failing: bool) -> None:
    validated = [url for url in outcome.item.get("stac_extensions", []) if schemas.has(url)]
    if outcome.collection is not None and OSC_SCHEMA not in validated and schemas.has(OSC_SCHEMA):
        validated.append(OSC_SCHEMA)
    print(f"published: {len(written)} file(s) written")
    for path in written:
        print(f"  {path}")
    print(f"valid against (offline, {schemas.directory}): {', '.join(validated)}")
    if outcome.chain is not None:
        print(f"valid against (offline, bundled validator/schemas/osc): OSC {' and '.join(sorted(k for k in outcome.chain.provenance))} "
              "record schemas; the links between product, workflow and experiment resolve")
    if outcome.unchecked:
        print(f"not validated (no schema in that folder): {', '.join(outcome.unchecked)}")
    records = [(outcome.provenance["item"], outcome.provenance)]
    records += [(outcome.provenance[key]["file"], outcome.provenance[key])
                for key in ("collection", "workflow", "experiment") if key in outcome.provenance]
    for title, kind in (("left out (no source states them)", "omitted"), ("placeholders to replace", "placeholders")):
        entries = [(name, entry) for name, prov in records for entry in prov[kind]]
        if entries:
            print(f"{title}:")
            for name, entry in entries:
                print(log_line(f"  {name} {entry['field']}: {entry['reason']}"))
    if allowed_failing and report.failing:
        print(f"warning: published with --allow-failing although {len(report.failing)} finding(s) fail the checks "
              f"(see {REPORT_NAME})")


def _refuse(report: Report) -> None:
    failing = report.failing
    print(f"model-check publish: refused: the package fails the checks ({len(failing)} finding(s) at or above "
          f"{report.fail_on.value}); fix them, or pass --allow-failing to publish anyway", file=sys.stderr)
    for finding in failing[:MAX_LISTED]:
        where = f"{finding.file}:{finding.line}" if finding.file and finding.line else (finding.file or "")
        print(log_line(f"  {finding.rule} {where} {finding.message}"), file=sys.stderr)
    if len(failing) > MAX_LISTED:
        print(f"  … and {len(failing) - MAX_LISTED} more", file=sys.stderr)


def _stale(report: Report, pkg: Any) -> str:
    """Which files differ between the report's artefact list and the package now ("" when none); the attestation
    and signature, written into the package after the check, are not the package's content."""
    from validator.readers.stac_assets import ATTESTATION_NAME, SIGNATURE_NAME

    sealed = {ATTESTATION_NAME, SIGNATURE_NAME}
    then = {a.path: (a.bytes, a.sha256) for a in report.artefacts if a.path not in sealed}
    now = {a.path: (a.bytes, a.sha256) for a in pkg.manifest if a.path not in sealed}
    changed = sorted(p for p in then.keys() | now.keys() if then.get(p) != now.get(p))
    return ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")


def _read_report(path: Path, usage_error: type[Exception]) -> Report:
    import jsonschema

    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise usage_error(f"--report {path}: larger than {MAX_REPORT_BYTES:,} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
        return Report.from_dict(data)
    except OSError as exc:
        raise usage_error(f"--report {path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise usage_error(f"--report {path}: not JSON ({exc})") from None
    except jsonschema.ValidationError as exc:
        raise usage_error(f"--report {path}: not a model-check report ({exc.message})") from None


def _base_url(text: str, usage_error: type[Exception]) -> str:
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc or parts.query or parts.fragment:
        raise usage_error(f"--base-url {text!r}: give an absolute URL such as https://example.org/models/goes/v0.1.0")
    return text.rstrip("/")


def _schema_line(error: SchemaError) -> str:
    return f"  {error.where}: {error.message} ({error.schema})"
