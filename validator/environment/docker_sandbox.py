"""A built image as an `Env`: every command runs in a fresh, locked-down container of it.

Each run gets its own container, removed afterwards, with:
- no network (`network_mode="none"`) unless `Limits.network`; then the engine's build network;
- a read-only root file system, tmpfs at /tmp (HOME and TMPDIR point there), all capabilities
  dropped, no-new-privileges, user 65534 (nobody), no docker socket, no bind mounts, no variables
  from this machine (so no GITHUB_TOKEN): only the image's own ENV plus HOME/TMPDIR;
- memory (no swap), pids, CPU count, CPU time, file size and core dump limits from `Limits`;
- the working files put in with `put_archive` before start, into a volume of its own at
  /workspace (an archive cannot reach a tmpfs before start, and a read-only root takes no files);
  the workdir is /workspace/package, owned by the container's user;
- stdout/stderr streamed from an attach made before start into head+tail capped buffers (the
  engine keeps no log: log driver "none"), results fetched with `get_archive`;
- a wall clock: at the deadline the container is killed (then removed, with its volume).
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import requests
from docker.client import DockerClient
from docker.errors import APIError, DockerException, NotFound
from docker.types import Mount, Ulimit
from packaging.utils import canonicalize_name
from urllib3.exceptions import HTTPError as Urllib3Error

from .base import Completed, Limits
from .builder import BuildInfo
from .docker_context import TarBuilder
from .sandbox import MIB, CappedBuffer

WORKSPACE = "/workspace"  # the per-run volume
WORKDIR = f"{WORKSPACE}/package"  # the scratch copy of the working files
USER = 65534  # nobody
MAX_CPUS = 4
READER_GRACE_S = 5.0  # how long output is still read after the container ended
ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException, Urllib3Error, OSError)
_MEMORY_SIGNS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")

# Run with the image's interpreter: its version and every installed distribution.
INSPECT_SCRIPT = """
import importlib.metadata as metadata, json, platform, sys
found = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"] if dist.metadata else None
    if name:
        found.setdefault(name, dist.version)
