"""Area parity: the weights load strictly into the native model, ONNX Runtime runs the graph, and
the two agree (and agree with the shipped expected outputs) within rtol/atol.

The guideline: "model.safetensors loads into the expected architecture", "model.onnx runs with
ONNX Runtime", "framework-native and ONNX outputs are close for the same test input", checked with
`np.testing.assert_allclose(pytorch_logits, onnx_logits, rtol=1e-4, atol=1e-4)`.

Everything that touches package files with a framework runs in probes (validator/probes) inside the
sandbox: the native probe with the package environment's Python, the ONNX probe with the package
environment's onnxruntime when it has one, else with model-check's own in a sandboxed child process.
model-check compares the returned arrays with numpy (validator/runtime/parity.py).

What ran is evidence the report keeps (the `parity` object, and info findings): every .onnx file's
ONNX Runtime session (providers, the batch sizes given, the output names and shapes returned; the
compared graph on the package's test vectors, also repeated to batch 2 when its batch is dynamic, the
others on seeded random inputs of their own declared shape), and the class the weights loaded into
strictly. A step that cannot run is a finding saying why and what the author can add: no native
weights (an ONNX-only package), a native model that cannot be built, no test input.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from validator.checks import output_contract, parity_frameworks
from validator.checks.base import NOT_REBUILT, DynamicCheck, Outcome, Skip
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding, Note, Severity
from validator.core.options import Options
from validator.core.records import NativeLoadRecord, OnnxSessionRecord, ParityRecord, ProducedRecord, RunRecord, TensorRecord
from validator.readers.declared import CHANNEL_COUNT, CHANNELS, CLASS_COUNT, CLASSES, INPUT_SHAPE
from validator.readers.package import ModelPackage
from validator.runtime.environments.host_env import host_python
from validator.runtime.parity import Comparison, compare
from validator.runtime.probes import PROBE_DIR, Staging, read_arrays, read_result
from validator.runtime.probes.protocol import (
    FrameworkPlan,
    FrameworkResult,
    GraphPlan,
    GraphResult,
    GraphValue,
    InputFile,
    InputSetPlan,
    LoadAttempt,
    NativePlan,
    NativeResult,
    OnnxPlan,
    OnnxResult,
    SetRecord,
)
from validator.runtime.test_vectors import (
    Array,
    Inputs,
    InputSet,
    declared_specs,
    discover,
    random_inputs,
    repeated_to_batch_2,
)
from validator.sandbox.base import Completed, Env, Limits

if TYPE_CHECKING:  # numpy is imported where arrays are handled (CLI start-up: issue 16)
    import numpy as np

GUIDE_PARITY = ("The guideline: framework-native and ONNX outputs are close for the same test input "
                "(np.testing.assert_allclose(pytorch_logits, onnx_logits, rtol=1e-4, atol=1e-4)).")
GUIDE_LOAD = "The guideline: model.safetensors loads into the expected architecture."
GUIDE_ONNX = "The guideline: model.onnx runs with ONNX Runtime, if provided."


ONNXRUNTIME_NAMES = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml",
                     "ort-nightly")
TORCH_NAMES = ("torch", "pytorch")
KEYS_LISTED = 4
MAX_GRAPHS = 16  # .onnx files run per package (the compared one first)
RUNS_LISTED = 4
ProbeResult = TypeVar("ProbeResult", NativeResult, OnnxResult, FrameworkResult)
ADD_NATIVE = ("add the framework-native weights (model.safetensors, the state dictionary) and an inference.py whose "
              "load_model() builds the architecture and loads them (or name the factory in model-check.toml: "
              "native = \"inference:load_model\")")
ADD_INPUTS = ("ship test_data/input_0.npy (with test_data/output_0.npy, the expected output), or state the input "
              "shape in the model card (e.g. `Input shape: N,4,256,256`)")


@dataclass
class Run:
    """What one probe produced: its JSON result and the arrays of its .npz."""

    arrays: dict[str, np.ndarray]
    completed: Completed

    def outputs(self, sets: list[SetRecord], index: int) -> list[Array] | str:
        """The outputs of input set `index` of `sets`, or the error that set raised."""
        if index >= len(sets) or not isinstance(sets[index], dict):
            return "no result"
        record = sets[index]
        if record.get("error"):
            return str(record.get("traceback") or record["error"])
        found = []
        for item in record.get("outputs") or []:
            array = self.arrays.get(str(item.get("key")))
            if array is not None:
                found.append(Array(item.get("name"), array, "probe"))
        return found


@dataclass(frozen=True)
class Subject:
    """What the parity check works on: the package, the options, the rebuilt environment."""

    pkg: ModelPackage
    options: Options
    env: Env


@dataclass
class Tally:
    """What the probes and the comparisons have found so far."""

    findings: list[Finding] = field(default_factory=list)
    comparisons: list[tuple[str, str, Comparison]] = field(default_factory=list)  # (kind, input id, result)
    notes: list[Note] = field(default_factory=list)


@dataclass
class ProbeNotes:
    """What the probes tell about themselves, for the report's parity object."""

    onnx_runtime: str | None = None
    native: str | None = None
    onnx_skipped: str | None = None
    native_skipped: str | None = None
    native_attempts: list[dict[str, object]] | None = None
    torch: str | None = None
    sessions: list[OnnxSessionRecord] = field(default_factory=list)
    native_load: NativeLoadRecord | None = None


@dataclass(frozen=True)
class Graph:
    """One .onnx file to run: its input sets (the compared graph's are the package's test vectors)."""

    rel: str
    inputs: Inputs
    plan: GraphPlan | None = None  # None: not run (it did not pass the static ONNX checks)


