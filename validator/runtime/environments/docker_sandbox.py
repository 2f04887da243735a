"""A built image as an `Env`: every command runs in a fresh, locked-down container of it.

Each run gets its own container, removed afterwards, with:
- no network (`network_mode="none"`) unless `Limits.network`; then the engine's bridge network
  (never the host's: on an engine without a bridge, network stays off and the notes say so);
- nothing of the image but its files and ENV: our own entrypoint and command, user 65534 (nobody),
  its HEALTHCHECK disabled (the engine would run it inside the container);
- a read-only root file system, all capabilities dropped, no-new-privileges, no docker socket, no
  bind mounts, no variables from this machine (so no GITHUB_TOKEN): only the image's own ENV plus
  HOME/TMPDIR;
- memory (no swap), pids, CPU count, CPU time, file size and core dump limits from `Limits`;
- a bounded scratch area: one tmpfs volume of its own (the working files plus
  `Limits.file_size_mb`), mounted at /workspace (the workdir is /workspace/package, owned by the
  container's user) and at /tmp (HOME and TMPDIR). The engine mounts such a volume only while a
  container uses it, so a small watchdog container of the same image holds it: the working files
  go in through it (`put_archive`) before the command starts, results come back through it
  (`get_archive`) after, and it watches the free space: when the scratch area fills up, the
  command is stopped and the run reports it (killed_by "… scratch area … is full", returncode -9
  even when the command ended by itself first), instead of a full disk. The package's files live
  in memory there (tmpfs), once;
- stdout/stderr streamed from an attach made before start into head+tail capped buffers (the
  engine keeps no log: log driver "none"), secrets of this process redacted from them;
- a wall clock: at the deadline the container is killed (then removed, with its volume);
- every container and volume labelled `model-check.run=<id>`, removed on every exit path
  (docker_cleanup).
"""

from __future__ import annotations

import json
import signal
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import requests
from docker.client import DockerClient
from docker.errors import APIError, DockerException, NotFound
from docker.types import Mount, Ulimit
from packaging.utils import canonicalize_name
from urllib3.exceptions import HTTPError as Urllib3Error

from validator.core.redact import redact
from validator.runtime.environments.builder import BuildInfo
from validator.runtime.environments.docker_cleanup import labels as run_labels
from validator.runtime.environments.docker_context import TarBuilder
from validator.sandbox.base import Completed, Limits
from validator.sandbox.bubblewrap import MIB, CappedBuffer

if TYPE_CHECKING:
    from docker._types import WaitContainerResponse  # the stubs' name for the engine's answer

WORKSPACE = "/workspace"  # the per-run scratch volume
WORKDIR = f"{WORKSPACE}/package"  # the scratch copy of the working files
TMP = "/tmp"  # the same volume again: HOME and TMPDIR
USER = 65534  # nobody
MAX_CPUS = 4
READER_GRACE_S = 5.0  # how long output is still read after the container ended
NO_HEALTHCHECK = {"test": ["NONE"]}  # the image's HEALTHCHECK would run inside the container
WATCHDOG_MEMORY_MB = 64
WATCHDOG_PIDS = 8
SCRATCH_FULL_EXIT = 3  # the watchdog's exit status when the scratch area is full
# The watchdog runs the image's interpreter without its site (no .pth file or sitecustomize of the package's
# environment runs). An image the package built itself can still lie through it: the bound is the kernel's
# (tmpfs size) either way, only the finding depends on the watchdog.
WATCHDOG_FLAGS = ("-I", "-S")
ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException, Urllib3Error, OSError)
_MEMORY_SIGNS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")

