"""Area parity: the weights load strictly into the native model, ONNX Runtime runs the graph, and
the two agree (and agree with the shipped expected outputs) within rtol/atol.

The guideline: "model.safetensors loads into the expected architecture", "model.onnx runs with
ONNX Runtime", "framework-native and ONNX outputs are close for the same test input", checked with
`np.testing.assert_allclose(pytorch_logits, onnx_logits, rtol=1e-4, atol=1e-4)`.

Everything that touches package files with a framework runs in probes (validator/probes) inside the
sandbox: the native probe with the package environment's Python, the ONNX probe with the package
environment's onnxruntime when it has one, else with model-check's own in a sandboxed child process.
model-check compares the returned arrays with numpy (validator/runtime/parity.py).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from validator.checks.base import DynamicCheck, Outcome, Skip
from validator.core.catalogue import rule
from validator.core.findings import Area, Finding, Severity
from validator.core.options import Options
from validator.core.records import ParityRecord
from validator.readers.declared import CHANNEL_COUNT, CHANNELS, CLASS_COUNT, CLASSES, INPUT_SHAPE
from validator.readers.package import ModelPackage
from validator.runtime.environments.host_env import host_python
from validator.runtime.parity import Comparison, compare
from validator.runtime.probes import PROBE_DIR, Staging, read_arrays, read_result
from validator.runtime.probes.protocol import InputFile, InputSetPlan, LoadAttempt, NativePlan, NativeResult, OnnxPlan, OnnxResult
from validator.runtime.test_vectors import Array, Inputs, InputSet, declared_specs, discover
from validator.sandbox.base import Completed, Env, Limits

GUIDE_PARITY = ("The guideline: framework-native and ONNX outputs are close for the same test input "
                "(np.testing.assert_allclose(pytorch_logits, onnx_logits, rtol=1e-4, atol=1e-4)).")
GUIDE_LOAD = "The guideline: model.safetensors loads into the expected architecture."
GUIDE_ONNX = "The guideline: model.onnx runs with ONNX Runtime, if provided."


ONNXRUNTIME_NAMES = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml",
                     "ort-nightly")
KEYS_LISTED = 4
ProbeResult = TypeVar("ProbeResult", NativeResult, OnnxResult)


@dataclass
class Run(Generic[ProbeResult]):
    """What one probe produced: its JSON result and the arrays of its .npz."""

    result: ProbeResult | None
    arrays: dict[str, np.ndarray]
    completed: Completed

    def outputs(self, index: int) -> list[Array] | str:
        """The outputs of input set `index`, or the error that set raised."""
        sets = self.result["sets"] if self.result is not None else []
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
    notes: list[str] = field(default_factory=list)


@dataclass
class ProbeNotes:
    """What the probes tell about themselves, for the report's parity object."""

    onnx_runtime: str | None = None
    native: str | None = None
    onnx_skipped: str | None = None
    native_skipped: str | None = None
    native_attempts: list[dict[str, object]] | None = None
    torch: str | None = None


