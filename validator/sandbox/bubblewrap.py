"""The sandbox for package code run on the host (venv and conda environments, installs, probes).

Every child gets:
- an allowlisted environment: PATH, LANG, a scratch HOME and TMPDIR, plus what the caller passes,
  minus anything that looks like a secret (GITHUB_*, ACTIONS_*, RUNNER_*, cloud credentials, *TOKEN*…);
- with bubblewrap (`bwrap`), an allowlisted view of the file system: the system's programs and
  libraries (/usr, /lib*, /bin, /sbin), a few files of /etc (the linker's cache, TLS roots, time
  zone, name resolution; a synthetic passwd/group), model-check's own Python prefix and the
  interpreters named in argv read-only, the caller's `readable` paths read-only, and read-write
  only the working folder, a scratch HOME and TMPDIR and the caller's `writable` folders. Home
  folders, .git folders, the host's /tmp, /run, /var (docker.sock) and /etc/shadow do not exist
  in it; /tmp and /dev/shm are private tmpfs bounded by the memory limit. New user, PID, IPC, UTS, cgroup and network
  namespaces (the network is shared only with `Limits.network`, and then a seccomp filter refuses
  new unix sockets: abstract ones belong to the network namespace), no capabilities, no nested
  user namespaces, a new session, and it dies with model-check;
- without bwrap, the older util-linux `unshare` sandbox (the host's file system, read-only but
  readable) or, where namespaces are refused (Docker's seccomp profile), rlimits only;
  `SandboxSupport.weaknesses()` says what is lost, and the report says it (MC353);
- a cgroup per run where the machine allows one (validator.sandbox.cgroup): memory and the
  number of processes bounded for the whole process tree, OOM kills reported as "memory";
- rlimits on address space, CPU time, file size, processes and core dumps per process (the old
  per-namespace pid_max is kept for the unshare fallback only: bwrap drops the capability to set it
  before exec, and the pids cgroup bounds root as well);
- a new session whose whole process group is SIGKILLed at the wall-clock limit;
- stdout and stderr read incrementally into head+tail buffers, so a gigabyte of output costs
  `Limits.output_bytes` of memory; the output is returned as data, unescaped, with secret values
  and token shapes redacted (validator.core.redact) as a second line of defence.
"""

from __future__ import annotations

import functools
import os
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from validator.core.package_paths import SKIPPED_DIRS
from validator.core.redact import SECRET_NAME, redact
from validator.sandbox.base import Completed, Limits
from validator.sandbox.cgroup import CgroupSupport, RunCgroup, cgroup_support
from validator.sandbox.seccomp import unix_socket_filter

__all__ = ["SECRET_NAME", "SandboxSupport", "remove_tree", "run_sandboxed", "sandbox_environment", "sandbox_support",
           "scratch_copy"]

MIB = 1024 * 1024
PID_MAX_FLOOR = 301  # the kernel refuses smaller pid_max values
GRACE_S = 2.0  # how long output is still read after the process ended or was killed
NAMESPACE_FLAGS = ("--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc")

# The system folders programs need, bound read-only (or recreated as the same symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The part of /etc programs need: the dynamic linker, TLS roots, time zone, name resolution.
ETC_ALLOWED = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl/certs", "ssl/openssl.cnf", "ca-certificates",
               "ca-certificates.conf", "pki/tls/certs", "pki/ca-trust/extracted", "alternatives", "localtime",
               "timezone", "nsswitch.conf", "host.conf", "hosts", "gai.conf", "resolv.conf", "protocols", "services",
               "mime.types", "fonts")
# Never bound into the sandbox, nor anything above them: they hold what it hides.
HIDDEN = ("/", "/root", "/home", "/tmp", "/var", "/etc", "/boot", "/mnt", "/media", "/srv", "/opt")
# Nothing below these is ever bound either: sockets, devices, the kernel's views of the host, keys.
NEVER_BELOW = ("/run", "/var/run", "/proc", "/sys", "/dev", "/etc/shadow", "/etc/gshadow", "/etc/shadow-",
               "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d", "/etc/ssl/private", "/etc/ssh")


