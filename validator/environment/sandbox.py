"""The sandbox for package code run on the host (venv and conda environments).

Every child gets:
- an allowlisted environment: PATH, LANG, a scratch HOME and TMPDIR, plus what the caller passes,
  minus anything that looks like a secret (GITHUB_*, ACTIONS_*, RUNNER_*, cloud credentials, *TOKEN*…);
- new user, PID and mount namespaces through util-linux `unshare` (a private /proc, so the
  parent's /proc/<pid>/environ cannot be read; the whole process tree dies with it), plus a new
  network namespace with only a downed loopback unless `Limits.network`; where the kernel refuses,
  the command still runs and `Completed.network_isolated` is False so the report warns;
- inside the namespaces, every mount read-only except the run's own folders (its working copy,
  scratch HOME/TMPDIR, and what the caller names, e.g. the environment's prefix), a private
  /dev/shm, and all capabilities dropped (util-linux setpriv) so the mounts cannot be undone;
- rlimits on address space, CPU time, file size, processes and core dumps, and a per-namespace
  pid_max: RLIMIT_NPROC does not bind root, pid_max does (Linux >= 6.14);
- a new session whose whole process group is SIGKILLed at the wall-clock limit;
- stdout and stderr read incrementally into head+tail buffers, so a gigabyte of output costs
  `Limits.output_bytes` of memory; the output is returned as data, unescaped.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..package import SKIPPED_DIRS
from .base import Completed, Limits

MIB = 1024 * 1024
PID_MAX_FLOOR = 301  # the kernel refuses smaller pid_max values
GRACE_S = 2.0  # how long output is still read after the process ended or was killed

# Variables never passed to package code, whatever the caller asks for.
SECRET_NAME = re.compile(
    r"^(GITHUB_|ACTIONS_|RUNNER_|AWS_|AZURE_|ARM_|GOOGLE_|GCP_|GCLOUD_|CLOUDSDK_|SSH_|GPG_|GH_|NPM_|TWINE_|DOCKER_)"
    r"|TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION",
    re.IGNORECASE,
)
NAMESPACE_FLAGS = ("--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc")


@dataclass(frozen=True)
class SandboxSupport:
    """What the sandbox can enforce on this machine."""

    namespaces: bool  # user + PID + mount (+ network) namespaces
    pid_limit: bool  # a per-namespace pid_max bounds the process count, even for root
    read_only_root: bool = False  # all but the run's folders read-only, capabilities dropped
    problem: str = ""  # why something is missing

    @property
    def network_cut(self) -> bool:
        return self.namespaces

    @property
    def processes_bounded(self) -> bool:
        return self.pid_limit or os.geteuid() != 0  # RLIMIT_NPROC binds every user but root

    def weaknesses(self) -> list[str]:
        """What is not enforced here, as phrases for a warning."""
        missing = []
        if not self.network_cut:
            missing.append("package code is not cut off from the network")
        if not self.processes_bounded:
            missing.append("the number of processes is not bounded (root, and no per-namespace pid_max)")
        if not self.read_only_root:
            missing.append("package code can write outside its scratch folders")
        return missing


@functools.cache
def sandbox_support() -> SandboxSupport:
    """Probe once per run what `unshare` (and setpriv, mount) can do here, strongest first."""
    if shutil.which("unshare") is None:
        return SandboxSupport(False, False, False, "the unshare command (util-linux) is not installed")
    problems = []
    can_drop_capabilities = shutil.which("setpriv") is not None
    if not can_drop_capabilities:
        problems.append("util-linux setpriv is not installed, so the file system stays writable")
    probe_dir = Path(tempfile.mkdtemp(prefix="model-check-probe-"))
    try:
        for candidate in (SandboxSupport(True, True, True), SandboxSupport(True, False, True),
                          SandboxSupport(True, True, False), SandboxSupport(True, False, False)):
            if candidate.read_only_root and not can_drop_capabilities:
                continue
            command = sandbox_argv(["/bin/sh", "-c", "cat /proc/sys/kernel/pid_max && touch ok"],
                                   Limits(processes=PID_MAX_FLOOR), candidate, [probe_dir])
            done = _probe(command, probe_dir)
            if done.returncode != 0:
                problems.append((done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1])
                continue
            if candidate.pid_limit and done.stdout.strip() != str(PID_MAX_FLOOR):
                continue
            if not candidate.pid_limit:
                problems.append("this kernel does not allow a per-namespace pid_max (Linux >= 6.14)")
            return SandboxSupport(True, candidate.pid_limit, candidate.read_only_root, "; ".join(dict.fromkeys(problems)))
    finally:
        remove_tree(probe_dir)
    reason = problems[-1] if problems else "unknown"
    return SandboxSupport(False, False, False, f"unshare of user, PID, mount and network namespaces failed here: {reason}")


def _probe(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    try:
        return subprocess.run(argv, check=False, capture_output=True, text=True, env=env, timeout=30, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 1, "", str(exc))


def sandbox_environment(home: Path, tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted environment of a sandboxed child."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
    }
    for name, value in (extra or {}).items():
        if not SECRET_NAME.search(name):
            env[name] = value
    return env


def sandbox_argv(argv: Sequence[str], limits: Limits, support: SandboxSupport, writable: Sequence[Path] = ()) -> list[str]:
    """The command line that runs `argv` inside the namespaces this machine allows."""
    if not support.namespaces:
        return list(argv)
    prefix = [shutil.which("unshare") or "unshare", *NAMESPACE_FLAGS]
    if not limits.network:
        prefix.append("--net")
    return [*prefix, "--", "/bin/sh", "-c", namespace_script(limits, support, writable), "sh", *argv]


# Every mount point this namespace sees, remounted read-only (paths with spaces are left as they are).
_ALL_READ_ONLY = ('{ while read -r _ _ _ _ point _; do mount -o remount,bind,ro "$point" 2>/dev/null; done '
                  "< /proc/self/mountinfo; true; }")


def namespace_script(limits: Limits, support: SandboxSupport, writable: Sequence[Path]) -> str:
    """The shell script of the namespace's init: set limits, lock the file system, then run "$@" as
    its child (so the command keeps the usual signal semantics, its death by signal N coming back
    as status 128 + N, and orphans are reaped)."""
    steps = []
    if support.pid_limit:
        steps.append(f"echo {max(PID_MAX_FLOOR, limits.processes)} > /proc/sys/kernel/pid_max")
    launch = '"$@"'
    if support.read_only_root:
        steps.append(_ALL_READ_ONLY)
        steps.append(f"mount -t tmpfs -o nosuid,nodev,mode=1777,size={limits.memory_mb}m tmpfs /dev/shm")
        for path in writable:
            quoted = shlex.quote(str(path))
            steps.append(f"mount --bind {quoted} {quoted} && mount -o remount,bind,rw {quoted}")
        steps.append('cd "$PWD"')  # onto the writable mount now covering the working folder
        launch = 'setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"'
    return " && ".join([*steps, launch]) + "; exit $?"


def _rlimits(limits: Limits) -> list[tuple[int, tuple[int, int]]]:
    """The rlimits to set in the child, never above the hard limits this process already has."""
    cpu = int(limits.cpu_s)
    wanted = [
        (resource.RLIMIT_AS, limits.memory_mb * MIB, limits.memory_mb * MIB),
        (resource.RLIMIT_CPU, cpu, cpu + 5),  # SIGXCPU at the soft limit, SIGKILL at the hard one
        (resource.RLIMIT_FSIZE, limits.file_size_mb * MIB, limits.file_size_mb * MIB),
        (resource.RLIMIT_NPROC, limits.processes, limits.processes),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    result = []
    for which, soft, hard in wanted:
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        result.append((which, (soft, hard)))
    return result


def _limit_child(rlimits: list[tuple[int, tuple[int, int]]]) -> None:
    """Runs in the child between fork and exec: C calls only, nothing that takes a lock."""
    for which, pair in rlimits:
        resource.setrlimit(which, pair)


class CappedBuffer:
    """Keeps the first and last `limit / 2` bytes of a stream and counts what it drops."""

    def __init__(self, limit: int) -> None:
        self.head_size = limit // 2
        self.tail_size = limit - self.head_size
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.head_size - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        excess = len(self.tail) - self.tail_size
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        middle = f"\n[... {self.dropped:,} bytes of output dropped by model-check ...]\n" if self.dropped else ""
        return self.head.decode("utf-8", "replace") + middle + self.tail.decode("utf-8", "replace")


def run_sandboxed(argv: Sequence[str], cwd: Path, limits: Limits, env_extra: Mapping[str, str] | None = None,
                  writable: Sequence[Path] = ()) -> Completed:
    """Run argv in `cwd` inside the sandbox and return what it did; never raises for the child's sake.

    `cwd`, a scratch HOME and TMPDIR, and the folders in `writable` can be written; where the
    sandbox can lock the file system, nothing else can."""
    support = sandbox_support()
    scratch = Path(tempfile.mkdtemp(prefix="model-check-run-"))
    try:
        (scratch / "home").mkdir()
        (scratch / "tmp").mkdir()
        env = sandbox_environment(scratch / "home", scratch / "tmp", env_extra)
        folders = [p.resolve() for p in (cwd, scratch, *writable) if p.is_dir()]
        return _run(tuple(argv), sandbox_argv(argv, limits, support, list(dict.fromkeys(folders))), cwd, env, limits, support)
    finally:
        remove_tree(scratch)


def _run(argv: tuple[str, ...], command: list[str], cwd: Path, env: dict[str, str], limits: Limits,
         support: SandboxSupport) -> Completed:
    isolated = support.network_cut and not limits.network
    started = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True,
                                   preexec_fn=functools.partial(_limit_child, _rlimits(limits)))
    except OSError as exc:
        return Completed(argv, 127, "", f"cannot start {argv[0]}: {exc.strerror or exc}", 0.0, network_isolated=isolated)
    assert process.stdout is not None and process.stderr is not None
    out, err = CappedBuffer(limits.output_bytes), CappedBuffer(limits.output_bytes)
    deadline = started + limits.wall_s
    timed_out = _pump(process, {process.stdout.fileno(): out, process.stderr.fileno(): err}, deadline)
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:  # it closed its output but kept running
        timed_out = True
    _kill_group(process.pid)
    process.wait()
    process.stdout.close()
    process.stderr.close()
    stderr = err.text()
    returncode = None if timed_out else process.returncode
    if returncode is not None and support.namespaces and 128 < returncode <= 128 + 64:
        returncode = 128 - returncode  # the init shell's "killed by signal N" as subprocess reports it
    return Completed(argv, returncode, out.text(), stderr, time.monotonic() - started, timed_out,
                     _killed_by(returncode, timed_out, stderr), isolated)


def _pump(process: subprocess.Popen[bytes], buffers: dict[int, CappedBuffer], deadline: float) -> bool:
    """Read both pipes until they close; kill the group at the deadline. True when it timed out."""
    timed_out = False
    grace_end: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd, buffer in buffers.items():
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ, buffer)
        while selector.get_map():
            now = time.monotonic()
            if grace_end is None:
                if now >= deadline:
                    timed_out = True
                    _kill_group(process.pid)
                    grace_end = now + GRACE_S
                elif process.poll() is not None:  # ended; children of it may still hold the pipes
                    _kill_group(process.pid)
                    grace_end = now + GRACE_S
            elif now >= grace_end:
                break
            for key, _ in selector.select(timeout=min(0.2, max(0.0, (grace_end or deadline) - now))):
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fd)
    return timed_out


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_MEMORY_SIGNS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")


def _killed_by(returncode: int | None, timed_out: bool, stderr: str) -> str | None:
    if timed_out:
        return "timeout"
    if returncode is None or returncode == 0:
        return None
    if any(sign in stderr[-20_000:] for sign in _MEMORY_SIGNS):
        return "memory"
    if returncode < 0:
        number = -returncode
        named = {int(signal.SIGXCPU): "cpu time", int(signal.SIGXFSZ): "file size", int(signal.SIGKILL): "signal 9 (SIGKILL)"}
        return named.get(number, f"signal {number}")
    return None


def scratch_copy(src: Path) -> Path:
    """Copy a package into a new temporary folder and return it; the caller removes it (remove_tree).

    Regular files and folders are copied; relative symlinks are kept only when they resolve inside
    the package (so nothing in the copy leads back to the original); other symlinks, FIFOs,
    sockets, devices, unreadable files and tool folders (.git, .venv, …) are left out.
    """
    root = src.resolve()
    dest = Path(tempfile.mkdtemp(prefix="model-check-pkg-"))

    def left_out(directory: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            path = Path(directory, name)
            try:
                mode = path.lstat().st_mode
            except OSError:
                skipped.add(name)
                continue
            if stat.S_ISLNK(mode):
                if os.path.isabs(os.readlink(path)) or not _inside(path.resolve(), root):
                    skipped.add(name)
            elif stat.S_ISDIR(mode):
                if name in SKIPPED_DIRS or not os.access(path, os.R_OK | os.X_OK):
                    skipped.add(name)
            elif not stat.S_ISREG(mode) or not os.access(path, os.R_OK):
                skipped.add(name)
        return skipped

    shutil.copytree(root, dest, symlinks=True, ignore=left_out, dirs_exist_ok=True)
    return dest


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def remove_tree(path: Path) -> None:
    """Remove a folder the sandboxed code may have left read-only; never raises."""

    def make_writable_and_retry(func, target, *_):  # type: ignore[no-untyped-def]
        try:
            os.chmod(os.path.dirname(target), stat.S_IRWXU)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
                shutil.rmtree(target, ignore_errors=True)
            else:
                os.unlink(target)
        except OSError:
            pass

    if not os.path.lexists(path):
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)