class ParityCheck(DynamicCheck):
    name = "native vs ONNX parity"
    area = Area.PARITY

    def run(self, pkg: ModelPackage, options: Options, env: Env | None) -> Outcome | Skip:
        if env is None:
            return Skip(NOT_REBUILT)
        ctx = Subject(pkg, options, env)
        if _weights(ctx) is None and not _graphs(ctx):
            if any(rel.endswith((".safetensors", ".onnx")) for rel in pkg.pointers):
                return Skip("the .safetensors/.onnx files are Git LFS or git-annex pointers, not the models (see the layout "
                            "area): fetch them (git lfs pull) to have them run")
            return Skip("no .safetensors and no .onnx file: there is no model artefact to run")
        return self._run(ctx)

    def _run(self, ctx: Subject) -> Outcome:
        weights, graph_files = _weights(ctx), _graphs(ctx)
        onnx_rel = graph_files[0] if graph_files else None
        outcome = Tally()
        graph_count = sum(1 for rel in ctx.pkg.with_suffix(".onnx") if rel not in ctx.pkg.pointers)
        if graph_count > len(graph_files):
            outcome.notes.append(Note.package(f"parity: {len(graph_files)} of the {graph_count} .onnx files were run (the first in name order)"))
        inputs = discover(ctx.pkg, declared_specs(ctx.pkg, onnx_rel))
        outcome.findings += [rule("test-vector-invalid").finding(f"{rel} {problem}", file=rel) for rel, problem in inputs.problems]
        limits = Limits(wall_s=ctx.options.timeout_s, memory_mb=ctx.options.memory_mb, network=False)
        installed = _installed(ctx.env)
        onnx_env, onnx_where = _onnx_runner(ctx.env, installed)
        record = ProbeNotes()

        with Staging(ctx.pkg) as staging:
            if inputs.pb_cases:
                _convert_pb(ctx, staging, inputs, limits, outcome)
            if onnx_rel is not None and inputs.sets and inputs.sets[0].inputs and _batch_is_dynamic(ctx, onnx_rel):
                # The package's own test case (random inputs come at batch 1 and 2 already), also at batch 2.
                first = inputs.sets[0]
                doubled = None if first.inputs[0].source.startswith("random") else repeated_to_batch_2(first)
                inputs.sets += [doubled] if doubled is not None else []
            if not inputs.sets:  # the probes still run: the session is created and the weights loaded
                outcome.findings.append(_no_inputs(onnx_rel or weights, inputs.random_reason))
            input_files = _stage_inputs(staging, inputs, "in")
            graphs = _plan_graphs(ctx, staging, graph_files, inputs, input_files, outcome)
            unusable = [g.rel for g in graphs if g.plan is None]
            if onnx_rel in unusable:
                record.onnx_skipped = f"{onnx_rel} did not pass the static ONNX checks (see the onnx area); it was not run"
            record.sessions += [_unrun_session(rel, onnx_where) for rel in unusable]
            framework = parity_frameworks.find(ctx.pkg) if weights is None else None  # not PyTorch (NONTORCH)
            native_skip = (_native_skip(ctx, weights, installed) if framework is None
                           else parity_frameworks.skip_reason(framework, installed))
            if native_skip is not None:
                record.native_skipped = native_skip
                skip_finding = (_native_skip_finding(ctx, weights, graph_files, native_skip) if framework is None
                                else parity_frameworks.skip_finding(framework, native_skip))
                outcome.findings += [skip_finding] if skip_finding is not None else []
            native_plan = _native_plan(ctx, weights, input_files) if native_skip is None and framework is None else None
            framework_plan = (parity_frameworks.plan(framework, installed, input_files)
                              if native_skip is None and framework is not None else None)
            # The compared graph, the other graphs and the native model: independent probes, run side by side,
            # each in its own sandbox (a slow or crashing extra graph costs the compared one nothing).
            jobs = [job for job in ([g for g in graphs[:1] if g.plan], [g for g in graphs[1:] if g.plan]) if job]
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe") as pool:
                native_future = (pool.submit(_probe, ctx.env, _prepare(staging, "native_probe.py", native_plan), limits,
                                             NativeResult) if native_plan is not None else None)
                framework_future = (pool.submit(_probe, ctx.env, _prepare(staging, "framework_probe.py", framework_plan),
                                                limits, FrameworkResult) if framework_plan is not None else None)
                onnx_futures = [(job, pool.submit(_probe, onnx_env, _prepare(staging, "onnx_probe.py", _onnx_plan(job),
                                                                             f"onnx_probe_{number}"), limits, OnnxResult))
                                for number, job in enumerate(jobs)]
            onnx_run, onnx_sets = None, None
            for job, future in onnx_futures:
                run, onnx_result = future.result()
                sets = _onnx_outcome(run, onnx_result, job, onnx_where, limits, outcome, record)
                if job[0].rel == onnx_rel:
                    onnx_run, onnx_sets = run, sets
            order = {g.rel: number for number, g in enumerate(graphs)}
            record.sessions.sort(key=lambda session: order.get(session["file"], len(order)))
            native_run, native_sets = None, None
            if native_future is not None and native_plan is not None:
                native_run, native_result = native_future.result()
                native_sets = _native_outcome(native_run, native_result, native_plan, inputs, limits, outcome, record)
            if framework_future is not None and framework is not None:
                native_run, native_sets, classes = _framework_outcome(ctx, framework, framework_future.result(), limits,
                                                                      outcome, record)
                onnx_arrays = onnx_run.arrays if onnx_run is not None else {}
                outcome.findings += parity_frameworks.label_findings((native_run.arrays, native_sets), (onnx_arrays, onnx_sets),
                                                                     framework, onnx_rel, classes)
                native_sets = parity_frameworks.scores_only(native_run.arrays, native_sets)
                onnx_sets = parity_frameworks.scores_only(onnx_arrays, onnx_sets)
                parity_frameworks.align_shapes((native_run.arrays, native_sets), (onnx_arrays, onnx_sets))

        _compare_all(ctx, inputs, (native_run, native_sets), (onnx_run, onnx_sets), onnx_rel, outcome)
        outcome.findings += output_contract.probe_findings(ctx.pkg, onnx_rel, lambda name, sets: _contract_probes(
            ctx, onnx_rel, weights, name, sets, limits, installed, onnx_env))  # segmentation / regression outputs (SEG)
        parity = _parity_record(ctx, inputs, outcome, record)
        if parity is not None and parity["passed"]:
            outcome.findings.append(_passed_finding(ctx, parity, outcome))
        skipped = f"native parity skipped: {native_skip}" if native_skip is not None else ""
        return Outcome(outcome.findings, skipped, outcome.notes, parity)


