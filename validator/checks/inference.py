"""Area inference: the inference example and the notebook run from start to finish in the rebuilt
environment, sandboxed.

The guideline: "the inference example runs from start to finish in a clean environment" and "no
credentials, private paths, or unpublished data are required to run inference".

The command is the package's own: `inference-command` in model-check.toml, else the exact inference
command of the model card when it is a plain `python …` command, else `python inference.py`. It is
split with shlex and never given to a shell. Notebooks at the package root run with nbclient inside
the same sandbox (validator/runtime/probes/notebook_probe.py), with ipykernel from a separate tool layer
when the runtime lacks it (validator/runtime/tool_layer.py; for a docker environment an image layer on top
of its image, validator/runtime/image_tool_layer.py). Network access only when the package declares
`network = true`; the report then says so.
"""

from __future__ import annotations

import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from validator.checks.base import NOT_REBUILT, DynamicCheck, Outcome, Skip
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding, Severity
from validator.core.options import Options
from validator.readers.package import ModelPackage
from validator.runtime.probes import PROBE_DIR, Staging, read_result
from validator.runtime.probes.protocol import NotebookPlan, NotebookResult
from validator.sandbox.base import Completed, Env, Limits

GUIDE_RUNS = "The guideline: the inference example runs from start to finish in a clean environment."
GUIDE_NOTEBOOK = ("The guideline: example_inference.ipynb is a runnable demonstration for users who need an "
                  "end-to-end example, and the inference example runs from start to finish in a clean environment.")


PYTHON = ("python", "python3")
SHELL_SYNTAX = re.compile(r"[|&;<>`$(){}]|\*|\?")
NOT_INFERENCE_MODULES = ("venv", "pip", "ensurepip", "virtualenv", "uv")
NETWORK_SIGNS = re.compile(
    r"ConnectionError|ConnectionRefusedError|NewConnectionError|MaxRetryError|gaierror|urlopen error|"
    r"Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host|"
    r"getaddrinfo failed|Could not resolve host|Failed to establish a new connection|nodename nor servname|"
    r"RemoteDisconnected|Connection reset by peer|HTTPSConnectionPool|HTTPConnectionPool",
)
TAIL_LINES = 20
TAIL_CHARS = 3000


@dataclass(frozen=True)
class Command:
    argv: list[str]
    source: str  # where it came from, for the report


@dataclass(frozen=True)
class Subject:
    """What the inference check works on: the package, the options, the rebuilt environment."""

    pkg: ModelPackage
    options: Options
    env: Env


class InferenceCheck(DynamicCheck):
    name = "inference example"
    area = Area.INFERENCE

    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        if env is None:
            return Skip(NOT_REBUILT)
        ctx = Subject(pkg, options, env)
        if _command(ctx) is None and not _notebooks(ctx):
            reason = "no inference.py, no runnable inference command in the card or model-check.toml, and no notebook"
            return Skip(_unrunnable_entry_point(ctx) or reason)
        return Outcome(self._findings(ctx))

    def _findings(self, ctx: Subject) -> list[Finding]:
        env = ctx.env
        findings: list[Finding] = []
        command = _command(ctx)
        with Staging(ctx.pkg) as staging:
            notebooks = _notebooks(ctx)
            tools = _layer_for(ctx) if notebooks else (env, None, None)
            jobs = [_prepare_notebook(ctx, staging, rel, index, tools) for index, rel in enumerate(notebooks)]
            # inference.py and the notebooks are independent: run them side by side, each sandboxed.
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="inference") as pool:
                command_run = (pool.submit(env.run, command.argv, staging.root, _limits(ctx, ctx.options.timeout_s))
                               if command is not None else None)
                notebook_runs = [pool.submit(job.env.run, job.argv, staging.root, _limits(ctx, job.wall_s),
                                             fetch=[job.result]) if job.problem is None else None for job in jobs]
            if command is not None and command_run is not None:
                findings += _command_findings(ctx, command, command_run.result())
            for job, future in zip(jobs, notebook_runs, strict=True):
                findings += _notebook_outcome(ctx, job, future.result() if future is not None else None)
        return findings


# -- the inference command ------------------------------------------------------------------------