@dataclass(frozen=True)
class SandboxSupport:
    """What the sandbox can enforce on this machine."""

    namespaces: bool  # user + PID + network namespaces
    pid_limit: bool  # a per-namespace pid_max bounds the process count, even for root (unshare only)
    read_only_root: bool = False  # nothing but the run's folders can be written, capabilities dropped
    problem: str = ""  # why something is missing
    hidden_files: bool = False  # an allowlisted file system view (bubblewrap)
    cgroup: CgroupSupport = field(default_factory=CgroupSupport)  # whole-tree memory / process limits
    nested_userns_blocked: bool = False  # bwrap --disable-userns

    @property
    def mechanism(self) -> str:
        return "bubblewrap" if self.hidden_files else "unshare" if self.namespaces else "rlimits"

    @property
    def network_cut(self) -> bool:
        return self.namespaces

    @property
    def processes_bounded(self) -> bool:
        return self.pid_limit or self.cgroup.pids or os.geteuid() != 0  # RLIMIT_NPROC binds every user but root

    @property
    def tree_memory(self) -> bool:
        return self.cgroup.memory

    def weaknesses(self) -> list[str]:
        """What is not enforced here, as phrases for a warning."""
        missing = []
        if not self.network_cut:
            missing.append("package code is not cut off from the network")
        if not self.hidden_files:
            missing.append("the file system is not isolated: package code can read every file this user can (home "
                           "folders, the workspace's .git, /tmp) and reach unix sockets such as /var/run/docker.sock; "
                           "install bubblewrap (bwrap)")
        if not self.read_only_root:
            missing.append("package code can write outside its scratch folders")
        if not self.processes_bounded:
            missing.append("the number of processes is not bounded (root, with neither a pids cgroup nor a "
                           "per-namespace pid_max)")
        if not self.tree_memory:
            missing.append("memory is bounded per process (RLIMIT_AS), not per process tree")
        if self.hidden_files and unix_socket_filter() is None:
            missing.append("runs allowed the network (installs, packages that declare it) can reach the host's "
                           "abstract unix sockets (no seccomp filter for this architecture)")
        return missing


@functools.cache
def sandbox_support() -> SandboxSupport:
    """Probe once per run what this machine allows, strongest first: bwrap, unshare, rlimits."""
    cgroups = cgroup_support()
    problems = [f"cgroups: {cgroups.problem}"] if cgroups.problem else []
    probe_dir = Path(tempfile.mkdtemp(prefix="model-check-probe-"))
    try:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            problems.append("bubblewrap (bwrap) is not installed")
        else:
            for block_userns in (True, False):
                support = SandboxSupport(True, False, True, "", True, cgroups, block_userns)
                done = _probe(_bwrap_probe_argv(bwrap, support, probe_dir), probe_dir)
                if done.returncode == 0 and (probe_dir / "ok").is_file():
                    return replace(support, problem="; ".join(problems))
                problems.append("bwrap: " + (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1])
        found = _unshare_support(probe_dir, problems)
        return replace(found, problem="; ".join(dict.fromkeys(problems)), cgroup=cgroups)
    finally:
        remove_tree(probe_dir)


def _bwrap_probe_argv(bwrap: str, support: SandboxSupport, probe_dir: Path) -> list[str]:
    for folder in ("home", "tmp"):
        (probe_dir / folder).mkdir(exist_ok=True)
    view = View(probe_dir, probe_dir / "home", probe_dir / "tmp", probe_dir)
    return bwrap_argv(["/bin/sh", "-c", "touch ok"], Limits(memory_mb=64), support, view, bwrap)


def _unshare_support(probe_dir: Path, problems: list[str]) -> SandboxSupport:
    """What util-linux `unshare` (and setpriv, mount) can do here, strongest first."""
    if shutil.which("unshare") is None:
        problems.append("the unshare command (util-linux) is not installed")
        return SandboxSupport(False, False, False)
    can_drop_capabilities = shutil.which("setpriv") is not None
    if not can_drop_capabilities:
        problems.append("util-linux setpriv is not installed, so the file system stays writable")
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
        return candidate
    reason = problems[-1] if problems else "unknown"
    problems.append(f"unshare of user, PID, mount and network namespaces failed here: {reason}")
    return SandboxSupport(False, False, False)


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


# -- the bubblewrap view of the file system ---------------------------------------------------------

