"""Whole-tree bounds for one sandboxed run: a child cgroup with a memory and a process limit.

RLIMIT_AS bounds one process: three children of 900 MiB each run at once under a 1 GiB limit. A
cgroup bounds the run: every process the command starts lands in it, the kernel's OOM killer acts
when their sum passes `Limits.memory_mb`, and `pids.max` bounds their number even for root.

Where the machine offers cgroup v2 with the memory and pids controllers delegated to the cgroup
this process is in, one child cgroup there; otherwise, per controller, a child in the cgroup v1
hierarchy of that controller where it is writable (as root it usually is). The child process joins
between fork and exec (`RunCgroup.join`, in preexec_fn: os.open/os.write only); at the end every
process left in it is killed and the cgroup removed.
"""

from __future__ import annotations

import functools
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from validator.sandbox.base import Limits

MIB = 1024 * 1024
CONTROLLERS = ("memory", "pids")
REMOVE_WAIT_S = 3.0  # how long the end of a run waits for killed processes to leave the cgroup
STALE_AFTER_S = 600.0  # a dead process's cgroup older than this is removed at the next start


@dataclass(frozen=True)
class CgroupSupport:
    """Which whole-tree limits this machine's cgroups give a run."""

    version: int = 0  # 2, 1, or 0 when no child cgroup could be made
    memory: bool = False
    pids: bool = False
    problem: str = ""  # why a controller is missing

    def describe(self) -> str:
        held = [name for name, ok in (("memory", self.memory), ("pids", self.pids)) if ok]
        return f"cgroup v{self.version} ({', '.join(held)})" if held else "no cgroup"


@dataclass(frozen=True)
class _Slot:
    path: Path  # the run's cgroup folder
    version: int
    controllers: frozenset[str]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller, and under "" its cgroup v2 path."""
    found = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root, file system type, super options) of the cgroup mounts."""
    found = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        fstype, options = fields[dash + 1], set(fields[dash + 3].split(",")) if len(fields) > dash + 3 else set()
        if fstype in ("cgroup", "cgroup2"):
            found.append((fields[4], fields[3], fstype, options))
    return found


def _under(mount_point: str, root: str, path: str) -> Path | None:
    """The folder of cgroup `path` in a hierarchy mounted at mount_point (showing cgroup `root`)."""
    if root == "/":
        return Path(mount_point + path)
    if path == root or path.startswith(root.rstrip("/") + "/"):
        return Path(mount_point + path[len(root.rstrip("/")):])
    return None


def parent_folders() -> list[tuple[Path, int, frozenset[str]]]:
    """Where a run's child cgroups go: (parent folder, version, controllers it gives its children)."""
    own, mounts = _own_cgroups(), _mounts()
    parents: list[tuple[Path, int, frozenset[str]]] = []
    wanted = set(CONTROLLERS)
    for mount_point, root, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            folder = _under(mount_point, root, own[""])
            enabled = set(_read(folder / "cgroup.subtree_control").split()) if folder else set()
            if folder and enabled & wanted:
                parents.append((folder, 2, frozenset(enabled & wanted)))
                wanted -= enabled
            break
    for name in sorted(wanted):
        for mount_point, root, fstype, options in mounts:
            if fstype == "cgroup" and name in options and name in own:
                folder = _under(mount_point, root, own[name])
                if folder is not None:
                    parents.append((folder, 1, frozenset({name})))
                break
    return parents


def _limit(slot: _Slot, limits: Limits) -> None:
    memory = str(limits.memory_mb * MIB)
    if "memory" in slot.controllers:
        if slot.version == 2:
            _write(slot.path / "memory.max", memory)
            if (slot.path / "memory.swap.max").exists():
                _write(slot.path / "memory.swap.max", "0")
        else:
            _write(slot.path / "memory.limit_in_bytes", memory)
            if (slot.path / "memory.memsw.limit_in_bytes").exists():  # no swap beyond the limit
                _write(slot.path / "memory.memsw.limit_in_bytes", memory)
    if "pids" in slot.controllers:
        _write(slot.path / "pids.max", str(limits.processes))


