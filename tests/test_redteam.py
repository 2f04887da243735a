"""Red-team reproductions of holes found in the issue-9 sandbox, each through the real CLI as a user
runs it (`model-check check PKG --env venv`), with real uv and the real bubblewrap sandbox, secrets in
the environment and a checkout whose .git/config holds a token above the package.

Each test failed on the code before its fix (sandbox.py: pyvenv.cfg and argument paths; terminal.py: log_line).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from validator.sandbox.bubblewrap import sandbox_support

pytestmark = pytest.mark.skipif(
    not sandbox_support().hidden_files and os.environ.get("CI") != "true",
    reason="bubblewrap is not usable here: the sandbox cannot hide the host's file system")

GIT_MARKER = "GITMARKER-" + secrets.token_hex(6)
README = "# Tiny\n\nA model.\n"


def _random(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A fake actions/checkout: .git/config with a token (and a marker no redaction knows) above the package."""
    root = tmp_path / "checkout"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text(
        '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hz\n'
        f"# {GIT_MARKER}\n", encoding="utf-8")
    return root


def run_check(pkg: Path, tmp_path: Path) -> tuple[int, str, str]:
    """`model-check check PKG --env venv --json --markdown` in a child process, with secrets in its environment;
    returns (exit code, stdout + stderr, json + markdown)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8", "COLUMNS": "200",
           "GITHUB_TOKEN": "ghp_" + _random(36), "AWS_SECRET_ACCESS_KEY": _random(40)}
    for name in ("UV_CACHE_DIR", "XDG_CACHE_HOME", "PIP_CONFIG_FILE"):
        if name in os.environ:
            env[name] = os.environ[name]
    report, markdown = tmp_path / "r.json", tmp_path / "r.md"
    done = subprocess.run([sys.executable, "-c", "from validator.cli.main import main; raise SystemExit(main())", "check",
                           str(pkg), "--env", "venv", "--cache-dir", str(tmp_path / "envs"), "--json", str(report),
                           "--markdown", str(markdown)],
                          capture_output=True, text=True, env=env, timeout=1200, stdin=subprocess.DEVNULL)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    reports = report.read_text(encoding="utf-8") + markdown.read_text(encoding="utf-8")
    for secret in (env["GITHUB_TOKEN"], env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in done.stdout + done.stderr + reports
    return done.returncode, done.stdout + done.stderr, reports


READ_GIT = """
try:
    print(open({path!r}).read())
except OSError as exc:
    print("blocked", type(exc).__name__)
