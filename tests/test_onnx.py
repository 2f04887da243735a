"""Area onnx: the child-process inspector (validator.readers.onnx) and the check's findings.

Every model is built here with onnx.helper; malformed inputs (random bytes, truncation, unsafe
external data, nesting, version garbage, crashes of the parser) must each give a finding in area
onnx that names the file, never a traceback or a hang.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import onnx
import onnxruntime
import pytest
from helpers import copy_example, nested_onnx_bytes, run_static
from onnx import ModelProto, TensorProto, helper
from onnxruntime.capi.onnxruntime_pybind11_state import Fail

from validator.checks.base import Skip
from validator.checks.onnx import OnnxCheck
from validator.core.findings import Finding, Severity
from validator.core.options import Options
from validator.readers import onnx as onnx_inspect
from validator.readers.onnx import OnnxSummary, inspect_onnx, runtime_support
from validator.readers.package import ModelPackage

WEIGHT_BYTES = 4 * 6 * 4  # the test graph's weight: float32 [4, 6]


@pytest.fixture(autouse=True)
def _short_wall_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hang would end at this limit with an MC502 finding instead of stalling the suite."""
    monkeypatch.setattr(onnx_inspect, "WALL_SECONDS", 60.0)


# -- building models ---------------------------------------------------------------------------

