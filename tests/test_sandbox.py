"""The sandbox for package code: real child processes, real namespaces, real limits."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import uuid
from pathlib import Path

import pytest

from validator.sandbox.base import Completed, Limits
from validator.sandbox.bubblewrap import (
    CappedBuffer,
    remove_tree,
    run_sandboxed,
    sandbox_support,
    scratch_copy,
)

PY = sys.executable
SMALL = Limits(wall_s=60, cpu_s=60, memory_mb=1024, file_size_mb=64, processes=64, output_bytes=100_000)


def python(code: str, cwd: Path, limits: Limits = SMALL, env: dict[str, str] | None = None) -> Completed:
    return run_sandboxed([PY, "-c", code], cwd, limits, env)


def processes_with(marker: str) -> list[int]:
    """Pids of processes on this machine whose command line contains marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def needs_namespaces() -> None:
    support = sandbox_support()
    if not support.namespaces:
        pytest.skip(f"no user/PID/network namespaces here: {support.problem}")


def test_secrets_are_not_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "RUNNER_TEMP", "AWS_SECRET_ACCESS_KEY", "MY_API_KEY"):
        monkeypatch.setenv(name, "leaked-value")
    done = python("import json, os; print(json.dumps(dict(os.environ)))", tmp_path,
                  env={"EXTRA_SETTING": "kept", "DEPLOY_TOKEN": "leaked-value", "GOOGLE_APPLICATION_CREDENTIALS": "x"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "leaked-value" not in done.stdout
    assert seen["EXTRA_SETTING"] == "kept"
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in seen
    assert seen["HOME"] != os.environ.get("HOME") and seen["TMPDIR"] != os.environ.get("TMPDIR")
    assert not Path(seen["HOME"]).exists()  # the scratch home is gone afterwards


def test_parent_environment_cannot_be_read_through_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs_namespaces()
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_parent_secret")
    code = ("import sys\ntry:\n    print(open(f'/proc/{sys.argv[1]}/environ', 'rb').read())\n"
            "except OSError as exc:\n    print('unreadable', exc)")
    done = run_sandboxed([PY, "-c", code, str(os.getpid())], tmp_path, SMALL)
    assert "ghs_parent_secret" not in done.stdout
    assert "unreadable" in done.stdout


def test_loopback_listener_receives_no_connection(tmp_path: Path) -> None:
    code = ("import socket, sys\ns = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)\n"
            "s.sendall(b'hello')\nprint('connected')")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = str(listener.getsockname()[1])
        done = run_sandboxed([PY, "-c", code, port], tmp_path, SMALL)
        if not sandbox_support().network_cut:
            assert done.network_isolated is False  # the report warns; nothing is claimed
            pytest.skip(f"the network cannot be cut here: {sandbox_support().problem}")
        assert done.network_isolated
        assert done.returncode != 0 and "connected" not in done.stdout
        with pytest.raises(BlockingIOError):  # nothing waits in the backlog: no connection arrived
            listener.accept()
        # the same listener does see a child that is allowed the network: the proof above can fail
        allowed = run_sandboxed([PY, "-c", code, port], tmp_path, Limits(wall_s=60, network=True))
        assert allowed.returncode == 0 and "connected" in allowed.stdout
        assert allowed.network_isolated is False
        connection, _ = listener.accept()
        connection.close()


def test_fork_bomb_is_bounded_and_cleaned_up(tmp_path: Path) -> None:
    support = sandbox_support()
    if not support.processes_bounded:
        pytest.skip("running as root without a per-namespace pid_max: a fork bomb would not be bounded here")
    marker = f"forkbomb-{uuid.uuid4().hex}"
    code = (f"# {marker}\nimport os, sys\nsaid = False\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        if not said:\n            said = True\n            print('fork refused', flush=True)")
    done = python(code, tmp_path, Limits(wall_s=8, cpu_s=60, memory_mb=512, processes=64, output_bytes=10_000))
    assert done.timed_out and done.killed_by == "timeout" and done.returncode is None
    assert "fork refused" in done.stdout  # the limit was reached, and held
    assert processes_with(marker) == []


def test_unbounded_allocation_is_stopped_and_reported(tmp_path: Path) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))"
    done = python(code, tmp_path, Limits(wall_s=60, memory_mb=512))
    assert done.returncode not in (0, None)
    assert done.killed_by == "memory"
    assert "MemoryError" in done.stderr