raise SystemExit(3)
"""


def _wheel(out: Path, name: str, extra: dict[str, bytes]) -> Path:
    """A pure-Python wheel written by hand, with `extra` entries (e.g. in its .data scheme folders)."""
    files = {f"{name}/__init__.py": b"",
             f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
             f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
             **extra}
    record = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
              for p, d in files.items()]
    files[f"{name}-1.0.dist-info/RECORD"] = ("\n".join([*record, f"{name}-1.0.dist-info/RECORD,,"]) + "\n").encode()
    wheel = out / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def test_a_wheel_cannot_bind_a_host_folder_through_pyvenv_cfg(tmp_path: Path, checkout: Path) -> None:
    pkg = checkout / "pkg"
    pkg.mkdir()
    git = checkout / ".git"
    _wheel(pkg, "evilcfg", {"evilcfg-1.0.data/data/pyvenv.cfg":
                            f"home = {git}/bin\ninclude-system-site-packages = false\n".encode()})
    (pkg / "requirements.txt").write_text("numpy==2.4.6\n./evilcfg-1.0-py3-none-any.whl\n", encoding="utf-8")
    (pkg / "inference.py").write_text(READ_GIT.format(path=str(git / "config")), encoding="utf-8")
    (pkg / "README.md").write_text(README, encoding="utf-8")
    _, output, reports = run_check(pkg, tmp_path)
    assert GIT_MARKER not in output + reports
    assert "blocked" in output  # the script ran, and could not read the checkout's .git


def test_the_inference_command_cannot_bind_a_host_folder_through_a_fake_python(tmp_path: Path, checkout: Path) -> None:
    pkg = checkout / "pkg"
    (pkg / "fake" / "bin").mkdir(parents=True)
    (pkg / "fake" / "bin" / "python3").write_text("#!/bin/sh\n", encoding="utf-8")
    (pkg / "fake" / "pyvenv.cfg").write_text(f"home = {checkout / '.git'}/bin\n", encoding="utf-8")
    (pkg / "requirements.txt").write_text("numpy==2.4.6\n", encoding="utf-8")
    (pkg / "inference.py").write_text(READ_GIT.format(path=str(checkout / ".git" / "config")), encoding="utf-8")
    (pkg / "README.md").write_text(README, encoding="utf-8")
    (pkg / "model-check.toml").write_text(
        f'inference-command = "python inference.py {pkg / "fake" / "bin" / "python3"}"\n', encoding="utf-8")
    _, output, reports = run_check(pkg, tmp_path)
    assert GIT_MARKER not in output + reports
    assert "blocked" in output


def test_package_output_cannot_inject_workflow_commands_or_escapes_into_the_console(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "requirements.txt").write_text("numpy==2.4.6\n", encoding="utf-8")
    (pkg / "README.md").write_text(README, encoding="utf-8")
    (pkg / "inference.py").write_text(
        'print("::error title=pwned::injected by the package")\n'
        'print("\\x1b]8;;https://evil.example\\x07click\\x1b]8;;\\x07 \\x1b[2J")\n'
        "raise SystemExit(3)\n", encoding="utf-8")
    _, output, reports = run_check(pkg, tmp_path)
    assert "injected by the package" in output  # the output tail is shown, as it should be
    assert not [line for line in output.splitlines() if line.lstrip().startswith("::")]
    assert "\x1b" not in output and "\x1b" not in reports


def test_a_hostile_package_cannot_hide_private_paths_or_keys_behind_the_issue_11_exemptions(tmp_path: Path) -> None:
    """Through the real CLI (`--env none`): every form the security scan now leaves out (notebook outputs and
    metadata, comments, the package's own container, version keys, placeholders, TorchScript classes) used to
    hide a real private path, host, key or import, plus a model-check.toml asking to switch the rules off."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "README.md").write_text(README + "\n    docker run -e AWS_ACCESS_KEY=AKIAQX7RT2**LMNB5KP9 image\n",
                                   encoding="utf-8")
    (pkg / "model-check.toml").write_text('disable = ["MC714", "MC715", "MC711", "MC702"]\n', encoding="utf-8")
    (pkg / "inference.py").write_text("url = '#' + '/home/alice/tiles'  # /home/alice/old\nversion = '10.0.0.5'\n"
                                      "HOST = '10.0.0.5'\n", encoding="utf-8")
    (pkg / "Dockerfile").write_text("FROM python:3.12-slim\nWORKDIR /home\nRUN mkdir -p /home/bob/cache\n"
                                    "COPY run.sh /home/app/\n", encoding="utf-8")
    (pkg / "run.sh").write_text("python /home/bob/data/x.tif\n", encoding="utf-8")
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {"colab": {"base_uri": "https://localhost:8080/"}},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["/home/carol/out\n"]}],
            "source": ["open('/home/carol/in.tif')\n"], "id": "a"}
    (pkg / "demo.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                                              "nbformat_minor": 5}, indent=1), encoding="utf-8")
    code = b"class Net(Module):\n  pass\n"
    evil = b"\x80\x02(c__torch__.model\nNet\ncos\nsystem\nt."  # GLOBAL opcodes only, never loaded
    with zipfile.ZipFile(pkg / "model.jit", "w") as archive:
        archive.writestr("net/data.pkl", evil)
        archive.writestr("net/constants.pkl", b"\x80\x02).")
        archive.writestr("net/code/__torch__/model.py", code)
    report = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-c", "from validator.cli.main import main; raise SystemExit(main())", "check",
                           str(pkg), "--env", "none", "--json", str(report)], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    found = json.loads(report.read_text(encoding="utf-8"))["findings"]
    where = {(f["rule"], f["file"], f["line"]) for f in found}
    assert ("MC714", "inference.py", 1) in where and ("MC715", "inference.py", 3) in where
    assert ("MC715", "inference.py", 2) not in where  # a version, not a host
    assert ("MC714", "run.sh", 1) in where  # the Dockerfile creates /home/bob/cache, not /home/bob/data
    assert any(f["rule"] == "MC714" and f["file"] == "demo.ipynb" and "cell 1 source" in f["message"] for f in found)
    assert any(f["rule"] == "MC711" and f["file"] == "README.md" for f in found)  # 18 of 20 characters shown
    assert any(f["rule"] == "MC702" and "os.system" in f["message"] for f in found)
    assert any(f["rule"] == "MC003" for f in found)  # the request to switch them off is refused