def make_model(input_name: str = "input", output_name: str = "logits", batch: int | str | None = "batch",
               elem_type: int = TensorProto.FLOAT, opset: int = 17, ir_version: int = 8,
               weight_external: list[tuple[str, str]] | None = None, weight_dims: tuple[int, ...] = (4, 6),
               weight_as_input: bool = False) -> ModelProto:
    """input [batch, 4] x weight [4, 6] -> logits [batch, 6]."""
    if weight_external is None:
        weight = helper.make_tensor("weight", TensorProto.FLOAT, weight_dims, [0.5] * (4 * 6))
    else:
        weight = TensorProto(name="weight", data_type=TensorProto.FLOAT, dims=list(weight_dims))
        weight.data_location = TensorProto.EXTERNAL
        for key, value in weight_external:
            entry = weight.external_data.add()
            entry.key, entry.value = key, value
    inputs = [helper.make_tensor_value_info(input_name, elem_type, [batch, 4])]
    if weight_as_input:  # older exporters list initializers among the graph inputs
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.FLOAT, list(weight_dims)))
    graph = helper.make_graph(
        [helper.make_node("MatMul", [input_name, "weight"], [output_name])], "test", inputs,
        [helper.make_tensor_value_info(output_name, elem_type, [batch, 6])], initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tests")
    model.ir_version = ir_version
    return model


def write_package(tmp_path: Path, model: ModelProto | bytes, name: str = "model.onnx") -> Path:
    root = tmp_path / "pkg"
    root.mkdir(exist_ok=True)
    data = model if isinstance(model, bytes) else model.SerializeToString()
    (root / name).write_bytes(data)
    return root


def run_check(root: Path) -> tuple[list[Finding], dict[str, OnnxSummary]]:
    pkg = ModelPackage(root)
    try:
        result = OnnxCheck().run(pkg, Options(env="none"))
        assert not isinstance(result, Skip)
        return list(result), pkg.onnx
    finally:
        pkg.close()


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def issues(findings: list[Finding]) -> list[Finding]:
    """Findings at warning or error."""
    return [f for f in findings if f.severity.reaches(Severity.WARNING)]


def assert_one(findings: list[Finding], rule: str, fragment: str, file: str = "model.onnx") -> Finding:
    hits = by_rule(findings, rule)
    assert hits, f"no {rule} among {[(f.rule, f.message) for f in findings]}"
    match = [f for f in hits if fragment in f.message]
    assert match, f"{fragment!r} not in {[f.message for f in hits]}"
    assert all(f.area.value == "onnx" and f.file == file for f in hits)
    return match[0]


# -- a valid graph -------------------------------------------------------------------------------

def test_valid_graph_passes_and_is_summarised(tmp_path: Path) -> None:
    root = write_package(tmp_path, make_model(weight_as_input=True))
    findings, summaries = run_check(root)
    assert issues(findings) == []
    summary = summaries["model.onnx"]
    assert summary.ok and summary.checker_ran and summary.checker_error is None
    assert [(s.name, s.elem_type, s.shape) for s in summary.inputs] == [("input", "float32", ("batch", 4))]
    assert [(s.name, s.elem_type, s.shape) for s in summary.outputs] == [("logits", "float32", ("batch", 6))]
    assert (summary.ir_version, summary.opset_imports, summary.producer_name) == (8, {"": 17}, "tests")
    assert (summary.initializer_count, summary.parameter_count, summary.node_count) == (1, 24, 1)
    assert summary.runtime == runtime_support()  # read by the inspector, so model-check never loads onnxruntime
    info = assert_one(findings, "MC523", "'input' float32 [batch,4]")
    assert "'logits' float32 [batch,6]" in info.message and info.severity is Severity.INFO


def test_example_package_passes_the_onnx_area(tmp_path: Path) -> None:
    report = run_static(copy_example(tmp_path / "pkg"))
    onnx_issues = [f for f in report["findings"] if f["area"] == "onnx" and f["severity"] != "info"]
    assert onnx_issues == []
    assert {c["status"] for c in report["checks"] if c["area"] == "onnx"} == {"passed"}


def test_no_onnx_file_skips_the_check(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# m\n")
    pkg = ModelPackage(tmp_path)
    try:
        assert OnnxCheck().run(pkg, Options(env="none")) == Skip("the package has no .onnx file")
    finally:
        pkg.close()


# -- names, batch dimension, element types ------------------------------------------------------

@pytest.mark.parametrize("role, name", [
    ("input", "input.1"), ("input", "onnx::Gemm_12"), ("output", "output_0"), ("output", "/fc/Gemm_output_0"),
    ("input", "serving_default_input_1:0"), ("output", "123"),
])
def test_exporter_default_names_warn(tmp_path: Path, role: str, name: str) -> None:
    model = make_model(input_name=name) if role == "input" else make_model(output_name=name)
    findings, _ = run_check(write_package(tmp_path, model))
    hit = assert_one(findings, "MC520", f"{role} {name!r} is an exporter-generated name")
    assert hit.severity is Severity.WARNING
    assert ("'input'" if role == "input" else "'logits'") in hit.message


@pytest.mark.parametrize("input_name, output_name", [("input", "logits"), ("image", "probabilities"), ("x", "scores")])
def test_chosen_names_are_stable(tmp_path: Path, input_name: str, output_name: str) -> None:
    findings, _ = run_check(write_package(tmp_path, make_model(input_name=input_name, output_name=output_name)))
    assert by_rule(findings, "MC520") == []


def test_static_batch_dimension_warns(tmp_path: Path) -> None:
    findings, _ = run_check(write_package(tmp_path, make_model(batch=1)))
    hits = by_rule(findings, "MC521")
    assert {h.message.split(" has ")[0] for h in hits} == {"model.onnx: input 'input'", "model.onnx: output 'logits'"}
    assert all("fixed batch dimension of 1" in h.message and h.severity is Severity.WARNING for h in hits)


@pytest.mark.parametrize("batch", ["batch", None])
def test_dynamic_or_unknown_batch_passes(tmp_path: Path, batch: str | None) -> None:
    findings, _ = run_check(write_package(tmp_path, make_model(batch=batch)))
    assert by_rule(findings, "MC521") == []


def make_recurrent_model(state_batch: int | str | None = "batch", output_batch: int | str | None = "batch",
                         input_batch: int | str | None = "batch") -> ModelProto:
    """A voice-activity-style graph: input [batch, 64], state [2, batch, 8] and a scalar sample rate in;
    probability [batch, 1] and the next state out."""
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [input_batch, 64]),
              helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, state_batch, 8]),
              helper.make_tensor_value_info("sr", TensorProto.INT64, [])]
    outputs = [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [output_batch, 1]),
               helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [2, state_batch, 8])]
    nodes = [helper.make_node("ReduceMean", ["input"], ["probability"], axes=[1], keepdims=1),
             helper.make_node("Identity", ["state"], ["state_out"])]
    graph = helper.make_graph(nodes, "recurrent", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    return model


def test_batch_axis_is_the_shared_symbolic_dimension_wherever_it_stands(tmp_path: Path) -> None:
    """A recurrent state [2, batch, 8] and a scalar input are not tensors with a fixed batch of 2 or none."""
    findings, _ = run_check(write_package(tmp_path, make_recurrent_model()))
    assert by_rule(findings, "MC521") == []


def test_a_tensor_left_at_a_batch_of_one_beside_a_dynamic_batch_warns(tmp_path: Path) -> None:
    findings, _ = run_check(write_package(tmp_path, make_recurrent_model(output_batch=1)))
    [hit] = by_rule(findings, "MC521")
    assert hit.message.startswith("model.onnx: output 'probability' has a fixed batch dimension of 1")
    assert "e.g. 'batch'" in hit.message


def test_unnamed_unknown_dimensions_may_carry_the_batch(tmp_path: Path) -> None:
    """Graphs from non-torch builders leave dimensions unnamed ([?, 64], [2, ?, 8]): nothing is a fixed batch."""
    findings, _ = run_check(write_package(tmp_path, make_recurrent_model(state_batch=None, output_batch=None, input_batch=None)))
    assert by_rule(findings, "MC521") == []


def test_a_fully_static_graph_flags_its_batch_tensors_not_its_state(tmp_path: Path) -> None:
    """A fixed-shape export (input [1, 64], state [2, 1, 8]): the batch is 1; the state's dimension 0 is
    its layers, not a batch of 2."""
    findings, _ = run_check(write_package(tmp_path, make_recurrent_model(state_batch=1, output_batch=1, input_batch=1)))
    hits = by_rule(findings, "MC521")
    assert sorted(h.message.split(" has ")[0] for h in hits) == ["model.onnx: input 'input'", "model.onnx: output 'probability'"]


def test_undefined_element_type_is_an_error(tmp_path: Path) -> None:
    findings, _ = run_check(write_package(tmp_path, make_model(elem_type=TensorProto.UNDEFINED)))
    hit = assert_one(findings, "MC522", "input 'input' declares no element type")
    assert hit.severity is Severity.ERROR


def test_element_types_are_reported(tmp_path: Path) -> None:
    model = make_model()
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    findings, _ = run_check(write_package(tmp_path, model))
    assert_one(findings, "MC523", "'input' float16 [batch,4]")
    assert by_rule(findings, "MC522") == []


# -- unreadable files -----------------------------------------------------------------------------

@pytest.mark.parametrize("content, fragment", [
    (lambda: random.Random(3).randbytes(4096), "not a valid ONNX protobuf"),
    (lambda: make_model().SerializeToString()[:-20], "not a valid ONNX protobuf"),
    (lambda: b"", "the file is empty"),
], ids=["random-bytes", "truncated", "empty"])
def test_unparseable_files(tmp_path: Path, content: Callable[[], bytes], fragment: str) -> None:
    findings, summaries = run_check(write_package(tmp_path, content()))
    assert_one(findings, "MC501", fragment)
    assert not summaries["model.onnx"].ok and not summaries["model.onnx"].parsed


def test_file_over_two_gib_is_not_parsed(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    with open(root / "big.onnx", "wb") as handle:  # sparse: no disk space, never read
        handle.truncate(onnx.checker.MAXIMUM_PROTOBUF + 1)
    # The package's manifest would hash 2 GiB: inspect and check through a stand-in package instead.
    stand_in = SimpleNamespace(root=root, path=lambda rel: root / rel)
    summary = inspect_onnx(stand_in, "big.onnx")  # type: ignore[arg-type]
    assert [p.kind for p in summary.problems] == ["too-large"]
    assert "2,147,483,648 bytes" in summary.problems[0].message
    stand_in_pkg = SimpleNamespace(onnx={"big.onnx": summary}, with_suffix=lambda *s: ["big.onnx"])
    result = OnnxCheck().run(stand_in_pkg, Options(env="none"))  # type: ignore[arg-type]
    assert not isinstance(result, Skip)
    findings = list(result)
    assert_one(findings, "MC503", "is too large to parse", file="big.onnx")


def test_deeply_nested_subgraphs_are_a_finding(tmp_path: Path) -> None:
    # protobuf's recursion limit stops the parser first; the inspector's own walk also stops at 32 levels
    findings, summaries = run_check(write_package(tmp_path, nested_onnx_bytes(40)))
    assert_one(findings, "MC501", "not a valid ONNX protobuf")
    assert not summaries["model.onnx"].parsed


def test_moderately_nested_subgraphs_parse(tmp_path: Path) -> None:
    _, summaries = run_check(write_package(tmp_path, nested_onnx_bytes(8)))
    summary = summaries["model.onnx"]
    assert summary.parsed and summary.node_count == 9 and not summary.problems


def test_negative_dimension_is_a_malformed_graph(tmp_path: Path) -> None:
    model = make_model()
    model.graph.initializer[0].dims[0] = -4
    findings, _ = run_check(write_package(tmp_path, model))
    hit = assert_one(findings, "MC505", "tensor 'weight' has a negative dimension [-4, 6]")
    assert hit.severity is Severity.ERROR
    assert by_rule(run_check(write_package(tmp_path, make_model()))[0], "MC505") == []


def test_huge_dims_with_tiny_inline_data_fail_the_checker(tmp_path: Path) -> None:
    model = make_model()
    model.graph.initializer[0].ClearField("float_data")
    model.graph.initializer[0].ClearField("dims")
    model.graph.initializer[0].dims.extend([10**9, 10**9])
    model.graph.initializer[0].raw_data = b"\0" * 4
    findings, summaries = run_check(write_package(tmp_path, model))
    assert_one(findings, "MC504", "too small")
    assert summaries["model.onnx"].parameter_count == 10**18


# -- parser crashes, timeouts, memory --------------------------------------------------------------

@pytest.mark.parametrize("boot, fragment", [
    ("import ctypes; ctypes.string_at(0)", "SIGSEGV"),
    ("print('not json')", "no usable answer"),
    ("import sys; sys.exit(3)", "exited with status 3"),
], ids=["segfault", "garbage-output", "exit-status"])
def test_a_crashing_parser_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boot: str, fragment: str) -> None:
    monkeypatch.setattr(onnx_inspect, "_BOOT", boot)
    findings, _ = run_check(write_package(tmp_path, make_model()))
    hit = assert_one(findings, "MC502", fragment)
    assert hit.severity is Severity.ERROR


def test_a_hanging_parser_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_inspect, "_BOOT", "import time; time.sleep(60)")
    monkeypatch.setattr(onnx_inspect, "WALL_SECONDS", 1.0)
    findings, _ = run_check(write_package(tmp_path, make_model()))
    assert_one(findings, "MC502", "longer than 1 s")