def refusal(path: Path) -> str | None:
    """Why `path` must never be bound into the sandbox (it is, or holds, what the sandbox hides), or None."""
    hidden = {Path(p) for p in (*HIDDEN, *NEVER_BELOW)} | {Path.home()}
    for candidate in {Path(os.path.abspath(path)), Path(os.path.realpath(path))}:
        if ".git" in candidate.parts:  # a checkout keeps its token in .git/config
            return f"{candidate} lies in a .git folder"
        if candidate in hidden or candidate.parent == Path("/home") or any(candidate in h.parents for h in hidden):
            return f"{candidate} is, or holds, what the sandbox hides"
        if any(Path(root) in candidate.parents for root in NEVER_BELOW):
            return f"{candidate} lies where the host's sockets, devices or keys live"
    return None


def _covered(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _link_chain(program: str) -> list[Path]:
    """The program's path, each symlink it leads through, and its real path."""
    chain = [Path(os.path.abspath(program))]
    for _ in range(40):
        current = chain[-1]
        if not current.is_symlink():
            break
        chain.append(Path(os.path.normpath(current.parent / os.readlink(current))))
    real = Path(os.path.realpath(program))
    return list(dict.fromkeys([*chain, real]))


def python_prefix(executable: Path) -> Path | None:
    """The installation (or venv) a Python interpreter needs, for `.../bin/python*`; else None."""
    prefix = executable.parent.parent
    if not executable.name.startswith("python") or executable.parent.name != "bin":
        return None
    if (prefix / "pyvenv.cfg").is_file() or any(prefix.glob("lib/python3*")):
        return prefix
    return None


def program_paths(argv: Sequence[str], search_path: str) -> list[Path]:
    """What argv[0] needs to run, read-only: the program (by path, else found on PATH), the symlinks
    it leads through and, for a Python, its installation. Nothing is read from the files it leads to
    (a venv's pyvenv.cfg can be written by a wheel or shipped by the package), and other arguments are
    never bound: they may come from the package. A caller that runs a second interpreter named in the
    arguments (`uv venv --python X`) passes X's installation as `readable` itself."""
    if not argv:
        return []
    first = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0], path=search_path)
    if not first or not os.path.isfile(first):
        return []
    needed: list[Path] = []
    for step in _link_chain(first):
        prefix = python_prefix(step)
        if prefix is not None and refusal(prefix) is None:
            needed.append(prefix)
        elif refusal(step) is None:
            needed.append(step)
    return list(dict.fromkeys(needed))


def own_python() -> list[Path]:
    """model-check's own interpreter installation (probes that parse files with its libraries run it)."""
    found = [Path(sys.base_prefix)]
    prefix = python_prefix(Path(os.path.realpath(sys.executable)))
    if prefix is not None:
        found.append(prefix)
    return [path for path in dict.fromkeys(found) if refusal(path) is None]


@dataclass
class View:
    """What a bubblewrap sandbox sees besides the system folders: the run's folders and the caller's."""

    cwd: Path
    home: Path
    tmp: Path
    etc: Path  # where the synthetic passwd and group files are written
    writable: list[Path] = field(default_factory=list)
    readable: list[Path] = field(default_factory=list)

    def binds(self) -> list[tuple[str, Path]]:
        """("--bind" | "--ro-bind", path) pairs, parents before children so no bind hides another."""
        pairs = [("--bind", path) for path in dict.fromkeys([self.cwd, self.home, self.tmp, *self.writable])]
        writable = [path for _, path in pairs]
        pairs += [("--ro-bind", path) for path in dict.fromkeys(self.readable) if path not in writable]
        return sorted(pairs, key=lambda pair: len(pair[1].parts))


def _etc_files(etc: Path) -> list[str]:
    """A passwd and group naming only this user (bwrap keeps the uid), in the run's scratch folder."""
    uid, gid = os.getuid(), os.getgid()
    name = "root" if uid == 0 else "sandbox"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(f"{name}:x:{uid}:{gid}:{name}:/nonexistent:/bin/sh\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", encoding="utf-8")
    (etc / "group").write_text(f"{name}:x:{gid}:\nnogroup:x:65534:\n", encoding="utf-8")
    return ["--ro-bind", str(etc / "passwd"), "/etc/passwd", "--ro-bind", str(etc / "group"), "/etc/group"]


def _git_masks(paths: Sequence[Path], empty: Path) -> list[str]:
    """Cover a .git folder (or worktree file) at the top of a bound folder: a checkout's token lives in
    .git/config. A symlinked .git is left alone: what it leads to is visible only if bound itself."""
    masks = []
    for path in paths:
        git = path / ".git"
        if git.is_symlink():
            continue
        if git.is_dir():
            masks += ["--ro-bind", str(empty), str(git)]
        elif git.exists():
            masks += ["--ro-bind", "/dev/null", str(git)]
    return masks


