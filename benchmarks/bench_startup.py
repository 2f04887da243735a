"""Benchmark: the command line's start-up against the interpreter's own (`python -c pass`), same run.

Measures, each side `--runs` times interleaved (so load on the machine hits both alike), the median of:

  baseline     `python -c pass`: the interpreter alone
  --help       `model-check --help` until it exits
  first line   `model-check check examples/goes-cloud-regime --env none` until its first byte of output,
               both as in CI (stdout and stderr are pipes: the first progress line) and on a terminal
               (a pseudo-terminal: the spinner); the run is then stopped

and prints each absolute and as a ratio to the baseline. Target (issue 16): each <= 0.3 s absolute.
`python -X importtime -m validator.cli --help` shows what is still imported at start-up.

    python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "goes-cloud-regime"
TARGET_S = 0.3


def cli() -> list[str]:
    """The installed console script of this interpreter (no pyenv shim in between), else `python -m`."""
    script = Path(sys.executable).parent / "model-check"
    return [str(script)] if script.exists() else [sys.executable, "-m", "validator.cli"]


def run_to_end(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - started


def first_output(argv: list[str], terminal: bool) -> float:
    """Seconds until the first byte on stdout or stderr; the process is stopped then."""
    env = {**os.environ, "GITHUB_ACTIONS": "", "TERM": "xterm"}
    if terminal:
        parent, child = pty.openpty()
        streams: dict[str, int] = {"stdout": child, "stderr": child}
        readable = [parent]
    else:
        parent = child = -1
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, **streams)  # type: ignore[call-overload]
    try:
        if terminal:
            os.close(child)
        else:
            readable = [process.stdout.fileno(), process.stderr.fileno()]
        ready, _, _ = select.select(readable, [], [], 60)
        elapsed = time.perf_counter() - started
        if not ready:
            raise SystemExit(f"no output within 60 s: {argv}")
        return elapsed
    finally:
        process.kill()
        process.wait()
        if terminal:
            os.close(parent)
        else:
            process.stdout.close()
            process.stderr.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each side (default 7)")
    args = parser.parse_args()
    command = cli()
    check = [*command, "check", str(EXAMPLE), "--env", "none"]
    sides: dict[str, list[float]] = {"python -c pass": [], "--help": [], "first line (pipe)": [], "first line (tty)": []}
    run_to_end(command + ["--help"])  # warm: bytecode caches, page cache
    for _ in range(args.runs):
        sides["python -c pass"].append(run_to_end([sys.executable, "-c", "pass"]))
        sides["--help"].append(run_to_end([*command, "--help"]))
        sides["first line (pipe)"].append(first_output(check, terminal=False))
        sides["first line (tty)"].append(first_output(check, terminal=True))
    base = statistics.median(sides["python -c pass"])
    print(f"command: {' '.join(command)}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"median of {args.runs} runs")
    met = True
    for name, times in sides.items():
        median = statistics.median(times)
        verdict = ""
        if name != "python -c pass":
            ok = median <= TARGET_S
            met = met and ok
            verdict = f"  (target <= {TARGET_S} s: {'met' if ok else 'NOT met'})"
        print(f"  {name:<18} {median:6.3f} s  {median / base:5.1f}x python -c pass{verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
