"""ONNX probe: run ONNX graphs with ONNX Runtime's CPU provider, each on its own inputs.

Runs in a sandboxed child process, with the package environment's Python when that environment
has onnxruntime, else with model-check's own:

    python onnx_probe.py PLAN.json

PLAN.json (written by validator.checks.parity):
    graphs      [{"onnx": path of the .onnx file, "input_sets": [{"id": str, "inputs": [{"name": str,
                "file": str}]}]}]: each graph gets its own session (CPU provider) and runs on its
                own input sets (none: the session is only created and described); [] to only
                convert test vectors
    convert     ["test_data_set_0/input_0.pb", …]: ONNX-style TensorProto test vectors to
                read into arrays (needs the onnx package); array "c<i>" of out_file is file i
    out_file    .npz written here: output k of input set i of graph j is the array "g<j>_s<i>_o<k>"
    result      path of the JSON result written here

Only the standard library, numpy, onnxruntime (and onnx for .pb files) are imported; the plan and
result types (validator.runtime.probes.protocol) are named for the type checker only.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: nothing here is evaluated by the probe's Python
    from collections.abc import Sequence

    from validator.runtime.probes.protocol import Converted, GraphPlan, GraphResult, InputFile, OnnxPlan, OnnxResult, SetRecord


def tail(limit: int = 25) -> str:
    lines = traceback.format_exc().rstrip().splitlines()
    return "\n".join(lines[-limit:])


def main() -> int:
    plan: OnnxPlan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    result: OnnxResult = {"status": "ok", "converted": [], "graphs": []}
    import numpy as np

    arrays: dict[str, Any] = {}
    if plan.get("convert"):
        result["converted"] = convert(plan["convert"], arrays, np)
    if plan.get("graphs"):
        run_graphs(plan["graphs"], result, arrays, np)
    np.savez(plan["out_file"], **arrays)
    Path(plan["result"]).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def convert(files: list[str], arrays: dict[str, Any], np: ModuleType) -> list[Converted]:
    done: list[Converted] = []
    try:
        import onnx
        from onnx import numpy_helper
    except Exception as exc:
        return [{"pb": pb, "error": f"the onnx package is needed to read .pb test vectors: {exc}"} for pb in files]
    for index, pb in enumerate(files):
        try:
            tensor = onnx.TensorProto()
            tensor.ParseFromString(Path(pb).read_bytes())
            array = numpy_helper.to_array(tensor)
            arrays[f"c{index}"] = array
            done.append({"pb": pb, "key": f"c{index}", "name": tensor.name, "shape": list(array.shape),
                         "dtype": str(array.dtype)})
        except Exception as exc:
            done.append({"pb": pb, "error": f"{type(exc).__name__}: {exc}"[:2000]})
    return done


def run_graphs(graphs: list[GraphPlan], result: OnnxResult, arrays: dict[str, Any], np: ModuleType) -> None:
    try:
        import onnxruntime as ort
    except Exception as exc:
        result["status"], result["reason"] = "unavailable", f"{type(exc).__name__}: {exc}"
        return
    result["onnxruntime"] = ort.__version__
    for number, graph in enumerate(graphs):
        result["graphs"].append(run_graph(ort, graph, f"g{number}", arrays, np))


def run_graph(ort: ModuleType, graph: GraphPlan, prefix: str, arrays: dict[str, Any], np: ModuleType) -> GraphResult:
    done: GraphResult = {"onnx": graph["onnx"], "status": "ok", "sets": []}
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(graph["onnx"], sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        done["status"], done["reason"], done["traceback"] = "load-failed", f"{type(exc).__name__}: {exc}"[:4000], tail()
        return done
    done["providers"] = [str(p) for p in session.get_providers()]
    graph_inputs = session.get_inputs()
    done["inputs"] = [{"name": i.name, "type": i.type, "shape": list(i.shape)} for i in graph_inputs]
    done["outputs"] = [{"name": o.name, "type": o.type, "shape": list(o.shape)} for o in session.get_outputs()]
    for index, input_set in enumerate(graph["input_sets"]):
        record: SetRecord = {"id": input_set["id"], "outputs": []}
        try:
            feed = feed_for(graph_inputs, input_set["inputs"], np)
            produced = session.run(None, feed)
            for position, (spec, value) in enumerate(zip(session.get_outputs(), produced)):
                array = as_array(value, np)
                key = f"{prefix}_s{index}_o{position}"
                arrays[key] = array
                record["outputs"].append({"name": spec.name, "key": key, "shape": list(array.shape),
                                          "dtype": str(array.dtype)})
        except Exception as exc:
            record["error"], record["traceback"] = f"{type(exc).__name__}: {exc}"[:4000], tail()
        done["sets"].append(record)
    return done


def as_array(value: Any, np: ModuleType) -> Any:
    """An output as an array np.savez writes without pickling: a ZipMap (a list of {class: probability})
    becomes (N, K) float32 in the maps' key order, a string tensor a unicode array."""
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        keys = list(value[0])
        return np.asarray([[item.get(key, np.nan) for key in keys] for item in value], dtype=np.float32)
    array = np.asarray(value)
    return array.astype(str) if array.dtype.kind == "O" else array


def feed_for(graph_inputs: Sequence[Any], given: list[InputFile], np: ModuleType) -> dict[str, Any]:
    """Inputs by name when the names match the graph's, else by position."""
    arrays = [(item.get("name"), np.load(item["file"], allow_pickle=False)) for item in given]
    names = [i.name for i in graph_inputs]
    if all(name in names for name, _ in arrays):
        return {str(name): array for name, array in arrays}
    if len(arrays) != len(names):
        raise ValueError(f"the graph takes {len(names)} input(s) ({', '.join(names)}), "
                         f"the test case has {len(arrays)}")
    return {name: array for name, (_, array) in zip(names, arrays)}


if __name__ == "__main__":
    sys.exit(main())