def test_the_memory_limit_applies_to_the_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_inspect, "BASE_MEMORY", 32 * 2**20)  # too little to even import onnx
    findings, _ = run_check(write_package(tmp_path, make_model()))
    assert_one(findings, "MC502", "could not be inspected")


def test_package_code_is_never_imported_by_the_parser(tmp_path: Path) -> None:
    root = write_package(tmp_path, make_model())
    marker = tmp_path / "imported"
    for module in ("onnx.py", "numpy.py", "json.py"):
        (root / module).write_text(f"open({str(marker)!r}, 'w').write('{module}')\n")
    _, summaries = run_check(root)
    assert summaries["model.onnx"].ok
    assert not marker.exists()


# -- external data ---------------------------------------------------------------------------------

def _external(location: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("location", location), ("offset", "0"), ("length", str(WEIGHT_BYTES)), *extra]


def _setup_outside(tmp_path: Path, root: Path) -> Path:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"\1" * WEIGHT_BYTES)
    return outside


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _symlink(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


def _hardlink(target: Path, link: Path) -> Path:
    os.link(target, link)
    return link


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# (id, prepare the package -> external_data entries, fragment of the finding)
EXTERNAL_CASES: list[tuple[str, Callable[[Path, Path], list[tuple[str, str]]], str]] = [
    ("parent-dir", lambda t, r: (_setup_outside(t, r), _external("../outside.bin"))[1], "points outside the package"),
    ("absolute", lambda t, r: _external("/etc/passwd"), "is absolute"),
    ("dev-zero", lambda t, r: _external("/dev/zero"), "is absolute"),
    ("climbing", lambda t, r: (_mkdir(r / "sub"), _setup_outside(t, r), _external("sub/../../outside.bin"))[2],
     "points outside the package"),
    ("backslash", lambda t, r: _external("..\\outside.bin"), "contains a backslash"),
    ("symlink-out", lambda t, r: (_symlink(r / "data.bin", _setup_outside(t, r)), _external("data.bin"))[1],
     "goes through the symlink 'data.bin'"),
    ("symlinked-dir", lambda t, r: (_setup_outside(t, r), _symlink(r / "d", t), _external("d/outside.bin"))[2],
     "goes through the symlink 'd'"),
    ("hardlink", lambda t, r: (_hardlink(_setup_outside(t, r), r / "data.bin"), _external("data.bin"))[1],
     "has 2 hard links"),
    ("fifo", lambda t, r: (_fifo(r / "data.bin"), _external("data.bin"))[1], "is a FIFO, not a regular file"),
    ("directory", lambda t, r: (_mkdir(r / "data"), _external("data"))[1], "is a directory"),
    ("missing", lambda t, r: _external("nothing.bin"), "does not exist in the package"),
    ("length-1e15", lambda t, r: (_data_file(r), [("location", "data.bin"), ("length", str(10**15))])[1],
     "runs past the end"),
    ("negative-offset", lambda t, r: (_data_file(r), [("location", "data.bin"), ("offset", "-1")])[1],
     "offset '-1' is not a non-negative whole number"),
    ("offset-past-end", lambda t, r: (_data_file(r), [("location", "data.bin"), ("offset", "4096")])[1],
     "lies past the end"),
    ("unknown-key", lambda t, r: (_data_file(r), _external("data.bin", ("owner", "me")))[1], "unknown key 'owner'"),
    ("duplicate-key", lambda t, r: (_data_file(r), _external("data.bin", ("offset", "8")))[1], "'offset' is given twice"),
    ("no-location", lambda t, r: [("offset", "0")], "has no location"),
    ("too-short-for-shape", lambda t, r: (_data_file(r), [("location", "data.bin"), ("length", "8")])[1],
     f"holds 8 bytes in 'data.bin' but its shape and type need {WEIGHT_BYTES}"),
]


def _state(root: Path) -> dict[str, tuple[int, int, float, bytes]]:
    """Mode, size, mtime and (for regular files) content of every entry; never opens a FIFO."""
    state = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
        state[path.relative_to(root).as_posix()] = (info.st_mode, info.st_size, info.st_mtime, content)
    return state


def _data_file(root: Path, size: int = WEIGHT_BYTES) -> Path:
    path = root / "data.bin"
    path.write_bytes(b"\0" * size)
    return path


@pytest.mark.parametrize("prepare, fragment", [c[1:] for c in EXTERNAL_CASES], ids=[c[0] for c in EXTERNAL_CASES])
def test_unsafe_external_data(tmp_path: Path, prepare: Callable[[Path, Path], list[tuple[str, str]]],
                              fragment: str) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    entries = prepare(tmp_path, root)
    write_package(tmp_path, make_model(weight_external=entries))
    before = _state(root)
    findings, summaries = run_check(root)
    hit = assert_one(findings, "MC510", fragment)
    assert hit.severity is Severity.ERROR and "tensor 'weight'" in hit.message
    assert by_rule(findings, "MC502") == []  # no hang, no crash
    assert not summaries["model.onnx"].checker_ran  # the checker never sees unsafe references
    assert _state(root) == before


def test_huge_dims_with_tiny_external_data(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    _data_file(root, 4)
    write_package(tmp_path, make_model(weight_dims=(10**9, 10**9), weight_external=[("location", "data.bin")]))
    findings, _ = run_check(root)
    assert_one(findings, "MC510", "holds 4 bytes in 'data.bin' but its shape and type need 4,000,000,000,000,000,000")


@pytest.mark.parametrize("location", ["data.bin", "sub/data.bin", "./sub/../data.bin"])
def test_safe_external_data_passes(tmp_path: Path, location: str) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    _data_file(root)
    _data_file(root / "sub")
    write_package(tmp_path, make_model(weight_external=_external(location, ("checksum", "abc"))))
    findings, summaries = run_check(root)
    assert issues(findings) == []
    summary = summaries["model.onnx"]
    assert summary.ok and summary.checker_ran
    assert [(r.tensor, r.location, r.offset, r.length, r.needed_bytes) for r in summary.external_data] == [
        ("weight", location, 0, WEIGHT_BYTES, WEIGHT_BYTES)]


# -- versions, domains, metadata ---------------------------------------------------------------------

def _session(model: ModelProto) -> Any:
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_runtime_support_is_what_onnxruntime_loads() -> None:
    support = runtime_support()
    assert support.onnxruntime == onnxruntime.__version__ and support.max_ir_version is not None
    newest = support.max_opsets[""]
    _session(make_model(opset=newest, ir_version=support.max_ir_version))
    with pytest.raises(Fail, match="Unsupported model IR version"):
        _session(make_model(opset=newest, ir_version=support.max_ir_version + 1))
    with pytest.raises(Fail, match=rf"support for domain ai.onnx is till opset {newest}\b"):
        _session(make_model(opset=newest + 1, ir_version=support.max_ir_version))


def test_ir_version_newer_than_onnxruntime_is_an_error(tmp_path: Path) -> None:
    newest = runtime_support().max_ir_version
    assert newest is not None
    findings, _ = run_check(write_package(tmp_path, make_model(ir_version=newest + 1)))
    assert_one(findings, "MC531", f"has IR version {newest + 1}")


@pytest.mark.parametrize("opset", [runtime_support().max_opsets[""] + 1, 2**40], ids=["next", "garbage"])
def test_opset_newer_than_onnxruntime_is_an_error(tmp_path: Path, opset: int) -> None:
    findings, _ = run_check(write_package(tmp_path, make_model(opset=opset)))
    assert_one(findings, "MC530", f"imports opset {opset} of ai.onnx")


def test_negative_opset_is_a_finding(tmp_path: Path) -> None:
    findings, _ = run_check(write_package(tmp_path, make_model(opset=-3)))
    errors = [f for f in findings if f.severity is Severity.ERROR]
    assert errors and all(f.area.value == "onnx" and f.file == "model.onnx" for f in errors)


def test_supported_versions_pass(tmp_path: Path) -> None:
    support = runtime_support()
    assert support.max_ir_version is not None
    model = make_model(opset=support.max_opsets[""], ir_version=support.max_ir_version)
    findings, _ = run_check(write_package(tmp_path, model))
    assert by_rule(findings, "MC530") == [] and by_rule(findings, "MC531") == []


def test_custom_domains_are_reported(tmp_path: Path) -> None:
    model = make_model()
    model.opset_import.append(helper.make_opsetid("org.example", 1))
    model.graph.node.append(helper.make_node("Scale", ["logits"], ["scaled"], domain="org.example"))
    findings, summaries = run_check(write_package(tmp_path, model))
    assert summaries["model.onnx"].custom_domains == ["org.example"]
    hit = assert_one(findings, "MC532", "operator domain 'org.example'")
    assert hit.severity is Severity.INFO and "custom-operator library" in hit.message


def test_standard_domains_are_not_custom(tmp_path: Path) -> None:
    findings, summaries = run_check(write_package(tmp_path, make_model()))
    assert summaries["model.onnx"].custom_domains == [] and by_rule(findings, "MC532") == []


def test_metadata_props_are_read(tmp_path: Path) -> None:
    model = make_model()
    helper.set_model_props(model, {"model_id": "goes-cloud", "version": "v0.1.0"})
    findings, summaries = run_check(write_package(tmp_path, model))
    assert summaries["model.onnx"].metadata_props == {"model_id": "goes-cloud", "version": "v0.1.0"}
    assert_one(findings, "MC540", "'model_id'='goes-cloud', 'version'='v0.1.0'")


def test_missing_metadata_props_are_said(tmp_path: Path) -> None:
    findings, _ = run_check(write_package(tmp_path, make_model()))
    assert_one(findings, "MC540", "has no metadata_props")


# -- the full report -------------------------------------------------------------------------------

def test_broken_onnx_in_a_full_report(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "pkg")
    data = (root / "model.onnx").read_bytes()
    (root / "model.onnx").write_bytes(data[: len(data) // 2])
    report = run_static(root)  # validated against the report schema
    hits = [f for f in report["findings"] if f["rule"] == "MC501"]
    assert len(hits) == 1 and hits[0]["file"] == "model.onnx" and hits[0]["area"] == "onnx"
    assert {c["status"] for c in report["checks"] if c["area"] == "onnx"} == {"failed"}


def test_several_onnx_files_are_each_inspected(tmp_path: Path) -> None:
    root = write_package(tmp_path, make_model())
    (root / "variants").mkdir()
    shutil.copy(root / "model.onnx", root / "variants" / "small.onnx")
    (root / "variants" / "broken.onnx").write_bytes(b"\xff" * 64)
    findings, summaries = run_check(root)
    assert sorted(summaries) == ["model.onnx", "variants/broken.onnx", "variants/small.onnx"]
    assert [f.file for f in issues(findings)] == ["variants/broken.onnx"]