def _command_findings(ctx: Subject, command: Command, completed: Completed) -> list[Finding]:
    limits = _limits(ctx, ctx.options.timeout_s)
    shown = shlex.join(command.argv)
    tail = output_tail(completed)
    where = "inference.py" if ctx.pkg.has("inference.py") else None
    with_network = " with network access (allowed by the caller)" if ctx.options.network else ""
    if completed.timed_out or completed.killed_by == "timeout":
        return [rule("inference-timeout").finding(
            f"`{shown}` ({command.source}) was stopped after {limits.wall_s:g} s{with_network}; output tail:\n{tail}",
            file=where)]
    if completed.killed_by == "memory":
        return [rule("inference-out-of-memory").finding(
            f"`{shown}` ran out of memory (limit {limits.memory_mb} MiB); output tail:\n{tail}", file=where)]
    if completed.returncode != 0:
        if not ctx.options.network and NETWORK_SIGNS.search(completed.stderr + completed.stdout):
            return [rule("inference-needs-network").finding(
                f"`{shown}` failed (exit status {completed.returncode}) with what looks like a network error; "
                f"model-check runs it without network. Bundle the data, or declare `network = true` in "
                f"model-check.toml and run the check with --allow-network. Output tail:\n{tail}", file=where)]
        cause = f"was killed ({completed.killed_by})" if completed.killed_by else f"exited with status {completed.returncode}"
        return [rule("inference-failed").finding(f"`{shown}` ({command.source}) {cause}{with_network}; output tail:\n{tail}",
                                         file=where)]
    return [rule("inference-ran").finding(
        f"`{shown}` ({command.source}) exited 0 in {completed.duration_s:.1f} s{with_network}; output tail:\n{tail}",
        file=where)]


# -- notebooks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NotebookJob:
    rel: str
    argv: list[str]
    result: str  # the probe's JSON result, relative to the workdir
    wall_s: float
    layer: str | None
    problem: str | None  # why it cannot run; None when it can
    env: Env  # where it runs: the environment, or the same with the tool layer on its image


def _prepare_notebook(ctx: Subject, staging: Staging, rel: str, index: int,
                      tools: tuple[Env, str | None, str | None]) -> NotebookJob:
    env, layer, problem = tools
    result = f"{PROBE_DIR}/notebook_{index}.json"
    wall = max(ctx.options.timeout_s, ctx.options.notebook_timeout_s) + 60  # kernel start-up on top
    if problem:
        return NotebookJob(rel, [], result, wall, None, problem, env)
    plan: NotebookPlan = {"notebook": rel, "layer": layer, "timeout_s": ctx.options.notebook_timeout_s, "result": result}
    argv = ["python", staging.add_script("notebook_probe.py"), staging.add_json(f"notebook_{index}_plan.json", plan)]
    return NotebookJob(rel, argv, result, wall, layer, None, env)


def _notebook_outcome(ctx: Subject, job: NotebookJob, completed: Completed | None) -> list[Finding]:
    rel = job.rel
    if completed is None:  # model-check could not provide a kernel: not the package's fault, yet not a pass
        return [rule("notebook-not-runnable").finding(f"{rel} was not run: {job.problem}", file=rel, severity=Severity.WARNING)]
    result = read_result(completed.files, job.result, NotebookResult)
    if result is None:
        if completed.timed_out:
            return [rule("notebook-timeout").finding(f"{rel} did not finish within {job.wall_s:g} s in total", file=rel)]
        return [rule("notebook-not-runnable").finding(
            f"running {rel} failed (exit status {completed.returncode}); output tail:\n{output_tail(completed)}",
            file=rel)]
    if result.get("status") == "ok":
        cells = result.get("code_cells")
        return [rule("notebook-ran").finding(
            f"{rel} ran from start to finish ({cells} code cells) in {completed.duration_s:.1f} s", file=rel)]
    return _notebook_findings(ctx, rel, result)


def _notebook_findings(ctx: Subject, rel: str, result: NotebookResult) -> list[Finding]:
    status = result.get("status")
    cell = _cell_phrase(result)
    if status == "timeout":
        return [rule("notebook-timeout").finding(
            f"{rel}: {cell} did not finish within {ctx.options.notebook_timeout_s:g} s", file=rel)]
    if status == "cell-error":
        error = f"{result.get('ename')}: {result.get('evalue')}"
        traceback_tail = "\n".join(str(result.get("traceback") or "").splitlines()[-TAIL_LINES:])
        if not ctx.options.network and NETWORK_SIGNS.search(str(result.get("traceback")) + error):
            return [rule("inference-needs-network").finding(
                f"{rel}: {cell} fails with what looks like a network error ({error}); model-check runs notebooks "
                f"without network. Bundle the data, or declare `network = true` in model-check.toml and run the check "
                f"with --allow-network.", file=rel)]
        return [rule("notebook-failed").finding(f"{rel}: {cell} raises {error}\n{traceback_tail}", file=rel)]
    reason = str(result.get("reason") or status)
    if status == "kernel-died":
        return [rule("notebook-failed").finding(f"{rel}: the kernel died in {cell} ({reason}); a memory limit of "
                                        f"{ctx.options.memory_mb} MiB applies", file=rel)]
    return [rule("notebook-not-runnable").finding(f"{rel}: {reason}", file=rel)]