# -- choosing artefacts and runners ----------------------------------------------------------------

def _weights(ctx: Subject) -> str | None:
    """The weights file (model.safetensors, else the first); a pointer left by Git LFS or git-annex is not one."""
    every = sorted(rel for rel in ctx.pkg.with_suffix(".safetensors") if rel not in ctx.pkg.pointers)
    found = ctx.pkg.find("model.safetensors")
    return found if found in every else next(iter(every), None)


def _graphs(ctx: Subject) -> list[str]:
    """The .onnx files, the compared one (model.onnx, else the first) first; pointers are left out."""
    every = sorted(rel for rel in ctx.pkg.with_suffix(".onnx") if rel not in ctx.pkg.pointers)
    found = ctx.pkg.find("model.onnx")
    main = found if found in every else next(iter(every), None)
    return ([main] if main else []) + [rel for rel in every if rel != main][:MAX_GRAPHS - 1]


def _unusable(ctx: Subject, rel: str) -> bool:
    """The static ONNX check found the graph unsafe or unreadable: it is not run."""
    summary = ctx.pkg.onnx.get(rel)
    return summary is not None and not getattr(summary, "ok", True) and bool(getattr(summary, "problems", None))


def _batch_is_dynamic(ctx: Subject, rel: str) -> bool:
    """The graph takes one input whose dimension 0 is symbolic, and every output carries that same symbol first."""
    summary = ctx.pkg.onnx.get(rel)
    graph_inputs, graph_outputs = list(getattr(summary, "inputs", None) or []), list(getattr(summary, "outputs", None) or [])
    if len(graph_inputs) != 1 or not graph_inputs[0].shape or not graph_outputs:
        return False
    batch = graph_inputs[0].shape[0]
    return isinstance(batch, str) and all(o.shape and o.shape[0] == batch for o in graph_outputs)


def _installed(env: Env) -> dict[str, str]:
    try:
        return {name.lower().replace("_", "-"): version for name, version in env.installed().items()}
    except Exception:  # an environment that cannot list its packages: probe and see
        return {}


def _onnx_runner(env: Env, installed: dict[str, str]) -> tuple[Env, str]:
    own = next((name for name in ONNXRUNTIME_NAMES if name in installed), None)
    if own is not None or not installed:
        return env, "the package environment's onnxruntime"
    return host_python(), "model-check's onnxruntime in a sandboxed child process (the runtime pins none)"


def _native_skip(ctx: Subject, weights: str | None, installed: dict[str, str]) -> str | None:
    if weights is None:
        pointer = next((rel for rel in sorted(ctx.pkg.pointers) if rel.endswith(".safetensors")), None)
        if pointer is not None:
            return f"{pointer} is a Git LFS or git-annex pointer, not the weights (see the layout area)"
        return "no .safetensors file (an ONNX-only package)"
    header = ctx.pkg.safetensors.get(weights)
    if getattr(header, "problems", None):
        return f"{weights} is not a valid safetensors file (see the safetensors area)"
    if installed and not any(name in installed for name in TORCH_NAMES):
        return "the runtime does not install torch (not a PyTorch package, or an ONNX-only runtime)"
    if installed and "safetensors" not in installed:
        return "the runtime does not install safetensors, which loading model.safetensors needs"
    return None


def _native_skip_finding(ctx: Subject, weights: str | None, graphs: list[str], reason: str) -> Finding | None:
    """Why the native model was not built, and what to add (None: a pointer file, the layout area's error)."""
    if weights is None and "pointer" in reason:
        return None
    if weights is None:
        shipped = ", ".join(graphs[:RUNS_LISTED]) + (f" and {len(graphs) - RUNS_LISTED} more" if len(graphs) > RUNS_LISTED else "")
        return rule("parity-without-native-model").finding(
            f"native vs ONNX parity was not checked: the package ships no framework-native weights (no .safetensors "
            f"file), only {shipped}, so there is no native model to compare the ONNX outputs with. To have it "
            f"checked, {ADD_NATIVE}", file=graphs[0] if graphs else None)
    if "not a valid safetensors file" in reason:
        return rule("parity-without-native-model").finding(
            f"native vs ONNX parity was not checked: {reason}; fix {weights} to have it loaded and compared", file=weights)
    needed = "torch and safetensors" if "torch" in reason else "safetensors"
    return rule("native-model-unbuildable").finding(
        f"{weights} was not loaded into its architecture: {reason}. Add {needed} (the versions you exported with) "
        f"to the runtime file so the weights can be loaded and compared with the ONNX graph", file=weights)


def _no_inputs(rel: str | None, reason: str | None) -> Finding:
    where = f" for {rel}" if rel else ""
    return rule("parity-no-inputs").finding(
        f"no test input could be made{where}: the package ships no test vectors (test_data/input_<k>.npy or "
        f"test_data_set_<k>/input_<j>.pb) and no random input can be made ({reason or 'see the findings above'}); "
        f"{ADD_INPUTS}", file=rel)


# -- running the probes -----------------------------------------------------------------------------