def bwrap_argv(argv: Sequence[str], limits: Limits, support: SandboxSupport, view: View, bwrap: str,
               seccomp_fd: int | None = None) -> list[str]:
    """The bubblewrap command line that runs argv in the allowlisted view (with the seccomp filter
    read from `seccomp_fd`, which the child must inherit)."""
    command = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--hostname", "sandbox"]
    if support.nested_userns_blocked:
        command.append("--disable-userns")
    if limits.network:
        command.append("--share-net")
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            command += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            command += ["--ro-bind", folder, folder]
    for name in ETC_ALLOWED:
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    command += _etc_files(view.etc)
    size = str(limits.memory_mb * MIB)
    command += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--size", size,
                "--tmpfs", "/tmp"]
    binds = view.binds()
    for flag, path in binds:
        command += [flag, str(path), str(path)]
    empty = view.etc / "empty"
    empty.mkdir(exist_ok=True)
    command += _git_masks([path for _, path in binds if path.is_dir()], empty)
    command += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", str(view.cwd), "--", *argv]
    return command


# -- the unshare fallback ----------------------------------------------------------------------------

def sandbox_argv(argv: Sequence[str], limits: Limits, support: SandboxSupport, writable: Sequence[Path] = ()) -> list[str]:
    """The command line that runs `argv` inside the namespaces util-linux unshare allows (no bwrap)."""
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


# -- running -------------------------------------------------------------------------------------------

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


def _prepare_child(rlimits: list[tuple[int, tuple[int, int]]], group: RunCgroup | None) -> None:
    """Runs in the child between fork and exec: C calls only, nothing that takes a lock."""
    for which, pair in rlimits:
        resource.setrlimit(which, pair)
    if group is not None:
        group.join()


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


OutputListener = Callable[[str], None]
TAP_LINE_BYTES = 2000


class LineTap(CappedBuffer):
    """A CappedBuffer that also hands each line, as it arrives, to a listener (the progress of a long install).
    The lines are the child's, unredacted: the listener redacts and escapes what it shows."""

    def __init__(self, limit: int, listener: OutputListener) -> None:
        super().__init__(limit)
        self.listener = listener
        self.partial = b""

    def add(self, chunk: bytes) -> None:
        super().add(chunk)
        *lines, partial = (self.partial + chunk).split(b"\n")
        self.partial = partial[-TAP_LINE_BYTES:]
        for line in lines:
            try:
                self.listener(line[:TAP_LINE_BYTES].decode("utf-8", "replace"))
            except Exception:  # showing progress must never end the run
                pass


def run_sandboxed(argv: Sequence[str], cwd: Path, limits: Limits, env_extra: Mapping[str, str] | None = None,
                  writable: Sequence[Path] = (), readable: Sequence[Path] = (),
                  listener: OutputListener | None = None) -> Completed:
    """Run argv in `cwd` inside the sandbox and return what it did; never raises for the child's sake.
    `listener`, when given, gets each line the child prints as it comes (unredacted).

    `cwd`, a scratch HOME and TMPDIR, and the folders in `writable` can be written; `readable`
    paths (files or folders) are seen read-only at the same path, as are the programs argv names
    by absolute path (a Python with its installation). With bubblewrap nothing else of the host is
    visible; where the sandbox can lock the file system, nothing else can be written.
    Raises ValueError when a caller's path would show what the sandbox hides (/, a home folder)."""
    support = sandbox_support()
    for path in (cwd, *writable, *readable):
        reason = refusal(Path(path))
        if reason is not None:
            raise ValueError(f"model-check does not bind {path} into the sandbox: {reason}")
    scratch = Path(tempfile.mkdtemp(prefix="model-check-run-"))
    try:
        home, tmp = scratch / "home", scratch / "tmp"
        home.mkdir()
        tmp.mkdir()
        env = sandbox_environment(home, tmp, env_extra)
        cwd = Path(os.path.abspath(cwd))
        folders = [Path(os.path.abspath(p)) for p in writable if os.path.isdir(p)]
        bwrap = shutil.which("bwrap") if support.hidden_files else None
        filter_fd = _seccomp_fd(scratch) if bwrap and limits.network else None
        try:
            if bwrap:
                seen = [Path(os.path.abspath(p)) for p in readable if os.path.exists(p)]
                covered = [cwd, home, tmp, *folders, *seen, *(Path(d) for d in SYSTEM_DIRS)]
                programs = [p for p in [*own_python(), *program_paths(argv, env["PATH"])] if not _covered(p, covered)]
                view = View(cwd, home, tmp, scratch / "etc", folders, [*programs, *seen])
                command = bwrap_argv(argv, limits, support, view, bwrap, filter_fd)
            else:
                folders = list(dict.fromkeys(p.resolve() for p in (cwd, scratch, *folders)))
                command = sandbox_argv(argv, limits, support, folders)
            done = _run_in_cgroup(tuple(argv), command, cwd, env, limits, support,
                                  () if filter_fd is None else (filter_fd,), listener)
        finally:
            if filter_fd is not None:
                os.close(filter_fd)
        return replace(done, stdout=redact(done.stdout), stderr=redact(done.stderr))
    finally:
        remove_tree(scratch)


