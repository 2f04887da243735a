"""The docker builder: the package's runtime as a container image, built by a Docker engine through
the docker SDK (`--env docker`; `auto` picks it when the runtime is a Dockerfile and an engine answers).

- What is built: validator/runtime/environments/docker_recipe.py (the package's Dockerfile, or one generated
  for requirements.txt / environment.yml on a base image), sent as a tar build context.
- Cache: the image is tagged `model-check-env:<key>`, the key a hash of the build context, the
  Dockerfile's path, the ids of its base images and the build arguments; an image with that tag is
  reused. The install stage of generated builds is removed afterwards.
- Requirements images come in two steps (docker_recipe.Download): pip downloads wheels only, in a
  locked-down container of the base image (the only place with network and index credentials; no
  package code runs there), then the image is built from them without network.
- Other builds run package-supplied code (RUN steps) on the build network: `--build-network`, else
  the engine's bridge; an engine without a bridge builds without network unless the caller asks
  for `--build-network host`, and then the notes say that the build had the host's network.
- Every build runs under the limits of package code, as far as the engine's classic builder lets a
  client set them: memory (no swap), /dev/shm, CPU, file size and process rlimits (RLIMIT_NPROC binds
  steps that run as a user other than root), a wall clock that cancels the build. Processes and disk
  are bounded by a watcher (BuildWatcher): the engine starts a container for every RUN step; each
  one carries a host name marker only this build sets, and gets a pids limit the moment it appears,
  and is stopped when it passes the process or disk bound anyway. The classic builder takes no
  capability, security-option or pids setting (so a RUN step runs as root with the engine's default
  capabilities, CAP_NET_RAW included: hence no host network unless asked for). BuildKit is not used:
  through the API it needs a client session the docker SDK does not speak, and the engine's docs
  list the memory and CPU options as unsupported there.
- Probes and the inference example run in locked-down containers (docker_sandbox.DockerEnv).
- Whatever this process starts on the engine is removed on every exit path (docker_cleanup).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Protocol, cast

import requests
from docker.client import DockerClient, from_env
from docker.errors import APIError, ImageNotFound, NotFound
from docker.types import LogConfig, Mount, Ulimit
from docker.utils import parse_repository_tag

from validator.core.catalogue import rule
from validator.core.options import Options
from validator.core.progress import OutputLine
from validator.core.records import EnvCacheRecord
from validator.core.redact import redact
from validator.readers.package import ModelPackage
from validator.readers.runtime_spec import RuntimeSpec
from validator.runtime.environments import docker_cache
from validator.runtime.environments.builder import BuildFailure, BuildInfo, Progress, with_replacements
from validator.runtime.environments.docker_cleanup import labels as run_labels
from validator.runtime.environments.docker_cleanup import register_engine, track_build_container, untrack_build_container
from validator.runtime.environments.docker_context import TarBuilder
from validator.runtime.environments.docker_disk import DiskUse
from validator.runtime.environments.docker_recipe import Recipe, make_recipe
from validator.runtime.environments.docker_sandbox import (
    ENGINE_ERRORS,
    MAX_CPUS,
    NO_HEALTHCHECK,
    USER,
    DockerEnv,
    wait_for,
)
from validator.runtime.environments.dockerfile_gen import CA_FILE, DOWNLOADED_DIR, KEY_ARG, WHEELHOUSE_DIR
from validator.runtime.environments.torch_backend import choose, fallback_note
from validator.runtime.environments.venv import install_limits
from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import MIB

CACHE_FORMAT = "model-check-docker-2"  # change it when what an image holds changes for the same inputs (2: wheels only)
IMAGE_REPOSITORY = "model-check-env"
LABELS = {"model-check": "1"}
API_TIMEOUT_S = 120
TAIL_LINES = 40
LOG_LINES_KEPT = 400
LOG_LINE_CHARS = 2000
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # the classic builder colours a step's stderr
BOOKKEEPING = (" ---> ", "Removing intermediate container")
NETWORK_SIGNS = re.compile(r"Temporary failure in name resolution|Network is unreachable|Could not resolve|"
                           r"Failed to establish a new connection|Name or service not known|Connection refused")  # build log lines that say nothing about a failure
BUILD_PROCESSES = Limits().processes  # the probes' bound, for every build step
BUILD_SHM_MB = 64
WATCH_INTERVAL_S = 1.0  # how often the watcher measures the running build step
DOWNLOAD_ROOT = "/workspace"
# pip download in the download container: the base image's pip (the one that installs later), or a
# venv's where the image has none, saving wheels only into DOWNLOAD_ROOT/wheels. argv: pip download's arguments.
# The PyTorch index among them is asked first, once: pip would retry an unreachable extra index for every
# project (about 8 s each); unreachable, it is left out and the last line of output says why (TORCH_UNREACHABLE).
TORCH_UNREACHABLE = "model-check: PyTorch index unreachable: "
DOWNLOAD_SCRIPT = """
import importlib.util, os, ssl, subprocess, sys, urllib.request, venv
os.chdir("/workspace/in")
args = sys.argv[1:]
python = sys.executable
if importlib.util.find_spec("pip") is None:
    venv.create("/workspace/venv", with_pip=True)
    python = "/workspace/venv/bin/python"