def _contract_probes(ctx: Subject, onnx_rel: str | None, weights: str | None, input_name: str | None,
                     sets: list[tuple[str, np.ndarray]], limits: Limits, installed: dict[str, str],
                     onnx_env: Env) -> output_contract.Produced:
    """The native model and the compared graph on the output contract's probe inputs, side by side."""
    produced: output_contract.Produced = {}
    with Staging(ctx.pkg) as staging:
        files: list[InputSetPlan] = [{"id": set_id, "inputs": [{"name": input_name, "file": staging.add_array(f"oc_{i}.npy", data)}]}
                                     for i, (set_id, data) in enumerate(sets)]
        native = (_native_plan(ctx, weights, files) if weights is not None and _native_skip(ctx, weights, installed) is None
                  else None)
        graph: OnnxPlan | None = ({"graphs": [{"onnx": onnx_rel, "input_sets": files}], "convert": []}
                                  if onnx_rel is not None and not _unusable(ctx, onnx_rel) else None)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="contract") as pool:
            native_future = (pool.submit(_probe, ctx.env, _prepare(staging, "native_probe.py", native, "oc_native"), limits,
                                         NativeResult) if native is not None else None)
            onnx_future = (pool.submit(_probe, onnx_env, _prepare(staging, "onnx_probe.py", graph, "oc_onnx"), limits,
                                       OnnxResult) if graph is not None else None)
        if native_future is not None:
            run, result = native_future.result()
            if result is not None and result.get("status") == "ok":
                produced["native"] = [_pairs(run.outputs(result.get("sets") or [], i)) for i in range(len(sets))]
        if onnx_future is not None:
            run, onnx_result = onnx_future.result()
            done = next(iter(onnx_result.get("graphs") or []), None) if onnx_result is not None else None
            if done is not None and done.get("status") == "ok":
                produced["ONNX"] = [_pairs(run.outputs(done.get("sets") or [], i)) for i in range(len(sets))]
    return produced


def _pairs(outputs: list[Array] | str) -> list[tuple[str | None, np.ndarray]] | None:
    return [(a.name, a.data) for a in outputs] if isinstance(outputs, list) else None


def _stage_inputs(staging: Staging, inputs: Inputs, prefix: str) -> list[InputSetPlan]:
    plan_sets: list[InputSetPlan] = []
    for index, input_set in enumerate(inputs.sets):
        files: list[InputFile] = [{"name": array.name,
                                   "file": staging.add_array(f"{prefix}_{index}_{position}.npy", array.data)}
                                  for position, array in enumerate(input_set.inputs)]
        plan_sets.append({"id": input_set.id, "inputs": files})
    return plan_sets


def _plan_graphs(ctx: Subject, staging: Staging, graph_files: list[str], inputs: Inputs, input_files: list[InputSetPlan],
                 outcome: Tally) -> list[Graph]:
    """The compared graph runs on the package's inputs; every other graph on seeded random inputs of its own
    declared shape (each graph is a model of its own: a 4-band and a 6-band graph take different inputs)."""
    graphs: list[Graph] = []
    for number, rel in enumerate(graph_files):
        if number == 0:
            graph_inputs, files = inputs, input_files
        else:
            sets, reason = random_inputs(declared_specs(ctx.pkg, rel))
            graph_inputs = Inputs(sets=sets, random_reason=reason)
            files = _stage_inputs(staging, graph_inputs, f"g{number}_in")
            if not sets and not _unusable(ctx, rel):
                outcome.findings.append(_no_inputs(rel, reason))
        plan: GraphPlan | None = None if _unusable(ctx, rel) else {"onnx": rel, "input_sets": files}
        graphs.append(Graph(rel, graph_inputs, plan))
    return graphs


def _prepare(staging: Staging, script: str, plan: NativePlan | OnnxPlan | FrameworkPlan, name: str | None = None) -> tuple[list[str], Path, list[str]]:
    """Put a probe and its plan into the staged workdir: (argv, workdir, files to fetch); `name` tells the
    result files of two runs of one script apart."""
    name = name or script.removesuffix(".py")
    result, out_file = f"{PROBE_DIR}/{name}.json", f"{PROBE_DIR}/{name}.npz"
    staged = staging.add_json(f"{name}_plan.json", {**plan, "result": result, "out_file": out_file})
    argv = ["python", staging.add_script(script), staged]
    return argv, staging.root, [result, out_file]


def _probe(env: Env, staged: tuple[list[str], Path, list[str]], limits: Limits,
           shape: type[ProbeResult]) -> tuple[Run, ProbeResult | None]:
    argv, workdir, fetch = staged
    completed = env.run(argv, workdir, limits, fetch=fetch)
    return Run(read_arrays(completed.files, fetch[1]), completed), read_result(completed.files, fetch[0], shape)


def _probe_failure(what: str, completed: Completed, limits: Limits) -> str:
    if completed.timed_out or completed.killed_by == "timeout":
        return f"{what} did not finish within {limits.wall_s:g} s"
    if completed.killed_by == "memory" or "MemoryError" in completed.stderr:
        return f"{what} ran out of memory (limit {limits.memory_mb} MiB)"
    cause = f"killed by {completed.killed_by}" if completed.killed_by else f"exit status {completed.returncode}"
    return f"{what} failed ({cause}): {_tail(completed.stderr or completed.stdout)}"


