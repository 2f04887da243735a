"""Attacks on the host sandbox (issue 9, classes 3, 4 and 6): package code tries to read the
machine's files, reach its unix sockets, outgrow the memory limit with a process tree, and print
model-check's secrets. Real bubblewrap, real cgroups, real child processes."""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from validator.readers import onnx as onnx_inspect
from validator.readers.package import ModelPackage
from validator.sandbox.base import Limits
from validator.sandbox.bubblewrap import remove_tree, run_sandboxed, sandbox_support, scratch_copy
from validator.sandbox.cgroup import parent_folders

PY = sys.executable
SMALL = Limits(wall_s=60, cpu_s=60, memory_mb=1024, file_size_mb=64, processes=64, output_bytes=100_000)
FAKE_HEADER = "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46ZmFrZS1jaGVja291dC10b2tlbg=="

# Package code: try every path given, print READ <path> <content> or DENIED <path> <reason>.
READER = ("import sys\nfor path in sys.argv[1:]:\n    try:\n        print('READ', path, open(path).read(), flush=True)\n"
          "    except OSError as exc:\n        print('DENIED', path, exc.strerror, flush=True)\n")


def require(condition: bool, reason: str) -> None:
    """Skip where the machine cannot give the promise (the report says so); under CI that is a failure."""
    if not condition:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs this: {reason}")
        pytest.skip(reason)


def needs_bubblewrap() -> None:
    support = sandbox_support()
    require(support.hidden_files, f"no bubblewrap sandbox here: {support.problem}")


@pytest.fixture()
def marker_files(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Secret-looking files where package code must not see them: the home folder, the host /tmp."""
    token = uuid.uuid4().hex
    places = {Path.home() / f".model-check-test-{token}": f"home-secret-{token}",
              Path("/tmp") / f"model-check-test-{token}.txt": f"tmp-secret-{token}"}
    for path, content in places.items():
        path.write_text(content)
    try:
        yield {str(path): content for path, content in places.items()}
    finally:
        for path in places:
            path.unlink(missing_ok=True)


def fake_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A checkout as actions/checkout leaves it (the token in .git/config) with a package inside."""
    checkout = tmp_path / "workspace"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "config").write_text(f'[http "https://github.com/"]\n\textraheader = {FAKE_HEADER}\n')
    pkg = checkout / "model"
    pkg.mkdir()
    (pkg / "inference.py").write_text(READER)
    return checkout, pkg


def test_package_code_cannot_read_home_shadow_git_config_or_host_tmp(tmp_path: Path, marker_files: dict[str, str]) -> None:
    needs_bubblewrap()
    checkout, pkg = fake_checkout(tmp_path)
    shadow = Path("/etc/shadow")
    targets = [*marker_files, str(shadow), str(checkout / ".git" / "config")]
    workdir = scratch_copy(pkg)
    try:
        done = run_sandboxed([PY, "inference.py", *targets], workdir, SMALL)
    finally:
        remove_tree(workdir)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    for path in targets:
        assert f"DENIED {path}" in done.stdout, output
    assert "READ" not in output
    for content in marker_files.values():
        assert content not in output
    assert "extraheader" not in output and FAKE_HEADER.split()[-1] not in output
    if shadow.is_file():
        assert not any(line and line in output for line in shadow.read_text().splitlines())


