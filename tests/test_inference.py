"""Area inference, for real: inference.py and notebooks run in environments rebuilt by
model-check's venv builder, inside the sandbox, through the runner (report schema checked).

The sandbox's own edge cases (socket, GITHUB_TOKEN, fork bomb, memory) are tested at the sandbox
level (test_sandbox.py); here: a passing run, a raising script, a script that sleeps forever (with
a child process), a network failure with and without the `network` declaration, the command from
model-check.toml, a notebook that passes and one with a failing cell, and the example (slow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import probe_packages as pp
import pytest
from helpers import EXAMPLE, findings, run_static, tree_state

from validator.checks.inference import parse_python_command
from validator.runtime.environments.venv import VenvEnv

AREAS = ("runtime", "inference")


def inference_check(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["area"] == "inference")


def problems(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in findings(report, area="inference") if f["severity"] != "info"]


def test_python_commands_are_parsed_without_a_shell() -> None:
    assert parse_python_command("python inference.py --backend onnx") == ["python", "inference.py", "--backend", "onnx"]
    assert parse_python_command("$ python3 inference.py --input 'my tiles.npy'") == [
        "python", "inference.py", "--input", "my tiles.npy"]
    assert parse_python_command("python -m mypkg.predict") == ["python", "-m", "mypkg.predict"]
    for not_plain in ("python inference.py && rm -rf ~", "python inference.py | tee out", "python -m venv .venv",
                      "python -m pip install -r requirements.txt", "bash run.sh", "python $(whoami).py",
                      "python 'unclosed", "python"):
        assert parse_python_command(not_plain) is None, not_plain


def test_inference_runs_and_the_output_tail_is_recorded(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python)
    before = tree_state(root)
    report = run_static(root, only=AREAS, env="venv")
    assert problems(report) == []
    ran = findings(report, rule="MC970")
    assert len(ran) == 1
    assert "`python inference.py` (the model card's inference command) exited 0" in ran[0]["message"]
    assert "logits [[" in ran[0]["message"]
    assert inference_check(report)["status"] == "passed"
    assert tree_state(root) == before


def test_raising_inference_is_reported_with_the_traceback_tail(tmp_path: Path, light_env: VenvEnv) -> None:
    main = "    raise RuntimeError('weights.bin is missing: download it from the project drive')\n"
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, main=main)
    report = run_static(root, only=AREAS, env="venv")
    failed = findings(report, rule="MC950")
    assert len(failed) == 1
    message = failed[0]["message"]
    assert "exited with status 1" in message and "Traceback (most recent call last)" in message
    assert "RuntimeError: weights.bin is missing" in message
    assert failed[0]["file"] == "inference.py"
    assert inference_check(report)["status"] == "failed"


def test_inference_that_sleeps_forever_is_stopped_and_reported(tmp_path: Path, light_env: VenvEnv) -> None:
    main = ("    import subprocess, time\n"
            "    subprocess.Popen(['sleep', '100000'])\n"  # a child in the same process group
            "    print('sleeping', flush=True)\n"
            "    time.sleep(100000)\n")
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, main=main)
    # 15 s, not less: the output printed before the stop is asserted too, and a loaded machine
    # (load 27 seen) needs seconds to start the sandboxed interpreter.
    report = run_static(root, only=AREAS, env="venv", timeout_s=15.0)
    stopped = findings(report, rule="MC951")
    assert len(stopped) == 1
    assert "was stopped after 15 s" in stopped[0]["message"] and "sleeping" in stopped[0]["message"]


NETWORK_MAIN = ("    import urllib.request\n"
                "    urllib.request.urlopen('http://127.0.0.1:9/', timeout=5)\n")  # loopback only


def test_network_failure_without_declaration_gets_the_hint(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, main=NETWORK_MAIN)
    report = run_static(root, only=AREAS, env="venv")
    hint = findings(report, rule="MC953")
    assert len(hint) == 1
    assert "network = true" in hint[0]["message"] and "urlopen error" in hint[0]["message"]


def test_declared_network_is_said_in_the_report(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, main=NETWORK_MAIN)
    report = run_static(root, only=AREAS, env="venv", network=True)
    assert findings(report, rule="MC953") == []
    failed = findings(report, rule="MC950")  # nothing listens on 127.0.0.1:9
    assert len(failed) == 1 and "with network access (allowed by the caller)" in failed[0]["message"]


def test_command_from_configuration_is_used(tmp_path: Path, light_env: VenvEnv) -> None:
    root = pp.tiny_package(tmp_path / "pkg", light_env.python)
    (root / "other.py").write_text("import sys\nprint('other entry point', sys.argv[1:])\n", encoding="utf-8")
    report = run_static(root, only=AREAS, env="venv", inference_command="python other.py --fast")
    ran = findings(report, rule="MC970")
    assert len(ran) == 1
    assert "`python other.py --fast` (inference-command in model-check.toml)" in ran[0]["message"]
    assert "other entry point ['--fast']" in ran[0]["message"]


def test_notebook_runs(tmp_path: Path, light_env: VenvEnv) -> None:
    cells = ["import numpy as np\nimport inference\nmodel = inference.load_model()",
             "x = np.load('test_data/input_0.npy')\nprint(model(inference.torch.from_numpy(x)).shape)"]
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, notebook=cells)
    report = run_static(root, only=AREAS, env="venv")
    assert problems(report) == []
    ran = findings(report, rule="MC971")
    assert len(ran) == 1 and "example_inference.ipynb ran from start to finish (2 code cells)" in ran[0]["message"]
    assert inference_check(report)["status"] == "passed"


def test_notebook_with_a_failing_cell_names_the_cell(tmp_path: Path, light_env: VenvEnv) -> None:
    cells = ["import inference\nmodel = inference.load_model()",
             "\n# step 2: classify the scene\nraise ValueError('scene.tif not found')",
             "print('never reached')"]
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, notebook=cells)
    report = run_static(root, only=AREAS, env="venv", notebook_timeout_s=120.0)
    failed = findings(report, rule="MC960")
    assert len(failed) == 1, report["findings"]
    message = failed[0]["message"]
    assert "cell 2 (0-based index, the 3rd cell, starting `# step 2: classify the scene`)" in message
    assert "raises ValueError: scene.tif not found" in message
    assert failed[0]["file"] == "example_inference.ipynb"
    assert findings(report, rule="MC970")  # inference.py itself still ran


def test_notebook_cell_timeout_is_reported(tmp_path: Path, light_env: VenvEnv) -> None:
    cells = ["import time\ntime.sleep(100000)"]
    root = pp.tiny_package(tmp_path / "pkg", light_env.python, notebook=cells)
    report = run_static(root, only=AREAS, env="venv", notebook_timeout_s=5.0)
    stopped = findings(report, rule="MC961")
    assert len(stopped) == 1 and "cell 1" in stopped[0]["message"] and "5 s" in stopped[0]["message"]


@pytest.mark.slow
def test_the_example_runs_inference_and_notebook() -> None:
    report = run_static(EXAMPLE, only=AREAS, env="venv")
    assert problems(report) == []
    ran = findings(report, rule="MC970")
    assert len(ran) == 1 and "sample 0:" in ran[0]["message"]
    assert len(findings(report, rule="MC971")) == 1  # the notebook
    assert inference_check(report)["status"] == "passed"


def test_the_notebook_tool_layer_carries_its_bytecode(light_env: VenvEnv) -> None:
    """The client and the kernel import IPython and Jupyter from the read-only layer: compiled once when it is
    built, not in memory on every run."""
    from validator.core.options import Options
    from validator.runtime.tool_layer import notebook_layer

    layer = notebook_layer(str(light_env.python), Options()).path
    assert layer is not None
    sources = {path.stem for path in layer.glob("ipykernel/*.py")}
    compiled = {path.name.split(".")[0] for path in layer.glob("ipykernel/__pycache__/*.pyc")}
    assert sources and sources <= compiled
