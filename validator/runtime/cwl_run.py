"""Running an OGC Application Package: its images prepared on the Docker engine, then cwltool in the sandbox.

1. Images (model-check, with the engine): `dockerPull` of an image the engine has, or else pulled by the
   engine under a time limit (like the base images of a Docker environment; an image that cannot be pulled
   is a finding naming the engine's reason; images are data until the broker runs them); `dockerLoad` of an archive in the package, refused
   when it would re-point a name the engine already has; `dockerFile` built with no network and no
   context under a time limit. Loaded and built images are removed afterwards.
2. The run: cwltool in the sandbox (a scratch copy of the package, no network, an environment
   model-check built, memory/CPU/wall limits; node runs its JavaScript there too), with the
   broker of cwl_broker as its only way to the engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from validator.readers.cwl import Process
from validator.readers.cwl_validate import cwltool_argv
from validator.runtime.cwl_broker import Broker, ContainerRun
from validator.runtime.environments.docker_cleanup import labels as run_labels
from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import remove_tree, run_sandboxed, scratch_copy

BUILD_TIMEOUT_S = 300
PULL_TIMEOUT_S = 300
# an image reference as the engine takes it (registry/path:tag@digest); nothing that reads as an option
IMAGE_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/-]{0,254}(:[A-Za-z0-9_.-]{1,128})?(@sha256:[0-9a-f]{64})?")
SHIM = Path(__file__).with_name("cwl_docker_shim.py")


@dataclass
class Images:
    prepared: dict[str, str] = field(default_factory=dict)  # name -> Dockerfile text ("" when not built)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (tool id, what went wrong)
    created: list[str] = field(default_factory=list)  # names to remove afterwards
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    returncode: int | None
    killed_by: str | None
    outputs: dict[str, object] | None  # cwltool's output object, None when it printed none
    log_tail: str
    duration_s: float
    containers: list[ContainerRun]
    refused: list[str]
    out_dir: Path  # removed by the caller (remove_tree of its parent)


def docker_env() -> dict[str, str]:
    """What the docker CLI gets: the engine's address, no credentials, a throwaway config folder."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8",
           "DOCKER_CONFIG": tempfile.mkdtemp(prefix="model-check-docker-config-")}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return env


def engine_problem(env: Mapping[str, str]) -> str | None:
    if shutil.which("docker", path=env["PATH"]) is None:
        return "no docker command line on this machine"
    try:
        done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                              env=dict(env), timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 20 s"
    return None if done.returncode == 0 else f"no Docker engine answers ({done.stderr.strip()[:200]})"


def _exists(image: str, env: Mapping[str, str]) -> bool:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, env=dict(env), timeout=60,
                          check=False)
    return done.returncode == 0


def prepare_images(root: Path, tools: list[tuple[str, Process]], env: Mapping[str, str],
                   timeout_s: float = BUILD_TIMEOUT_S) -> Images:
    """The images of the tools, each given with the document it is in (a dockerLoad path is relative to it)."""
    images = Images()
    for doc_rel, tool in tools:
        docker = tool.docker or {}
        name = docker.get("dockerImageId") or docker.get("dockerPull") or ""
        if name in images.prepared:
            continue
        if "dockerFile" in docker:
            _build(tool.id, name, docker["dockerFile"], env, images, min(timeout_s, BUILD_TIMEOUT_S))
        elif "dockerLoad" in docker:
            _load(tool.id, name, root / os.path.dirname(doc_rel) / docker["dockerLoad"], env, images)
        elif "dockerPull" in docker:
            _pull(tool.id, name, env, images, min(timeout_s, PULL_TIMEOUT_S))
        elif "dockerImport" in docker:
            images.problems.append((tool.id, "dockerImport downloads an image: model-check fetches nothing"))
    return images