# The watchdog holds the scratch volume mounted and watches its free space: it exits with
# SCRATCH_FULL_EXIT when less than 1 MiB (1 % of a smaller area) is left. argv: the folder to watch,
# and "once" to look once (exit 0: not full).
WATCHDOG_SCRIPT = f"""
import os, sys, time
while True:
    s = os.statvfs(sys.argv[1])
    if s.f_bavail * s.f_frsize < min(1 << 20, s.f_blocks * s.f_frsize // 100):
        print("scratch area full", flush=True)
        sys.exit({SCRATCH_FULL_EXIT})
    if sys.argv[2:] == ["once"]:
        sys.exit(0)
    time.sleep(0.2)
"""

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
        self.network_mode = network_mode  # used only when Limits.network: a bridge network, or "none"
        self.cpus = cpus
        self.run_id = uuid.uuid4().hex[:12]  # labels every container and volume of this environment
        self.labels = {**labels, **run_labels(), "model-check.env-run": self.run_id}
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
                                 Limits(wall_s=120, cpu_s=120, memory_mb=1024, processes=64, file_size_mb=64), ())
                facts = _parse_facts(done.stdout)
                if done.returncode == 0 and facts is not None:
                    self.interpreter = interpreter
                    self._installed = {canonicalize_name(k): v for k, v in facts["distributions"].items()}
                    return ImageFacts(interpreter, str(facts["version"]), self._installed)
                problems.append(f"`{interpreter}`: " + ((done.stderr or done.stdout).strip().splitlines() or
                                                        [f"exit status {done.returncode}"])[-1])
        return "; ".join(problems)

    # -- one run: a watchdog holding the scratch volume, and the command's container ---------------
    def _run(self, argv: tuple[str, ...], command: list[str], workdir_files: Path, limits: Limits,
             fetch: Sequence[str]) -> Completed:
        started = time.monotonic()
        isolated = not limits.network
        volume = watchdog = container = None
        try:
            with WorkdirArchive(workdir_files) as (archive, size):
                scratch_mb = -(-size // MIB) + limits.file_size_mb
                volume = self.client.volumes.create(driver="local", labels=self.labels, driver_opts={
                    "type": "tmpfs", "device": "tmpfs", "o": f"size={scratch_mb}m,uid={USER},gid={USER},mode=0700"})
                watchdog = self.client.containers.create(self.image, **self._watchdog_options(command[0], volume.name))
                try:
                    watchdog.start()
                    watchdog.reload()
                except APIError as exc:
                    return _not_started(argv, command, exc, started, isolated)
                if watchdog.status != "running":
                    return Completed(argv, 127, "", f"cannot start {command[0]} in the image", time.monotonic() - started,
                                     network_isolated=isolated)
                watchdog.put_archive(WORKSPACE, archive)
            container = self.client.containers.create(self.image, **self._container_options(command, volume.name, limits))
            completed = self._start_and_wait(argv, command, container, watchdog, limits, started, scratch_mb)
            if fetch:
                completed = replace(completed, files=_fetch(watchdog, fetch, limits.file_size_mb * MIB))
            return replace(completed, stdout=redact(completed.stdout), stderr=redact(completed.stderr))
        except ENGINE_ERRORS as exc:
            return Completed(argv, 125, "", f"the Docker engine could not run the command: {_explain(exc)}",
                             time.monotonic() - started, network_isolated=isolated)
        finally:
            _remove(container, watchdog, volume)

    def _locked_down(self, volume: str, targets: Sequence[str]) -> dict[str, Any]:
        """What every container of a run shares: no network, nothing of this machine, nothing of the image's
        entrypoint, user or healthcheck, a read-only root, no capabilities, the scratch volume."""
        return {
            "user": f"{USER}:{USER}",
            "read_only": True,
            "mounts": [Mount(target=target, source=volume, type="volume") for target in targets],
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "healthcheck": NO_HEALTHCHECK,
            "log_config": {"type": "none"},
            "labels": self.labels,
            "stdin_open": False,
            "tty": False,
        }

    def _watchdog_options(self, interpreter: str, volume: str) -> dict[str, Any]:
        return {
            **self._locked_down(volume, (WORKSPACE,)),
            "entrypoint": [interpreter, *WATCHDOG_FLAGS, "-c", WATCHDOG_SCRIPT, WORKSPACE],
            "command": [],
            "working_dir": "/",
            "environment": {"PYTHONDONTWRITEBYTECODE": "1"},
            "network_mode": "none",
            "mem_limit": f"{WATCHDOG_MEMORY_MB}m",
            "memswap_limit": f"{WATCHDOG_MEMORY_MB}m",
            "pids_limit": WATCHDOG_PIDS,
            "nano_cpus": int(0.25 * 1e9),
        }

    def _container_options(self, command: list[str], volume: str, limits: Limits) -> dict[str, Any]:
        memory = f"{limits.memory_mb}m"
        return {
            **self._locked_down(volume, (WORKSPACE, TMP)),
            "entrypoint": command[:1],  # the image's ENTRYPOINT is not ours to run
            "command": command[1:],
            "working_dir": WORKDIR,
            "environment": {"HOME": TMP, "TMPDIR": TMP, "PYTHONDONTWRITEBYTECODE": "1"},
            "network_mode": self.network_mode if limits.network else "none",
            "mem_limit": memory,
            "memswap_limit": memory,
            "pids_limit": limits.processes,
            "nano_cpus": int(self.cpus * 1e9),
            "ulimits": [
                Ulimit(name="cpu", soft=int(limits.cpu_s), hard=int(limits.cpu_s) + 5),
                Ulimit(name="fsize", soft=limits.file_size_mb * MIB, hard=limits.file_size_mb * MIB),
                Ulimit(name="core", soft=0, hard=0),
            ],
        }

    def _start_and_wait(self, argv: tuple[str, ...], command: list[str], container: Any, watchdog: Any, limits: Limits,
                        started: float, scratch_mb: int) -> Completed:
        out, err = CappedBuffer(limits.output_bytes), CappedBuffer(limits.output_bytes)
        # attached before start so no output is missed; a client without read timeout, since a
        # container may stay silent for longer than the API timeout
        if self._stream_client is None:
            self._stream_client = self._make_stream_client()
        stream = self._stream_client.api.attach(container.id, stdout=True, stderr=True, stream=True, demux=True)
        reader = threading.Thread(target=_drain, args=(stream, out, err), daemon=True)
        reader.start()
        scratch_full = threading.Event()
        try:
            try:
                container.start()
            except APIError as exc:
                return _not_started(argv, command, exc, started, not limits.network)
            guard = threading.Thread(target=self._guard_scratch, args=(watchdog, container, scratch_full), daemon=True)
            guard.start()
            timed_out = False
            try:
                status = wait_for(self.client, container.id, max(1.0, started + limits.wall_s - time.monotonic()))
            except (requests.exceptions.RequestException, Urllib3Error):
                timed_out = True
                _kill(container)
                status = wait_for(self.client, container.id, 60)
            reader.join(READER_GRACE_S)
        finally:
            stream.close()
            reader.join(READER_GRACE_S)
        container.reload()
        oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
        code = int(status.get("StatusCode", -1))
        returncode = None if timed_out else (128 - code if 128 < code <= 128 + 64 else code)  # signal N -> -N
        stderr = err.text()
        killed_by = _killed_by(returncode, timed_out, oom, stderr)
        if not timed_out and (scratch_full.is_set() or self._scratch_full_now(watchdog, command[0])):
            # filling the scratch area counts as being stopped at a limit, even when the command ended by itself
            # before the watchdog stopped it: a run that ends at its bound is not a success
            killed_by = f"the scratch area of {scratch_mb} MiB (working files, /tmp) is full"
            returncode = returncode or -int(signal.SIGKILL)
        return Completed(argv, returncode, out.text(), stderr, time.monotonic() - started, timed_out,
                         killed_by, not limits.network)

    def _scratch_full_now(self, watchdog: Any, interpreter: str) -> bool:
        """Whether the scratch area is full now (a command may fill it and end before the watchdog looks)."""
        for _ in range(3):
            try:
                watchdog.reload()
                state = watchdog.attrs.get("State", {})
                if not state.get("Running"):  # it saw the area full and ended
                    return int(state.get("ExitCode", -1)) == SCRATCH_FULL_EXIT
                done = watchdog.exec_run([interpreter, *WATCHDOG_FLAGS, "-c", WATCHDOG_SCRIPT, WORKSPACE, "once"],
                                         user=f"{USER}:{USER}")
                if done.exit_code in (0, SCRATCH_FULL_EXIT):
                    return bool(done.exit_code == SCRATCH_FULL_EXIT)
            except APIError:
                pass  # it ended between the two calls
            except ENGINE_ERRORS:
                return False
            time.sleep(0.1)
        return False

    def _guard_scratch(self, watchdog: Any, container: Any, full: threading.Event) -> None:
        """Wait for the watchdog: its exit means the scratch area is full (or the run is over)."""
        try:
            client = self._make_stream_client()
            try:
                status = client.api.wait(watchdog.id)
            finally:
                client.close()
        except ENGINE_ERRORS:
            return
        if int(status.get("StatusCode", -1)) == SCRATCH_FULL_EXIT:
            full.set()
            _kill(container)


def wait_for(client: DockerClient, container_id: str | None, timeout_s: float) -> WaitContainerResponse:
    """The engine's answer once the container has stopped; the connection's error after timeout_s
    (docker-py's NullResource without an id)."""
    # docker-py hands the timeout to requests, which takes fractions of a second (the stubs say int)
    return client.api.wait(container_id or "", timeout=timeout_s)  # type: ignore[arg-type]


def _not_started(argv: tuple[str, ...], command: list[str], exc: APIError, started: float, isolated: bool) -> Completed:
    missing = "executable file not found" in str(exc) or "no such file or directory" in str(exc)
    return Completed(argv, 127 if missing else 125, "", f"cannot start {command[0]} in the image: {_explain(exc)}",
                     time.monotonic() - started, network_isolated=isolated)


def _kill(container: Any) -> None:
    try:
        container.kill()
    except APIError:
        pass  # it ended meanwhile


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
    """The working files as a tar of `package/`, owned by the container's user; with its size in bytes."""

    def __init__(self, root: Path) -> None:
        self.tar = TarBuilder(owner=USER)
        self.tar.add_tree("package", root)

    def __enter__(self) -> tuple[Any, int]:
        self.file, _ = self.tar.finish()
        size = self.file.seek(0, 2)
        self.file.seek(0)
        return self.file, size

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
        except APIError:  # absent; or the scratch area is gone with a watchdog that stopped
            continue
        if int(stat.get("size", 0)) > cap or int(stat.get("mode", 0)) & (1 << 31 | 1 << 27):  # folder or symlink
            continue
        data = read_capped(chunks, cap + 1024 * 1024)
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


def read_capped(chunks: Any, budget: int) -> Any:
    """The chunks in a temporary file, rewound; None (nothing kept) past `budget` bytes."""
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


def _remove(container: Any, watchdog: Any, volume: Any) -> None:
    for thing, options in ((container, {"force": True, "v": True}), (watchdog, {"force": True, "v": True}),
                           (volume, {"force": True})):
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