def _convert_pb(ctx: Subject, staging: Staging, inputs: Inputs, limits: Limits, outcome: Tally) -> None:
    """Parse ONNX-style .pb test vectors with model-check's onnx, in a sandboxed child process."""
    files = [pb for case in inputs.pb_cases for pb in case.inputs + case.outputs]
    run, result = _probe(host_python(), _prepare(staging, "onnx_probe.py", {"graphs": [], "convert": files}, "pb_convert"),
                         limits, OnnxResult)
    if result is None:
        outcome.findings.append(rule("parity-probe-failed").finding(_probe_failure("reading the .pb test vectors", run.completed, limits)))
        return
    converted = {item["pb"]: item for item in result.get("converted") or [] if isinstance(item, dict)}

    def array(pb: str) -> Array | None:
        item = converted.get(pb, {"error": "not converted"})
        data = run.arrays.get(str(item.get("key")))
        if item.get("error") or data is None:
            outcome.findings.append(rule("test-vector-invalid").finding(f"{pb} is not a readable TensorProto: {item.get('error')}", file=pb))
            return None
        return Array(item.get("name") or None, data, pb)

    for case in inputs.pb_cases:
        case_inputs = [array(pb) for pb in case.inputs]
        expected = [array(pb) for pb in case.outputs]
        if all(a is not None for a in case_inputs):
            usable = list(itertools.takewhile(lambda a: a is not None, expected))  # outputs are matched by position
            inputs.sets.append(InputSet(case.id, [a for a in case_inputs if a is not None],
                                        [a for a in usable if a is not None]))


def _onnx_plan(job: list[Graph]) -> OnnxPlan:
    return {"graphs": [g.plan for g in job if g.plan is not None], "convert": []}


def _onnx_outcome(run: Run, result: OnnxResult | None, job: list[Graph], where: str, limits: Limits, outcome: Tally,
                  record: ProbeNotes) -> list[SetRecord] | None:
    """Findings and session records of the graphs one ONNX probe ran; the set records of its first graph
    (None: it did not run)."""
    first = job[0].rel
    named = ", ".join(g.rel for g in job[:RUNS_LISTED]) + (f" and {len(job) - RUNS_LISTED} more" if len(job) > RUNS_LISTED else "")
    if result is None:
        outcome.findings.append(rule("parity-probe-failed").finding(
            _probe_failure(f"the ONNX probe running {named}", run.completed, limits), file=first))
        record.onnx_skipped = record.onnx_skipped or f"the ONNX probe running {named} failed"
        return None
    version = result.get("onnxruntime")
    runner = f"{where} (onnxruntime {version})" if version else where
    if record.onnx_runtime is None:
        record.onnx_runtime = runner
        if where.startswith("model-check"):  # the package's runtime pins no onnxruntime: the reviewer should know
            outcome.notes.append(Note.package(f"parity: {runner}"))
    if result.get("status") == "unavailable":
        reason = f"onnxruntime cannot be imported: {result.get('reason')}"
        if record.onnx_skipped is not None:  # said once, for the first probe
            return None
        record.onnx_skipped = reason
        if where.startswith("model-check"):  # model-check's own installation: not the package's fault
            outcome.notes.append(Note.machine(f"parity: the ONNX graphs were not run: {reason}"))
        else:
            outcome.findings.append(rule("parity-probe-failed").finding(
                f"the runtime lists onnxruntime, yet importing it fails, so no .onnx file was run: {result.get('reason')}",
                file=first))
        return None
    by_file = {g.get("onnx"): g for g in result.get("graphs") or [] if isinstance(g, dict)}
    first_sets = None
    for graph in job:
        done = by_file.get(graph.rel)
        if done is None:
            continue
        session = _session(graph, done, runner)
        record.sessions.append(session)
        if done.get("status") == "load-failed":
            outcome.findings.append(rule("onnx-does-not-run").finding(
                f"ONNX Runtime cannot load {graph.rel}: {_tail(str(done.get('reason')), 600)}", file=graph.rel))
            if graph.rel == first:
                record.onnx_skipped = record.onnx_skipped or f"ONNX Runtime cannot load {graph.rel}"
            continue
        for set_record in done.get("sets") or []:
            if set_record.get("error"):
                outcome.findings.append(rule("onnx-does-not-run").finding(
                    f"ONNX Runtime fails on {graph.rel} with {set_record.get('id')}: {_tail(str(set_record['error']), 600)}",
                    file=graph.rel))
        outcome.findings.append(rule("onnx-session-ran").finding(_session_message(session), file=graph.rel))
        if graph.rel == first:
            first_sets = done.get("sets") or []
    return first_sets


def _session(graph: Graph, done: GraphResult, runner: str) -> OnnxSessionRecord:
    session: OnnxSessionRecord = {
        "file": graph.rel, "runner": runner, "loaded": done.get("status") == "ok",
        "providers": list(done.get("providers") or []), "inputs": _tensors(done.get("inputs") or []),
        "outputs": _tensors(done.get("outputs") or []), "runs": _runs(graph.inputs, done.get("sets") or []),
    }
    if done.get("status") != "ok":
        session["error"] = _tail(str(done.get("reason")), 600)
    return session


def _tensors(values: list[GraphValue]) -> list[TensorRecord]:
    return [{"name": value["name"], "type": value["type"], "shape": list(value["shape"])} for value in values]


def _unrun_session(rel: str, runner: str) -> OnnxSessionRecord:
    return {"file": rel, "runner": runner, "loaded": False, "providers": [], "inputs": [], "outputs": [], "runs": [],
            "error": "it did not pass the static ONNX checks (see the onnx area), so it was not run"}


def _runs(inputs: Inputs, sets: list[SetRecord]) -> list[RunRecord]:
    """Per input set: the batch size given and the outputs' names and shapes (or the error)."""
    batches = {s.id: (int(s.inputs[0].data.shape[0]) if s.inputs and s.inputs[0].data.ndim else None) for s in inputs.sets}
    runs: list[RunRecord] = []
    for set_record in sets:
        identifier = str(set_record.get("id"))
        produced: list[ProducedRecord] = [{"name": o.get("name"), "shape": list(o.get("shape") or []), "dtype": str(o.get("dtype"))}
                                          for o in set_record.get("outputs") or [] if isinstance(o, dict)]
        run: RunRecord = {"input": identifier, "batch": batches.get(identifier), "outputs": produced}
        if set_record.get("error"):
            run["error"] = _tail(str(set_record["error"]), 300)
        runs.append(run)
    return runs