def test_sleep_forever_is_killed_with_its_escaped_children(tmp_path: Path) -> None:
    marker = f"sleeper-{uuid.uuid4().hex}"
    code = (f"# {marker}\nimport os, time\nif os.fork() == 0:\n    os.setsid()  # leaves the process group\n"
            "    time.sleep(3600)\ntime.sleep(3600)")
    done = python(code, tmp_path, Limits(wall_s=2))
    assert done.timed_out and done.killed_by == "timeout" and done.returncode is None
    if sandbox_support().namespaces:
        assert processes_with(marker) == []  # the PID namespace died with it
    else:
        leftovers = processes_with(marker)
        for pid in leftovers:  # without a PID namespace a setsid() child escapes the group kill
            os.kill(pid, 9)
        pytest.skip("no PID namespace here: only the process group was killed")


def test_closing_output_does_not_escape_the_wall_clock(tmp_path: Path) -> None:
    code = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(3600)"
    done = python(code, tmp_path, Limits(wall_s=2))
    assert done.timed_out and done.killed_by == "timeout"


def test_cpu_time_limit(tmp_path: Path) -> None:
    done = python("while True:\n    pass", tmp_path, Limits(wall_s=120, cpu_s=1))
    assert not done.timed_out
    assert done.killed_by in ("cpu time", "signal 9 (SIGKILL)")


def test_file_size_limit(tmp_path: Path) -> None:
    code = "open('big.bin', 'wb').write(b'x' * (8 * 1024 * 1024))"
    done = python(code, tmp_path, Limits(wall_s=60, file_size_mb=1))
    assert done.returncode != 0
    assert "File too large" in done.stderr


def test_huge_output_is_capped_head_and_tail(tmp_path: Path) -> None:
    total = 200 * 1024 * 1024
    code = ("import sys\nout = sys.stdout.buffer\nout.write(b'BEGIN')\nchunk = b'x' * (1 << 20)\n"
            f"for _ in range({total >> 20}):\n    out.write(chunk)\nout.write(b'END')")
    done = python(code, tmp_path, Limits(wall_s=300, output_bytes=100_000))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("BEGINxxx") and done.stdout.endswith("xxxEND")
    match = re.search(r"\[\.\.\. ([\d,]+) bytes of output dropped", done.stdout)
    assert match, done.stdout[:200]
    dropped = int(match.group(1).replace(",", ""))
    assert dropped == total + len("BEGIN") + len("END") - 100_000
    assert len(done.stdout) < 100_000 + 200


def test_workflow_commands_come_back_as_data(tmp_path: Path) -> None:
    lines = ["::set-output name=verdict::passed", "::error file=x.py::boom", "::stop-commands::abc", "::add-mask::x"]
    done = run_sandboxed([PY, "-c", "import sys\nprint('\\n'.join(sys.argv[1:]))", *lines], tmp_path, SMALL)
    assert done.stdout.splitlines() == lines


def test_only_the_run_folders_are_writable(tmp_path: Path) -> None:
    support = sandbox_support()
    if not support.read_only_root:
        pytest.skip(f"the file system cannot be locked here: {support.problem}")
    work, granted, elsewhere = tmp_path / "work", tmp_path / "granted", tmp_path / "elsewhere"
    for folder in (work, granted, elsewhere):
        folder.mkdir()
    code = ("import os, subprocess, sys\n"
            "subprocess.run(['mount', '-o', 'remount,bind,rw', '/'], capture_output=True)  # undoing the lock fails\n"
            "for path in ('here.txt', os.path.join(os.environ['TMPDIR'], 'tmp.txt'), sys.argv[1], sys.argv[2]):\n"
            "    try:\n        open(path, 'w').write('x')\n        print('wrote', path)\n"
            "    except OSError as exc:\n        print('refused', path, exc.strerror)")
    done = run_sandboxed([PY, "-c", code, str(granted / "ok.txt"), str(elsewhere / "no.txt")], work, SMALL,
                         writable=[granted])
    assert done.returncode == 0, done.stderr
    assert "wrote here.txt" in done.stdout and "tmp.txt" in done.stdout.split("refused")[0]
    assert f"wrote {granted / 'ok.txt'}" in done.stdout
    # bubblewrap does not even show the folder; the unshare fallback shows it read-only
    reason = "No such file or directory" if support.hidden_files else "Read-only file system"
    assert f"refused {elsewhere / 'no.txt'} {reason}" in done.stdout
    assert (work / "here.txt").is_file() and (granted / "ok.txt").is_file()
    assert not (elsewhere / "no.txt").exists()