unreachable = ""
for i, arg in enumerate(args[:-1]):
    if arg == "--extra-index-url" and args[i + 1].startswith("https://download.pytorch.org/"):
        cafile = os.environ.get("PIP_CERT")
        if not cafile:
            found = subprocess.run([python, "-c", "from pip._vendor import certifi; print(certifi.where())"],
                                   capture_output=True, text=True)
            cafile = found.stdout.strip() or None
        try:
            context = ssl.create_default_context(cafile=cafile)
            urllib.request.urlopen(args[i + 1] + "/torch/", timeout=15, context=context).close()
        except Exception as exc:
            unreachable = args[i + 1] + ": " + " ".join(str(getattr(exc, "reason", exc)).split())[:300]
            del args[i:i + 2]
        break
code = subprocess.call([python, "-m", "pip", "download", "--dest", "/workspace/wheels", "--progress-bar", "off", *args])
if unreachable:
    print("%s%s" % (TORCH_UNREACHABLE, unreachable), flush=True)
sys.exit(code)
""".replace("TORCH_UNREACHABLE", repr(TORCH_UNREACHABLE))
TORCH_LABEL = "model-check.torch-fallback"  # on an image built without the unreachable PyTorch index: the note


class RawApi(Protocol):
    """The request helpers of docker-py's APIClient that its stubs leave out, for the requests the SDK
    has no method for (a build with ulimits, a running container's process limit and size)."""

    def _url(self, pathfmt: str, *args: str) -> str: ...
    def _get(self, url: str, **kwargs: Any) -> requests.Response: ...
    def _post(self, url: str, **kwargs: Any) -> requests.Response: ...
    def _post_json(self, url: str, data: Mapping[str, object], **kwargs: Any) -> requests.Response: ...
    def _raise_for_status(self, response: requests.Response) -> None: ...
    def _result(self, response: requests.Response, json: bool = False) -> Any: ...
    def _stream_helper(self, response: requests.Response, decode: bool = False) -> Iterator[Any]: ...


def raw_api(client: DockerClient) -> RawApi:
    return cast(RawApi, client.api)


def engine_client(environ: Mapping[str, str], timeout: int | None = API_TIMEOUT_S) -> DockerClient:
    """A client for the engine DOCKER_HOST (or the default socket) names, with no read timeout for
    timeout=None; raises DockerException."""
    # docker-py hands the timeout to requests, where None means none (the stubs say int)
    return from_env(environment=dict(environ), timeout=timeout)  # type: ignore[arg-type]


class DockerBuilder:
    kind = "docker"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)

    def unavailable(self) -> str | None:
        try:
            client = engine_client(self.environ, timeout=15)
            client.ping()
            client.close()
        except ENGINE_ERRORS as exc:
            where = self.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            return (f"no Docker engine answers at {where} ({_first_line(exc)}): start one (`sudo systemctl start docker`, "
                    "or `sudo dockerd &`), set DOCKER_HOST to a reachable engine, or use --env venv")
        return None

    def client_factory(self, timeout: int | None = API_TIMEOUT_S) -> Callable[[], DockerClient]:
        return lambda: engine_client(self.environ, timeout=timeout)

    def build(self, pkg: ModelPackage, spec: RuntimeSpec, options: Options,
              progress: Progress | None = None) -> DockerEnv | BuildFailure:
        started = time.monotonic()
        try:
            client = engine_client(self.environ)
            engine = client.info()
        except ENGINE_ERRORS as exc:
            return BuildFailure(f"no Docker engine answers ({_first_line(exc)})", rule=rule("docker-engine-unreachable").id)
        register_engine(self.environ.get("DOCKER_HOST", ""), self.client_factory(30))  # cleanup at exit, on signals
        recipe = make_recipe(pkg, spec, options, self.environ)
        if isinstance(recipe, BuildFailure):
            return recipe
        try:
            built = self._image_env(client, engine, recipe, options, started, progress or (lambda _message: None))
            return with_replacements(built, recipe.replaced, ()) if isinstance(built, BuildFailure) else built
        except ENGINE_ERRORS as exc:
            return BuildFailure(f"the Docker engine failed while preparing the image ({_first_line(exc)})",
                                file=recipe.runtime_file, rule=rule("docker-engine-unreachable").id)
        finally:
            recipe.close()

    def _image_env(self, client: DockerClient, engine: dict[str, Any], recipe: Recipe, options: Options,
                   started: float, say: Progress) -> DockerEnv | BuildFailure:
        """The image of `recipe`, from the cache or built now, as an environment."""
        bridge = has_bridge(client)
        notes = list(recipe.notes)
        torch_backend, torch_notes = recipe.torch_backend, list(recipe.torch_notes)
        fallback = ""  # the note, when the download left the unreachable PyTorch index out
        key = cache_key(recipe, base_image_ids(client, recipe.base_images))
        tag = f"{IMAGE_REPOSITORY}:{key}"
        cache_record: EnvCacheRecord | None = None
        peak: int | None = None
        cached = _image_exists(client, tag)
        path = docker_cache.tarball(options.env_cache, key) if options.env_cache else None
        if cached and options.fresh_env:  # the engine's image is a cache too
            _untag(client, tag)
            notes.append(f"--fresh-env: the engine's image {tag} was not reused; the environment was rebuilt")
            cached = False
        elif not cached and path is not None and path.is_file():
            if options.fresh_env:
                notes.append(f"--fresh-env: {path} was not loaded; the environment was rebuilt")
            else:
                say(f"environment: loading {path} (--env-cache)")
                loaded = docker_cache.load(client, path, key, {**LABELS, "model-check.key": key}, tag)
                cache_record, cached = loaded.record, loaded.ok
                if not loaded.ok:
                    notes.append(f"the environment archive {path} was not used, and the environment was rebuilt: "
                                 f"{loaded.record.get('problem')}")
        if cached:
            say(f"environment: cached image {tag}")
            recorded = _image_label(client, tag, TORCH_LABEL)
            if recorded and torch_backend:
                torch_backend, fallback = None, f"when this cached image was built, {recorded}"
            if path is not None and cache_record is None:  # the engine had it, the folder not: for later jobs
                cache_record = self._save(client, tag, path, recipe, notes, say)
        else:
            disk = DiskUse(client, key)
            failure, fallback = self._fresh_image(client, recipe, key, tag, options, bridge, notes, say, disk)
            peak = disk.peak()
            if fallback and torch_backend:
                torch_backend = None
            if failure is not None:
                return replace(failure, peak_disk_bytes=peak)
            if path is not None:
                saved = self._save(client, tag, path, recipe, notes, say)
                if cache_record is not None and "problem" in cache_record:  # the archive this build replaced
                    saved["problem"] = f"{cache_record['problem']} (replaced by this build)"
                cache_record = saved
        probe_network = "default" if bridge else "none"
        if not bridge and options.network:
            notes.append("this engine has no bridge network: package code never gets network in its containers, "
                         "even where network is allowed (the host's network is not handed to package code)")
        env = DockerEnv(client, self.client_factory(None), tag, probe_network, LABELS,
                        cpus=float(min(int(engine.get("NCPU") or 1), MAX_CPUS)))
        facts = env.inspect(recipe.interpreters)
        if isinstance(facts, str):
            return BuildFailure(f"the image built from {recipe.describe()} has no Python that runs ({redact(facts)})",
                                file=recipe.runtime_file, notes=tuple(notes), rule=rule("docker-image-without-python").id)
        requested = recipe.python_requested
        problem = ""
        if requested and not (facts.version == requested or facts.version.startswith(requested + ".")):
            problem = f"the image runs Python {facts.version}"
            if options.base_image and recipe.generated:
                problem += f" (--base-image {options.base_image})"
        notes.append("package code runs in containers of the image: no network, read-only root, all capabilities "
                     f"dropped, no-new-privileges, user {USER}, memory/pids/CPU limits, a bounded scratch area, the "
                     "image's entrypoint, command, user and healthcheck ignored, no host variables or mounts")
        if fallback:
            torch_notes = [recipe.torch_notes[0], fallback] if recipe.torch_notes else [fallback]
        env.info = BuildInfo("docker", recipe.runtime_file, facts.version, requested, problem, tag, cached,
                             time.monotonic() - started, torch_backend, tuple(notes), tuple(torch_notes), recipe.replaced,
                             peak, cache_record)
        env.description = f"docker image {tag} ({recipe.describe()}; Python {facts.version} at {facts.interpreter})"
        return env

    @staticmethod
    def _save(client: DockerClient, tag: str, path: Path, recipe: Recipe, notes: list[str], say: Progress) -> EnvCacheRecord:
        """Write the image to the --env-cache folder; the notes say what failed or was pruned."""
        say(f"environment: saving {tag} to {path} (--env-cache)")
        saved = docker_cache.save(client, tag, path, recipe.package_id)
        if "problem" in saved:
            notes.append(f"the environment was not saved for later jobs: {saved['problem']}")
        if saved.get("pruned"):
            notes.append(f"older environments of this package removed from {path.parent}: " + ", ".join(saved.get("pruned") or []))
        return saved

    def _fresh_image(self, client: DockerClient, recipe: Recipe, key: str, tag: str, options: Options, bridge: bool,
                     notes: list[str], say: Progress, disk: DiskUse) -> tuple[BuildFailure | None, str]:
        """Build the image of `recipe` as `tag`: None or why not, and the fallback note when the download left the
        unreachable PyTorch index out ("" otherwise). `notes` gets the build's notes."""
        fallback = ""
        if recipe.generated and (problem := ensure_image(client, recipe.base_images[0])):
            return BuildFailure(f"the base image {recipe.base_images[0]} is not on this engine and cannot be "
                                f"pulled: {problem}", file=recipe.runtime_file, notes=tuple(notes),
                                rule=rule("docker-base-image-unavailable").id), fallback
        deadline = time.monotonic() + install_limits(options).wall_s
        context = recipe.context
        if recipe.download is not None:
            network = options.build_network or ("default" if bridge else "host")
            if network == "host":
                notes.append("pip downloaded the wheels on the host's network (this engine has no bridge network); "
                             "no package code runs there")
            say(f"environment: downloading wheels for {recipe.runtime_file}")
            unreachable: list[str] = []
            downloaded = self._download(client, recipe, network, options, deadline, unreachable)
            if unreachable and recipe.torch_backend:
                fallback = fallback_note(choose(options.torch_backend, containers=True), unreachable[0],
                                         tool="pip download without the PyTorch index")
            if isinstance(downloaded, BuildFailure):
                return BuildFailure(downloaded.reason, downloaded.output_tail, downloaded.file,
                                    (*notes, *([fallback] if fallback else [])), downloaded.rule), fallback
            context = downloaded
            disk.download = _size_of(recipe.context) + _size_of(context)  # the volume: context in, wheels out
        network, network_notes = build_network(recipe, options, bridge)
        notes += network_notes
        say(f"environment: docker build ({recipe.describe()})")
        try:
            disk.context = _size_of(context)  # the classic builder unpacks the context on the engine's disk
            failure = self._build_image(client, recipe, context, tag, key, network, options, deadline, fallback, say,
                                        disk=disk)
        finally:
            if context is not recipe.context:
                context.close()
        if failure is not None:
            return BuildFailure(failure.reason, failure.output_tail, failure.file, tuple(notes), failure.rule), fallback
        return None, fallback

    # -- step 1 of a requirements image: the wheels --------------------------------------------------
    def _download(self, client: DockerClient, recipe: Recipe, network: str, options: Options,
                  deadline: float, unreachable: list[str]) -> IO[bytes] | BuildFailure:
        """The build context with the wheels pip downloaded in a container of the base image (no package
        code runs: wheels only), the CA bundle and wheelhouse left out; or why not. Why the PyTorch index
        could not be reached, when it was left out, is added to `unreachable`."""
        assert recipe.download is not None
        limits = install_limits(options)
        memory = f"{limits.memory_mb}m"
        download = recipe.download
        environment = {"HOME": f"{DOWNLOAD_ROOT}/home", "TMPDIR": f"{DOWNLOAD_ROOT}/tmp", "PYTHONDONTWRITEBYTECODE": "1",
                       "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_NO_CACHE_DIR": "1", **download.env}
        if download.ca_file:
            ca = f"{DOWNLOAD_ROOT}/in/{download.ca_file}"
            environment.update(PIP_CERT=ca, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)
        volume = container = None
        try:
            volume = client.volumes.create(labels={**LABELS, **run_labels()})
            container = client.containers.create(
                recipe.base_images[0], entrypoint=["python3", "-c", DOWNLOAD_SCRIPT, *download.args], command=[],
                user=f"{USER}:{USER}", working_dir="/", environment=environment, network_mode=network,
                read_only=True, tmpfs={"/tmp": "rw,nosuid,nodev,size=256m,mode=1777"},
                mounts=[Mount(target=DOWNLOAD_ROOT, source=volume.name, type="volume")],
                cap_drop=["ALL"], security_opt=["no-new-privileges"], healthcheck=NO_HEALTHCHECK,
                mem_limit=memory, memswap_limit=memory, pids_limit=BUILD_PROCESSES,
                ulimits=[Ulimit(name="core", soft=0, hard=0),
                         Ulimit(name="fsize", soft=limits.file_size_mb * MIB, hard=limits.file_size_mb * MIB)],
                log_config=LogConfig(type=LogConfig.types.JSON, config={"max-size": "2m", "max-file": "1"}),
                labels={**LABELS, **run_labels()})
            skeleton = TarBuilder(owner=USER)
            for folder in ("in", "wheels", "home", "tmp", "venv"):
                skeleton.add_dir(folder)
            archive, _ = skeleton.finish()
            with archive:
                container.put_archive(DOWNLOAD_ROOT, archive)
            recipe.context.seek(0)
            container.put_archive(f"{DOWNLOAD_ROOT}/in", recipe.context)
            recipe.context.seek(0)
            container.start()
            try:
                status = wait_for(client, container.id, max(1.0, deadline - time.monotonic()))
            except ENGINE_ERRORS:
                container.kill()
                return BuildFailure(f"downloading the wheels of {recipe.runtime_file} did not finish in time",
                                    redact(_logs(container)), recipe.runtime_file, rule=rule("docker-build-failed").id)
            tail = redact(_logs(container))
            unreachable += [line.removeprefix(TORCH_UNREACHABLE) for line in tail.splitlines()
                            if line.startswith(TORCH_UNREACHABLE)][-1:]
            if int(status.get("StatusCode", -1)) != 0:
                last = next((line for line in reversed(tail.splitlines()) if line.startswith("ERROR")), "pip download failed")
                return BuildFailure(
                    f"the requirements of {recipe.runtime_file} cannot be downloaded as wheels ({last}). The docker "
                    "builder installs wheels only, so that no install-time code of a source distribution runs: pin "
                    "versions that publish wheels for this Python and platform, hand built wheels over with "
                    "--wheelhouse, or ship a Dockerfile", tail, recipe.runtime_file, rule=rule("docker-build-failed").id)
            chunks, _ = container.get_archive(f"{DOWNLOAD_ROOT}/wheels")
            try:  # streamed into the build context: the wheels are not spooled to disk a second time
                return _build_context(recipe.context, io.BufferedReader(ChunkReader(chunks, limits.file_size_mb * MIB)))
            except TooLarge:
                return BuildFailure(f"the wheels of {recipe.runtime_file} are larger than {limits.file_size_mb} MiB",
                                    file=recipe.runtime_file, rule=rule("docker-build-failed").id)
        finally:
            for thing, remove in ((container, {"force": True, "v": True}), (volume, {"force": True})):
                try:
                    if thing is not None:
                        thing.remove(**remove)
                except ENGINE_ERRORS:
                    pass  # labelled: docker_cleanup takes it at exit

    # -- the image build ---------------------------------------------------------------------------
    def _build_image(self, client: DockerClient, recipe: Recipe, context: IO[bytes], tag: str, key: str, network: str,
                     options: Options, deadline: float, torch_fallback: str = "",
                     say: Progress | None = None, disk: DiskUse | None = None) -> BuildFailure | None:
        limits = install_limits(options)
        log = BuildLog(say)  # each line also to the progress callback: a long build is not silent in the log
        memory = limits.memory_mb * MIB
        marker = f"model-check-build-{uuid.uuid4().hex[:16]}.invalid"  # only this build's step containers have it
        watcher = BuildWatcher(self.client_factory(None), self.client_factory(30), marker, BUILD_PROCESSES,
                               limits.file_size_mb)
        cpus = min(os.cpu_count() or 1, MAX_CPUS)
        params: dict[str, Any] = {
            "version": "1",  # the classic builder: it takes these limits (BuildKit would need a client session)
            "t": tag, "dockerfile": recipe.dockerfile, "rm": True, "forcerm": True, "pull": False, "q": False,
            "nocache": options.fresh_env,  # --fresh-env: no step from the engine's build cache either
            "networkmode": network, "memory": memory, "memswap": memory, "shmsize": BUILD_SHM_MB * MIB,
            "cpuperiod": 100_000, "cpuquota": cpus * 100_000, "extrahosts": f"{marker}:192.0.2.1",
            "buildargs": json.dumps({**recipe.build_args, KEY_ARG: key} if recipe.keyed_stages else dict(recipe.build_args)),
            "labels": json.dumps({**LABELS, "model-check.key": key, "model-check.runtime-file": recipe.runtime_file,
                                  docker_cache.PACKAGE_LABEL: recipe.package_id,
                                  **({TORCH_LABEL: torch_fallback} if torch_fallback else {})}),
            "ulimits": json.dumps([
                {"Name": "nproc", "Soft": BUILD_PROCESSES, "Hard": BUILD_PROCESSES},
                {"Name": "fsize", "Soft": limits.file_size_mb * MIB, "Hard": limits.file_size_mb * MIB},
                {"Name": "core", "Soft": 0, "Hard": 0},
            ]),
        }
        expired = threading.Event()
        response: Any = None

        def expire() -> None:
            expired.set()
            watcher.kill_all()
            if response is not None:
                response.close()  # the classic builder cancels a build whose client went away

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
        watcher.start()
        timer.start()
        try:
            # the SDK's build() takes no ulimits: the same request, made here; no registry credentials of
            # this machine go with it (a package's FROM pulls what the public can)
            api = raw_api(client)
            response = api._post(api._url("/build"), data=context, params=params,
                                 headers={"Content-Type": "application/tar"}, stream=True,
                                 timeout=max(1.0, deadline - time.monotonic()) + 60)
            api._raise_for_status(response)
            for chunk in api._stream_helper(response, decode=True):
                log.add(chunk)
                if log.error or expired.is_set():
                    break
        except Exception as exc:  # the engine, or the connection closed at the deadline
            if not expired.is_set() and not watcher.problem:
                if not isinstance(exc, ENGINE_ERRORS):
                    raise
                if isinstance(exc, APIError) and exc.is_client_error() or "dockerfile parse error" in str(exc):
                    return BuildFailure(f"the image does not build from {recipe.describe()}: "
                                        f"{redact(_first_line(exc))}", redact(log.tail()), recipe.runtime_file,
                                        rule=rule("docker-build-failed").id)
                return BuildFailure(f"the Docker engine failed while building ({redact(_first_line(exc))})",
                                    redact(log.tail()), recipe.runtime_file, rule=rule("docker-build-failed").id)
        finally:
            timer.cancel()
            if response is not None:
                response.close()
            watcher.stop()
            if disk is not None:  # before the install stage goes: its layers count
                disk.largest_step = watcher.largest
                disk.finish()
            if recipe.keyed_stages:
                _remove_untagged_stages(client, key)
        if watcher.problem:
            return BuildFailure(f"building the image from {recipe.describe()} was stopped: {watcher.problem}",
                                redact(log.tail()), recipe.runtime_file, rule=rule("docker-build-failed").id)
        if expired.is_set():
            return BuildFailure(f"building the image from {recipe.describe()} did not finish within {limits.wall_s:g} s",
                                redact(log.tail()), recipe.runtime_file, rule=rule("docker-build-failed").id)
        if log.error:
            hint = ""
            if network == "none" and not options.build_network and NETWORK_SIGNS.search(log.tail()):
                hint = (" (this engine has no bridge network, so the build had no network; pass --build-network host "
                        "if the Dockerfile must download, accepting that its RUN steps can then reach this machine's "
                        "loopback services)")
            return BuildFailure(f"the image does not build from {recipe.describe()}: {redact(log.error)}{hint}",
                                redact(log.tail()), recipe.runtime_file, rule=rule("docker-build-failed").id)
        if not _image_exists(client, tag):
            return BuildFailure(f"the build of {recipe.describe()} ended without an image", redact(log.tail()),
                                recipe.runtime_file, rule=rule("docker-build-failed").id)
        return None