def _cell_phrase(result: NotebookResult) -> str:
    index = result.get("cell_index")
    if not isinstance(index, int):
        return "a cell"
    first = result.get("first_line")
    return f"cell {index} (0-based index, the {_ordinal(index + 1)} cell" + (f", starting `{first}`)" if first else ")")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _layer_for(ctx: Subject) -> tuple[Env, str | None, str | None]:
    """(the environment notebooks run in, the tool layer's path in it or None when the environment has the
    tools, problem)."""
    try:
        installed = {k.lower().replace("_", "-") for k in ctx.env.installed()}
    except Exception:
        installed = set()
    if {"ipykernel", "nbclient", "nbformat"} <= installed:
        return ctx.env, None, None
    from validator.runtime.image_tool_layer import notebook_tools  # imports the docker SDK (CLI start-up: issue 16)

    image = notebook_tools(ctx.env, ctx.options)  # a docker environment: the tools as a layer on its image
    if image is not None:
        return (image.env, image.layer, None) if image.env is not None else (ctx.env, None, image.problem)
    python = getattr(ctx.env, "python", None)
    if not python:
        return ctx.env, None, (f"the runtime does not install ipykernel and nbclient, and model-check cannot add them "
                               f"to a {ctx.env.kind} environment; add ipykernel and nbclient to the runtime")
    from validator.runtime.tool_layer import notebook_layer  # imports the venv builder (CLI start-up: issue 16)

    layer = notebook_layer(str(python), ctx.options)
    if layer.path is None:
        return ctx.env, None, layer.problem
    return ctx.env, str(layer.path), None


# -- helpers --------------------------------------------------------------------------------------

def _limits(ctx: Subject, wall_s: float) -> Limits:
    return Limits(wall_s=wall_s, cpu_s=int(wall_s * 2) + 60, memory_mb=ctx.options.memory_mb,
                  network=ctx.options.network)


def _notebooks(ctx: Subject) -> list[str]:
    return sorted(f for f in ctx.pkg.files if "/" not in f and f.lower().endswith(".ipynb"))


def _command(ctx: Subject) -> Command | None:
    """The inference command: model-check.toml's, else the card's plain python command, else inference.py."""
    if ctx.options.inference_command:
        argv = parse_python_command(ctx.options.inference_command)
        if argv:
            return Command(argv, "inference-command in model-check.toml")
    facts = ctx.pkg.card_facts
    stated = getattr(getattr(facts, "inference_command", None), "value", None)
    if isinstance(stated, str) and (argv := parse_python_command(stated)) and _script_exists(ctx, argv):
        return Command(argv, "the model card's inference command")
    if ctx.pkg.has("inference.py"):
        return Command(["python", "inference.py"], "inference.py")
    return None


def _unrunnable_entry_point(ctx: Subject) -> str | None:
    """Why the entry point the card names is not run, and what would make it run (the reason of the skip; no
    entry point at all is the layout area's inference-script-missing finding)."""
    stated = getattr(ctx.pkg.card_facts, "inference_command", None)
    value = getattr(stated, "value", None)
    if not isinstance(value, str) or not value.strip():
        return None
    shown = value.strip().splitlines()[0][:120]
    argv = parse_python_command(value)
    if argv is not None and argv[1] != "-m" and not _script_exists(ctx, argv):
        why = f"names {argv[1]}, which the package does not have"
    elif argv is None and getattr(stated, "how", "") == "code" and re.match(r"\s*(import|from)\s", value):
        why = "is a Python code example in the card, not a command"
    elif argv is None:
        why = "is not a plain `python script.py …` command (commands run without a shell: no pipes, redirections or variables)"
    else:
        return None
    return (f"the inference example was not run: the model card's entry point `{shown}` {why}, and there is no "
            f"inference.py and no notebook at the package root; add an inference.py that runs the example end to end "
            f"on bundled data, or name a plain command in model-check.toml (inference-command = \"python predict.py\")")


def parse_python_command(text: str) -> list[str] | None:
    """argv of a plain `python …` command (no shell syntax, not an installer), else None."""
    text = text.strip().removeprefix("$").strip()
    if SHELL_SYNTAX.search(text):
        return None
    try:
        argv = shlex.split(text)
    except ValueError:
        return None
    if not argv or argv[0] not in PYTHON or len(argv) < 2:
        return None
    if argv[1] == "-m" and (len(argv) < 3 or argv[2] in NOT_INFERENCE_MODULES):
        return None
    return ["python", *argv[1:]]


def _script_exists(ctx: Subject, argv: list[str]) -> bool:
    """A `python script.py …` command names a script the package has; `python -m module` is taken as is."""
    if argv[1] == "-m":
        return True
    script = argv[1]
    return not script.startswith("-") and ctx.pkg.has(script.removeprefix("./"))


def output_tail(completed: Completed) -> str:
    """The last lines of what the command printed (stderr after stdout); unescaped, reporters escape it."""
    text = "\n".join(part.rstrip() for part in (completed.stdout, completed.stderr) if part.strip())
    lines = text.splitlines()[-TAIL_LINES:]
    tail = "\n".join(lines)
    return tail[-TAIL_CHARS:] if tail else "(no output)"