def _runs_phrase(runs: list[RunRecord]) -> str:
    """'at batch size 1, 2: random batch 1 -> 'logits' [1, 3]; …', the evidence in one sentence."""
    batches = sorted({r["batch"] for r in runs if r["batch"] is not None and not r.get("error")})
    shown = []
    for run in runs[:RUNS_LISTED]:
        if run.get("error"):
            shown.append(f"{run['input']} raised {run.get('error', '').splitlines()[-1][:120] if run.get('error') else ''}")
            continue
        outputs = ", ".join(f"{o['name']!r} {o['shape']}" if o["name"] else str(o["shape"]) for o in run["outputs"][:RUNS_LISTED])
        more = f" (+{len(run['outputs']) - RUNS_LISTED} more)" if len(run["outputs"]) > RUNS_LISTED else ""
        shown.append(f"{run['input']} -> {outputs or 'no output'}{more}")
    if len(runs) > RUNS_LISTED:
        shown.append(f"{len(runs) - RUNS_LISTED} more input set(s)")
    size = f"at batch size {', '.join(str(b) for b in batches)}" if batches else "on the test input"
    return f"{size}: {'; '.join(shown)}"


def _session_message(session: OnnxSessionRecord) -> str:
    providers = ", ".join(session["providers"]) or "its default providers"
    where = f"ONNX Runtime: an InferenceSession of {session['runner']}, providers {providers}"
    if session["runs"]:
        return f"{session['file']} ran in {where}, {_runs_phrase(session['runs'])}"
    described = "; ".join(f"{role} " + (", ".join(f"{t['name']!r} {t['type']} {_dims(t['shape'])}" for t in tensors) or "none")
                          for role, tensors in (("inputs", session["inputs"]), ("outputs", session["outputs"])))
    return (f"{session['file']} loads in {where}: {described}; it was not run, as no test input could be made "
            f"(see the parity-no-inputs finding)")


