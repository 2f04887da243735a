"""Benchmark: model-check's static ONNX check of ten 1 MB graphs against onnx.load + onnx.checker in one process.

Issue 11: ONNX inspection cost 2-5 s per graph (one sandboxed child per file). This builds a package of
ten ~1 MB graphs (four MatMul + Relu layers with fixed-seed float32 weights, different per graph) and
measures, in the same run and on a warm page cache:

  baseline     one fresh Python process (`python -c`) that imports onnx and runs onnx.load +
               onnx.checker.check_model on every graph: wall time of the process, seen from here (the
               time of the load + check loop alone, inside it, is printed too)
  model-check  the ONNX check of the static phase, in this process: OnnxCheck().run() on a fresh
               ModelPackage whose file listing and hashing have finished, i.e. the sandboxed child
               (bubblewrap, Python, onnx import), parsing, onnx.checker (full_check), external-data
               checks, the runtime's supported versions, and the findings

Target (issue 11): model-check <= 2 x baseline. Both sides start one Python process and import onnx
(about a second, most of it the import of ml_dtypes), which is why the baseline is a fresh process: the
loop alone takes milliseconds. Rounds run in ABBA order after a warm-up of each side; the ratio compares
the fastest run of each side, the medians are printed too.

Then, for 1, 5 and 10 graphs, the seconds per graph of the check with one child for all graphs
(`inspect_graphs`, what model-check does) and with one child per graph (`inspect_onnx` per file, how
model-check inspected graphs before issue 11), one run each.

    python benchmarks/bench_onnx.py [--graphs 10] [--size-mb 1] [--rounds 2] [--scaling 1,5,10] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from validator.checks.base import Skip  # noqa: E402
from validator.checks.onnx import OnnxCheck  # noqa: E402
from validator.core.options import Options  # noqa: E402
from validator.readers.onnx import inspect_graphs, inspect_onnx  # noqa: E402
from validator.readers.package import ModelPackage  # noqa: E402

TIME_RATIO_TARGET = 2.0
WIDTH = 256  # each layer's weight is WIDTH x WIDTH float32: 256 KiB
BASELINE = """\
import sys, time
import onnx
started = time.perf_counter()
for path in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(path))
print(time.perf_counter() - started)
"""


def build_package(root: Path, count: int, size_mb: float) -> list[Path]:
    """`count` graphs of about `size_mb` MB each, and a README; the graphs' paths."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    root.mkdir(parents=True, exist_ok=True)
    layers = max(1, round(size_mb * 1_000_000 / (WIDTH * WIDTH * 4)))
    paths = []
    for index in range(count):
        rng = np.random.default_rng(index)
        nodes, weights, previous = [], [], "input"
        for layer in range(layers):
            weights.append(numpy_helper.from_array(rng.standard_normal((WIDTH, WIDTH)).astype(np.float32), f"w{layer}"))
            nodes += [helper.make_node("MatMul", [previous, f"w{layer}"], [f"h{layer}"]),
                      helper.make_node("Relu", [f"h{layer}"], [f"r{layer}"])]
            previous = f"r{layer}"
        graph = helper.make_graph(nodes, f"bench{index}",
                                  [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", WIDTH])],
                                  [helper.make_tensor_value_info(previous, TensorProto.FLOAT, ["batch", WIDTH])],
                                  initializer=weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench")
        model.ir_version = 8
        path = root / f"model_{index:02d}.onnx"
        onnx.save_model(model, str(path))
        paths.append(path)
    (root / "README.md").write_text("# Benchmark graphs\n\nSynthetic graphs for model-check's ONNX benchmark.\n")
    return paths


def baseline(paths: list[Path]) -> tuple[float, float]:
    """One fresh process: import onnx, onnx.load + onnx.checker.check_model each graph; (process s, loop s)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BASELINE, *map(str, paths)], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, float(done.stdout.strip())


def model_check(root: Path) -> float:
    """The static ONNX check on a fresh package view (listing and hashing done before the clock starts)."""
    pkg = ModelPackage(root)
    try:
        pkg.manifest  # noqa: B018 - wait for the background hashing, which is not the ONNX check's
        started = time.perf_counter()
        result = OnnxCheck().run(pkg, Options(env="none"))
        findings = [] if isinstance(result, Skip) else list(result)
        elapsed = time.perf_counter() - started
        bad = [rel for rel, summary in pkg.onnx.items() if not summary.ok]
        if bad or isinstance(result, Skip):
            raise SystemExit(f"the benchmark graphs did not pass: {bad or result}; {[f.message for f in findings][:3]}")
        return elapsed
    finally:
        pkg.close()


def inspection(root: Path, count: int, one_child: bool) -> float:
    """Seconds to inspect the first `count` graphs, in one child or in one child per graph."""
    pkg = ModelPackage(root)
    try:
        pkg.manifest  # noqa: B018
        rels = pkg.with_suffix(".onnx")[:count]
        started = time.perf_counter()
        found = inspect_graphs(pkg, rels) if one_child else {rel: inspect_onnx(pkg, rel) for rel in rels}
        elapsed = time.perf_counter() - started
        if not all(summary.ok for summary in found.values()):
            raise SystemExit("the benchmark graphs did not pass")
        return elapsed
    finally:
        pkg.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", type=int, default=10, help="graphs in the package (default 10)")
    parser.add_argument("--size-mb", type=float, default=1.0, help="size of each graph in MB (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds (default 2: 4 runs of each side)")
    parser.add_argument("--scaling", default="1,5,10", help="graph counts of the per-graph table ('' to skip)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary package")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="model-check-bench-onnx-"))
    root = scratch / "pkg"
    try:
        paths = build_package(root, args.graphs, args.size_mb)
        sizes = [p.stat().st_size for p in paths]
        print(f"package: {root}, {len(paths)} graphs of {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB", flush=True)
        baseline(paths)  # warm the page cache and both sides' imports
        model_check(root)
        base_times: list[float] = []
        loop_times: list[float] = []
        check_times: list[float] = []
        for side in ("baseline", "model-check", "model-check", "baseline") * args.rounds:
            if side == "baseline":
                process_s, loop_s = baseline(paths)
                base_times.append(process_s)
                loop_times.append(loop_s)
                print(f"  baseline     {process_s:.2f} s (load + check loop {loop_s * 1000:.0f} ms)", flush=True)
            else:
                check_times.append(model_check(root))
                print(f"  model-check  {check_times[-1]:.2f} s", flush=True)
        base, check = min(base_times), min(check_times)
        ratio = check / base
        median_ratio = statistics.median(check_times) / statistics.median(base_times)
        print(f"baseline (fresh python: import onnx, onnx.load + onnx.checker x {len(paths)}): {base:.2f} s fastest, "
              f"{statistics.median(base_times):.2f} s median; the loop alone {min(loop_times) * 1000:.0f} ms")
        print(f"model-check static ONNX check:                                  {check:.2f} s fastest, "
              f"{statistics.median(check_times):.2f} s median")
        print(f"ratio: {ratio:.2f} fastest/fastest, {median_ratio:.2f} median/median (target <= {TIME_RATIO_TARGET})  "
              f"{'OK' if ratio <= TIME_RATIO_TARGET else 'MISSED'}")
        counts = [int(c) for c in args.scaling.split(",") if c.strip() and int(c) <= len(paths)]
        if counts:
            print(f"{'graphs':>6}  {'one child':>10}  {'per graph':>10}  {'child per file':>15}  {'per graph':>10}")
        for count in counts:
            together = inspection(root, count, one_child=True)
            alone = inspection(root, count, one_child=False)
            print(f"{count:>6}  {together:>8.2f} s  {together / count:>8.2f} s  {alone:>13.2f} s  {alone / count:>8.2f} s",
                  flush=True)
        return 0 if ratio <= TIME_RATIO_TARGET else 1
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