def test_capped_buffer_keeps_short_output_whole() -> None:
    buffer = CappedBuffer(10)
    buffer.add(b"abc")
    buffer.add(b"de")
    assert buffer.text() == "abcde" and buffer.dropped == 0


def test_scratch_copy_leaves_escapes_out_and_the_original_untouched(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "model.txt").write_text("weights")
    (pkg / "sub" / "link-inside").symlink_to("../model.txt")
    (pkg / "link-out-relative").symlink_to("../outside.txt")
    (pkg / "link-out-absolute").symlink_to(outside)
    (pkg / "link-to-original").symlink_to(pkg / "model.txt")  # absolute: would write through to the original
    os.mkfifo(pkg / "pipe")
    (pkg / ".git").mkdir()
    (pkg / ".git" / "HEAD").write_text("ref")
    copy = scratch_copy(pkg)
    try:
        assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == ["model.txt", "sub", "sub/link-inside"]
        assert (copy / "sub" / "link-inside").read_text() == "weights"
        done = run_sandboxed([PY, "-c", "open('model.txt', 'w').write('changed')"], copy, SMALL)
        assert done.returncode == 0, done.stderr
        assert (copy / "model.txt").read_text() == "changed"
        assert (pkg / "model.txt").read_text() == "weights"
    finally:
        remove_tree(copy)
    assert not copy.exists()


def test_remove_tree_removes_what_the_code_locked(tmp_path: Path) -> None:
    locked = tmp_path / "work"
    (locked / "inner").mkdir(parents=True)
    (locked / "inner" / "file").write_text("x")
    (locked / "inner").chmod(0)
    remove_tree(locked)
    assert not locked.exists()


def test_missing_program_is_a_result_not_an_exception(tmp_path: Path) -> None:
    done = run_sandboxed(["/nonexistent/program"], tmp_path, SMALL)
    assert done.returncode != 0


def test_without_namespaces_it_still_runs_limited_and_says_the_network_is_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where unshare is refused (e.g. Docker's seccomp profile), the command runs with rlimits, the
    allowlisted environment and the wall clock, and reports network_isolated=False."""
    from validator.sandbox import bubblewrap as sandbox
    monkeypatch.setattr(sandbox, "sandbox_support", lambda: sandbox.SandboxSupport(False, False, False, "refused"))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_fallback_secret")
    done = python("import os; print(os.environ.get('GITHUB_TOKEN'))", tmp_path)
    assert done.stdout.strip() == "None" and done.network_isolated is False
    memory = python("b = bytearray(2 * 1024 ** 3)", tmp_path, Limits(wall_s=60, memory_mb=512))
    assert memory.killed_by == "memory" and memory.network_isolated is False
    slept = python("import time; time.sleep(3600)", tmp_path, Limits(wall_s=1))
    assert slept.timed_out and slept.killed_by == "timeout"
    weaknesses = sandbox.SandboxSupport(False, False, False, "refused").weaknesses()
    assert any("network" in w for w in weaknesses) and any("write outside" in w for w in weaknesses)
    assert any("file system is not isolated" in w and "install bubblewrap" in w for w in weaknesses)
    assert "memory is bounded per process (RLIMIT_AS), not per process tree" in weaknesses


def test_without_bubblewrap_the_unshare_fallback_runs_and_says_what_is_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where bwrap is missing, the older unshare sandbox runs the code (network cut, file system
    read-only) and weaknesses() says the file system can be read, for the report (MC353)."""
    from validator.sandbox import bubblewrap as sandbox
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name, *a, **k))
    support = sandbox.sandbox_support.__wrapped__()
    if not support.namespaces:
        pytest.skip(f"unshare is refused here too: {support.problem}")
    assert support.mechanism == "unshare" and not support.hidden_files
    assert "bubblewrap (bwrap) is not installed" in support.problem
    assert any("file system is not isolated" in w for w in support.weaknesses())
    monkeypatch.setattr(sandbox, "sandbox_support", lambda: support)
    done = python("import os; print(os.path.exists('/etc/passwd'), os.path.exists(os.getcwd()))", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]  # the host's file system, as weaknesses() says
