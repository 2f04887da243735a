"""--torch-backend: the auto default (cpu unless an NVIDIA GPU is visible), explicit values, the fallback to
the configured indexes when the PyTorch index cannot be reached (real, on this machine: download.pytorch.org
does not resolve here), and what the notes say was installed, read from the environment's distributions."""

from __future__ import annotations

import os
import stat
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers import check_report

from validator.core.options import Options
from validator.core.report import Report
from validator.pipeline.config import configure, read_package_config
from validator.pipeline.runner import run
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import read_runtime
from validator.runtime.environments.builder import BuildFailure
from validator.runtime.environments.conda import pip_torch_index
from validator.runtime.environments.docker_recipe import make_recipe
from validator.runtime.environments.pipconfig import PipSettings
from validator.runtime.environments.torch_backend import (
    backend_notes,
    choose,
    forget_unreachable,
    gpu_evidence,
    torch_build,
    unreachable_earlier,
    uv_unreachable,
)
from validator.runtime.environments.venv import VenvBuilder

if TYPE_CHECKING:
    from docker import DockerClient

# What uv 0.13 printed here for `uv pip install --torch-backend cpu torch==2.13.0`.
UV_DNS_FAILURE = """Using Python 3.11.7 environment at: env
error: Request failed after 3 retries in 11.4s
  cause: Failed to fetch: https://download.pytorch.org/whl/cpu/torch/
  cause: error sending request for url (https://download.pytorch.org/whl/cpu/torch/)
  cause: client error (Connect)
  cause: dns error
  cause: error resolving DNS
  cause: failed to lookup address information: Name or service not known
"""


def no_gpu() -> str | None:
    return None


def a_gpu() -> str | None:
    return "/dev/nvidia0 exists"


