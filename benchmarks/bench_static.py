"""Benchmark: `model-check check PKG --env none` against one hashlib pass over the same bytes.

Builds a package with a 1 GiB model.safetensors and an ONNX model whose 1 GiB initializer lives
in external data (model.onnx.data), then measures, in the same run and on a warm page cache:

  baseline     reading every file of the package once and hashing it with hashlib.sha256
  model-check  `model-check check PKG --env none` as a subprocess: wall time and peak memory

Targets (issue 16): model-check time <= 1.2 x baseline, peak memory <= 200 MB (issue 3 asked 1.5 x, 400 MB).
Rounds run in ABBA order (baseline, model-check, model-check, baseline) after a warm-up pass, so
neither side profits from going second; the ratio compares the fastest run of each side (the least
disturbed by other load on the machine) and the medians are printed too. Peak memory: the largest single
process (getrusage RUSAGE_CHILDREN, which counts children of children) and, with psutil installed, the sum
over the process tree sampled every 10 ms in separate untimed runs (sampling costs CPU the timed side
would lose on a small machine).

    python benchmarks/bench_static.py [--dir DIR] [--size-mib 1024] [--rounds 2] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO

TIME_RATIO_TARGET = 1.2
MEMORY_TARGET_MB = 200
CHUNK = 16 * 2**20


def build_package(root: Path, size_mib: int) -> None:
    """A package with a `size_mib` MiB safetensors file and a `size_mib` MiB ONNX external-data file."""
    import onnx
    from onnx import TensorProto, helper

    root.mkdir(parents=True, exist_ok=True)
    size = size_mib * 2**20
    block = os.urandom(CHUNK)
    columns = 4096
    rows = size // 4 // columns
    data_bytes = rows * columns * 4

    header = {
        "weight": {"dtype": "F32", "shape": [rows, columns], "data_offsets": [0, data_bytes]},
        "__metadata__": {"model_id": "bench-model", "version": "v0.1.0", "format": "pt"},
    }
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format allows space padding to 8-byte alignment
    with open(root / "model.safetensors", "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded)
        _write_bytes(handle, block, data_bytes)

    weight = TensorProto(name="weight", data_type=TensorProto.FLOAT, dims=[rows, columns])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "model.onnx.data"), ("offset", "0"), ("length", str(data_bytes))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "weight"], ["logits"])], "bench",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", rows])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", columns])],
        initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench")
    model.ir_version = 8
    onnx.save_model(model, str(root / "model.onnx"))
    with open(root / "model.onnx.data", "wb") as handle:
        _write_bytes(handle, block, data_bytes)

    (root / "requirements.txt").write_text("onnxruntime==1.24.2\nnumpy==2.2.6\nsafetensors==0.7.0\n")
    (root / "README.md").write_text(
        "# Benchmark model\n\nA synthetic package for model-check's performance benchmark.\n\n"
        f"Input shape: N,{rows}. Output: logits over {columns} classes.\n\nLicense: Apache-2.0\n")


def _write_bytes(handle: BinaryIO, block: bytes, total: int) -> None:
    written = 0
    while written < total:
        piece = block[: min(len(block), total - written)]
        handle.write(piece)
        written += len(piece)


CPU_SECONDS: dict[str, list[float]] = {"baseline": [], "model-check": []}  # user + system time of each run


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def baseline(root: Path) -> float:
    """One pass of reading and sha256-hashing every file with hashlib; seconds."""
    cpu = _cpu(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with open(path, "rb") as handle:
            hashlib.file_digest(handle, "sha256")
    elapsed = time.perf_counter() - started
    CPU_SECONDS["baseline"].append(_cpu(resource.RUSAGE_SELF) - cpu)
    return elapsed


def model_check(root: Path, report: Path, sample: bool = False) -> tuple[float, float, float, int]:
    """Run model-check; (seconds, peak RSS of the largest process MB, peak RSS of the tree MB or 0 when not
    `sample`d, exit code). Timed runs are not sampled: the sampler costs about 1.2 ms of CPU every 10 ms, an
    eighth of a core taken from model-check on a 2-core machine."""
    command = shutil.which("model-check")
    argv = [command] if command else [sys.executable, "-c", "from validator.cli.main import main; raise SystemExit(main())"]
    argv += ["check", str(root), "--env", "none", "--quiet", "--json", str(report)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu = _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    tree_peak = _sample_tree(process) if sample else 0.0
    code = process.wait()
    elapsed = time.perf_counter() - started
    CPU_SECONDS["model-check"].append(_cpu(resource.RUSAGE_CHILDREN) - cpu)  # not the sandboxed ONNX parser's
    largest_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    largest_kb = max(largest_kb, before)  # ru_maxrss is a running maximum over every child so far
    return elapsed, largest_kb / 1024, tree_peak, code


def _sample_tree(process: subprocess.Popen[bytes]) -> float:
    """The largest sum of RSS over the process and its descendants, sampled every 10 ms (MB), or 0."""
    try:
        import psutil
    except ImportError:
        return 0.0
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            parent = psutil.Process(process.pid)
        except psutil.Error:
            return
        while not done.is_set():
            total = 0
            try:
                for proc in [parent, *parent.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        continue
            except psutil.Error:
                return
            peak = max(peak, total)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process.wait()
    done.set()
    sampler.join()
    return peak / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="build the package here (default: a temporary folder)")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of each of the two large files (default 1024)")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds (default 2: 4 runs of each side)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary package")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="model-check-bench-"))
    root = args.dir or scratch / "pkg"
    try:
        if not (root / "model.onnx.data").exists():
            print(f"building {root} ({args.size_mib} MiB x 2)…", flush=True)
            build_package(root, args.size_mib)
        total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"package: {root}, {total / 2**30:.2f} GiB in {sum(1 for p in root.rglob('*') if p.is_file())} files")
        baseline(root)  # warm the page cache for both sides
        report = scratch / "report.json"
        base_times: list[float] = []
        check_times: list[float] = []
        largest = tree = 0.0
        for side in ("baseline", "model-check", "model-check", "baseline") * args.rounds:
            if side == "baseline":
                base_times.append(baseline(root))
                print(f"  baseline     {base_times[-1]:.2f} s")
                continue
            seconds, largest_mb, _, code = model_check(root, report)
            check_times.append(seconds)
            largest = max(largest, largest_mb)
            print(f"  model-check  {seconds:.2f} s (exit {code}), largest process {largest_mb:.0f} MB")
            if code not in (0, 1):
                print("model-check did not complete", file=sys.stderr)
                return 2
        for _ in range(args.rounds):  # memory: separate runs, the process tree sampled every 10 ms
            seconds, largest_mb, tree_mb, code = model_check(root, report, sample=True)
            largest, tree = max(largest, largest_mb), max(tree, tree_mb)
            print(f"  model-check  {seconds:.2f} s (exit {code}, memory run, not timed), largest process "
                  f"{largest_mb:.0f} MB, tree {tree_mb:.0f} MB")
        hashed = {a["path"] for a in json.loads(report.read_text())["artefacts"]}
        base, check = min(base_times), min(check_times)
        ratio = check / base
        peak = max(largest, tree)
        time_ok, memory_ok = ratio <= TIME_RATIO_TARGET, peak <= MEMORY_TARGET_MB
        median_ratio = statistics.median(check_times) / statistics.median(base_times)
        print(f"baseline (read + sha256, hashlib): {base:.2f} s fastest, {statistics.median(base_times):.2f} s median "
              f"({total / 2**20 / base:,.0f} MiB/s)")
        print(f"model-check --env none:            {check:.2f} s fastest, {statistics.median(check_times):.2f} s median")
        print(f"ratio: {ratio:.2f} fastest/fastest, {median_ratio:.2f} median/median (target <= {TIME_RATIO_TARGET})  "
              f"{'OK' if time_ok else 'MISSED'}")
        print(f"peak memory: {peak:.0f} MB (largest process {largest:.0f} MB, process tree "
              f"{f'{tree:.0f} MB' if tree else 'not sampled: pip install psutil'}; target <= {MEMORY_TARGET_MB} MB)  "
              f"{'OK' if memory_ok else 'MISSED'}")
        print(f"artefacts hashed in the report: {len(hashed)} files")
        cpu_base, cpu_check = (statistics.median(CPU_SECONDS[side]) for side in ("baseline", "model-check"))
        print(f"CPU time (user + system, median): baseline {cpu_base:.2f} s, model-check {cpu_check:.2f} s, "
              f"{cpu_check / cpu_base:.2f}x (model-check's own process; the sandboxed ONNX parser is not counted; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        return 0 if time_ok and memory_ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"kept {scratch}")


if __name__ == "__main__":
    sys.exit(main())
