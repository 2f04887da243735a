"""Issue 11, private paths/hosts, credentials and TorchScript as real packages write them (self-written
fixtures reproducing the forms of docs/research and /work/notes/real_eval.md): what nothing needs to run
is not reported (notebook outputs and metadata, comments, paths inside the package's own container,
version numbers, placeholders, TorchScript's own classes), and for each exemption the hostile variant
that must still be reported."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from security_helpers import GITHUB_TOKEN, of_rule, run_security, zip_with

from validator.core.findings import Finding
from validator.scanners.comments import comment_spans, without_comments
from validator.scanners.secrets import is_placeholder


@pytest.fixture()
def pkg(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    root.mkdir()
    return root


def private(found: list[Finding], file: str | None = None) -> list[Finding]:
    return [f for f in of_rule(found, "MC714") + of_rule(found, "MC715") if file is None or f.file == file]


def code_cell(source: str, outputs: list[dict[str, Any]] | None = None, metadata: dict[str, Any] | None = None,
              ) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": metadata or {},
            "outputs": outputs or [], "source": source.splitlines(keepends=True)}


def write_notebook(path: Path, cells: list[dict[str, Any]], metadata: dict[str, Any] | None = None,
                   indent: int | None = 1) -> None:
    nb = {"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


# -- 1. notebook cell outputs ---------------------------------------------------------------------
def test_paths_in_cell_outputs_are_one_info_note_not_warnings(pkg: Path) -> None:
    warning = {"output_type": "stream", "name": "stderr",
               "text": ["/Users/ben/miniconda3/lib/python3.11/site-packages/x/core.py:12: UserWarning: old\n"]}
    saved = {"output_type": "execute_result", "execution_count": 3, "metadata": {},
             "data": {"text/plain": ["'Model saved to: /home/ben/work/model.pt'"]}}
    error = {"output_type": "error", "ename": "OSError", "evalue": "no file",
             "traceback": ["File /home/ben/work/run.py:3", "OSError"]}
    write_notebook(pkg / "demo.ipynb", [code_cell("import x\n", [warning]), code_cell("save()\n", [saved, error]),
                                        code_cell("print(1)\n")])
    found, _ = run_security(pkg)
    assert private(found) == []
    [note] = of_rule(found, "MC724")
    assert note.severity.value == "info" and note.file == "demo.ipynb"
    assert "cells 1, 2" in note.message and "/Users/ben" in note.message and "/home/ben" in note.message
    assert "clear the outputs" in note.message and note.line is not None


def test_attack_a_path_in_cell_source_is_still_reported_with_its_line(pkg: Path) -> None:
    out = {"output_type": "stream", "name": "stdout", "text": ["reading /Users/ben/Downloads/plot.tif\n"]}
    write_notebook(pkg / "demo.ipynb", [code_cell("import rasterio\nr = rasterio.open('/Users/ben/Downloads/plot.tif')\n",
                                                  [out])])
    found, _ = run_security(pkg)
    [path] = of_rule(found, "MC714")
    assert "cell 1 source" in path.message and "/Users/ben" in path.message
    text = (pkg / "demo.ipynb").read_text(encoding="utf-8").splitlines()
    assert path.line is not None and "rasterio.open" in text[path.line - 1]
    assert len(of_rule(found, "MC724")) == 1


@pytest.mark.parametrize("layout", ["one line", "outputs after source", "duplicate source key", "not JSON"])
def test_attack_notebook_layouts_cannot_hide_a_source_path(pkg: Path, layout: str) -> None:
    cell = code_cell("data = '/home/alice/tiles'\n")
    if layout == "one line":
        write_notebook(pkg / "nb.ipynb", [cell], indent=None)
    elif layout == "outputs after source":
        reordered = {"source": cell["source"], "cell_type": "code", "metadata": {}, "execution_count": 1,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": ["x\n"]}]}
        write_notebook(pkg / "nb.ipynb", [reordered])
    elif layout == "duplicate source key":  # json.loads keeps the last one: which would a reader run?
        (pkg / "nb.ipynb").write_text('{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],\n'
                                      ' "source": ["run(\'/home/alice/tiles\')"],\n "source": ["print(1)"]}],\n'
                                      ' "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n', encoding="utf-8")
    else:
        (pkg / "nb.ipynb").write_text('{"cells": [\n  "data = \'/home/alice/tiles\'"\n', encoding="utf-8")
    found, _ = run_security(pkg)
    assert [f.message for f in of_rule(found, "MC714") if "/home/alice" in f.message], layout


# -- 2. notebook metadata ---------------------------------------------------------------------------
def test_colab_base_uri_and_kernel_paths_in_metadata_are_not_reported(pkg: Path) -> None:
    colab = {"colab": {"base_uri": "https://localhost:8080/", "height": 300}, "outputId": "x1"}
    meta = {"kernelspec": {"name": "env", "display_name": "env", "language": "python",
                           "argv": ["/Users/ben/miniconda3/envs/env/bin/python", "-m", "ipykernel"]},
            "language_info": {"name": "python"}}
    write_notebook(pkg / "colab.ipynb", [code_cell("print(1)\n", metadata=colab)], metadata=meta)
    found, _ = run_security(pkg)
    assert private(found) == [] and of_rule(found, "MC724") == []


def test_attack_a_local_server_in_cell_source_is_still_a_private_host(pkg: Path) -> None:
    write_notebook(pkg / "colab.ipynb", [code_cell("requests.post('http://localhost:8080/predict')\n",
                                                   metadata={"colab": {"base_uri": "https://localhost:8080/"}})])
    found, _ = run_security(pkg)
    [host] = of_rule(found, "MC715")
    assert "cell 1 source" in host.message and "localhost" in host.message


# -- 3. commented-out lines ---------------------------------------------------------------------------
COMMENTED = {
    "train.py": "import os\n# DATA = '/home/alice/tiles'\nx = 1  # was /scratch/alice/run1\n",
    "train.sh": "#!/bin/bash\n# EDIT if you want: export TMPDIR=/scratch\n  # conda activate /home/alice/env\n"
                "python train.py  # on /gpfs/alice\n",
    "Dockerfile": "FROM python:3.12-slim\n# COPY /home/alice/model.onnx /srv/\nRUN pip install numpy\n",
    "config.yaml": "# data_root: /media/alice/disk\nbatch: 4  # /mnt/alice/cache\n",
    "requirements.txt": "# -e /home/alice/src/mylib\nnumpy==2.2.6  # built on /home/alice\n",
    "pyproject.toml": "[tool.x]\n# cache = \"/home/alice/.cache\"\nn = 1 # /scratch/x\n",
    "setup.cfg": "[options]\n# data = /home/alice/data\n; other = /mnt/alice/d\n",
    "example.env": "# MODEL_DIR=/home/alice/models\nLOG_LEVEL=info\n",
}


@pytest.mark.parametrize("name", sorted(COMMENTED))
def test_paths_in_comments_are_not_reported(pkg: Path, name: str) -> None:
    (pkg / name).write_text(COMMENTED[name], encoding="utf-8")
    found, _ = run_security(pkg)
    assert private(found, name) == []


def test_commented_lines_in_a_notebook_code_cell_but_not_in_markdown_or_magics(pkg: Path) -> None:
    markdown = {"cell_type": "markdown", "id": "m", "metadata": {}, "source": ["# Data in /home/alice/tiles\n"]}
    write_notebook(pkg / "nb.ipynb", [code_cell("# root = '/home/bob/tiles'\nprint(1)\n"), markdown,
                                      code_cell("!wget -P /home/carol/data https://example.org/x.tif\n")])
    found, _ = run_security(pkg)
    texts = " ".join(f.message for f in of_rule(found, "MC714"))
    assert "/home/bob" not in texts and "/home/alice" in texts and "/home/carol" in texts


ATTACKS = {
    # a `#` inside a string is not a comment; code before a trailing comment is still code
    "train.py": "url = '#' + '/home/alice/tiles'\nx = '/home/alice/data'  # comment\ns = '''\n# /home/alice/in_string\n'''\n",
    # a heredoc body and a quoted `#` are data; `a#b` is one word, not a comment
    "train.sh": "cat > run.py <<EOF\n# /home/alice/heredoc\nEOF\necho '# /home/alice/quoted'\ncp x a#/home/alice/word\n"
                "echo a\\\n#/home/alice/joined\n",
    "Dockerfile": "FROM python:3.12-slim\nRUN <<EOF\n# /home/alice/heredoc\nEOF\n",
    "config.yaml": "script: |\n  # /home/alice/block\n  run\nq: \"# /home/alice/quoted\"\n",
    "requirements.txt": "mylib @ file:///home/alice/src/mylib#egg=mylib\n",
    "pyproject.toml": "[tool.x]\ns = \"\"\"\n# /home/alice/multiline\n\"\"\"\nq = \"# /home/alice/quoted\"\n",
    "setup.cfg": "[options]\ndata = /home/alice/data # not a comment for configparser\n",
    # python-dotenv ends a line at a lone carriage return: the second line is a real assignment
    "example.env": "# models\rMODEL_DIR=/home/alice/models\n",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_code_that_looks_commented_is_still_reported(pkg: Path, name: str) -> None:
    (pkg / name).write_text(ATTACKS[name], encoding="utf-8")
    found, _ = run_security(pkg)
    expected = ATTACKS[name].count("/home/alice")
    assert len(private(found, name)) == expected, [f.message for f in private(found, name)]


@pytest.mark.parametrize("name,text", [
    ("train.py", "s = '''\n"),  # does not tokenize
    ("train.sh", "echo 'open\n# /home/alice/x\n"),  # a quote left open
    ("pyproject.toml", "a = [\n# /home/alice/x\n"),  # not TOML
    ("config.yaml", "a: [\n# /home/alice/x\n"),  # not YAML
])
def test_attack_a_file_that_cannot_be_read_exactly_keeps_every_line(name: str, text: str) -> None:
    assert without_comments(text, comment_spans(name, text)) == text


def test_a_credential_in_a_comment_is_still_reported(pkg: Path) -> None:
    (pkg / "run.py").write_text(f"# token = {GITHUB_TOKEN}\nprint(1)\n", encoding="utf-8")
    found, _ = run_security(pkg)
    assert [(f.file, f.line) for f in of_rule(found, "MC711")] == [("run.py", 1)]


# -- 4. paths inside the package's own container --------------------------------------------------------
DOCKERFILE = """FROM python:3.12-slim AS runtime
ARG APP=/home/app
WORKDIR /home
RUN useradd -m worker && git clone https://github.com/example/tools.git && mkdir -p /mnt/models/cache
WORKDIR ${APP}
COPY km_run.sh get_data.py /home/
COPY src/ $APP/src/
RUN wget -q https://example.org/w.onnx -O /home/app/weights/w.onnx && ln -s /home/km_run.sh /usr/local/bin/run
ENV HOME=/home/svc
ENTRYPOINT ["/home/km_run.sh"]
"""


def docker_package(pkg: Path, script: str) -> None:
    folder = pkg / "docker"
    (folder / "src").mkdir(parents=True)
    (folder / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
    (folder / "km_run.sh").write_text(script, encoding="utf-8")
    (folder / "get_data.py").write_text("OUT = '/home/app/data/scene.tif'\n", encoding="utf-8")
    (folder / "src" / "main.py").write_text("CFG = '/home/app/src/config.json'\n", encoding="utf-8")


def test_paths_the_dockerfile_creates_are_not_the_authors_machine(pkg: Path) -> None:
    docker_package(pkg, "#!/bin/sh\ncd /home/app && python3 src/main.py\ncp /home/worker/.cfg /home/svc/\n"
                        "ls /home/tools /mnt/models/cache/x /home/get_data.py\n")
    found, _ = run_security(pkg)
    assert private(found) == [], [f.message for f in private(found)]


def test_attack_paths_the_dockerfile_does_not_create_are_still_reported(pkg: Path) -> None:
    docker_package(pkg, "#!/bin/sh\npython3 /home/alice/predict.py\nls /home/app/../alice/x\nls /mnt/data/x\n")
    (pkg / "docker" / "Dockerfile").write_text(DOCKERFILE + "RUN mkdir -p /home/bob/cache\n", encoding="utf-8")
    (pkg / "docker" / "host_only.sh").write_text("cd /home/app\n", encoding="utf-8")  # not copied into the image
    (pkg / "docker" / "more.sh").write_text("cat /home/bob/data.tif\n", encoding="utf-8")
    (pkg / "docker" / "Dockerfile").write_text(DOCKERFILE + "RUN mkdir -p /home/bob/cache\nCOPY more.sh /srv/\n",
                                               encoding="utf-8")
    found, _ = run_security(pkg)
    reported = {(f.file, f.line) for f in of_rule(found, "MC714")}
    assert {("docker/km_run.sh", 2), ("docker/km_run.sh", 3), ("docker/km_run.sh", 4)} <= reported
    assert ("docker/host_only.sh", 1) in reported and ("docker/more.sh", 1) in reported
    assert not any(f.file in ("docker/Dockerfile", "docker/get_data.py") for f in of_rule(found, "MC714"))


def test_attack_a_folder_copied_by_content_does_not_create_its_own_name(pkg: Path) -> None:
    (pkg / "alice").mkdir()
    (pkg / "alice" / "x.txt").write_text("x\n", encoding="utf-8")
    (pkg / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY alice run.sh /home/\n", encoding="utf-8")
    (pkg / "run.sh").write_text("cat /home/alice/Downloads/x.tif\ncat /home/run.sh\n", encoding="utf-8")
    found, _ = run_security(pkg)
    assert [(f.file, f.line) for f in of_rule(found, "MC714")] == [("run.sh", 1)]


# -- 5. version numbers are not IP addresses ----------------------------------------------------------
VERSIONS = {
    "uv.lock": '[[package]]\nname = "nvidia-curand-cu12"\nversion = "10.3.9.90"\n',
    "package.yaml": "name: vad-example\nversion: 0.1.0.0\n",
    "package-lock.json": '{"packages": {"node_modules/x": {"version": "10.3.9.90"}}}\n',
    "Cargo.lock": '[[package]]\nname = "x"\nversion = "1.0.0.1"\n',
    "requirements.txt": "nvidia-curand-cu12==10.3.9.90\ntensorrt>=10.0.0.6\n",
    "config.json": '{"tensorrt_version": "10.0.0.6", "__version__": "10.1.1.1"}\n',
}


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_version_numbers_are_not_private_hosts(pkg: Path, name: str) -> None:
    (pkg / name).write_text(VERSIONS[name], encoding="utf-8")
    found, _ = run_security(pkg)
    assert private(found, name) == []


def test_attack_private_addresses_beside_versions_are_still_reported(pkg: Path) -> None:
    (pkg / "config.yaml").write_text('version: 10.3.9.90\nserver: 10.3.9.90\nhosts: ["192.168.1.4"]\n'
                                     'version_url: "http://10.3.9.90/v"\n', encoding="utf-8")
    found, _ = run_security(pkg)
    assert sorted(f.line or 0 for f in of_rule(found, "MC715")) == [2, 3, 4]


# -- 6. placeholders are not credentials; masked real keys are reported ---------------------------------
def test_placeholders_in_an_example_env_are_not_credentials(pkg: Path) -> None:
    (pkg / "example.env").write_text(
        "AWS_REPOSITORY=YOUR_AWS_ECR_ADDRESS\nAWS_ACCESS_KEY=YOUR_AWS_ACCESS_KEY\nAWS_SECRET_KEY=YOUR_AWS_SECRET_KEY\n"
        "API_TOKEN=<your-token>\nDB_PASSWORD=changeme\nSECRET=xxxx\nPASSWORD=${DB_PASSWORD}\n"
        "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\n", encoding="utf-8")
    (pkg / "README.md").write_text("    docker run -e AWS_SECRET_KEY=YOUR-AWS-SECRET-KEY image\n", encoding="utf-8")
    found, _ = run_security(pkg)
    assert of_rule(found, "MC711") == [] and of_rule(found, "MC712") == []


@pytest.mark.parametrize("value", ["YOUR_s3cr3t_9", "Your_Secret_Key", "hunter2hunter2", "wJalrXUtnFEMIK7MDENGbPxRfiCY2"])
def test_attack_values_that_only_resemble_placeholders_are_reported(pkg: Path, value: str) -> None:
    assert not is_placeholder(value) and not is_placeholder("${DB_PASSWORD:-" + value + "}")
    (pkg / "run.py").write_text(f'password = "{value}"\n', encoding="utf-8")
    found, _ = run_security(pkg)
    assert [f.line for f in of_rule(found, "MC712") + of_rule(found, "MC711")] == [1]


def test_partially_masked_aws_keys_in_an_example_command_are_reported(pkg: Path) -> None:
    access = "A" + "*" * 18 + "F"
    secret = "3" + "*" * 38 + "I"
    (pkg / "README.md").write_text(
        f"# Run\n\n    docker run -e AWS_ACCESS_KEY={access} -e AWS_SECRET_KEY={secret} image:v2\n", encoding="utf-8")
    found, _ = run_security(pkg)
    warnings = of_rule(found, "MC712")
    assert {(f.file, f.line) for f in warnings} == {("README.md", 3)} and len(warnings) == 2
    assert all("partially masked" in f.message and access not in f.message and secret not in f.message for f in warnings)


def test_mostly_visible_masked_key_is_a_credential_and_all_masked_is_a_placeholder(pkg: Path) -> None:
    visible = "AKIA" + "QX7RT2" + "**" + "LMNB5KP9"  # 4 + 16 characters, two masked
    (pkg / "deploy.sh").write_text(f"aws configure set aws_access_key_id {visible}\nK=AKIA{'*' * 16}\n", encoding="utf-8")
    found, _ = run_security(pkg)
    [error] = of_rule(found, "MC711")
    assert error.line == 1 and "partially masked AWS access key id (18 of its 20" in error.message
    assert of_rule(found, "MC712") == []


# -- 7. TorchScript archives ----------------------------------------------------------------------------
def torchscript_zip(path: Path, data_pkl: bytes, code: str = "class Net(Module):\n  pass\n",
                    extra: dict[str, bytes] | None = None) -> Path:
    return zip_with(path, {"net/data.pkl": data_pkl, "net/code/__torch__/model.py": code.encode(),
                           "net/constants.pkl": pickle.dumps((), protocol=2), "net/version": b"3\n", **(extra or {})})


def ts_pickle(*globals_: str) -> bytes:
    """A protocol-2 pickle that names each global (GLOBAL opcodes) in a tuple: never loaded."""
    body = b"".join(b"c" + g.rsplit(".", 1)[0].encode() + b"\n" + g.rsplit(".", 1)[1].encode() + b"\n" for g in globals_)
    return b"\x80\x02(" + body + b"t."


def test_a_real_torchscript_archive_is_named_and_not_an_error(pkg: Path) -> None:
    torch: Any = pytest.importorskip("torch")
    # a scripted module whose classes live in the archive's code/__torch__/ (torch.jit.save's layout)
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.ReLU())),
                   str(pkg / "model.jit"))
    found, _ = run_security(pkg)
    assert of_rule(found, "MC702") == []
    [warning] = of_rule(found, "MC701")
    assert "TorchScript" in warning.message and "torch.jit.load" in warning.message and "code/" in warning.message


def test_torchscript_classes_defined_in_the_archive_are_not_dangerous(pkg: Path) -> None:
    torchscript_zip(pkg / "vad.jit", ts_pickle("__torch__.model.Net", "torch.jit._pickle.build_intlist",
                                               "collections.OrderedDict"))
    found, _ = run_security(pkg)
    assert of_rule(found, "MC702") == [] and len(of_rule(found, "MC701")) == 1


@pytest.mark.parametrize("form", ["os.system beside", "class not in code/", "no code folder", "two roots"])
def test_attack_dangerous_globals_in_a_torchscript_archive_stay_errors(pkg: Path, form: str) -> None:
    if form == "os.system beside":
        torchscript_zip(pkg / "m.jit", ts_pickle("__torch__.model.Net", "os.system"))
        expect = "os.system"
    elif form == "class not in code/":  # named like a TorchScript class, defined nowhere in the archive
        torchscript_zip(pkg / "m.jit", ts_pickle("__torch__.model.Evil"), code="# class Evil(Module)\nclass Net:\n")
        expect = "__torch__.model.Evil"
    elif form == "no code folder":
        zip_with(pkg / "m.pt", {"net/data.pkl": ts_pickle("__torch__.model.Net")})
        expect = "__torch__.model.Net"
    else:
        torchscript_zip(pkg / "m.jit", ts_pickle("__torch__.model.Net"),
                        extra={"other/data.pkl": ts_pickle("__torch__.model.Net")})
        expect = "__torch__.model.Net"
    found, _ = run_security(pkg)
    [error] = of_rule(found, "MC702")
    assert expect in error.message and error.severity.value == "error"


def test_attack_a_placeholder_word_before_a_real_value_in_an_env_file_is_reported(pkg: Path) -> None:
    # docker's --env-file and python-dotenv keep the whole rest of the line as the value
    (pkg / "example.env").write_text("DB_PASSWORD=YOUR_PASSWORD hunter2hunter2\n", encoding="utf-8")
    (pkg / "README.md").write_text("    run -e AWS_SECRET_KEY=YOUR_AWS_SECRET_KEY image\n"
                                   "    export PASSWORD=\"YOUR_PASSWORD q8Zr5Tt2\"\n", encoding="utf-8")
    found, _ = run_security(pkg)
    reported = {(f.file, f.line) for f in of_rule(found, "MC712") + of_rule(found, "MC711")}
    assert reported == {("example.env", 1), ("README.md", 2)}


def test_a_notebook_cell_that_does_not_tokenize_is_read_whole(pkg: Path) -> None:
    write_notebook(pkg / "nb.ipynb", [code_cell("x = (\n# '/home/alice/tiles'\n")])
    found, _ = run_security(pkg)
    assert [f.line for f in of_rule(found, "MC714")] and of_rule(found, "MC001") == []


def test_attack_comments_of_other_kernels_and_unclosed_quotes_are_read(pkg: Path) -> None:
    # an R string may span lines: "# ..." on the second line is its content, not a comment
    write_notebook(pkg / "r.ipynb", [code_cell('x <- "a\n# /home/alice/tiles"\n')],
                   metadata={"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}})
    (pkg / "broken.py").write_text("x = 'a\n# /home/bob/tiles\n", encoding="utf-8")
    found, _ = run_security(pkg)
    assert {f.file for f in of_rule(found, "MC714")} == {"r.ipynb", "broken.py"}