class BuildWatcher:
    """Bounds the containers the engine starts for a build's RUN steps, found by the build's host name
    marker (HostConfig.ExtraHosts, set by the build request: a Dockerfile cannot change it): each
    gets a pids limit as soon as the engine reports it, is killed when it holds more processes than
    that anyway (started before the limit landed) or when its writable layer passes the disk bound,
    and is removed when the build ends, whatever way it ends."""

    def __init__(self, stream_client: Callable[[], DockerClient], api_client: Callable[[], DockerClient], marker: str,
                 processes: int, disk_mb: int) -> None:
        self._make_stream = stream_client
        self._make_api = api_client
        self.marker = marker
        self.processes = processes
        self.disk_mb = disk_mb
        self.problem = ""  # why a step was stopped; "" while none was
        self.largest = 0  # the largest writable layer of a step seen, in bytes (docker_disk)
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._events: Any = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._api = self._make_api()
        self._stream = self._make_stream()
        # subscribed before the build starts, so no step is missed
        self._events = self._stream.api.events(decode=True, filters={"type": "container", "event": "create"})
        for target in (self._follow, self._measure):
            thread = threading.Thread(target=target, daemon=True, name="model-check-build-watch")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._done.set()
        try:
            self._events.close()
        except Exception:
            pass
        for thread in self._threads:
            thread.join(5)
        with self._lock:
            ids = list(self._ids)
        for container_id in ids:  # normally removed by the builder already (forcerm)
            try:
                self._api.api.remove_container(container_id, force=True, v=True)
            except ENGINE_ERRORS:
                pass
            untrack_build_container(container_id)
        self._stream.close()
        self._api.close()

    def kill_all(self) -> None:
        with self._lock:
            ids = list(self._ids)
        for container_id in ids:
            self._kill(container_id)

    def _follow(self) -> None:
        try:
            for event in self._events:
                if self._done.is_set():
                    return
                container_id = event.get("id") or (event.get("Actor") or {}).get("ID")
                if container_id:
                    self._adopt(container_id)
        except Exception:  # the stream was closed by stop()
            return

    def _adopt(self, container_id: str) -> None:
        try:
            hosts = self._api.api.inspect_container(container_id).get("HostConfig", {}).get("ExtraHosts") or []
        except ENGINE_ERRORS:
            return
        if not any(entry.startswith(f"{self.marker}:") for entry in hosts):
            return  # not a step of this build
        with self._lock:
            self._ids.add(container_id)
        track_build_container(container_id, self._make_api)
        try:
            api = raw_api(self._api)
            response = api._post_json(api._url("/containers/{0}/update", container_id), data={"PidsLimit": self.processes})
            api._raise_for_status(response)
        except ENGINE_ERRORS as exc:
            self._stop_build(container_id, f"its process limit could not be set ({_first_line(exc)})")

    def _measure(self) -> None:
        while not self._done.wait(WATCH_INTERVAL_S):
            with self._lock:
                ids = list(self._ids)
            for container_id in ids:
                try:
                    api = raw_api(self._api)
                    facts = api._result(api._get(api._url("/containers/{0}/json", container_id), params={"size": 1}), True)
                    if not facts.get("State", {}).get("Running"):
                        continue
                    written = int(facts.get("SizeRw") or 0)
                    self.largest = max(self.largest, written)
                    if written > self.disk_mb * MIB:
                        self._stop_build(container_id, f"a build step wrote more than {self.disk_mb} MiB")
                        continue
                    stats = self._api.api.stats(container_id, stream=False, one_shot=True)
                    current = int((stats.get("pids_stats") or {}).get("current") or 0)
                    if current > self.processes:
                        self._stop_build(container_id, f"a build step ran {current} processes, more than the limit "
                                                       f"of {self.processes}")
                except NotFound:
                    with self._lock:
                        self._ids.discard(container_id)
                    untrack_build_container(container_id)
                except ENGINE_ERRORS:
                    continue

    def _stop_build(self, container_id: str, problem: str) -> None:
        self.problem = self.problem or problem
        self._kill(container_id)

    def _kill(self, container_id: str) -> None:
        try:
            self._api.api.kill(container_id)
        except ENGINE_ERRORS:
            pass  # it ended meanwhile


