"""Area security (MC701-MC723): pickles found by content and scanned statically, credentials,
private paths and hosts, symlinks out of the package, unsafe archive entries."""

from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers import copy_example, findings, run_static
from security_helpers import (
    AWS_KEY,
    EVIL_PROTO0,
    EVIL_PROTO4,
    GITHUB_TOKEN,
    HARMLESS,
    PASSWORD_URL,
    PRIVATE_KEY_LINE,
    URL_PASSWORD,
    TarMode,
    notebook,
    of_rule,
    run_security,
    tar_with,
    torch_style_zip,
    zip_with,
)

from validator.readers.file_kinds import Kind, kind_of
from validator.scanners import pickles as pickle_scan


@pytest.fixture()
def pkg(tmp_path: Path) -> Path:
    """An empty package folder to put test files in."""
    root = tmp_path / "pkg"
    root.mkdir()
    return root


# -- the example package -------------------------------------------------------------------------
def test_example_package_has_no_security_findings(tmp_path: Path) -> None:
    report = run_static(copy_example(tmp_path / "pkg"), only=["security"])
    assert findings(report, area="security") == []
    record = next(c for c in report["checks"] if c["area"] == "security")
    assert record["status"] == "passed"


# -- pickles, by content -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model.bin", "model.safetensors", "weights.dat", "no_suffix"])
def test_harmless_pickle_is_a_warning_whatever_its_name(pkg: Path, name: str) -> None:
    (pkg / name).write_bytes(HARMLESS)
    found, results = run_security(pkg)
    [warning] = of_rule(found, "MC701")
    assert warning.file == name and "pickle stream" in warning.message
    assert "it imports nothing" in warning.message and "safe" not in warning.message.replace("safetensors", "")
    assert not of_rule(found, "MC702") and not of_rule(found, "MC703")
    assert results["pickle_files"] == [name]


@pytest.mark.parametrize("payload", [EVIL_PROTO0, EVIL_PROTO4], ids=["protocol0", "protocol4"])
@pytest.mark.parametrize("name", ["model.bin", "model.safetensors"])
def test_pickle_with_os_system_is_an_error_naming_the_import(pkg: Path, payload: bytes, name: str) -> None:
    (pkg / name).write_bytes(payload)
    found, _ = run_security(pkg)
    [error] = of_rule(found, "MC702")
    assert error.severity.value == "error" and error.file == name
    assert ("os.system" in error.message) or ("posix.system" in error.message)
    assert not of_rule(found, "MC701")


def test_malicious_pickle_followed_by_garbage_is_reported_dangerous_and_not_fully_scanned(pkg: Path) -> None:
    (pkg / "model.bin").write_bytes(EVIL_PROTO4[:-1] + b"\x00garbage")
    found, _ = run_security(pkg)
    assert "posix.system" in of_rule(found, "MC702")[0].message
    [unscanned] = of_rule(found, "MC703")
    assert "does not parse" in unscanned.message


def test_truncated_pickle_is_reported_as_not_scanned_never_clean(pkg: Path) -> None:
    (pkg / "model.pt").write_bytes(pickle.dumps(list(range(5000)), protocol=4)[:-40])
    found, _ = run_security(pkg)
    [unscanned] = of_rule(found, "MC703")
    assert unscanned.file == "model.pt" and "could not be scanned" in unscanned.message
    [warning] = of_rule(found, "MC701")
    assert "in the part it could read" in warning.message


def test_pickle_longer_than_the_scan_limit_is_not_scanned(pkg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_scan, "SCAN_LIMIT", 100_000)
    (pkg / "big.bin").write_bytes(pickle.dumps(bytes(300_000), protocol=4))
    found, _ = run_security(pkg)
    [unscanned] = of_rule(found, "MC703")
    assert "runs past the first 100,000 bytes" in unscanned.message


def test_torch_style_zip_checkpoint_is_found_by_content(pkg: Path) -> None:
    torch_style_zip(pkg / "weights.safetensors", pickle.dumps({"w": 1}, protocol=2))
    found, _ = run_security(pkg)
    [warning] = of_rule(found, "MC701")
    assert "torch.save format" in warning.message and "archive/data.pkl" in warning.message


def test_malicious_torch_style_zip_names_member_and_import(pkg: Path) -> None:
    torch_style_zip(pkg / "checkpoint.pt", EVIL_PROTO0)
    found, _ = run_security(pkg)
    [error] = of_rule(found, "MC702")
    assert "os.system" in error.message and "archive/data.pkl" in error.message


