"""One sandboxed child inspects all of a package's ONNX graphs (validator.readers.onnx.inspect_graphs).

Starting Python and importing onnx costs about a second, so the graphs of a package share one child;
each graph keeps the limits a child of its own had (address space, CPU seconds, wall-clock time), and
a graph that kills the child fails alone: a new child inspects the graphs left. The number of children
is counted by wrapping `run_sandboxed` in the reader module; hostile behaviour that no small file can
provoke reliably (a segfault, a hang, a CPU or memory bomb inside the parser) is injected through the
child's boot line for the files whose name starts with "hostile".
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import onnx
import pytest
from helpers import nested_onnx_bytes
from onnx import ModelProto, TensorProto, helper

from validator.readers import onnx as onnx_inspect
from validator.readers.onnx import OnnxSummary, inspect_graphs, inspect_onnx
from validator.readers.package import ModelPackage
from validator.sandbox.bubblewrap import run_sandboxed

GOOD = ("a.onnx", "b.onnx", "z.onnx")  # sorted around "hostile.onnx", so it is inspected in the middle


@pytest.fixture(autouse=True)
def _short_wall_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_inspect, "WALL_SECONDS", 60.0)


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The graphs each sandboxed child was asked for, one entry per child started."""
    started: list[list[str]] = []
    real = run_sandboxed

    def counting(argv: Any, cwd: Path, *args: Any, **kwargs: Any) -> Any:
        import json

        job = json.loads((cwd / "job.json").read_text())
        started.append([Path(path).name for path, _ in job["graphs"]])
        return real(argv, cwd, *args, **kwargs)

    monkeypatch.setattr(onnx_inspect, "run_sandboxed", counting)
    return started


def make_model(width: int = 6, weight_external: list[tuple[str, str]] | None = None) -> ModelProto:
    """input [batch, 4] x weight [4, width] -> logits [batch, width]."""
    if weight_external is None:
        weight = helper.make_tensor("weight", TensorProto.FLOAT, (4, width), [0.5] * (4 * width))
    else:
        weight = TensorProto(name="weight", data_type=TensorProto.FLOAT, dims=[4, width])
        weight.data_location = TensorProto.EXTERNAL
        for key, value in weight_external:
            entry = weight.external_data.add()
            entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "weight"], ["logits"])], "test",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", width])], initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    return model


def write_graphs(root: Path, graphs: dict[str, ModelProto | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, model in graphs.items():
        (root / name).write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return root


def good_graphs() -> dict[str, ModelProto | bytes]:
    return {name: make_model(width=3 + i) for i, name in enumerate(GOOD)}


def summaries(root: Path) -> dict[str, OnnxSummary]:
    pkg = ModelPackage(root)
    try:
        return pkg.onnx
    finally:
        pkg.close()


def assert_good_ones_pass(found: dict[str, OnnxSummary]) -> None:
    for i, name in enumerate(GOOD):
        summary = found[name]
        assert summary.ok and summary.checker_ran and not summary.problems, (name, summary.problems)
        assert [s.shape for s in summary.outputs] == [("batch", 3 + i)]  # its own answer, not a neighbour's


def hostile_boot(action: str) -> str:
    """The child's boot line, with `action` run instead of parsing every file named hostile*."""
    return ("import sys; sys.path.insert(0, sys.argv[1]); from validator.readers import onnx_child as child\n"
            "real = child.inspect\n"
            "def inspect(path, root):\n"
            "    if path.name.startswith('hostile'):\n"
            f"        {action}\n"
            "    return real(path, root)\n"
            "child.inspect = inspect\n"
            "sys.exit(child.main(sys.argv[2:]))")


# -- one child for N graphs ----------------------------------------------------------------------------

def test_n_graphs_cost_one_child(tmp_path: Path, children: list[list[str]]) -> None:
    found = summaries(write_graphs(tmp_path / "pkg", good_graphs()))
    assert children == [list(GOOD)]
    assert list(found) == list(GOOD)
    assert_good_ones_pass(found)


def test_a_package_without_graphs_starts_no_child(tmp_path: Path, children: list[list[str]]) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "README.md").write_text("# nothing\n")
    assert summaries(root) == {}
    assert children == []


def _varied(root: Path) -> dict[str, ModelProto | bytes]:
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"\0" * 96)
    (root.parent / "outside.bin").write_bytes(b"\1" * 96)
    return {
        "a.onnx": make_model(),
        "b-external.onnx": make_model(weight_external=[("location", "weights.bin"), ("offset", "0"), ("length", "96")]),
        "c-outside.onnx": make_model(weight_external=[("location", "../outside.bin")]),
        "d-random.onnx": random.Random(3).randbytes(4096),
        "e-empty.onnx": b"",
        "f-nested-40.onnx": nested_onnx_bytes(40),
        "g-nested-8.onnx": nested_onnx_bytes(8),
        "sub/h-truncated.onnx": make_model().SerializeToString()[:-20],
        "sub/i-negative.onnx": _negative_dims(),
        "z.onnx": make_model(width=9),
    }