def _dims(shape: list[int | str | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _framework_outcome(ctx: Subject, framework: parity_frameworks.Artefact, probed: tuple[Run, FrameworkResult | None],
                       limits: Limits, outcome: Tally, record: ProbeNotes) -> tuple[Run, list[SetRecord] | None, list[str] | None]:
    """Findings of the framework probe (a non-PyTorch native artefact); its run, set records and classes_."""
    run, result = probed
    if result is None:
        outcome.findings.append(rule("parity-probe-failed").finding(
            _probe_failure(f"the native probe loading {framework.rel}", run.completed, limits), file=framework.rel))
        return run, None, None
    outcome.findings += parity_frameworks.outcome(framework, result, ctx.pkg)
    if result.get("status") != "ok":
        record.native_skipped = f"{framework.rel} was not loaded ({result.get('status')})"
        return run, None, None
    record.native = parity_frameworks.described(framework, result)
    return run, result.get("sets") or [], result.get("classes")


def _native_plan(ctx: Subject, weights: str | None, input_files: list[InputSetPlan]) -> NativePlan:
    assert weights is not None
    architecture = _metadata(ctx, weights).get("architecture")
    in_chans, num_classes = _declared_counts(ctx)
    return {
        "weights": weights,
        "factory": ctx.options.native,
        "conventional": "inference" if ctx.pkg.has("inference.py") else None,
        "architecture": architecture.strip() if isinstance(architecture, str) and architecture.strip() else None,
        "in_chans": in_chans,
        "num_classes": num_classes,
        "input_sets": input_files,
    }


def _native_outcome(run: Run, result: NativeResult | None, plan: NativePlan, inputs: Inputs, limits: Limits,
                    outcome: Tally, record: ProbeNotes) -> list[SetRecord] | None:
    """Findings and the load record of the native probe; its set records (None: no model ran)."""
    weights = plan["weights"]
    if result is None:
        outcome.findings.append(rule("parity-probe-failed").finding(_probe_failure("the native probe", run.completed, limits), file=weights))
        return None
    status = result.get("status")
    if status == "unavailable":
        record.native_skipped = f"torch or safetensors cannot be imported: {result.get('reason')}"
        outcome.findings.append(rule("parity-probe-failed").finding(
            f"the runtime lists torch and safetensors, yet importing them fails: {result.get('reason')}", file=weights))
        return None
    if status == "weights-unreadable":
        outcome.findings.append(rule("weights-do-not-load").finding(
            f"safetensors.torch.load_file cannot read {weights}: {result.get('reason')}", file=weights))
        return None
    attempts = [a for a in result.get("attempts") or [] if isinstance(a, dict)]
    record.native_attempts = [{k: v for k, v in a.items() if k != "traceback"} for a in attempts]
    record.native_load = _native_load(weights, attempts, result, inputs)
    if status == "no-model":
        outcome.findings.append(_no_model_finding(weights, attempts, plan))
        return None
    record.native = result.get("native")
    record.torch = result.get("torch")
    check = result.get("architecture_check")
    if isinstance(check, dict) and not check.get("loaded"):
        outcome.findings.append(rule("architecture-metadata-misleading").finding(
            f"the safetensors metadata says architecture {plan['architecture']!r}, but that does not load "
            f"{weights} ({_load_problem(check)}), while {result.get('native')} does",
            file=weights, severity=Severity.INFO if _library_missing(check) else None))
    for set_record in result.get("sets") or []:
        if isinstance(set_record, dict) and set_record.get("error"):
            outcome.findings.append(rule("native-model-does-not-run").finding(
                f"the native model ({result.get('native')}) raises on {set_record.get('id')}: "
                f"{_tail(str(set_record.get('traceback') or set_record['error']), 800)}", file=weights))
    if record.native_load is not None and record.native_load["strict"]:
        outcome.findings.append(rule("weights-loaded-strictly").finding(_loaded_message(record.native_load), file=weights))
    return result.get("sets") or []


def _native_load(weights: str, attempts: list[LoadAttempt], result: NativeResult, inputs: Inputs) -> NativeLoadRecord | None:
    """The model the weights loaded into strictly; else the first one built, with the keys that did not fit."""
    chosen = next((a for a in attempts if a.get("loaded")), None) or next((a for a in attempts if a.get("built")), None)
    if chosen is None:
        return None
    load: NativeLoadRecord = {"weights": weights, "built_by": chosen["how"], "model_class": chosen.get("model_class", "?"),
                              "strict": bool(chosen.get("loaded")), "tensors": chosen.get("tensors", 0), "runs": []}
    if chosen.get("loaded"):
        if result.get("parameters", -1) >= 0:
            load["parameters"] = result.get("parameters", 0)
        if result.get("torch"):
            load["torch"] = result.get("torch", "")
        load["runs"] = _runs(inputs, result.get("sets") or [])
        return load
    if chosen.get("missing_count"):
        load["missing_count"], load["missing"] = chosen.get("missing_count", 0), list(chosen.get("missing", []))
    if chosen.get("unexpected_count"):
        load["unexpected_count"], load["unexpected"] = chosen.get("unexpected_count", 0), list(chosen.get("unexpected", []))
    if chosen.get("mismatched_count"):
        load["mismatched_count"], load["mismatched"] = chosen.get("mismatched_count", 0), list(chosen.get("mismatched", []))
    if chosen.get("error"):
        load["error"] = _tail(str(chosen.get("error")), 600)
    return load


def _loaded_message(load: NativeLoadRecord) -> str:
    torch = f", torch {load['torch']}" if load.get("torch") else ""
    parameters = f"; {load['parameters']:,} parameters" if "parameters" in load else ""
    ran = (f"; it ran {_runs_phrase(load['runs'])}" if load["runs"]
           else "; it was not run, as no test input could be made (see the parity-no-inputs finding)")
    return (f"{load['weights']} loaded strictly into {load['model_class']} (built by {load['built_by']}{torch}): "
            f"load_state_dict(strict=True) took all {load['tensors']:,} tensors, with no missing, unexpected or "
            f"mismatched key{parameters}{ran}")


def _no_model_finding(weights: str, attempts: list[LoadAttempt], plan: NativePlan) -> Finding:
    """Weights that do not load into a model that was built are an error; no model at all, a warning."""
    built = [a for a in attempts if a.get("built") or a.get("state_dict_error")]
    if built:
        first = built[0]
        others = "; ".join(f"{a['how']}: {_load_problem(a)}" for a in built[1:])
        return rule("weights-do-not-load").finding(
            f"{weights} does not load strictly into the model from {first['how']}: {_load_problem(first)}"
            + (f" (also tried {others})" if others else ""), file=weights)
    if not attempts:
        return rule("native-model-unbuildable").finding(
            f"no factory in model-check.toml, no conventional factory in inference.py "
            f"(load_model, build_model, create_model, get_model) and no `architecture` metadata in {weights}",
            file=weights)
    tried = "; ".join(f"{a.get('how')}: {_tail(str(a.get('traceback') or a.get('error')), 300)}" for a in attempts)
    return rule("native-model-unbuildable").finding(f"no way of building the model worked: {tried}", file=weights)


def _load_problem(attempt: LoadAttempt) -> str:
    if attempt.get("state_dict_error"):  # torch lists the keys first: keep the head
        error = " ".join(str(attempt.get("error")).split())
        return error if len(error) <= 800 else error[:800] + "…"
    if not attempt.get("built"):
        return str(attempt.get("error") or "it could not be built")
    parts = []
    for count, keys, label in ((attempt.get("missing_count", 0), attempt.get("missing", []), "missing keys"),
                               (attempt.get("unexpected_count", 0), attempt.get("unexpected", []), "unexpected keys"),
                               (attempt.get("mismatched_count", 0), attempt.get("mismatched", []), "shape mismatches")):
        if count:
            shown = ", ".join(keys[:KEYS_LISTED])
            more = f", … {count - KEYS_LISTED} more" if count > KEYS_LISTED else ""
            parts.append(f"{count} {label}: {shown}{more}")
    return "; ".join(parts) or str(attempt.get("error") or "load_state_dict(strict=True) failed")


def _library_missing(attempt: LoadAttempt) -> bool:
    """The declared library is not installed: model-check could not try it (a lesser problem)."""
    error = str(attempt.get("error") or "")
    return not attempt.get("built") and error.startswith(("ModuleNotFoundError", "ImportError"))


def _metadata(ctx: Subject, weights: str) -> dict[str, Any]:
    header = ctx.pkg.safetensors.get(weights)
    metadata = getattr(header, "metadata", None)
    return metadata if isinstance(metadata, dict) else {}


def _declared_counts(ctx: Subject) -> tuple[int | None, int | None]:
    """Input channels and class count as declared (card, metadata, labels, ONNX), for timm/torchvision."""
    declared = ctx.pkg.declared
    in_chans = next((int(s[1]) for s in (f.value for f in declared.of(INPUT_SHAPE)) if len(s) > 1 and str(s[1]).isdigit()),
                    None) or declared.first(CHANNEL_COUNT) or (len(declared.first(CHANNELS) or []) or None)
    num_classes = (len(declared.first(CLASSES) or []) or None) or declared.first(CLASS_COUNT)
    return in_chans, num_classes


# -- comparing ------------------------------------------------------------------------------------

Ran = tuple[Run | None, list[SetRecord] | None]  # a probe's arrays and the set records of the model compared


def _compare_all(ctx: Subject, inputs: Inputs, native: Ran, onnx: Ran, onnx_rel: str | None, outcome: Tally) -> None:
    rtol, atol = ctx.options.rtol, ctx.options.atol
    for index, input_set in enumerate(inputs.sets):
        native_out = native[0].outputs(native[1], index) if native[0] is not None and native[1] is not None else None
        onnx_out = onnx[0].outputs(onnx[1], index) if onnx[0] is not None and onnx[1] is not None else None
        native_out = native_out if isinstance(native_out, list) else None
        onnx_out = onnx_out if isinstance(onnx_out, list) else None
        if native_out is not None and onnx_out is not None:
            if len(native_out) != len(onnx_out):
                outcome.findings.append(rule("parity-mismatch").finding(
                    f"on {input_set.id} the native model returns {len(native_out)} output(s), the ONNX graph "
                    f"{len(onnx_out)}", file=onnx_rel))
            for position, (mine, theirs) in enumerate(zip(native_out, onnx_out, strict=False)):
                label = f"output {theirs.name or position!r} on {input_set.id}"
                outcome.comparisons.append(("native vs ONNX", input_set.id,
                                            compare(label, mine.data, theirs.data, rtol, atol)))
        for source_name, produced in (("native", native_out), ("ONNX", onnx_out)):
            if produced is None:
                continue
            for position, expected in enumerate(input_set.expected[:len(produced)]):
                label = f"{source_name} output {produced[position].name or position!r} vs {expected.source}"
                outcome.comparisons.append((f"{source_name} vs expected", input_set.id,
                                            compare(label, produced[position].data, expected.data, rtol, atol)))
    _findings_from_comparisons(ctx, outcome, onnx_rel)


def _findings_from_comparisons(ctx: Subject, outcome: Tally, onnx_rel: str | None) -> None:
    rtol, atol = ctx.options.rtol, ctx.options.atol
    failed = [(kind, input_id, c) for kind, input_id, c in outcome.comparisons if not c.passed]
    by_kind: dict[str, list[Comparison]] = {}
    for kind, _, comparison in failed:
        by_kind.setdefault(kind, []).append(comparison)
    for kind, comparisons in by_kind.items():
        worst = max(comparisons, key=lambda c: -1.0 if c.max_abs_diff is None else c.max_abs_diff)
        total = sum(1 for k, _, _ in outcome.comparisons if k == kind)
        differ = rule("parity-mismatch") if kind == "native vs ONNX" else rule("expected-output-mismatch")
        what = "native and ONNX outputs differ" if kind == "native vs ONNX" else f"{kind.split(' vs ')[0]} outputs differ from the expected outputs"
        message = (f"{what} beyond rtol={rtol:g}, atol={atol:g} in {len(comparisons)} of {total} comparison(s); "
                   f"worst: {worst.label}: {worst.describe()}")
        outcome.findings.append(differ.finding(message, file=onnx_rel if differ is rule("parity-mismatch") else None))
    flagged: set[str] = {"native", "ONNX"} if output_contract.nan_is_declared(ctx.pkg) else set()  # NaN is nodata: MC923
    for kind, input_id, comparison in outcome.comparisons:
        source = kind.split(" vs ")[0]
        if comparison.nonfinite_actual and source not in flagged:
            flagged.add(source)
            outcome.findings.append(rule("output-not-finite").finding(
                f"the {source} output has {comparison.nonfinite_actual} NaN/infinite value(s) on {input_id}"))


def _parity_record(ctx: Subject, inputs: Inputs, outcome: Tally, record: ProbeNotes) -> ParityRecord | None:
    """The report's parity object whenever something ran or was tried; `passed` None when nothing was compared."""
    if not outcome.comparisons and not record.sessions and record.native_load is None:
        return None
    main = [c for kind, _, c in outcome.comparisons if kind == "native vs ONNX"] or [c for _, _, c in outcome.comparisons]
    abs_diffs = [c.max_abs_diff for c in main if c.max_abs_diff is not None]
    rel_diffs = [c.max_rel_diff for c in main if c.max_rel_diff is not None]
    parity: ParityRecord = {
        "passed": all(c.passed for _, _, c in outcome.comparisons) if outcome.comparisons else None,
        "rtol": ctx.options.rtol,
        "atol": ctx.options.atol,
        "max_abs_diff": max(abs_diffs) if abs_diffs else None,
        "max_rel_diff": max(rel_diffs) if rel_diffs else None,
        "inputs": [s.describe() for s in inputs.sets],
        "outputs": [{"kind": kind, "input": input_id, **c.to_dict()} for kind, input_id, c in outcome.comparisons],
    }
    if record.onnx_runtime is not None:
        parity["onnx_runtime"] = record.onnx_runtime
    if record.native is not None:
        parity["native"] = record.native
    if record.onnx_skipped is not None:
        parity["onnx_skipped"] = record.onnx_skipped
    if record.native_skipped is not None:
        parity["native_skipped"] = record.native_skipped
    if record.native_attempts is not None:
        parity["native_attempts"] = record.native_attempts
    if record.torch is not None:
        parity["torch"] = record.torch
    if record.sessions:
        parity["onnx_sessions"] = record.sessions
    if record.native_load is not None:
        parity["native_load"] = record.native_load
    return parity


def _passed_finding(ctx: Subject, parity: ParityRecord, outcome: Tally) -> Finding:
    kinds = sorted({kind for kind, _, _ in outcome.comparisons})
    sides = []
    if parity.get("native"):
        sides.append(f"native model: {parity['native']}" + (f", torch {parity['torch']}" if parity.get("torch") else ""))
    if parity.get("onnx_runtime"):
        sides.append(f"ONNX: {parity['onnx_runtime']}")
    figures = (f"max |diff| {parity['max_abs_diff']:.3g}, max relative diff {parity['max_rel_diff']:.3g}"
               if parity.get("max_abs_diff") is not None and parity.get("max_rel_diff") is not None else "")
    return rule("parity-passed").finding(
        f"{', '.join(kinds)} agree on {len(parity['inputs'])} input(s) within rtol={ctx.options.rtol:g}, "
        f"atol={ctx.options.atol:g}" + (f": {figures}" if figures else "") + (f" ({'; '.join(sides)})" if sides else ""))


def _tail(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