def test_real_torch_save_checkpoint_lists_its_imports(pkg: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch (test extra) builds a real torch.save checkpoint")
    torch.save({"conv.weight": torch.zeros(2, 2)}, pkg / "model.bin")
    found, _ = run_security(pkg)
    [warning] = of_rule(found, "MC701")
    assert "torch._utils._rebuild_tensor_v2" in warning.message
    assert not of_rule(found, "MC702") and not of_rule(found, "MC703")


def test_numpy_object_arrays_hold_pickles_plain_arrays_do_not(pkg: Path) -> None:
    np.save(pkg / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez(pkg / "mixed.npz", names=np.array(["x", 1], dtype=object))
    np.save(pkg / "plain.npy", np.zeros((2, 3), dtype=np.float32))
    np.savez(pkg / "plain.npz", a=np.arange(4))
    found, results = run_security(pkg)
    warned = {f.file: f.message for f in of_rule(found, "MC701")}
    assert set(warned) == {"objects.npy", "mixed.npz"}
    assert "dtype=object" in warned["objects.npy"] and "names.npy" in warned["mixed.npz"]
    assert sorted(results["pickle_files"]) == ["mixed.npz", "objects.npy"]


def test_zip_member_that_cannot_be_read_is_not_scanned_not_clean(pkg: Path) -> None:
    data = bytearray(zip_with(pkg / "model.pt", {"archive/data.pkl": HARMLESS}).read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # compression method 99 in both headers: unknown to zipfile
        offset = data.find(header) + (8 if header == b"PK\x03\x04" else 10)
        data[offset:offset + 2] = (99).to_bytes(2, "little")
    (pkg / "model.pt").write_bytes(bytes(data))
    found, results = run_security(pkg)
    [unscanned] = of_rule(found, "MC703")
    assert "member archive/data.pkl cannot be read" in unscanned.message
    assert not of_rule(found, "MC701") and results["pickle_files"] == []


def test_gzip_compressed_malicious_pickle(pkg: Path) -> None:
    (pkg / "model.pkl.gz").write_bytes(gzip.compress(EVIL_PROTO0))
    found, _ = run_security(pkg)
    [error] = of_rule(found, "MC702")
    assert "gzip" in error.message and "os.system" in error.message


def test_safetensors_whose_header_length_starts_like_a_pickle_is_not_one() -> None:
    # header length 640 = 0x280: the file starts with 80 02, the PROTO opcode of protocol 2
    head = (640).to_bytes(8, "little") + b'{"__metadata__":{}}'.ljust(640) + b"\x00" * 16
    assert kind_of(head, whole=True) is None
    assert kind_of(HARMLESS, whole=True) is Kind.PICKLE


@pytest.mark.parametrize("text", [
    "torch==2.13.0\nnumpy==2.4.6\nonnx==1.23.2\n",  # the guideline's requirements.txt: TUPLE OBJ LONG_BINPUT DUP STOP
    "torch==2.14.1\ntorchvision==0.29.1\ntimm==1.0.15\n",
    "tqdm\nrasterio>=1.3\n",
    "cirrus\nclear\nthick cloud\n",  # a labels.txt
])
def test_text_that_parses_as_pickle_opcodes_is_not_a_pickle(pkg: Path, text: str) -> None:
    """pickle.load would fail on its first opcode (TUPLE with no MARK): nothing runs, so it is text."""
    (pkg / "requirements.txt").write_text(text, encoding="utf-8")
    (pkg / "model.bin").write_bytes(text.encode())
    found, results = run_security(pkg)
    assert results["pickle_files"] == [] and [f for f in found if f.rule in ("MC701", "MC702")] == []


def test_a_text_pickle_that_runs_a_call_before_breaking_is_still_a_pickle(pkg: Path) -> None:
    """pickle.load runs os.system before it reaches the TUPLE without a MARK: structurally broken, still dangerous."""
    (pkg / "weights.bin").write_bytes(EVIL_PROTO0[:-1] + b"t.")
    found, results = run_security(pkg)
    assert results["pickle_files"] == ["weights.bin"]
    [error] = of_rule(found, "MC702")
    assert "os.system" in error.message


# -- credentials ---------------------------------------------------------------------------------
def test_credentials_in_code_readme_and_notebook_output(pkg: Path) -> None:
    (pkg / "inference.py").write_text(f'import os\nAWS = "{AWS_KEY}"\nURL = "{PASSWORD_URL}"\n', encoding="utf-8")
    (pkg / "README.md").write_text(f"# Model\n\nKey:\n\n    {PRIVATE_KEY_LINE}\n    MIIEabc\n", encoding="utf-8")
    notebook(pkg / "example.ipynb", [("print(1)", "1\n"), ("show_token()", f"token={GITHUB_TOKEN}\n")])
    found, _ = run_security(pkg)
    errors = of_rule(found, "MC711")
    where = {(f.file, f.line) for f in errors}
    assert ("inference.py", 2) in where and ("inference.py", 3) in where and ("README.md", 5) in where
    [in_notebook] = [f for f in errors if f.file == "example.ipynb"]
    nb_lines = (pkg / "example.ipynb").read_text(encoding="utf-8").splitlines()
    assert in_notebook.line is not None
    assert GITHUB_TOKEN in nb_lines[in_notebook.line - 1]
    assert "cell 2 output" in in_notebook.message
    kinds = " ".join(f.message for f in errors)
    assert "AWS Access Key" in kinds and "Basic Auth" in kinds and "Private Key" in kinds and "GitHub Token" in kinds
    for finding in found:  # the secret itself is never printed
        for secret in (AWS_KEY, GITHUB_TOKEN, URL_PASSWORD):
            assert secret not in finding.message


def test_password_assigned_in_code_is_a_possible_credential(pkg: Path) -> None:
    (pkg / "config.py").write_text('db_password = "Tr0ub4dor&3xyz"\n', encoding="utf-8")
    found, _ = run_security(pkg)
    [warning] = of_rule(found, "MC712")
    assert warning.line == 1 and "Tr0ub4dor" not in warning.message


def test_secrets_never_reach_the_json_report(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "pkg")
    with (root / "inference.py").open("a", encoding="utf-8") as handle:
        handle.write(f'\nBACKUP_KEY = "{AWS_KEY}"\n')
    report = run_static(root, only=["security"])
    [error] = findings(report, rule="MC711")
    assert error["file"] == "inference.py"
    assert AWS_KEY not in json.dumps(report)


def test_no_credentials_in_ordinary_code_hashes_and_numbers(pkg: Path) -> None:
    (pkg / "inference.py").write_text(
        'COMMIT = "5d1c2a9e8b7f4306a1c2e3d4f5b6a7980c1d2e3f"\n'
        'SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"\n'
        'password = os.environ["DB_PASSWORD"]\n', encoding="utf-8")
    (pkg / "table.csv").write_text("\n".join("0.5,1.25,-3e-4" for _ in range(100)), encoding="utf-8")
    found, _ = run_security(pkg)
    assert not of_rule(found, "MC711") and not of_rule(found, "MC712")


def test_text_file_that_cannot_be_read_is_reported_as_not_scanned(pkg: Path) -> None:
    (pkg / "notes.txt").write_bytes("caf\xe9 na\xefve".encode("latin-1"))
    (pkg / "weights.raw").write_bytes(os.urandom(64))
    found, _ = run_security(pkg)
    [info] = of_rule(found, "MC713")
    assert info.file == "notes.txt" and "not UTF-8" in info.message


# -- private paths and hosts ---------------------------------------------------------------------
def test_private_paths_and_hosts_in_code_config_notebook_and_requirements(pkg: Path) -> None:
    (pkg / "inference.py").write_text(
        'DATA = "/home/alice/goes/tiles"\n'
        'CACHE = r"C:\\Users\\bob\\cache"\n'
        'API = "http://192.168.1.20:8000/predict"\n'
        'STORE = "file:///scratch/run1/model.pt"\n', encoding="utf-8")
    (pkg / "config.yaml").write_text("db: postgres://reader@db.internal:5432/tiles\nmount: /gpfs/work/goes\n",
                                     encoding="utf-8")
    (pkg / "requirements.txt").write_text("--extra-index-url http://10.0.0.5/simple\nnumpy==2.2.6\n", encoding="utf-8")
    notebook(pkg / "example.ipynb", [("load('/Users/carol/Desktop/x.nc')", None),
                                     ("run()", "Serving on http://localhost:8888/tree\n")])
    found, _ = run_security(pkg)
    paths = {(f.file, f.line) for f in of_rule(found, "MC714")}
    hosts = {(f.file, f.line) for f in of_rule(found, "MC715")}
    assert {("inference.py", 1), ("inference.py", 2), ("inference.py", 4), ("config.yaml", 2)} <= paths
    assert {("inference.py", 3), ("config.yaml", 1), ("requirements.txt", 1)} <= hosts
    notebook_paths = [f for f in of_rule(found, "MC714") if f.file == "example.ipynb"]
    notebook_hosts = [f for f in of_rule(found, "MC715") if f.file == "example.ipynb"]
    assert "cell 1 source" in notebook_paths[0].message and "/Users/carol" in notebook_paths[0].message
    # a host printed in a cell OUTPUT is not needed to run: one info note per notebook instead of MC715
    assert notebook_hosts == []
    [note] = of_rule(found, "MC724")
    assert note.file == "example.ipynb" and "cell 2" in note.message and "localhost" in note.message
    assert note.severity.value == "info"
    assert all(f.severity.value == "warning" for f in of_rule(found, "MC714") + of_rule(found, "MC715"))


def test_public_urls_version_pins_and_prose_are_not_private(pkg: Path) -> None:
    (pkg / "inference.py").write_text(
        'URL = "https://example.org/home/alice/data.nc"\n'
        'import threading\nLOCAL = threading.local()\n'
        'HERE = Path(__file__).parent / "model.onnx"\n'
        'BIND = "0.0.0.0"\n', encoding="utf-8")
    (pkg / "requirements.txt").write_text("nvidia-curand==10.4.0.35\ncuda-toolkit==13.0.3.0\n", encoding="utf-8")
    (pkg / "README.md").write_text("Trained on /scratch/alice at http://localhost:8888\n", encoding="utf-8")
    found, _ = run_security(pkg)
    assert not of_rule(found, "MC714") and not of_rule(found, "MC715")


# -- symlinks ------------------------------------------------------------------------------------
def test_symlink_out_of_the_package_is_an_error(pkg: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the package", encoding="utf-8")
    os.symlink(outside, pkg / "data.txt")
    os.symlink("../secret.txt", pkg / "relative.txt")
    (pkg / "labels.json").write_text("[]", encoding="utf-8")
    os.symlink("labels.json", pkg / "classes.json")
    found, _ = run_security(pkg)
    assert {f.file for f in of_rule(found, "MC721")} == {"data.txt", "relative.txt"}
    assert all("outside the package" in f.message for f in of_rule(found, "MC721"))


# -- archives ------------------------------------------------------------------------------------
def test_zip_slip_entries_are_errors(pkg: Path) -> None:
    zip_with(pkg / "test_data.zip", {"ok/a.npy": b"x", "../../evil.sh": b"x", "/etc/cron.d/x": b"x",
                                     "C:/Windows/x.dll": b"x"}, symlinks={"ok/link": "../../../../etc/passwd"})
    found, results = run_security(pkg)
    unsafe = of_rule(found, "MC722")
    assert all(f.file == "test_data.zip" and "zip-slip" in f.message for f in unsafe)
    messages = " ".join(f.message for f in unsafe)
    assert "'../../evil.sh'" in messages and "'/etc/cron.d/x'" in messages and "'C:/Windows/x.dll'" in messages
    assert "'ok/link'" in messages and "symlink" in messages
    assert "'ok/a.npy'" not in messages
    assert results["archives"] == ["test_data.zip"]


@pytest.mark.parametrize("mode,name", [("w", "data.tar"), ("w:gz", "data.tar.gz"), ("w:xz", "data.bin")])
def test_tar_slip_entries_links_and_devices_are_errors(pkg: Path, mode: TarMode, name: str) -> None:
    tar_with(pkg / name, {"fine/x.txt": b"x", "../outside.txt": b"x"},
             symlinks={"fine/link": "/etc/passwd", "fine/inner": "x.txt"}, mode=mode, devices=("fine/dev",))
    found, _ = run_security(pkg)
    messages = {f.message.split("entry ")[1].split(" is unsafe")[0]: f.message for f in of_rule(found, "MC722")}
    assert set(messages) == {"'../outside.txt'", "'fine/link'", "'fine/dev'"}
    assert "absolute path '/etc/passwd'" in messages["'fine/link'"]
    assert "device" in messages["'fine/dev'"]


def test_safe_archives_pass(pkg: Path) -> None:
    zip_with(pkg / "samples.zip", {"samples/a.npy": b"x", "samples/b.npy": b"y"}, symlinks={"samples/c": "a.npy"})
    tar_with(pkg / "samples.tar.gz", {"samples/a.txt": b"x"}, mode="w:gz")
    found, _ = run_security(pkg)
    assert found == []


def test_damaged_archive_is_reported_as_not_checked(pkg: Path) -> None:
    data = zip_with(pkg / "whole.zip", {"a.txt": b"hello" * 100}).read_bytes()
    (pkg / "whole.zip").unlink()
    (pkg / "broken.zip").write_bytes(data[: len(data) // 2])
    found, _ = run_security(pkg)
    [unchecked] = of_rule(found, "MC723")
    assert unchecked.file == "broken.zip" and "not fully checked" in unchecked.message