def _pull(tool: str, name: str, env: Mapping[str, str], images: Images, timeout_s: float) -> None:
    if not IMAGE_REFERENCE.fullmatch(name):
        images.problems.append((tool, f"dockerPull {name[:200]!r} is not an image reference"))
        return
    if _exists(name, env):
        images.prepared[name] = ""
        images.notes.append(f"{name}: present on the engine (dockerPull)")
        return
    registry = name.split("/", 1)[0] if "/" in name and "." in name.split("/", 1)[0] else "Docker Hub"
    started = time.monotonic()
    try:
        done = subprocess.run(["docker", "pull", "--quiet", name], capture_output=True, env=dict(env),
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        images.problems.append((tool, f"dockerPull {name}: the engine did not pull it from {registry} within "
                                      f"{timeout_s:.0f} s"))
        return
    if done.returncode != 0:
        reason = " ".join(done.stderr.decode(errors="replace").strip().splitlines()[-1:])[:300]
        images.problems.append((tool, f"dockerPull {name} is not on this Docker engine and the engine could not "
                                      f"pull it from {registry}: {reason}"))
        return
    images.prepared[name] = ""
    images.notes.append(f"{name}: pulled by the engine from {registry} in {time.monotonic() - started:.1f}s")


def _build(tool: str, name: str, dockerfile: str, env: Mapping[str, str], images: Images, timeout_s: float) -> None:
    if not name:
        images.problems.append((tool, "dockerFile without dockerImageId: name the image the tool runs"))
        return
    if _exists(name, env):
        images.problems.append((tool, f"dockerImageId {name} of the dockerFile already names an image on the engine; "
                                      "model-check does not re-point it (give the image a name of its own)"))
        return
    started = time.monotonic()
    try:
        done = subprocess.run(["docker", "build", "--network", "none", "--pull=false", "--force-rm", "--tag", name,
                               "--label", "model-check=1", "-"], input=dockerfile.encode(), capture_output=True,
                              env=dict(env), timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        images.problems.append((tool, f"the dockerFile build did not finish within {timeout_s:.0f} s"))
        return
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        images.problems.append((tool, "the dockerFile does not build (no network, no context): " + " ".join(tail)[:400]))
        return
    images.prepared[name] = dockerfile
    images.created.append(name)
    images.notes.append(f"{name}: built from the tool's dockerFile in {time.monotonic() - started:.1f}s")


def _load(tool: str, name: str, archive: Path, env: Mapping[str, str], images: Images) -> None:
    from validator.runtime.environments.docker_cache import names_in  # imports the docker SDK (CLI start-up: issue 16)

    names = names_in(archive)
    if isinstance(names, str):
        images.problems.append((tool, f"dockerLoad: {names}"))
        return
    if not name or name not in names:
        images.problems.append((tool, f"dockerLoad: the archive names {', '.join(names) or 'no image'}; "
                                      "state the one the tool runs as dockerImageId"))
        return
    taken = [n for n in names if _exists(n, env)]
    if taken:
        images.problems.append((tool, f"dockerLoad would re-point {', '.join(taken)}, already on the engine; "
                                      "model-check does not replace images"))
        return
    with archive.open("rb") as handle:
        done = subprocess.run(["docker", "load"], stdin=handle, capture_output=True, env=dict(env),
                              timeout=BUILD_TIMEOUT_S, check=False)
    if done.returncode != 0:
        images.problems.append((tool, f"dockerLoad: the engine refused the archive: {done.stderr.decode(errors='replace')[:300]}"))
        return
    images.prepared[name] = ""
    images.created += names
    images.notes.append(f"{name}: loaded from {archive.name} (dockerLoad)")


def remove_images(images: Images, env: Mapping[str, str]) -> None:
    for name in images.created:
        subprocess.run(["docker", "image", "rm", "-f", name], capture_output=True, env=dict(env), timeout=120,
                       check=False)


def run_workflow(root: Path, doc_rel: str, entry: str | None, job_rel: str | None, images: Images,
                 env: Mapping[str, str], limits: Limits) -> RunResult:
    """Run `doc_rel#entry` on the job file with cwltool in the sandbox; the caller removes `result.out_dir.parent`."""
    run_dir = Path(tempfile.mkdtemp(prefix="model-check-cwl-"))
    try:
        return _run_in(run_dir, root, doc_rel, entry, job_rel, images, env, limits)
    except BaseException:
        remove_tree(run_dir)
        raise


def _run_in(run_dir: Path, root: Path, doc_rel: str, entry: str | None, job_rel: str | None, images: Images,
            env: Mapping[str, str], limits: Limits) -> RunResult:
    os.chmod(run_dir, 0o755)
    package = run_dir / "package"
    copy = scratch_copy(root)
    shutil.move(str(copy), package)
    for name in ("bin", "out", "tmp", "stage"):
        (run_dir / name).mkdir()
    shim = run_dir / "bin" / "docker"
    shim.write_text(f"#!{os.path.realpath(sys.executable)} -I\n" + SHIM.read_text(encoding="utf-8"), encoding="utf-8")
    shim.chmod(0o755)
    started = time.monotonic()
    broker = Broker(run_dir, images.prepared, env, run_labels(), memory_mb=limits.memory_mb,
                    cpus=max(1.0, min(2.0, float(os.cpu_count() or 1))), pids=min(limits.processes, 256),
                    deadline=started + limits.wall_s)
    argv = cwltool_argv("--skip-schemas", "--disable-pull", "--strict-memory-limit", "--eval-timeout", "30",
                        "--outdir", str(run_dir / "out"), "--tmpdir-prefix", f"{run_dir / 'tmp'}/",
                        "--tmp-outdir-prefix", f"{run_dir / 'stage'}/", "--no-compute-checksum",
                        f"package/{doc_rel}#{entry}" if entry else f"package/{doc_rel}", *([f"package/{job_rel}"] if job_rel else []))
    try:
        done = run_sandboxed(argv, run_dir, limits, {
            "PATH": f"{run_dir / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "MODEL_CHECK_CWL_BROKER": str(broker.socket_path), "LC_ALL": "C.UTF-8"}, writable=[run_dir])
    finally:
        broker.close()
        subprocess.run(["docker", "rm", "-f", *_leftovers(env)], capture_output=True, env=dict(env), timeout=60,
                       check=False)
    outputs: dict[str, object] | None = None
    try:
        parsed = json.loads(done.stdout)
        outputs = parsed if isinstance(parsed, dict) else None
    except ValueError:
        outputs = None
    tail = "\n".join(line for line in done.stderr.splitlines()[-12:] if line.strip())
    return RunResult(done.returncode, done.killed_by, outputs, tail, time.monotonic() - started, broker.ran,
                     broker.refused, run_dir / "out")


def _leftovers(env: Mapping[str, str]) -> list[str]:
    labels = run_labels()
    filters = [f"--filter=label={k}={v}" for k, v in labels.items()]
    done = subprocess.run(["docker", "ps", "-aq", *filters, "--filter", "name=model-check-cwl-"], capture_output=True,
                          text=True, env=dict(env), timeout=60, check=False)
    return done.stdout.split() or ["model-check-cwl-none"]
