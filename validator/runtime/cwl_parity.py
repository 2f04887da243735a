"""A tensor the workflow wrote against the package's ONNX graph on the same input.

When a Workflow output is a `.npy` File, the job's input is a `.npy` File of the package and the
package has one `.onnx` graph, a sandboxed child of model-check's own interpreter (numpy and
onnxruntime, no network, a scratch copy of the package) loads both arrays (`allow_pickle=False`),
runs the graph on the input and compares with the same tolerance as the parity check. Nothing of
the arrays is parsed in model-check's process.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import remove_tree, run_sandboxed, scratch_copy

OUTPUT_COPY = ".model-check-cwl-output.npy"
_CHILD = r"""
import json, sys
import numpy as np
import onnxruntime as ort
graph, source, produced, rtol, atol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
x = np.load(source, allow_pickle=False)
y = np.load(produced, allow_pickle=False)
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
feed = {session.get_inputs()[0].name: x.astype(np.float32) if x.dtype == np.float64 else x}
outputs = session.run(None, feed)
names = [o.name for o in session.get_outputs()]
same = [(n, o) for n, o in zip(names, outputs) if o.shape == y.shape]
if not same:
    print(json.dumps({"ok": False, "why": "shape", "produced": list(y.shape),
                      "onnx": {n: list(o.shape) for n, o in zip(names, outputs)}}))
    sys.exit(0)
name, ref = same[0]
diff = float(np.max(np.abs(ref.astype(np.float64) - y.astype(np.float64)))) if y.size else 0.0
ok = bool(np.allclose(y, ref, rtol=rtol, atol=atol, equal_nan=True))
print(json.dumps({"ok": ok, "why": "values", "output": name, "max_abs": diff, "shape": list(y.shape)}))
"""


@dataclass(frozen=True)
class TensorParity:
    ok: bool
    message: str
    compared: bool = True  # False: the graph could not be run on the input (not the model's input, say)


def compare(root: Path, graph: str, source: str, produced: Path, rtol: float, atol: float) -> TensorParity:
    scratch = scratch_copy(root)
    try:
        shutil.copyfile(produced, scratch / OUTPUT_COPY)
        done = run_sandboxed([sys.executable, "-I", "-c", _CHILD, graph, source, OUTPUT_COPY, str(rtol), str(atol)],
                             scratch, Limits(wall_s=120, cpu_s=120, memory_mb=4096, processes=64))
    finally:
        remove_tree(scratch)
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[:300]
        return TensorParity(False, f"was not compared with {graph}: the graph did not run on {source} "
                                   f"({done.killed_by or tail or 'no answer'})", compared=False)
    if answer.get("why") == "shape":
        return TensorParity(False, f"has shape {answer['produced']}, and {graph} gives {answer['onnx']} for {source}")
    if answer["ok"]:
        return TensorParity(True, f"agrees with {graph} output `{answer['output']}` on {source} "
                                  f"(max |diff| {answer['max_abs']:.3g})")
    return TensorParity(False, f"disagrees with {graph} output `{answer['output']}` on {source}: max |diff| "
                               f"{answer['max_abs']:.3g} exceeds rtol={rtol:g}, atol={atol:g}")