def test_a_readable_checkout_shows_the_package_but_never_its_git_folder(tmp_path: Path) -> None:
    """A caller that binds a package at the root of a checkout (the ONNX inspector does) hides .git."""
    needs_bubblewrap()
    checkout, pkg = fake_checkout(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    done = run_sandboxed([PY, str(pkg / "inference.py"), str(checkout / ".git" / "config"), str(pkg / "inference.py")],
                         work, SMALL, readable=[checkout])
    assert done.returncode == 0, done.stderr
    assert f"DENIED {checkout / '.git' / 'config'}" in done.stdout
    assert f"READ {pkg / 'inference.py'}" in done.stdout
    assert "extraheader" not in done.stdout


@pytest.mark.parametrize("network", [False, True], ids=["network-cut", "network-allowed"])
def test_unix_sockets_of_the_host_are_unreachable(tmp_path: Path, network: bool) -> None:
    """docker.sock in real life: a path-based socket is outside the view; an abstract one (containerd's
    shim, D-Bus) belongs to the network namespace, so runs that share it cannot create unix sockets."""
    needs_bubblewrap()
    token = uuid.uuid4().hex[:12]
    addresses = [str(Path("/tmp") / f"mc-{token}.sock"), f"@mc-{token}"]
    if os.access("/run", os.W_OK):
        addresses.append(str(Path("/run") / f"mc-{token}.sock"))
    code = ("import socket, sys\nfor address in sys.argv[1:]:\n    try:\n        s = socket.socket(socket.AF_UNIX)\n"
            "        s.connect('\\0' + address[1:] if address.startswith('@') else address)\n        s.sendall(b'hello')\n"
            "        print('CONNECTED', address, flush=True)\n"
            "    except OSError as exc:\n        print('REFUSED', address, exc.strerror, flush=True)\n")
    listeners = []
    try:
        for address in addresses:
            listener = socket.socket(socket.AF_UNIX)
            listener.bind("\0" + address[1:] if address.startswith("@") else address)
            listener.listen(8)
            listener.setblocking(False)
            listeners.append(listener)
        limits = Limits(wall_s=60, memory_mb=1024, processes=64, network=network)
        done = run_sandboxed([PY, "-c", code, *addresses], tmp_path, limits)
        assert done.returncode == 0, done.stderr
        assert "CONNECTED" not in done.stdout
        assert all(f"REFUSED {address}" in done.stdout for address in addresses)
        for listener in listeners:
            with pytest.raises(BlockingIOError):  # nothing waits in the backlog: no connection arrived
                listener.accept()
        # the same listeners take a connection from outside the sandbox: the proof above can fail
        for listener in listeners:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(listener.getsockname())
            connection, _ = listener.accept()
            connection.close()
    finally:
        for listener in listeners:
            listener.close()
        for address in addresses:
            if not address.startswith("@"):
                Path(address).unlink(missing_ok=True)


def test_a_run_with_network_still_reaches_the_network_and_socketpairs(tmp_path: Path) -> None:
    """The unix-socket filter of networked runs leaves TCP and socketpair() alone."""
    needs_bubblewrap()
    code = ("import socket, sys\na, b = socket.socketpair()\na.sendall(b'x')\nprint('pair', b.recv(1))\n"
            "c = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)\nprint('tcp ok')")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        done = run_sandboxed([PY, "-c", code, str(listener.getsockname()[1])], tmp_path,
                             Limits(wall_s=60, memory_mb=1024, processes=64, network=True))
        assert done.returncode == 0, done.stderr
        assert "pair b'x'" in done.stdout and "tcp ok" in done.stdout
        listener.accept()[0].close()


CHILDREN = """
import subprocess, sys
child = "import time\\nblock = b'x' * (600 * 1024 * 1024)\\ntime.sleep(8)\\nprint('child kept its memory', flush=True)"
children = [subprocess.Popen([sys.executable, '-c', child]) for _ in range(3)]
codes = [c.wait() for c in children]
print('children ended with', codes, flush=True)
sys.exit(0 if codes == [0, 0, 0] else 1)
"""


def test_memory_is_bounded_for_the_whole_process_tree(tmp_path: Path) -> None:
    """Three children of 600 MiB each fit a 1 GiB RLIMIT_AS one by one, not together."""
    support = sandbox_support()
    require(support.tree_memory, f"no memory cgroup can be made here: {support.cgroup.problem or support.problem}")
    assert "memory is bounded per process" not in " ".join(support.weaknesses())
    done = run_sandboxed([PY, "-c", CHILDREN], tmp_path, Limits(wall_s=120, cpu_s=120, memory_mb=1024, processes=64))
    assert done.returncode not in (0, None), done.stdout + done.stderr
    assert done.killed_by == "memory"
    assert done.stdout.count("child kept its memory") < 3


def test_the_run_cgroup_is_removed_and_leaves_no_process(tmp_path: Path) -> None:
    support = sandbox_support()
    require(support.cgroup.memory or support.cgroup.pids, f"no cgroup here: {support.cgroup.problem}")
    marker = f"daemon-{uuid.uuid4().hex}"
    code = (f"# {marker}\nimport os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(3600)\n"
            "print('parent done')")
    done = run_sandboxed([PY, "-c", code], tmp_path, SMALL)
    assert done.returncode == 0 and "parent done" in done.stdout
    assert [path for parent, _, _ in parent_folders() for path in parent.glob(f"model-check-{os.getpid()}-*")] == []
    assert not any(marker.encode() in cmdline(pid) for pid in all_pids())


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and int(entry.name) != os.getpid()]


