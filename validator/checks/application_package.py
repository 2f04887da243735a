"""OGC Application Packages (OGC 20-089): CWL documents as the package's runtime.

Static: the document read as data (readers.cwl), its references refused before any tool sees them,
the Best Practice's structure (one Workflow, the entry point; CommandLineTools, each with a
DockerRequirement; typed inputs and outputs), then cwltool's own validation in the sandbox.
Dynamic: the tools' images prepared on the Docker engine, the workflow run by cwltool in the sandbox
on `<stem>.job.yml` (runtime.cwl_run), its outputs checked against the Workflow's declared outputs.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Iterable
from pathlib import Path

from validator.checks.base import DynamicCheck, Outcome, Skip, StaticCheck
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding, Note
from validator.core.options import Options
from validator.readers.cwl import CwlDocument, Process, job_file, references
from validator.readers.cwl import load as load_yaml
from validator.readers.cwl_validate import validate
from validator.readers.package import ModelPackage
from validator.runtime.cwl_parity import compare
from validator.runtime.cwl_run import RunResult, docker_env, engine_problem, prepare_images, remove_images, run_workflow
from validator.sandbox.base import Env, Limits
from validator.sandbox.bubblewrap import remove_tree, sandbox_support

UNTYPED = (None, "Any", "?")


def entry_point(doc: CwlDocument) -> tuple[Process | None, str | None]:
    """The Workflow a platform starts (and its `#id` for cwltool in a `$graph`), or (None, None)."""
    flows = doc.workflows
    if len(flows) > 1:
        flows = [p for p in flows if p.id == "main"]
    if len(flows) != 1:
        return None, None
    return flows[0], (flows[0].id if doc.graph else None)


class ApplicationPackageCheck(StaticCheck):
    name = "OGC Application Package"
    area = Area.RUNTIME

    def run(self, pkg: ModelPackage, options: Options) -> Iterable[Finding] | Skip:
        docs = pkg.cwl_documents
        if not docs:
            return Skip("no CWL document (*.cwl, or a YAML/JSON file with cwlVersion) in the package")
        findings: list[Finding] = []
        tools = [tool for doc in docs for tool in doc.tools]
        entries = [doc for doc in docs if doc.workflows]
        for doc in docs:
            if doc.problem:
                findings.append(rule("cwl-invalid").finding(f"{doc.rel} cannot be read: {doc.problem}", doc.rel,
                                                            doc.problem_line or None))
                continue
            findings += [rule("cwl-reference-refused").finding(
                f"{doc.rel} names `{ref.key}: {ref.value}`, {ref.problem}; model-check read and ran nothing of the "
                "document", doc.rel, ref.line or None) for ref in doc.references]
            findings += _structure(doc)
        if not entries and all(not doc.problem for doc in docs):
            findings.append(rule("cwl-no-workflow").finding(
                f"no `class: Workflow` in {', '.join(doc.rel for doc in docs)}: an Application Package is started "
                "from its Workflow", docs[0].rel, 1))
        if not tools and all(not doc.problem for doc in docs):
            findings.append(rule("cwl-no-tool").finding(
                f"no `class: CommandLineTool` in {', '.join(doc.rel for doc in docs)}", docs[0].rel, 1))
        if not any(f.rule in ("MC360", "MC365") for f in findings):
            findings += _validate(pkg, entries)
        return findings


def _structure(doc: CwlDocument) -> list[Finding]:
    found: list[Finding] = []
    if doc.workflows and entry_point(doc)[0] is None:
        ids = ", ".join(p.id for p in doc.workflows)
        found.append(rule("cwl-no-workflow").finding(
            f"{doc.rel} holds several Workflows ({ids}) and none is `main`: the entry point is not named",
            doc.rel, doc.workflows[0].line or None))
    for process in doc.processes:
        if process.cls == "CommandLineTool" and process.docker is None:
            found.append(rule("cwl-tool-no-container").finding(
                f"the CommandLineTool `{process.id}` of {doc.rel} has no DockerRequirement", doc.rel,
                process.line or None))
        if process.cls in ("Workflow", "CommandLineTool"):
            for kind, ports in (("input", process.inputs), ("output", process.outputs)):
                for port in ports:
                    if port.type in UNTYPED:
                        found.append(rule("cwl-untyped-port").finding(
                            f"the {kind} `{port.id}` of `{process.id}` in {doc.rel} has "
                            f"{'no type' if port.type is None else 'type ' + str(port.type)}", doc.rel,
                            port.line or None))
        if process.network:
            found.append(rule("cwl-network-requested").finding(
                f"`{process.id}` of {doc.rel} asks for NetworkAccess; model-check runs it without network",
                doc.rel, process.line or None))
    return found


def _validate(pkg: ModelPackage, entries: list[CwlDocument]) -> list[Finding]:
    found: list[Finding] = []
    for doc in entries:
        process, entry = entry_point(doc)
        if process is None:
            continue
        result = validate(pkg.root, doc.rel, entry)
        if not result.valid:
            found.append(rule("cwl-invalid").finding(f"cwltool rejects {doc.rel}: {result.message}", doc.rel,
                                                     result.line))
    return found


class ApplicationPackageRunCheck(DynamicCheck):
    name = "OGC Application Package run"
    area = Area.RUNTIME
    needs_env = False  # the tools run in the containers the Application Package names

    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        every = pkg.cwl_documents
        docs = [doc for doc in every if doc.workflows]
        if not docs:
            return Skip("no CWL Workflow in the package")
        clean = not any(doc.problem or doc.references for doc in every)
        runnable = [doc for doc in docs if clean and entry_point(doc)[0]
                    and all(tool.docker is not None for d in every for tool in d.tools)]
        if not runnable:
            return Skip("the Application Package has static findings (see above): not run")
        if not (sandbox_support().hidden_files and shutil.which("bwrap")):
            return Skip("the Application Package's JavaScript and cwltool run only where the sandbox hides the host's "
                        "files (bubblewrap), and it cannot here: not run")
        docker = docker_env()
        try:
            problem = engine_problem(docker)
            if problem:
                return Skip(f"the Application Package runs its tools in containers: {problem}")
            outcome = Outcome()
            tools = [(d.rel, tool) for d in every for tool in d.tools]  # `run: tool.cwl` keeps a tool in a file of its own
            for doc in runnable:
                _run_one(pkg, doc, tools, options, docker, outcome)
            return outcome
        finally:
            remove_tree(Path(docker["DOCKER_CONFIG"]))


def _run_one(pkg: ModelPackage, doc: CwlDocument, tools: list[tuple[str, Process]], options: Options, docker: dict[str, str],
             outcome: Outcome) -> None:
    process, entry = entry_point(doc)
    assert process is not None
    files = frozenset(pkg.files)
    job = job_file(doc.rel, files)
    if job is None and any(not (port.type or "").endswith("?") and not port.default for port in process.inputs):
        stem = doc.rel.rsplit(".", 1)[0]
        outcome.findings.append(rule("cwl-no-test-input").finding(
            f"{doc.rel} was not run: no {stem}.job.yml names its inputs", doc.rel, process.line or None))
        return
    value: object = None
    if job is not None:
        read = pkg.read_text(job)
        value, problem, line = load_yaml(read.text or "")
        refused = references(value, job, files, frozenset(pkg.dirs), job=True) if problem is None else []
        if problem or read.text is None or refused:
            why = problem or read.problem or f"`{refused[0].key}: {refused[0].value}`, {refused[0].problem}"
            ident = "cwl-reference-refused" if refused else "cwl-invalid"
            outcome.findings.append(rule(ident).finding(f"the test input {job} was not used: {why}", job,
                                                        (refused[0].line if refused else line) or None))
            return
    images = prepare_images(pkg.root, tools, docker, options.timeout_s)
    try:
        outcome.notes += [Note.machine(f"application package {doc.rel}: image {note}") for note in images.notes]
        for tool, problem in images.problems:
            at = next((t.line for t in doc.tools if t.id == tool), 0)  # a tool of another document: the Workflow
            outcome.findings.append(rule("cwl-image-unavailable").finding(
                f"the tool `{tool}` of {doc.rel}: {problem}", doc.rel, at or None))
        if images.problems:
            return
        limits = Limits(wall_s=options.timeout_s, cpu_s=int(options.timeout_s * 2) + 60,
                        memory_mb=min(options.memory_mb, 4096), processes=512)
        result = run_workflow(pkg.root, doc.rel, entry, job, images, docker, limits)
        try:
            _judge(doc, process, job, result, outcome, limits)
            if result.outputs is not None and job is not None:
                _parity(pkg, options, job, value, process, result, outcome)
        finally:
            remove_tree(result.out_dir.parent)
    finally:
        remove_images(images, docker)


def _judge(doc: CwlDocument, process: Process, job: str | None, result: RunResult, outcome: Outcome,
           limits: Limits) -> None:
    target = f"{doc.rel}#{process.id}" if doc.graph else doc.rel
    refused = f"; model-check refused {'; '.join(result.refused[:3])}" if result.refused else ""
    if result.returncode != 0 or result.outputs is None:
        why = (f"it was stopped ({result.killed_by}; limits: {limits.wall_s:.0f} s, {limits.memory_mb} MiB)"
               if result.killed_by else f"cwltool exited with {result.returncode}" if result.returncode
               else "cwltool printed no output object")
        outcome.findings.append(rule("cwl-run-failed").finding(
            f"{target} on {job or 'its defaults'}: {why}{refused}. Log tail:\n{result.log_tail[-1500:]}", doc.rel,
            process.line or None))
        return
    problems = [p for port in process.outputs if (p := _output_problem(port.id, port.type, result.outputs.get(port.id),
                                                                       result.out_dir))]
    for problem in problems:
        outcome.findings.append(rule("cwl-output-mismatch").finding(f"{target}: {problem}", doc.rel,
                                                                    process.line or None))
    images = sorted({run.image for run in result.containers})
    outcome.findings.append(rule("cwl-workflow-ran").finding(
        f"{target} ran on {job or 'its defaults'} with cwltool in {result.duration_s:.1f} s: "
        f"{len(result.containers)} container(s) of {', '.join(images) or 'no image'} (no network), outputs "
        f"{', '.join(sorted(result.outputs)) or 'none'}", doc.rel, process.line or None))


def _parity(pkg: ModelPackage, options: Options, job: str, value: object, process: Process, result: RunResult,
            outcome: Outcome) -> None:
    """Each .npy File output against the package's one ONNX graph on the job's .npy input."""
    graphs = [rel for rel in pkg.files if rel.endswith(".onnx")]
    base = posixpath.dirname(job)
    sources = [posixpath.normpath(posixpath.join(base, str(v.get("location") or v.get("path"))))
               for v in (value.values() if isinstance(value, dict) else [])
               if isinstance(v, dict) and v.get("class") == "File"
               and str(v.get("location") or v.get("path") or "").endswith(".npy")]
    produced = [(port.id, out) for port in process.outputs
                if isinstance(out := (result.outputs or {}).get(port.id), dict) and str(out.get("path", "")).endswith(".npy")]
    if not produced:
        return
    if len(graphs) != 1 or len(sources) != 1 or sources[0] not in pkg.files:
        outcome.notes.append(Note.package(
            f"application package: tensor outputs {', '.join(n for n, _ in produced)} not compared with ONNX "
            "(that needs exactly one .onnx graph and one .npy input File in the job)"))
        return
    for name, out in produced:
        path = Path(str(out["path"]))
        compared = compare(pkg.root, graphs[0], sources[0], path, options.rtol, options.atol)
        if compared.ok or not compared.compared:
            outcome.notes.append(Note.package(f"application package output `{name}` {compared.message}"))
        else:
            outcome.findings.append(rule("cwl-output-parity").finding(
                f"the workflow output `{name}` ({path.name}) {compared.message}", job))


def _output_problem(name: str, kind: str | None, value: object, out_dir: Path) -> str | None:
    if kind is None or kind in ("Any",):
        return None
    optional = kind.endswith("?") or "null" in kind.split(" | ")
    base = kind.removesuffix("?").replace("null | ", "").replace(" | null", "")
    if value is None:
        return None if optional else f"the declared output `{name}` ({kind}) is missing (null)"
    if base.endswith("[]") or base.startswith("array of "):
        item = base.removesuffix("[]").removeprefix("array of ")
        if not isinstance(value, list):
            return f"the output `{name}` is declared {kind} and is not a list"
        return next((p for v in value if (p := _output_problem(name, item, v, out_dir))), None)
    if base in ("File", "Directory"):
        if not isinstance(value, dict) or value.get("class") != base:
            return f"the output `{name}` is declared {base} and is {type(value).__name__}"
        path = str(value.get("path", ""))
        real = os.path.realpath(path)
        if os.path.commonpath([real, os.path.realpath(out_dir)]) != os.path.realpath(out_dir) or not os.path.exists(real):
            return f"the {base} of output `{name}` was not written to the run's output folder"
        return None
    expected = {"string": str, "boolean": bool, "int": int, "long": int, "float": (int, float), "double": (int, float)}
    wanted = expected.get(base)
    if wanted is not None and not isinstance(value, wanted):  # type: ignore[arg-type]
        return f"the output `{name}` is declared {base} and is {type(value).__name__}"
    return None