def _seccomp_fd(scratch: Path) -> int | None:
    """An open file holding the unix-socket filter for bwrap, or None where none exists for this machine."""
    program = unix_socket_filter()
    if program is None:
        return None
    path = scratch / "unix-sockets.bpf"
    path.write_bytes(program)
    return os.open(path, os.O_RDONLY)


def _run_in_cgroup(argv: tuple[str, ...], command: list[str], cwd: Path, env: dict[str, str], limits: Limits,
                   support: SandboxSupport, pass_fds: tuple[int, ...] = (), listener: OutputListener | None = None) -> Completed:
    isolated = support.network_cut and not limits.network
    if not (support.cgroup.memory or support.cgroup.pids):
        return _run(argv, command, cwd, env, limits, support, None, pass_fds, listener)
    group = RunCgroup.create(limits)
    promised = {name for name, held in (("memory", support.cgroup.memory), ("pids", support.cgroup.pids)) if held}
    if isinstance(group, str) or not promised <= group.controllers:  # run nothing weaker than the report says
        problem = group if isinstance(group, str) else group.problem
        if not isinstance(group, str):
            group.close()
        return Completed(argv, 127, "", f"model-check could not create the run's cgroup: {problem}", 0.0,
                         network_isolated=isolated)
    try:
        return _run(argv, command, cwd, env, limits, support, group, pass_fds, listener)
    finally:
        group.close()


def _run(argv: tuple[str, ...], command: list[str], cwd: Path, env: dict[str, str], limits: Limits,
         support: SandboxSupport, group: RunCgroup | None, pass_fds: tuple[int, ...] = (),
         listener: OutputListener | None = None) -> Completed:
    isolated = support.network_cut and not limits.network
    started = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True, pass_fds=pass_fds,
                                   preexec_fn=functools.partial(_prepare_child, _rlimits(limits), group))
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return Completed(argv, 127, "", f"cannot start {argv[0]}: {reason}", 0.0, network_isolated=isolated)
    assert process.stdout is not None and process.stderr is not None
    out, err = ((CappedBuffer(limits.output_bytes), CappedBuffer(limits.output_bytes)) if listener is None
                else (LineTap(limits.output_bytes, listener), LineTap(limits.output_bytes, listener)))
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
    oom = False
    if group is not None:
        group.kill_all()  # what left the process group (setsid) without a PID namespace to end it
        oom = group.oom_killed()
    stderr = err.text()
    returncode = None if timed_out else process.returncode
    if returncode is not None and support.namespaces and 128 < returncode <= 128 + 64:
        returncode = 128 - returncode  # the namespace init's "killed by signal N" as subprocess reports it
    return Completed(argv, returncode, out.text(), stderr, time.monotonic() - started, timed_out,
                     _killed_by(returncode, timed_out, stderr, oom), isolated)


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


def _killed_by(returncode: int | None, timed_out: bool, stderr: str, oom: bool = False) -> str | None:
    if timed_out:
        return "timeout"
    if returncode is None or returncode == 0:
        return None
    if oom or any(sign in stderr[-20_000:] for sign in _MEMORY_SIGNS):
        return "memory"
    if returncode < 0:
        number = -returncode
        named = {int(signal.SIGXCPU): "cpu time", int(signal.SIGXFSZ): "file size", int(signal.SIGKILL): "signal 9 (SIGKILL)"}
        return named.get(number, f"signal {number}")
    return None


# -- scratch folders -----------------------------------------------------------------------------------

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