class ParityCheck(DynamicCheck):
    name = "native vs ONNX parity"
    area = Area.PARITY

    def run(self, pkg: ModelPackage, options: Options, env: Env) -> Outcome | Skip:
        ctx = Subject(pkg, options, env)
        if _weights(ctx) is None and _onnx(ctx) is None:
            return Skip("no .safetensors and no .onnx file: there is no model artefact to run")
        return self._run(ctx)

    def _run(self, ctx: Subject) -> Outcome:
        weights, onnx_rel = _weights(ctx), _onnx(ctx)
        outcome = Tally()
        inputs = discover(ctx.pkg, declared_specs(ctx.pkg, onnx_rel))
        outcome.findings += [rule("test-vector-invalid").finding(f"{rel} {problem}", file=rel) for rel, problem in inputs.problems]
        limits = Limits(wall_s=ctx.options.timeout_s, memory_mb=ctx.options.memory_mb, network=False)
        installed = _installed(ctx.env)
        onnx_env, onnx_where = _onnx_runner(ctx.env, installed)
        record = ProbeNotes()

        with Staging(ctx.pkg) as staging:
            if inputs.pb_cases:
                _convert_pb(ctx, staging, inputs, limits, outcome)
            if not inputs.sets:
                outcome.findings.append(rule("parity-no-inputs").finding(
                    f"no test vectors and no random input could be made: {inputs.random_reason or 'see the findings above'}"))
                return Outcome(outcome.findings, notes=outcome.notes)
            input_files = _stage_inputs(staging, inputs)

            # The two probes are independent: run them side by side (each in its own sandbox).
            unusable = _onnx_unusable(ctx, onnx_rel)
            if unusable:
                record.onnx_skipped = unusable
            native_skip = _native_skip(ctx, weights, installed)
            if native_skip is not None:
                record.native_skipped = native_skip
            native_plan = _native_plan(ctx, weights, input_files) if native_skip is None else None
            onnx_plan: OnnxPlan = {"onnx": onnx_rel, "convert": [], "input_sets": input_files}
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe") as pool:
                onnx_future = (pool.submit(_probe, onnx_env, _prepare(staging, "onnx_probe.py", onnx_plan), limits, OnnxResult)
                               if onnx_rel is not None and not unusable else None)
                native_future = (pool.submit(_probe, ctx.env, _prepare(staging, "native_probe.py", native_plan), limits,
                                             NativeResult) if native_plan is not None else None)
            onnx_run = None
            if onnx_future is not None and onnx_rel is not None:
                onnx_run, reason = _onnx_outcome(onnx_future.result(), onnx_rel, limits, outcome)
                version = onnx_run.result.get("onnxruntime") if onnx_run is not None and onnx_run.result is not None else None
                record.onnx_runtime = f"{onnx_where} (onnxruntime {version})" if version else onnx_where
                if reason:
                    record.onnx_skipped = reason
                if onnx_where.startswith("model-check"):
                    outcome.notes.append(f"parity: {record.onnx_runtime}")
            native_run = None
            if native_future is not None and native_plan is not None:
                native_run = _native_outcome(native_future.result(), native_plan, limits, outcome, record)

        _compare_all(ctx, inputs, native_run, onnx_run, onnx_rel, outcome)
        parity = _parity_record(ctx, inputs, outcome, record)
        passed = _passed_finding(ctx, parity, outcome) if parity is not None and parity["passed"] else None
        skipped = ""
        if native_skip is not None:  # a skipped check (the runner keeps the reason when nothing is wrong)
            done = f"; {passed.message}" if passed is not None else ""
            skipped = f"native parity skipped: {native_skip}{done}"
        elif passed is not None:
            outcome.findings.append(passed)
        return Outcome(outcome.findings, skipped, outcome.notes, parity)


# -- choosing artefacts and runners ----------------------------------------------------------------

def _weights(ctx: Subject) -> str | None:
    return ctx.pkg.find("model.safetensors") or next(iter(sorted(ctx.pkg.with_suffix(".safetensors"))), None)


def _onnx(ctx: Subject) -> str | None:
    return ctx.pkg.find("model.onnx") or next(iter(sorted(ctx.pkg.with_suffix(".onnx"))), None)


def _onnx_unusable(ctx: Subject, onnx_rel: str | None) -> str | None:
    """Why the graph is not run: the static ONNX check found it unsafe or unreadable."""
    summary = ctx.pkg.onnx.get(onnx_rel) if onnx_rel else None
    if summary is not None and not getattr(summary, "ok", True) and getattr(summary, "problems", None):
        return f"{onnx_rel} did not pass the static ONNX checks (see the onnx area); it was not run"
    return None


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
        return "no .safetensors file (an ONNX-only package)"
    header = ctx.pkg.safetensors.get(weights)
    if getattr(header, "problems", None):
        return f"{weights} is not a valid safetensors file (see the safetensors area)"
    if installed and "torch" not in installed:
        return "the runtime does not install torch (not a PyTorch package, or an ONNX-only runtime)"
    if installed and "safetensors" not in installed:
        return "the runtime does not install safetensors, which loading model.safetensors needs"
    return None


# -- running the probes -----------------------------------------------------------------------------

def _stage_inputs(staging: Staging, inputs: Inputs) -> list[InputSetPlan]:
    plan_sets: list[InputSetPlan] = []
    for index, input_set in enumerate(inputs.sets):
        files: list[InputFile] = [{"name": array.name, "file": staging.add_array(f"in_{index}_{position}.npy", array.data)}
                                  for position, array in enumerate(input_set.inputs)]
        plan_sets.append({"id": input_set.id, "inputs": files})
    return plan_sets


