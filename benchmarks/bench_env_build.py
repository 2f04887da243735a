"""Cold environment build: model-check's uv builder vs `python -m venv` + `pip install -r`.

Both install the same requirements (default: the example package's, CPU torch 2.13.0, onnx,
onnxruntime and friends, about 1 GB installed; tests/probe_packages.py's TIMM_RUNTIME is the heavy
5.5 GB one, with CUDA libraries) in the same run, each with fresh caches: a new UV_CACHE_DIR and
environment cache for uv, a new PIP_CACHE_DIR for pip. Both read the same local wheels through the
machine's pip configuration, so neither downloads much; uv runs first, so it also pays for the
colder page cache. Prints both times and the ratio (target, issue 16: uv at least 8x faster; it was 5x), plus a warm
rebuild (environment cache hit) for reference, and the floor: uv alone, with no sandbox and no bytecode, which
bounds the ratio any builder made on uv can reach on this machine.

    python benchmarks/bench_env_build.py [--requirements FILE] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from validator.core.options import Options  # noqa: E402
from validator.readers.package import ModelPackage  # noqa: E402
from validator.readers.runtime_spec import read_runtime  # noqa: E402
from validator.runtime.environments.venv import VenvBuilder, VenvEnv  # noqa: E402

DEFAULT_REQUIREMENTS = REPO / "examples" / "goes-cloud-regime" / "requirements.txt"
TARGET = 8.0


def build_with_uv(package: Path, cache: Path) -> tuple[float, VenvEnv]:
    pkg = ModelPackage(package)
    try:
        started = time.perf_counter()
        env = VenvBuilder().build(pkg, read_runtime(pkg), Options(env="venv", cache_dir=str(cache)))
        elapsed = time.perf_counter() - started
    finally:
        pkg.close()
    if not isinstance(env, VenvEnv):
        raise SystemExit(f"uv build failed: {env.reason}\n{env.output_tail}")
    return elapsed, env


def uv_alone(requirements: Path, target: Path, cache: Path) -> float:
    """The floor of any uv-based builder: `uv venv` and the same wheels-only `uv pip install` as the builder's,
    with a fresh cache, no sandbox, no bytecode; seconds."""
    from validator.runtime.environments.installer import installer
    from validator.runtime.environments.pipconfig import installer_settings, read_pip_settings
    from validator.runtime.environments.venv import install_argv, uv_binary

    uv = uv_binary()
    install = installer(uv, installer_settings(read_pip_settings(), os.environ), os.environ)
    env = {**os.environ, "UV_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    subprocess.run([uv, "venv", "-q", str(target)], check=True, env=env)
    done = subprocess.run(install_argv(uv, target / "bin" / "python", str(requirements), install.args, None),
                          check=False, env=env, capture_output=True, text=True, cwd=requirements.parent)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"uv pip install failed:\n{done.stderr[-3000:]}")
    return elapsed


def build_with_pip(requirements: Path, target: Path, pip_cache: Path) -> float:
    env = {**os.environ, "PIP_CACHE_DIR": str(pip_cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, env=env)
    done = subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
                          check=False, env=env, capture_output=True, text=True)  # pip warns once per index and package
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pip install failed:\n{done.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS)
    parser.add_argument("--keep", action="store_true", help="keep the built environments and caches")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="model-check-bench-env-"))
    try:
        package = root / "package"
        package.mkdir()
        shutil.copy(args.requirements, package / "requirements.txt")
        os.environ["UV_CACHE_DIR"] = str(root / "uv-cache")  # a truly cold uv cache
        print(f"requirements: {args.requirements} ({sum(1 for line in args.requirements.read_text().splitlines() if line.strip() and not line.startswith('#'))} lines)")

        uv_s, env = build_with_uv(package, root / "envs")
        installed = env.installed()
        size = sum(f.stat().st_size for f in env.prefix.rglob("*") if f.is_file() and not f.is_symlink())
        print(f"uv (model-check venv builder, cold): {uv_s:7.1f} s  {len(installed)} distributions, {size / 1e9:.1f} GB")
        warm_s, warm = build_with_uv(package, root / "envs")
        assert warm.info.cached
        print(f"uv (environment cache hit):          {warm_s:7.1f} s")

        pip_s = build_with_pip(package / "requirements.txt", root / "pip-venv", root / "pip-cache")
        print(f"python -m venv + pip install -r:     {pip_s:7.1f} s")
        floor_s = uv_alone(package / "requirements.txt", root / "uv-alone", root / "uv-alone-cache")
        print(f"floor: uv venv + uv pip install alone (fresh cache, no sandbox, no bytecode): {floor_s:.1f} s")
        ratio = pip_s / uv_s
        verdict = "meets" if ratio >= TARGET else "MISSES"
        print(f"ratio pip / uv (cold): {ratio:.1f}x ({verdict} the {TARGET:.0f}x target); pip / the floor: "
              f"{pip_s / floor_s:.1f}x, the most any builder on uv reaches here")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work on the machine skews both sides)")
        return 0 if ratio >= TARGET else 1
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