class RunCgroup:
    """The cgroup(s) of one run; `create` makes them, `close` empties and removes them."""

    def __init__(self, slots: list[_Slot], problem: str = "") -> None:
        self.slots = slots
        self.problem = problem  # why a controller is missing
        self._procs = [str(slot.path / "cgroup.procs") for slot in slots]

    @classmethod
    def create(cls, limits: Limits) -> RunCgroup | str:
        """A new cgroup with the run's limits (memory, pids or both), or why none could be made."""
        name = f"model-check-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        slots: list[_Slot] = []
        problems = []
        for parent, version, controllers in parent_folders():
            slot = _Slot(parent / name, version, controllers)
            try:
                slot.path.mkdir()
            except OSError as exc:
                problems.append(f"cannot create a {'/'.join(sorted(controllers))} cgroup in {parent}: {exc.strerror or exc}")
                continue
            try:
                _limit(slot, limits)
            except OSError as exc:
                problems.append(f"cannot set limits in {slot.path}: {exc.strerror or exc}")
                cls([slot]).close()
                continue
            slots.append(slot)
        if not slots:
            return "; ".join(problems) or "this machine offers no writable memory or pids cgroup"
        return cls(slots, "; ".join(problems))

    @property
    def controllers(self) -> frozenset[str]:
        return frozenset().union(*(slot.controllers for slot in self.slots))

    @property
    def version(self) -> int:
        return max(slot.version for slot in self.slots)

    def join(self) -> None:
        """Move the calling process into the cgroup; runs between fork and exec, so os calls only."""
        for procs in self._procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # "0": the writing process itself
            finally:
                os.close(fd)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer ended a process of this run (read before `close`)."""
        for slot in self.slots:
            if "memory" not in slot.controllers:
                continue
            events = _read(slot.path / ("memory.events" if slot.version == 2 else "memory.oom_control"))
            counts = dict(line.split(maxsplit=1) for line in events.splitlines() if " " in line)
            if "oom_kill" in counts:
                return counts["oom_kill"].strip() not in ("", "0")
            return _read(slot.path / "memory.failcnt").strip() not in ("", "0")  # kernels before 4.13
        return False

    def pids(self) -> set[int]:
        return {int(pid) for slot in self.slots for pid in _read(slot.path / "cgroup.procs").split()}

    def kill_all(self) -> None:
        """SIGKILL every process left in the run's cgroup (daemons, setsid() escapees)."""
        for slot in self.slots:
            if slot.version == 2 and (slot.path / "cgroup.kill").exists():
                try:
                    _write(slot.path / "cgroup.kill", "1")
                except OSError:
                    pass
        deadline = time.monotonic() + REMOVE_WAIT_S
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)

    def close(self) -> None:
        """Kill what is left and remove the cgroup folders; never raises."""
        self.kill_all()
        for slot in self.slots:
            deadline = time.monotonic() + REMOVE_WAIT_S
            while True:
                try:
                    slot.path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until the killed processes have left
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.02)


def remove_stale() -> None:
    """Remove the empty cgroups of model-check processes that died before they could (SIGKILL). Only
    old ones: a run of a process this one cannot see (another PID namespace) is never raced."""
    for parent, _, _ in parent_folders():
        for folder in parent.glob("model-check-*-*"):
            try:
                if time.time() - folder.stat().st_mtime < STALE_AFTER_S:
                    continue
                os.kill(int(folder.name.split("-")[2]), 0)
            except ProcessLookupError:
                try:
                    folder.rmdir()  # refused while processes are left in it
                except OSError:
                    pass
            except (ValueError, OSError):
                pass


@functools.cache
def cgroup_support() -> CgroupSupport:
    """Probe once per run whether a child cgroup with both limits can be made here."""
    remove_stale()
    made = RunCgroup.create(Limits(memory_mb=64, processes=16))
    if isinstance(made, str):
        return CgroupSupport(problem=made)
    try:
        controllers = made.controllers
        missing = [name for name in CONTROLLERS if name not in controllers]
        problem = made.problem or (f"no writable {' or '.join(missing)} cgroup here" if missing else "")
        return CgroupSupport(made.version, "memory" in controllers, "pids" in controllers, problem)
    finally:
        made.close()