def _negative_dims() -> ModelProto:
    model = make_model()
    model.graph.initializer[0].dims[0] = -4
    return model


def test_results_are_identical_to_one_child_per_file(tmp_path: Path, children: list[list[str]]) -> None:
    root = tmp_path / "pkg"
    write_graphs(root, _varied(root))
    pkg = ModelPackage(root)
    try:
        rels = pkg.with_suffix(".onnx")
        together = inspect_graphs(pkg, rels)
        assert len(children) == 1
        alone = {rel: inspect_onnx(pkg, rel) for rel in rels}
        assert len(children) == 1 + len(rels)
    finally:
        pkg.close()
    assert together == alone
    assert together["a.onnx"].ok and together["b-external.onnx"].ok and together["z.onnx"].ok
    assert [p.kind for p in together["c-outside.onnx"].problems] == ["external-data"]
    assert [p.kind for p in together["f-nested-40.onnx"].problems] == ["unparseable"]
    assert [p.kind for p in together["e-empty.onnx"].problems] == ["unparseable"]


# -- a hostile graph fails alone ------------------------------------------------------------------------

def test_hostile_files_among_good_ones_fail_alone_in_one_child(tmp_path: Path, children: list[list[str]]) -> None:
    """Bytes that are no protobuf, nesting past protobuf's limit, external data outside the package and a
    file over protobuf's 2 GiB are each a problem of their own file; the good graphs pass, one child in all."""
    root = tmp_path / "pkg"
    write_graphs(root, {**good_graphs(), "hostile-bytes.onnx": random.Random(5).randbytes(8192),
                        "hostile-nested.onnx": nested_onnx_bytes(40),
                        "hostile-outside.onnx": make_model(weight_external=[("location", "../../etc/passwd")])})
    with open(root / "hostile-huge.onnx", "wb") as handle:  # sparse: no disk space, never read
        handle.truncate(onnx.checker.MAXIMUM_PROTOBUF + 1)
    stand_in = SimpleNamespace(root=root, path=lambda rel: root / rel)  # the manifest would hash 2 GiB
    rels = sorted(p.name for p in root.iterdir())
    found = inspect_graphs(stand_in, rels)  # type: ignore[arg-type]
    assert len(children) == 1
    assert_good_ones_pass(found)
    kinds = {rel: [p.kind for p in found[rel].problems] for rel in rels if rel.startswith("hostile")}
    assert kinds == {"hostile-bytes.onnx": ["unparseable"], "hostile-huge.onnx": ["too-large"],
                     "hostile-nested.onnx": ["unparseable"], "hostile-outside.onnx": ["external-data"]}
    assert "points outside the package" in found["hostile-outside.onnx"].problems[0].message
    assert not found["hostile-outside.onnx"].checker_ran


@pytest.mark.parametrize("action, kind, fragment, settings", [
    ("import ctypes; ctypes.string_at(0)", "crashed", "SIGSEGV", {}),
    ("import os, signal; os.kill(os.getpid(), signal.SIGABRT)", "crashed", "SIGABRT", {}),
    ("import time; time.sleep(120)", "timeout", "longer than 4 s", {"WALL_SECONDS": 4.0}),
    ("while True: pass", "crashed", "more than 2 s of CPU time", {"CPU_SECONDS": 2}),
], ids=["segfault", "abort", "hang", "cpu-bomb"])
def test_a_graph_that_kills_the_child_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   children: list[list[str]], action: str, kind: str,
                                                   fragment: str, settings: dict[str, float]) -> None:
    """The child dies on hostile.onnx: that graph gets the cause as its own problem, the graphs before it
    keep their answers and a new child inspects the ones after it."""
    for name, value in settings.items():
        monkeypatch.setattr(onnx_inspect, name, value)
    monkeypatch.setattr(onnx_inspect, "_BOOT", hostile_boot(action))
    found = summaries(write_graphs(tmp_path / "pkg", {**good_graphs(), "hostile.onnx": make_model()}))
    assert_good_ones_pass(found)
    [problem] = found["hostile.onnx"].problems
    assert problem.kind == kind and fragment in problem.message, problem
    assert not found["hostile.onnx"].parsed
    assert children[0] == ["a.onnx", "b.onnx", "hostile.onnx", "z.onnx"]
    assert children[-1] == ["z.onnx"]
    if kind == "timeout" or "CPU" in fragment:  # a time limit is the graph's own: no second try
        assert len(children) == 2
    else:  # a crash after other graphs ran in the same process is tried once more, alone first
        assert children[1] == ["hostile.onnx", "z.onnx"] and len(children) == 3