def _prepare(staging: Staging, script: str, plan: NativePlan | OnnxPlan) -> tuple[list[str], Path, list[str]]:
    """Put a probe and its plan into the staged workdir: (argv, workdir, files to fetch)."""
    name = script.removesuffix(".py")
    result, out_file = f"{PROBE_DIR}/{name}.json", f"{PROBE_DIR}/{name}.npz"
    staged = staging.add_json(f"{name}_plan.json", {**plan, "result": result, "out_file": out_file})
    argv = ["python", staging.add_script(script), staged]
    return argv, staging.root, [result, out_file]


def _probe(env: Env, staged: tuple[list[str], Path, list[str]], limits: Limits,
           shape: type[ProbeResult]) -> Run[ProbeResult]:
    argv, workdir, fetch = staged
    completed = env.run(argv, workdir, limits, fetch=fetch)
    return Run(read_result(completed.files, fetch[0], shape), read_arrays(completed.files, fetch[1]), completed)


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
    run = _probe(host_python(), _prepare(staging, "onnx_probe.py", {"onnx": None, "convert": files, "input_sets": []}),
                 limits, OnnxResult)
    if run.result is None:
        outcome.findings.append(rule("parity-probe-failed").finding(_probe_failure("reading the .pb test vectors", run.completed, limits)))
        return
    converted = {item["pb"]: item for item in run.result.get("converted") or [] if isinstance(item, dict)}

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


def _onnx_outcome(run: Run[OnnxResult], onnx_rel: str, limits: Limits,
                  outcome: Tally) -> tuple[Run[OnnxResult] | None, str | None]:
    result = run.result
    if result is None:
        outcome.findings.append(rule("parity-probe-failed").finding(_probe_failure("the ONNX probe", run.completed, limits), file=onnx_rel))
        return None, "the ONNX probe failed"
    status = result.get("status")
    if status == "unavailable":
        return None, f"onnxruntime cannot be imported: {result.get('reason')}"
    if status == "load-failed":
        outcome.findings.append(rule("onnx-does-not-run").finding(
            f"ONNX Runtime cannot load {onnx_rel}: {_tail(str(result.get('reason')), 600)}", file=onnx_rel))
        return None, "ONNX Runtime cannot load the graph"
    for record in result.get("sets") or []:
        if isinstance(record, dict) and record.get("error"):
            outcome.findings.append(rule("onnx-does-not-run").finding(
                f"ONNX Runtime fails on {record.get('id')}: {_tail(str(record['error']), 600)}", file=onnx_rel))
    return run, None


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


def _native_outcome(run: Run[NativeResult], plan: NativePlan, limits: Limits, outcome: Tally,
                    record: ProbeNotes) -> Run[NativeResult] | None:
    weights = plan["weights"]
    result = run.result
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
    record.native_attempts = [{k: a.get(k) for k in ("how", "built", "loaded", "error") if a.get(k) is not None}
                              for a in attempts]
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
    return run


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

def _compare_all(ctx: Subject, inputs: Inputs, native: Run[NativeResult] | None, onnx: Run[OnnxResult] | None, onnx_rel: str | None,
                 outcome: Tally) -> None:
    rtol, atol = ctx.options.rtol, ctx.options.atol
    for index, input_set in enumerate(inputs.sets):
        native_out = native.outputs(index) if native else None
        onnx_out = onnx.outputs(index) if onnx else None
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
    flagged: set[str] = set()
    for kind, input_id, comparison in outcome.comparisons:
        source = kind.split(" vs ")[0]
        if comparison.nonfinite_actual and source not in flagged:
            flagged.add(source)
            outcome.findings.append(rule("output-not-finite").finding(
                f"the {source} output has {comparison.nonfinite_actual} NaN/infinite value(s) on {input_id}"))


def _parity_record(ctx: Subject, inputs: Inputs, outcome: Tally, record: ProbeNotes) -> ParityRecord | None:
    if not outcome.comparisons:
        return None
    main = [c for kind, _, c in outcome.comparisons if kind == "native vs ONNX"] or [c for _, _, c in outcome.comparisons]
    abs_diffs = [c.max_abs_diff for c in main if c.max_abs_diff is not None]
    rel_diffs = [c.max_rel_diff for c in main if c.max_rel_diff is not None]
    parity: ParityRecord = {
        "passed": all(c.passed for _, _, c in outcome.comparisons),
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