class BuildLog:
    """The engine's build output: the last lines kept, the first error noted; each line, as it comes, also to
    `on_line` as an OutputLine (unredacted, like the lines kept: the caller redacts what it shows)."""

    def __init__(self, on_line: Progress | None = None) -> None:
        self.lines: list[str] = []
        self.partial = ""
        self.error = ""
        self.on_line = on_line

    def add(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if chunk.get("error"):
            self.error = str(chunk["error"]).strip()[:LOG_LINE_CHARS] or "the build failed"
            self._lines(str(chunk["error"]) + "\n")
        elif isinstance(chunk.get("stream"), str):
            self._lines(chunk["stream"])

    def _lines(self, text: str) -> None:
        text = self.partial + ANSI_ESCAPE.sub("", text)
        *complete, self.partial = text.split("\n")
        added = [line.rstrip()[:LOG_LINE_CHARS] for line in complete if not line.startswith(BOOKKEEPING)]
        self.lines += added
        del self.lines[:-LOG_LINES_KEPT]
        if self.on_line is not None:
            for line in added:
                self.on_line(OutputLine(line))
        self.partial = self.partial[-LOG_LINE_CHARS:]

    def tail(self, lines: int = TAIL_LINES) -> str:
        shown = [line for line in self.lines + [self.partial] if line.strip()]
        return "\n".join(shown[-lines:])


def has_bridge(client: DockerClient) -> bool:
    """Whether the engine has its default bridge network (dockerd --bridge=none has none)."""
    try:
        return bool(client.networks.list(names=["bridge"]))
    except ENGINE_ERRORS:
        return True


def build_network(recipe: Recipe, options: Options, bridge: bool) -> tuple[str, list[str]]:
    """The network of the image build's RUN steps, with what the report says about it."""
    if recipe.download is not None:
        return "none", []  # the wheels are in the context: installing needs no network
    network = options.build_network or ("default" if bridge else "none")
    if network == "host":
        return network, ["the image build had the host's network (loopback reachable): RUN steps of the package's "
                         f"{recipe.runtime_file} could reach services listening on this machine's loopback and "
                         "link-local addresses, as root (--build-network host)"]
    if network == "none":
        if options.build_network:
            return network, []
        return network, ["this engine has no bridge network, so the image build had no network (--build-network host "
                         "would give it the host's network, loopback included)"]
    return network, ["the image build's RUN steps had the engine's bridge network: the internet, and services of "
                     "this machine that listen on the bridge's address"]


def base_image_ids(client: DockerClient, images: Iterable[str]) -> dict[str, str | None]:
    """The engine's id of each base image (None when absent), so a rebuilt base image means a rebuilt environment."""
    ids: dict[str, str | None] = {}
    for image in images:
        try:
            ids[image] = client.images.get(image).id
        except (ImageNotFound, APIError):
            ids[image] = None
    return ids


def cache_key(recipe: Recipe, base_ids: Mapping[str, str | None]) -> str:
    material = {
        "format": CACHE_FORMAT,
        "context": recipe.context_sha256,
        "dockerfile": recipe.dockerfile,
        "bases": dict(sorted(base_ids.items())),
        "build_args": sorted(recipe.build_args.items()),
        "download": list(recipe.download.key) if recipe.download else None,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def ensure_image(client: DockerClient, image: str) -> str | None:
    """None when the engine has `image` or could pull it; else why not."""
    if _image_exists(client, image):
        return None
    repository, tag = parse_repository_tag(image)
    try:
        client.images.pull(repository, tag=tag or "latest")
    except ENGINE_ERRORS as exc:
        return _first_line(exc)
    return None


class TooLarge(Exception):
    """A stream passed its budget."""


class ChunkReader(io.RawIOBase):
    """The chunks of an engine's answer as a file to read once, raising TooLarge past `budget` bytes."""

    def __init__(self, chunks: Iterable[bytes], budget: int) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._pending = b""
        self._size = 0
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._size += len(chunk)
            if self._size > self.budget:
                raise TooLarge(f"more than {self.budget} bytes")
            self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _build_context(recipe_context: IO[bytes], wheels: IO[bytes]) -> IO[bytes]:
    """The recipe's context without the CA bundle and wheelhouse (only the download used them), plus the
    downloaded wheels in DOWNLOADED_DIR."""
    tar = TarBuilder()
    try:
        recipe_context.seek(0)
        tar.add_archive(recipe_context, lambda name: None if name == CA_FILE or name.startswith(WHEELHOUSE_DIR) else name)
        recipe_context.seek(0)

        def wheel(name: str) -> str | None:
            parts = name.split("/")
            if len(parts) == 2 and parts[0] == "wheels" and parts[1].endswith(".whl"):
                return f"{DOWNLOADED_DIR}/{parts[1]}"
            return None

        tar.add_dir(DOWNLOADED_DIR)
        tar.add_archive(wheels, wheel)
    except BaseException:
        tar.close()
        raise
    finally:
        wheels.close()
    context, _ = tar.finish()
    return context


def _logs(container: Any, lines: int = TAIL_LINES) -> str:
    try:
        return ANSI_ESCAPE.sub("", container.logs(tail=lines).decode("utf-8", "replace")).strip()
    except ENGINE_ERRORS:
        return ""


def _image_label(client: DockerClient, image: str, name: str) -> str:
    """A label of an image model-check built ("" when it has none)."""
    try:
        labels = client.images.get(image).labels or {}
    except ENGINE_ERRORS:
        return ""
    value = labels.get(name)
    return value if isinstance(value, str) else ""


def _untag(client: DockerClient, tag: str) -> None:
    """Remove the tag `tag` (and its image when nothing else uses it); kept when a container uses it."""
    try:
        client.images.remove(tag)
    except ENGINE_ERRORS:
        pass


def _size_of(handle: IO[bytes]) -> int:
    """The size of a rewound archive, left rewound."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    return size


def _image_exists(client: DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except ImageNotFound:
        return False
    return True


def _remove_untagged_stages(client: DockerClient, key: str) -> None:
    """The untagged images a build labelled with its key left: a generated build's install stage, the
    steps of a failed build (they hold the CA bundle and wheelhouse)."""
    try:
        client.images.prune(filters={"dangling": True, "label": f"model-check.key={key}"})
    except ENGINE_ERRORS:
        pass


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:500]
