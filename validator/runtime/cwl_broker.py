"""The only way from the sandboxed cwltool to the Docker engine: a broker that runs vetted containers.

cwltool, node (its JavaScript expressions) and the CWL document all live in the sandbox, where the
Docker socket is absent. cwltool's `docker` is a shim (cwl_docker_shim.py) that asks this broker,
over a unix socket in the run folder, to do one thing. The broker answers:
- `inspect IMAGE` for the images model-check prepared (built, loaded or found) before the run;
- `build --tag=X DIR` with success only when X was built by model-check from the same Dockerfile;
- `run ...` in cwltool's own form (`--mount=type=bind,source=S,target=T[,readonly]`, `--workdir`,
  `--env`, IMAGE, command), with every source inside the run folder and IMAGE prepared; the
  container then gets model-check's restrictions whatever cwltool asked: no network, read-only
  root, all capabilities dropped, no-new-privileges, user 65534, memory (no swap), CPUs and pids
  limits, a wall clock, labels for clean-up, no cidfile;
- anything else (pull, load, import, other options) is refused and recorded.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from validator.core.redact import redact

MAX_REQUEST = 80 * 1024 * 1024
OUTPUT_CAP = 16 * 1024 * 1024
_PASSED_FLAGS = ("--workdir=", "--env=")
_DROPPED_FLAGS = ("--cidfile=", "--read-only=", "--net=", "--log-driver=", "--user=", "--memory=", "--cpus=",
                  "--shm-size=", "--rm", "-i")


@dataclass
class ContainerRun:
    image: str
    command: list[str]
    returncode: int | None
    duration_s: float


@dataclass
class Broker:
    """Serves one cwltool run; `images` maps each prepared image name to its Dockerfile ("" if not built)."""

    run_dir: Path
    images: Mapping[str, str]
    docker_env: Mapping[str, str]
    labels: Mapping[str, str]
    memory_mb: int
    cpus: float
    pids: int
    deadline: float  # time.monotonic() after which no container runs
    refused: list[str] = field(default_factory=list)
    ran: list[ContainerRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.socket_path = self.run_dir / "broker.sock"
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.socket_path))
        self._server.listen(8)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="cwl-broker", daemon=True)
        self._thread.start()

    def close(self) -> None:
        try:
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()

    # -- serving --------------------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                size = struct.unpack(">Q", _recv(conn, 8))[0]
                if size > MAX_REQUEST:
                    raise ValueError("request too large")
                request = json.loads(_recv(conn, size))
                code, out, err = self.answer([str(a) for a in request["argv"]], str(request.get("stdin", "")),
                                             str(request.get("dockerfile", "")))
            except (OSError, ValueError, KeyError, ConnectionError) as exc:
                code, out, err = 1, "", f"model-check broker: {exc}\n"
            data = json.dumps({"returncode": code, "stdout": out, "stderr": err}).encode()
            try:
                conn.sendall(struct.pack(">Q", len(data)) + data)
            except OSError:
                pass

    def _refuse(self, why: str) -> tuple[int, str, str]:
        with self._lock:
            self.refused.append(why)
        return 1, "", f"model-check refused: {why}\n"

    def answer(self, argv: list[str], stdin: str, dockerfile: str) -> tuple[int, str, str]:
        """(exit code, stdout, stderr), stdout/stderr as latin-1 text of the bytes."""
        verb = argv[0] if argv else ""
        if verb == "inspect" and len(argv) == 2:
            if argv[1] not in self.images:
                return 1, "", f"Error: No such object: {argv[1]}\n"
            done = subprocess.run(["docker", "image", "inspect", argv[1]], capture_output=True,
                                  env=dict(self.docker_env), timeout=60, check=False)
            return done.returncode, done.stdout.decode("latin-1"), done.stderr.decode("latin-1")
        if verb == "build":
            tag = next((a.removeprefix("--tag=") for a in argv if a.startswith("--tag=")), "")
            if self.images.get(tag) and self.images[tag] == dockerfile:
                return 0, "", ""
            return self._refuse(f"a build of {tag or 'an untagged image'} during the run")
        if verb == "run":
            return self._run(argv[1:], stdin)
        return self._refuse(f"`docker {verb}` (only the images prepared before the run are used; nothing is pulled)")

    # -- docker run -----------------------------------------------------------------------------
    def _run(self, args: list[str], stdin: str) -> tuple[int, str, str]:
        root = os.path.realpath(self.run_dir)
        command = ["docker", "run", "-i", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
                   "--security-opt", "no-new-privileges", "--user", "65534:65534", "--log-driver", "none",
                   "--memory", f"{self.memory_mb}m", "--memory-swap", f"{self.memory_mb}m", "--cpus", str(self.cpus),
                   "--pids-limit", str(self.pids), "--ulimit", "core=0",
                   *(f"--label={k}={v}" for k, v in self.labels.items())]
        index = 0
        while index < len(args) and args[index].startswith("-"):
            flag = args[index]
            index += 1
            if flag.startswith("--mount="):
                mount = _mount(flag.removeprefix("--mount="), root)
                if isinstance(mount, str):
                    return self._refuse(mount)
                source, writable = mount
                if writable:
                    _open_up(source)
                command.append(flag)
            elif flag.startswith("--memory=") and flag.removeprefix("--memory=").removesuffix("m").isdigit():
                asked = int(flag.removeprefix("--memory=").removesuffix("m"))  # the tool's ramMin/ramMax, if lower
                command[command.index("--memory") + 1] = command[command.index("--memory-swap") + 1] = \
                    f"{max(64, min(asked, self.memory_mb))}m"
            elif flag.startswith(_PASSED_FLAGS):
                command.append(flag)
            elif flag.startswith(_DROPPED_FLAGS):
                continue
            else:
                return self._refuse(f"the docker run option {flag[:80]}")
        if index >= len(args):
            return self._refuse("a docker run without an image")
        image, rest = args[index], args[index + 1:]
        if image not in self.images:
            return self._refuse(f"a container of {image[:120]}, which model-check did not prepare")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return self._refuse("a container after the run's time limit")
        started = time.monotonic()
        name = f"model-check-cwl-{os.getpid()}-{int(started * 1000)}"
        command += ["--name", name, "--", image, *rest]
        try:
            done = subprocess.run(command, input=stdin.encode("latin-1"), capture_output=True,
                                  env=dict(self.docker_env), timeout=remaining, check=False)
            code: int | None = done.returncode
            out, err = done.stdout[-OUTPUT_CAP:], done.stderr[-OUTPUT_CAP:]
        except subprocess.TimeoutExpired:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, env=dict(self.docker_env),
                           timeout=60, check=False)
            code, out, err = None, b"", b"model-check: the container was stopped at the run's time limit\n"
        with self._lock:
            self.ran.append(ContainerRun(image, [redact(word) for word in rest][:20], code,
                                         time.monotonic() - started))
        return (137 if code is None else code), out.decode("latin-1"), err.decode("latin-1")


def _mount(spec: str, root: str) -> tuple[str, bool] | str:
    """(source, writable) of cwltool's bind mount, or why it is refused."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        fields[key] = value
    if set(fields) - {"type", "source", "target", "readonly"} or fields.get("type") != "bind":
        return f"the mount {spec[:160]}"
    source = os.path.realpath(fields.get("source", ""))
    if os.path.commonpath([source, root]) != root:
        return f"a mount of {fields.get('source', '')[:160]}, outside the run's folder"
    return source, "readonly" not in fields


def _open_up(path: str) -> None:
    """A writable mount is written by the container's user 65534: open the folder (inside the run folder) to it."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o777)
    except OSError:
        pass


def _recv(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(min(1 << 20, size - len(data)))
        if not chunk:
            raise ConnectionError("the shim closed the connection")
        data += chunk
    return data