def test_secrets_printed_by_package_code_come_back_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The value never reaches package code through its environment, but through a file it does:
    the output comes back with it cut out, whatever route it took."""
    secret = f"wJalrXUtnFEMI/K7MDENG/{uuid.uuid4().hex}"
    token = "ghs_" + "A1b2C3d4E5" * 4
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "leak.txt").write_text(f"{secret}\nhttps://x-access-token:{token}@github.com/o/r\n")
    code = ("import os, sys\ntext = open('leak.txt').read()\nprint(text)\nprint(text, file=sys.stderr)\n"
            "print('env:', os.environ.get('AWS_SECRET_ACCESS_KEY'))")
    workdir = scratch_copy(pkg)
    try:
        done = run_sandboxed([PY, "-c", code], workdir, SMALL)
    finally:
        remove_tree(workdir)
    assert done.returncode == 0, done.stderr
    for stream in (done.stdout, done.stderr):
        assert secret not in stream and token not in stream
        assert "[REDACTED]" in stream
    assert "env: None" in done.stdout


def test_the_onnx_inspector_runs_without_secrets_or_a_view_of_the_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker_files: dict[str, str]) -> None:
    """The parser of untrusted ONNX files is a child like package code: no inherited environment, and
    only the package (its .git hidden) and model-check's own code to see."""
    needs_bubblewrap()
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_" + "Z9y8X7w6V5" * 4)
    checkout, _ = fake_checkout(tmp_path)
    (checkout / "model.onnx").write_bytes(b"not really onnx")
    hidden = [*marker_files, str(checkout / ".git" / "config"), "/etc/shadow"]
    spy = ("import json, os, sys\n"
           f"seen = [path for path in {hidden!r} + [{str(checkout / 'model.onnx')!r}] if os.path.exists(path)]\n"
           "names = {'token': 'GITHUB_TOKEN' in os.environ, 'path': 'PATH' in os.environ}\n"
           "sys.stderr.write(json.dumps({**names, 'seen': seen}))\nsys.exit(3)")
    monkeypatch.setattr(onnx_inspect, "_BOOT", spy)
    pkg = ModelPackage(checkout)
    try:
        summary = onnx_inspect.inspect_onnx(pkg, "model.onnx")
    finally:
        pkg.close()
    [problem] = summary.problems
    report = json.loads(problem.message.split("status 3: ", 1)[1])
    assert report["token"] is False and report["path"] is True
    assert report["seen"] == [str(checkout / "model.onnx")]  # the package, and nothing it must not see


@pytest.mark.parametrize("path", ["/", str(Path.home()), "/tmp", "/etc/shadow", "/var/run", "/run/docker.sock", "/home/someone"])
def test_callers_cannot_bind_what_the_sandbox_hides(tmp_path: Path, path: str) -> None:
    """A caller's readable/writable path never reopens the view: home folders, /, /tmp, sockets, keys."""
    with pytest.raises(ValueError, match="does not bind"):
        run_sandboxed([PY, "-c", "pass"], tmp_path, SMALL, readable=[Path(path)])
    with pytest.raises(ValueError, match="does not bind"):
        run_sandboxed([PY, "-c", "pass"], tmp_path, SMALL, writable=[Path(path)])
    with pytest.raises(ValueError, match="does not bind"):
        run_sandboxed([PY, "-c", "pass"], Path(path), SMALL)