print(json.dumps({"version": platform.python_version(), "executable": sys.executable, "distributions": found}))
"""


@dataclass(frozen=True)
class ImageFacts:
    interpreter: str  # what runs as "python"
    version: str
    distributions: dict[str, str]


class DockerEnv:
    kind = "docker"

    def __init__(self, client: DockerClient, stream_client: Callable[[], DockerClient], image: str,
                 network_mode: str, labels: dict[str, str], cpus: float) -> None:
        self.client = client
        self._make_stream_client = stream_client
        self._stream_client: DockerClient | None = None
        self.image = image
        self.network_mode = network_mode  # used only when Limits.network
        self.cpus = cpus
        self.run_id = uuid.uuid4().hex[:12]  # labels every container and volume of this environment
        self.labels = {**labels, "model-check.env-run": self.run_id}
        self.interpreter = "python"
        self.info: BuildInfo | None = None
        self.description = f"docker image {image}"
        self._installed: dict[str, str] | None = None

    # -- the Env interface ------------------------------------------------------------------------
    def run(self, argv: Sequence[str], workdir_files: Path, limits: Limits, fetch: Sequence[str] = ()) -> Completed:
        if not argv:
            raise ValueError("empty command")
        command = [self.interpreter if argv[0] == "python" else argv[0], *argv[1:]]
        return self._run(tuple(argv), command, workdir_files, limits, fetch)

    def installed(self) -> dict[str, str]:
        if self._installed is None:
            facts = self.inspect((self.interpreter,))
            if isinstance(facts, str):
                raise RuntimeError(facts)
            self._installed = facts.distributions
        return dict(self._installed)

    # -- facts of the image -----------------------------------------------------------------------
    def inspect(self, interpreters: Sequence[str]) -> ImageFacts | str:
        """Run the first interpreter of `interpreters` that works; its facts, or what went wrong."""
        problems = []
        with tempfile.TemporaryDirectory(prefix="model-check-inspect-") as empty:
            for interpreter in interpreters:
                done = self._run((interpreter, "-c", "…"), [interpreter, "-c", INSPECT_SCRIPT], Path(empty),
                                 Limits(wall_s=120, cpu_s=120, memory_mb=1024, processes=64), ())
                facts = _parse_facts(done.stdout)
                if done.returncode == 0 and facts is not None:
                    self.interpreter = interpreter
                    self._installed = {canonicalize_name(k): v for k, v in facts["distributions"].items()}
                    return ImageFacts(interpreter, str(facts["version"]), self._installed)
                problems.append(f"`{interpreter}`: " + ((done.stderr or done.stdout).strip().splitlines() or
                                                        [f"exit status {done.returncode}"])[-1])
        return "; ".join(problems)

    # -- one container ----------------------------------------------------------------------------
    def _run(self, argv: tuple[str, ...], command: list[str], workdir_files: Path, limits: Limits,
             fetch: Sequence[str]) -> Completed:
        started = time.monotonic()
        isolated = not limits.network
        volume = container = None
        try:
            volume = self.client.volumes.create(labels=self.labels)
            container = self.client.containers.create(self.image, **self._container_options(command, volume.name, limits))
            with WorkdirArchive(workdir_files) as archive:
                container.put_archive(WORKSPACE, archive)
            completed = self._start_and_wait(argv, command, container, limits, started)
            if fetch:
                completed = replace(completed, files=_fetch(container, fetch, limits.file_size_mb * MIB))
            return completed
        except ENGINE_ERRORS as exc:
            return Completed(argv, 125, "", f"the Docker engine could not run the command: {_explain(exc)}",
                             time.monotonic() - started, network_isolated=isolated)
        finally:
            _remove(container, volume)

    def _container_options(self, command: list[str], volume: str, limits: Limits) -> dict[str, Any]:
        memory = f"{limits.memory_mb}m"
        return {
            "entrypoint": command[:1],  # the image's ENTRYPOINT is not ours to run
            "command": command[1:],
            "working_dir": WORKDIR,
            "user": f"{USER}:{USER}",
            "environment": {"HOME": "/tmp", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
            "network_mode": self.network_mode if limits.network else "none",
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.memory_mb}m,mode=1777"},
            "mounts": [Mount(target=WORKSPACE, source=volume, type="volume")],
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "mem_limit": memory,
            "memswap_limit": memory,
            "pids_limit": limits.processes,
            "nano_cpus": int(self.cpus * 1e9),
            "ulimits": [
                Ulimit(name="cpu", soft=int(limits.cpu_s), hard=int(limits.cpu_s) + 5),
                Ulimit(name="fsize", soft=limits.file_size_mb * MIB, hard=limits.file_size_mb * MIB),
                Ulimit(name="core", soft=0, hard=0),
            ],
            "log_config": {"type": "none"},
            "labels": self.labels,
            "stdin_open": False,
            "tty": False,
        }

    def _start_and_wait(self, argv: tuple[str, ...], command: list[str], container: Any, limits: Limits,
                        started: float) -> Completed:
        out, err = CappedBuffer(limits.output_bytes), CappedBuffer(limits.output_bytes)
        # attached before start so no output is missed; a client without read timeout, since a
        # container may stay silent for longer than the API timeout
        if self._stream_client is None:
            self._stream_client = self._make_stream_client()
        stream = self._stream_client.api.attach(container.id, stdout=True, stderr=True, stream=True, demux=True)
        reader = threading.Thread(target=_drain, args=(stream, out, err), daemon=True)
        reader.start()
        try:
            try:
                container.start()
            except APIError as exc:
                missing = "executable file not found" in str(exc) or "no such file or directory" in str(exc)
                return Completed(argv, 127 if missing else 125, "", f"cannot start {command[0]} in the image: {_explain(exc)}",
                                 time.monotonic() - started, network_isolated=not limits.network)
            timed_out = False
            try:
                status = self.client.api.wait(container.id, timeout=max(1.0, started + limits.wall_s - time.monotonic()))
            except (requests.exceptions.RequestException, Urllib3Error):
                timed_out = True
                try:
                    container.kill()
                except APIError:
                    pass  # it ended meanwhile
                status = self.client.api.wait(container.id, timeout=60)
            reader.join(READER_GRACE_S)
        finally:
            stream.close()
            reader.join(READER_GRACE_S)
        container.reload()
        oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
        code = int(status.get("StatusCode", -1))
        returncode = None if timed_out else (128 - code if 128 < code <= 128 + 64 else code)  # signal N -> -N
        stderr = err.text()
        return Completed(argv, returncode, out.text(), stderr, time.monotonic() - started, timed_out,
                         _killed_by(returncode, timed_out, oom, stderr), not limits.network)


def _drain(stream: Any, out: CappedBuffer, err: CappedBuffer) -> None:
    try:
        for stdout, stderr in stream:
            if stdout:
                out.add(stdout)
            if stderr:
                err.add(stderr)
    except Exception:  # the stream closes under us when the container is killed or removed
        return


def _killed_by(returncode: int | None, timed_out: bool, oom: bool, stderr: str) -> str | None:
    if timed_out:
        return "timeout"
    if oom or (returncode not in (None, 0) and any(sign in stderr[-20_000:] for sign in _MEMORY_SIGNS)):
        return "memory"
    if returncode is not None and returncode < 0:
        return f"signal {-returncode}" + (" (SIGKILL)" if returncode == -9 else "")
    return None


class WorkdirArchive:
    """The working files as a tar of `package/`, owned by the container's user."""

    def __init__(self, root: Path) -> None:
        self.tar = TarBuilder(owner=USER)
        self.tar.add_tree("package", root)

    def __enter__(self) -> Any:
        self.file, _ = self.tar.finish()
        return self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _fetch(container: Any, names: Sequence[str], cap: int) -> dict[str, bytes]:
    """The bytes of the named regular files of the workdir; escapes, folders, links and oversized files left out."""
    found: dict[str, bytes] = {}
    for name in names:
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            continue
        try:
            chunks, stat = container.get_archive(f"{WORKDIR}/{rel}")
        except NotFound:
            continue
        if int(stat.get("size", 0)) > cap or int(stat.get("mode", 0)) & (1 << 31 | 1 << 27):  # folder or symlink
            continue
        data = _read_capped(chunks, cap + 1024 * 1024)
        if data is None:
            continue
        with tarfile.open(fileobj=data) as archive:
            member = archive.next()
            if member is not None and member.isreg() and member.size <= cap:
                handle = archive.extractfile(member)
                if handle is not None:
                    found[name] = handle.read()
        data.close()
    return found


def _read_capped(chunks: Any, budget: int) -> Any:
    spool = tempfile.SpooledTemporaryFile(max_size=8 * MIB)
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > budget:
            spool.close()
            return None
        spool.write(chunk)
    spool.seek(0)
    return spool


def _remove(container: Any, volume: Any) -> None:
    for thing, options in ((container, {"force": True, "v": True}), (volume, {"force": True})):
        if thing is None:
            continue
        try:
            thing.remove(**options)
        except NotFound:
            pass
        except ENGINE_ERRORS:
            pass  # left behind, labelled; nothing the run can do about it


def _parse_facts(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("distributions"), dict) and value.get("version"):
            return value
    return None


def _explain(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).strip().splitlines()[0][:500] if str(text).strip() else type(exc).__name__