def package(root: Path, requirements: str, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def check(root: Path, cache: Path, **options: Any) -> Report:
    report = run(root, Options(env="venv", cache_dir=str(cache), **options))
    check_report(report)
    return report


def torch_lines(notes: list[str]) -> list[str]:
    return [note for note in notes if "torch" in note]


# -- the choice ---------------------------------------------------------------------------------------

def test_auto_is_cpu_without_a_gpu_and_the_indexes_default_with_one() -> None:
    cpu = choose("auto", no_gpu)
    assert (cpu.backend, cpu.explicit) == ("cpu", False)
    assert "no NVIDIA GPU is visible" in cpu.reason and "--torch-backend default" in cpu.reason
    gpu = choose(None, a_gpu)  # None (an Options built by hand) counts as auto
    assert gpu.backend is None and "/dev/nvidia0 exists" in gpu.reason and "--torch-backend cpu" in gpu.reason
    assert choose("auto", a_gpu, containers=True).backend == "cpu"  # docker containers get no GPU device
    assert "containers" in choose("auto", a_gpu, containers=True).reason


def test_explicit_values_are_kept_and_default_asks_for_the_indexes_build() -> None:
    asked = []

    def watched() -> str | None:
        asked.append(1)
        return "x"

    assert choose("cu126", watched).backend == "cu126" and choose("cpu", watched).backend == "cpu"
    assert choose("default", watched).backend is None and choose("default", watched).explicit
    assert not asked  # the GPU check runs for auto only
    assert Options().torch_backend == "auto"


def test_gpu_evidence_looks_at_device_nodes_and_nvidia_smi(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "nvidiactl").touch()  # a control node alone is no GPU
    assert gpu_evidence(dev, smi=None) is None
    (dev / "nvidia0").touch()
    assert gpu_evidence(dev, smi=None) == f"{dev / 'nvidia0'} exists"
    empty = tmp_path / "empty"
    empty.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho 'GPU 0: Test GPU (UUID: GPU-1)'\necho 'GPU 1: Test GPU (UUID: GPU-2)'\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    assert gpu_evidence(empty, environ={"PATH": str(bin_dir)}) == "nvidia-smi lists 2 GPUs"
    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver'\nexit 9\n")
    assert gpu_evidence(empty, environ={"PATH": str(bin_dir)}) is None
    assert gpu_evidence(empty, environ={"PATH": str(tmp_path / "nowhere")}) is None
    assert gpu_evidence(tmp_path / "no-such-dev", smi=None) is None


def test_this_machine_has_no_gpu_so_auto_is_cpu() -> None:
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("this machine has an NVIDIA device")
    started = time.monotonic()
    assert gpu_evidence() is None and choose("auto").backend == "cpu"
    assert time.monotonic() - started < 6  # cheap: a folder listing, at most one nvidia-smi call


def test_the_flag_and_the_configuration_take_auto_default_and_names(tmp_path: Path, run_cli: Any) -> None:
    code, out, _ = run_cli(["check", "--help"])
    flat = " ".join(out.split())
    assert code == 0 and "--torch-backend BACKEND" in flat
    assert "auto (default: cpu, unless an NVIDIA GPU is visible" in flat and "or default (the package indexes' own build)" in flat
    code, _, err = run_cli(["check", str(tmp_path), "--torch-backend=--index-url=http://127.0.0.1/"])
    assert code == 2 and "torch backend name" in err
    (tmp_path / "model-check.toml").write_text('torch-backend = "default"\n', encoding="utf-8")
    assert configure(read_package_config(tmp_path), {}).torch_backend == "default"
    assert configure(read_package_config(tmp_path), {"torch_backend": "cu126"}).torch_backend == "cu126"  # the flag wins


# -- reading uv's failure and the installed build --------------------------------------------------

def test_uv_failures_that_name_the_pytorch_index_are_told_apart() -> None:
    assert uv_unreachable(UV_DNS_FAILURE) == ("https://download.pytorch.org/whl/cpu/torch/: failed to lookup address "
                                              "information: Name or service not known")
    assert uv_unreachable("error: Failed to fetch: https://download.pytorch.org/whl/cu126/torch/\n"
                          "  Caused by: HTTP status client error (403 Forbidden) for url (https://x)\n")
    assert uv_unreachable("  x No solution found when resolving dependencies:\n  torch==9.9 was not found") is None
    assert uv_unreachable("error: Failed to fetch: https://pypi.org/simple/six/\n  cause: dns error") is None


def test_the_torch_build_is_read_from_the_distributions() -> None:
    assert torch_build({"numpy": "2.4.6"}) is None
    assert "a CPU build (local version +cpu" in str(torch_build({"torch": "2.13.0+cpu"}))
    cuda = str(torch_build({"torch": "2.14.1", "nvidia-cublas": "13.0", "nvidia-cudnn-cu13": "9.1", "triton": "3.5"}))
    assert cuda.startswith("torch 2.14.1: a CUDA build") and "2 CUDA distributions" in cuda and "triton" in cuda
    assert "local version +cu121" in str(torch_build({"torch": "2.4.0+cu121"}))
    assert "a CPU build (no CUDA distributions" in str(torch_build({"torch": "2.14.1", "numpy": "2.4.6"}))
    assert "ROCm" in str(torch_build({"torch": "2.5.0+rocm6.2"}))


def test_the_notes_claim_the_pytorch_index_only_when_the_installed_build_shows_it() -> None:
    asked = backend_notes(choose("cpu", no_gpu), True)
    assert not any("installed" in note and "index" in note and "read" not in note for note in asked)
    assert asked[1].startswith("the installer was given the PyTorch cpu index for torch (https://download.pytorch.org/whl/cpu)")
    cpu = str(torch_build({"torch": "2.13.0+cpu"}, "cpu"))
    assert cpu.endswith("; the cpu build asked for (PyPI takes no local versions: +cpu builds come from the PyTorch "
                        "cpu index, or a copy of it)")
    cuda = str(torch_build({"torch": "2.9.0+cu130", "nvidia-cublas": "13.0.0"}, "cpu"))  # the report
    assert "local version +cu130" in cuda and "It is not the cpu build asked for" in cuda and "from the PyTorch" not in cuda
    plain = str(torch_build({"torch": "2.13.0"}, "cpu"))  # a CPU build without a local version: its index is unknown
    assert "a CPU build" in plain and "asked for" not in plain and "PyTorch cpu index" not in plain
    assert str(torch_build({"torch": "2.5.1+cu126"}, "cu126")).endswith("; the cu126 build asked for")
    assert "It is not the cu126 build asked for" in str(torch_build({"torch": "2.5.1+cpu"}, "cu126"))
    assert torch_build({"torch": "2.13.0+cpu"}) == torch_build({"torch": "2.13.0+cpu"}, None)  # nothing asked: no comparison


# -- the fallback, for real: the PyTorch index does not resolve on this machine ------------------------

@pytest.mark.slow
def test_unreachable_pytorch_index_falls_back_to_the_configured_indexes_and_says_what_was_installed(tmp_path: Path) -> None:
    pkg = package(tmp_path / "pkg", "torch==2.13.0\n")
    forget_unreachable()
    started = time.monotonic()
    report = check(pkg, tmp_path / "cache")  # auto: cpu, as this machine has no GPU
    took = time.monotonic() - started
    environment = report.environment
    assert environment is not None and not environment.get("error"), report.findings
    assert environment["installed"]["torch"] == "2.13.0+cpu"  # the machine's local CPU wheel
    assert environment["torch_backend"] is None  # what uv was finally told: nothing
    notes = torch_lines(environment["notes"])
    assert notes[0].startswith("torch backend cpu (--torch-backend auto, the default: no NVIDIA GPU is visible here")
    assert notes[1].startswith("the default torch backend (cpu) was chosen, but the PyTorch index could not be reached "
                               "here (https://download.pytorch.org/whl/cpu/torch/: ")
    assert "installed from the configured package indexes and wheelhouses instead" in notes[1]
    assert notes[2] == ("torch 2.13.0+cpu: a CPU build (local version +cpu, no CUDA distributions), read from the "
                        "installed distributions")
    machine = report.to_dict().get("machine_notes") or report.to_dict().get("notes", [])
    assert any("could not be reached" in note for note in machine)  # the run's notes (terminal, JSON) say it too
    assert unreachable_earlier()  # later builds of this run skip the attempt
    print(f"\nfallback build of torch==2.13.0: {took:.1f} s")

    again = check(pkg, tmp_path / "cache", torch_backend="cpu")  # explicit cpu: the same environment, cached
    assert again.environment is not None and again.environment["cached"] is True
    cached = torch_lines(again.environment["notes"])
    assert cached[0] == "torch backend cpu (--torch-backend cpu)"
    assert cached[1].startswith("when this cached environment was built, the default torch backend (cpu) was chosen, "
                                "but the PyTorch index could not be reached")
    assert cached[2].startswith("torch 2.13.0+cpu: a CPU build")


@pytest.mark.slow
def test_an_index_found_unreachable_earlier_is_not_asked_again(tmp_path: Path) -> None:
    forget_unreachable()
    pkg = ModelPackage(package(tmp_path / "pkg", "six==1.16.0\n"))
    try:
        first = VenvBuilder(gpu=no_gpu).build(pkg, read_runtime(pkg), Options(cache_dir=str(tmp_path / "a")))
        assert not isinstance(first, BuildFailure) and first.info.torch_backend == "cpu"  # no torch: uv never asked it
        from validator.runtime.environments.torch_backend import remember_unreachable

        remember_unreachable("https://download.pytorch.org/whl/cpu/torch/: dns error")
        second = VenvBuilder(gpu=no_gpu).build(pkg, read_runtime(pkg), Options(cache_dir=str(tmp_path / "b"),
                                                                              torch_backend="cpu"))
        assert not isinstance(second, BuildFailure) and second.info.torch_backend is None
        assert "could not be reached earlier in this run" in second.info.torch_notes[1]
        assert second.info.torch_notes[1].startswith("--torch-backend cpu was asked for, but")  # explicit, said so
        reused = VenvBuilder(gpu=no_gpu).build(pkg, read_runtime(pkg), Options(cache_dir=str(tmp_path / "a")))
        assert not isinstance(reused, BuildFailure) and reused.info.cached  # built with the backend: says so
        assert reused.info.torch_backend == "cpu" and len(reused.info.torch_notes) == 2
        with_gpu = VenvBuilder(gpu=a_gpu).build(pkg, read_runtime(pkg), Options(cache_dir=str(tmp_path / "c")))
        assert not isinstance(with_gpu, BuildFailure) and with_gpu.info.torch_backend is None
        assert with_gpu.info.torch_notes == (choose("auto", a_gpu).reason,)  # the default build: no fallback to tell
    finally:
        pkg.close()
        forget_unreachable()


def test_the_conda_pip_section_gets_the_index_only_when_it_answers() -> None:
    forget_unreachable()
    text = "name: x\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - torch==2.4.0\n"
    started = time.monotonic()
    index, notes = pip_torch_index(text, choose("auto", no_gpu))
    assert time.monotonic() - started < 15  # one request, no retries
    assert index is None and "could not be reached here" in notes[1] and "pip without the PyTorch index" in notes[1]
    forget_unreachable()
    index, notes = pip_torch_index("name: x\ndependencies:\n  - numpy\n  - pip:\n    - torchmetrics==1.0\n",
                                   choose("cpu", no_gpu))
    assert index is None and "solver" in notes[1]  # no torch in the pip section: nothing to point at an index
    assert pip_torch_index(text, choose("default", no_gpu))[0] is None


def test_docker_recipes_use_the_pytorch_index_unless_the_download_has_no_network(tmp_path: Path) -> None:
    root = package(tmp_path / "pkg", "torch==2.13.0\nnumpy==2.4.6\n")
    pkg = ModelPackage(root)
    try:
        spec = read_runtime(pkg)
        recipe = make_recipe(pkg, spec, Options(env="docker"), {}, PipSettings())
        assert not isinstance(recipe, BuildFailure) and recipe.download is not None
        args = list(recipe.download.args)
        assert args[args.index("--extra-index-url") + 1] == "https://download.pytorch.org/whl/cpu"
        assert recipe.torch_backend == "cpu" and "containers" in recipe.torch_notes[0]
        offline = make_recipe(pkg, spec, Options(env="docker", build_network="none"), {}, PipSettings())
        assert not isinstance(offline, BuildFailure) and offline.download is not None
        assert "--extra-index-url" not in offline.download.args and offline.torch_backend is None
        assert "no network" in offline.torch_notes[-1]
        default = make_recipe(pkg, spec, Options(env="docker", torch_backend="default"), {}, PipSettings())
        assert not isinstance(default, BuildFailure) and default.download is not None
        assert "--extra-index-url" not in default.download.args
    finally:
        pkg.close()


@pytest.mark.docker
def test_docker_download_leaves_an_unreachable_pytorch_index_out_quickly(engine: DockerClient, tmp_path: Path) -> None:
    from docker_fixtures import BASE, CREATED_TAGS, TIMES

    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    with zipfile.ZipFile(wheelhouse / "torch-0.0.1+cpu-py3-none-any.whl", "w") as wheel:  # a stand-in, no code
        wheel.writestr("torch/__init__.py", "__version__ = '0.0.1+cpu'\n")
        wheel.writestr("torch-0.0.1+cpu.dist-info/METADATA", "Metadata-Version: 2.1\nName: torch\nVersion: 0.0.1+cpu\n")
        wheel.writestr("torch-0.0.1+cpu.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("torch-0.0.1+cpu.dist-info/RECORD", "torch/__init__.py,,\n")
    root = package(tmp_path / "pkg", "torch==0.0.1+cpu\n", **{"inference.py": "import torch\nprint(torch.__version__)\n"})
    def options() -> Options:
        return Options(env="docker", base_image=BASE, wheelhouse=str(wheelhouse), build_network="host")

    started = time.monotonic()
    report = run(root, options())
    TIMES["torch index fallback, build + check"] = took = time.monotonic() - started
    check_report(report)
    environment = report.environment
    assert environment is not None and environment.get("kind") == "docker" and not environment.get("error"), report.findings
    if not environment["cached"]:
        CREATED_TAGS.add(str(environment["cache_key"]))
        assert took < 120  # pip never met the unreachable index (it retries one for every project, ~8 s each)
    assert environment["installed"]["torch"] == "0.0.1+cpu" and environment["torch_backend"] is None
    notes = torch_lines(environment["notes"])
    assert "the containers model-check runs package code in get no GPU" in notes[0]
    assert "could not be reached" in notes[1] and "pip download without the PyTorch index" in notes[1]
    assert notes[2].startswith("torch 0.0.1+cpu: a CPU build")
    again = run(root, options())
    assert again.environment is not None and again.environment["cached"] is True
    assert torch_lines(again.environment["notes"])[1].startswith("when this cached image was built, ")