def test_a_memory_bomb_gets_its_own_address_space_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        children: list[list[str]]) -> None:
    """A graph needing more memory than its limit fails with MemoryError; since other graphs ran before it
    in the same process, it is tried again first in a fresh child, where the failure is its own."""
    monkeypatch.setattr(onnx_inspect, "_BOOT", hostile_boot("bytearray(2**40)"))
    found = summaries(write_graphs(tmp_path / "pkg", {**good_graphs(), "hostile.onnx": make_model()}))
    assert_good_ones_pass(found)
    [problem] = found["hostile.onnx"].problems
    assert problem.kind == "crashed" and "parsing needed more than the" in problem.message
    assert children == [["a.onnx", "b.onnx", "hostile.onnx", "z.onnx"], ["hostile.onnx", "z.onnx"]]


def test_a_checker_short_of_memory_after_other_graphs_is_tried_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      children: list[list[str]]) -> None:
    """onnx's C++ reports running out of memory in its own words (std::bad_alloc), not as a MemoryError: after
    other graphs in the same process that answer is not taken; a fresh child, where the graph comes first,
    gives the one reported."""
    monkeypatch.setattr(onnx_inspect, "_BOOT", hostile_boot("return {**real(path, root), 'checker_error': 'std::bad_alloc'}"))
    found = summaries(write_graphs(tmp_path / "pkg", {**good_graphs(), "hostile.onnx": make_model()}))
    assert_good_ones_pass(found)
    assert found["hostile.onnx"].checker_error == "std::bad_alloc" and not found["hostile.onnx"].ok
    assert children == [["a.onnx", "b.onnx", "hostile.onnx", "z.onnx"], ["hostile.onnx", "z.onnx"]]


def test_every_graph_gets_its_own_memory_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The address-space limit in force while a graph is inspected is BASE_MEMORY + MEMORY_PER_BYTE x its
    own size, as its own child had (the hostile stand-in prints it and exits)."""
    action = ("import resource; sys.stderr.write('limit %d' % resource.getrlimit(resource.RLIMIT_AS)[0]); "
              "sys.exit(3)")
    monkeypatch.setattr(onnx_inspect, "_BOOT", hostile_boot(action))
    root = write_graphs(tmp_path / "pkg", {"hostile-small.onnx": make_model(), "hostile-large.onnx": make_model(width=4000)})
    found = summaries(root)
    for rel in ("hostile-small.onnx", "hostile-large.onnx"):
        memory = onnx_inspect.BASE_MEMORY + onnx_inspect.MEMORY_PER_BYTE * (root / rel).stat().st_size
        [problem] = found[rel].problems
        assert problem.message.endswith(f"exited with status 3: limit {memory}"), problem.message


def test_a_child_that_dies_before_any_graph_fails_them_all_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   children: list[list[str]]) -> None:
    monkeypatch.setattr(onnx_inspect, "BASE_MEMORY", 32 * 2**20)  # too little to even import onnx
    found = summaries(write_graphs(tmp_path / "pkg", good_graphs()))
    assert len(children) == 1
    for summary in found.values():
        [problem] = summary.problems  # "parsing needed more than the … MiB allowed" where the import raises MemoryError
        assert problem.kind == "crashed" and not summary.parsed


def test_garbage_from_the_child_is_no_answer_for_any_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           children: list[list[str]]) -> None:
    """A line claiming another graph's index, or one no graph was asked for, is never taken."""
    monkeypatch.setattr(onnx_inspect, "_BOOT", "print('{\"index\": 7, \"answer\": {}}'); print('not json')")
    found = summaries(write_graphs(tmp_path / "pkg", good_graphs()))
    assert len(children) == 1
    for summary in found.values():
        [problem] = summary.problems
        assert problem.kind == "crashed" and "no usable answer" in problem.message


def test_output_beyond_the_budget_goes_on_in_a_new_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         children: list[list[str]]) -> None:
    """The child never prints more than OUTPUT_BYTES (what the parent keeps): when the next answer would not
    fit, it stops and a new child goes on from that graph, so every answer comes back whole."""
    monkeypatch.setattr(onnx_inspect, "OUTPUT_BYTES", 1200)  # room for one answer, not two
    monkeypatch.setattr(onnx_inspect, "_BOOT", hostile_boot("pass").replace("real = child.inspect",
                                                                            "child.ANSWER_ROOM = 0; real = child.inspect"))
    found = summaries(write_graphs(tmp_path / "pkg", good_graphs()))
    assert children == [list(GOOD), list(GOOD[1:]), list(GOOD[2:])]
    assert_good_ones_pass(found)


def test_a_vanished_file_fails_alone(tmp_path: Path, children: list[list[str]]) -> None:
    root = write_graphs(tmp_path / "pkg", good_graphs())
    stand_in = SimpleNamespace(root=root, path=lambda rel: root / rel)
    found = inspect_graphs(stand_in, [*GOOD, "gone.onnx"])  # type: ignore[arg-type]
    assert_good_ones_pass(found)
    [problem] = found["gone.onnx"].problems
    assert problem.kind == "crashed" and "could not start the ONNX inspector" in problem.message
    assert children == [list(GOOD)]
