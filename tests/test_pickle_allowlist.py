"""Issue 9, class 8: pickle imports are judged against an allowlist of what plain tensor and array
data need, not against picklescan's denylist.

Malicious pickles are written opcode by opcode (never by pickling a callable) and never loaded.
The harmless ones are real: torch.save and numpy files generated here, with the torch the test
extra pins. Before this change, distutils.spawn.spawn, torch.load and torch.storage._load_from_bytes
(absent from picklescan's denylist), a STACK_GLOBAL whose module is computed at load time and an
extension-registry import all came out as the MC701 warning "no known-dangerous imports".
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from security_helpers import of_rule, run_security, torch_style_zip

from validator.core.findings import Finding
from validator.scanners.pickles import ALLOWED_GLOBALS

STOP = b"."


def _proto0(module: str, name: str, args: bytes) -> bytes:
    """GLOBAL module name, then `args` (opcodes that leave one tuple), REDUCE, STOP."""
    return f"c{module}\n{name}\n".encode() + args + b"R" + STOP


def _text(value: str) -> bytes:
    """SHORT_BINUNICODE: push a str."""
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _proto4(module: str, name: str, args: bytes) -> bytes:
    """PROTO 4, STACK_GLOBAL on two pushed strings (as pickle.dumps writes it), `args`, REDUCE, STOP."""
    return b"\x80\x04" + _text(module) + _text(name) + b"\x93" + args + b"R" + STOP


ONE_STRING = b"(S'echo pwned'\nt"  # MARK, STRING, TUPLE: ("echo pwned",)
ARGV = b"((S'echo'\nS'pwned'\nlt"  # (["echo", "pwned"],)
PAYLOADS = {
    "distutils.spawn.spawn": _proto0("distutils.spawn", "spawn", ARGV),
    "builtins.eval": _proto0("builtins", "eval", b"(S'1+1'\nt"),
    "os.system": _proto0("os", "system", ONE_STRING),
    "subprocess.Popen": _proto0("subprocess", "Popen", ARGV),
    "runpy._run_code": _proto0("runpy", "_run_code", b"(S'print(1)'\n(dt"),
    "webbrowser.open": _proto0("webbrowser", "open", b"(S'http://127.0.0.1:9/'\nt"),
    "torch.load": _proto0("torch", "load", b"(S'/tmp/other.pt'\nt"),
    # what pickle.dumps(tensor) writes: a nested torch.load(..., weights_only=False) of the bytes
    "torch.storage._load_from_bytes": _proto0("torch.storage", "_load_from_bytes", b"(C\x03abct"),
    "distutils.spawn.spawn (protocol 4)": _proto4("distutils.spawn", "spawn", b"]\x94\x8c\x04echo\x94a\x85\x94"),
}


@pytest.fixture()
def pkg(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    root.mkdir()
    return root


def _error(found: list[Finding], name: str) -> str:
    [error] = of_rule(found, "MC702")
    assert error.severity.value == "error" and error.file == name
    assert not of_rule(found, "MC701")
    return error.message


@pytest.mark.parametrize("label", list(PAYLOADS))
def test_every_import_outside_the_allowlist_is_an_error(pkg: Path, label: str) -> None:
    (pkg / "model.pt").write_bytes(PAYLOADS[label])
    found, results = run_security(pkg)
    message = _error(found, "model.pt")
    assert label.split(" ")[0] in message and "outside the allowlist" in message
    assert results["pickle_files"] == ["model.pt"]


def test_picklescan_denylisted_imports_are_named_as_such(pkg: Path) -> None:
    (pkg / "model.pt").write_bytes(PAYLOADS["os.system"])
    message = _error(run_security(pkg)[0], "model.pt")
    assert "os.system on picklescan's list of dangerous imports" in message


def test_payload_inside_a_torch_zip_checkpoint_names_member_and_import(pkg: Path) -> None:
    torch_style_zip(pkg / "checkpoint.pt", PAYLOADS["distutils.spawn.spawn"])
    message = _error(run_security(pkg)[0], "checkpoint.pt")
    assert "distutils.spawn.spawn" in message and "archive/data.pkl" in message and "torch.save format" in message


def test_payload_as_the_elements_of_a_numpy_object_array(pkg: Path) -> None:
    with open(pkg / "objects.npy", "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        handle.write(PAYLOADS["runpy._run_code"])
    message = _error(run_security(pkg)[0], "objects.npy")
    assert "runpy._run_code" in message and "dtype=object" in message


def test_module_computed_at_load_time_is_an_error(pkg: Path) -> None:
    # _codecs.encode (allowlisted: protocol 2 writes bytes with it) turns "bf" into "os" while loading;
    # STACK_GLOBAL then imports os.system. picklescan cannot resolve that operand: "unknown".
    computed = b"c_codecs\nencode\n(S'bf'\nS'rot13'\ntR"
    (pkg / "model.pt").write_bytes(b"\x80\x04" + computed + b"\x94" + _text("system") + b"\x93" + ONE_STRING + b"R" + STOP)
    message = _error(run_security(pkg)[0], "model.pt")
    assert "unknown.system" in message


def test_memo_slot_refilled_at_load_time_is_an_error(pkg: Path) -> None:
    # memo 0 first holds "torch._utils", then (BINPUT 0 after a REDUCE) the computed "os"
    computed = b"c_codecs\nencode\n(S'bf'\nS'rot13'\ntR"
    data = (b"\x80\x04" + _text("torch._utils") + b"q\x00" + b"0" + computed + b"q\x00" + b"0"
            + b"h\x00" + _text("system") + b"\x93" + ONE_STRING + b"R" + STOP)
    (pkg / "model.pt").write_bytes(data)
    message = _error(run_security(pkg)[0], "model.pt")
    assert "torch._utils.system" not in message and ".system" in message


def test_extension_registry_import_is_an_error(pkg: Path) -> None:
    # EXT1 imports whatever copyreg's extension registry maps code 1 to, naming no module
    (pkg / "model.pt").write_bytes(b"\x80\x02\x82\x01" + ONE_STRING + b"R" + STOP)
    message = _error(run_security(pkg)[0], "model.pt")
    assert "extension code 1" in message


def test_pairs_are_compared_whole(pkg: Path) -> None:
    # the same function as torch._utils._rebuild_tensor_v2, reached by attribute lookup from "torch"
    (pkg / "model.pt").write_bytes(_proto4("torch", "_utils._rebuild_tensor_v2", b")"))
    assert "torch._utils._rebuild_tensor_v2" in _error(run_security(pkg)[0], "model.pt")


# -- real checkpoints and arrays: still pickles (MC701), never an error ------------------------------
def _warning(found: list[Finding], name: str) -> str:
    assert not of_rule(found, "MC702") and not of_rule(found, "MC703"), [f.message for f in found]
    [warning] = of_rule(found, "MC701")
    assert warning.file == name
    return warning.message


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                               torch.nn.Linear(4, 2))


def test_real_state_dict_checkpoint_is_only_a_warning(pkg: Path) -> None:
    torch.save(_model().state_dict(), pkg / "model.pt")
    message = _warning(run_security(pkg)[0], "model.pt")
    assert "torch._utils._rebuild_tensor_v2" in message and "collections.OrderedDict" in message


def test_real_training_checkpoint_with_optimizer_dtypes_parameters_and_arrays(pkg: Path) -> None:
    model = _model()
    checkpoint = {
        "epoch": 3, "model": model.state_dict(), "optimizer": torch.optim.Adam(model.parameters()).state_dict(),
        "parameter": torch.nn.Parameter(torch.ones(2)), "size": torch.Size([2, 3]), "names": {"a", "b"},
        "frozen": frozenset({1}), "raw": bytearray(b"x"), "span": slice(1, 2), "steps": range(3), "z": complex(1, 2),
        "dtypes": {str(d): torch.zeros(2, dtype=d) for d in (torch.float16, torch.bfloat16, torch.float64, torch.int8,
                                                             torch.uint8, torch.int32, torch.int64, torch.bool)},
        "sparse": torch.eye(3).to_sparse(), "counts": collections.Counter("aab"),
        "mean": np.zeros((2, 3), dtype=np.float32), "scalar": np.float64(1.5), "table": np.zeros(2, dtype=[("x", "f4")]),
    }
    torch.save(checkpoint, pkg / "checkpoint.pth")
    torch.save(model.state_dict(), pkg / "legacy.pt", _use_new_zipfile_serialization=False)
    found, _ = run_security(pkg)
    assert not of_rule(found, "MC702") and not of_rule(found, "MC703"), [f.message for f in found]
    assert {f.file for f in of_rule(found, "MC701")} == {"checkpoint.pth", "legacy.pt"}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickled_numpy_arrays_are_only_a_warning(pkg: Path, protocol: int) -> None:
    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float32(2), "b": b"xy", "set": {1}}
    (pkg / "arrays.pkl").write_bytes(pickle.dumps(data, protocol=protocol))
    _warning(run_security(pkg)[0], "arrays.pkl")


def test_plain_pickle_of_a_tensor_is_an_error(pkg: Path) -> None:
    # pickle.dumps(tensor) (not torch.save) stores the data through torch.storage._load_from_bytes,
    # which loads it with torch.load(weights_only=False): the nested load runs whatever it holds
    (pkg / "tensor.pkl").write_bytes(pickle.dumps(torch.ones(2)))
    assert "torch.storage._load_from_bytes" in _error(run_security(pkg)[0], "tensor.pkl")


def test_allowlist_holds_only_data_globals() -> None:
    names = {f"{module}.{name}" for module, name in ALLOWED_GLOBALS}
    for code_runner in ("builtins.eval", "builtins.getattr", "torch.load", "torch.storage._load_from_bytes",
                        "torch._tensor._rebuild_from_type_v2", "copyreg._reconstructor", "collections.defaultdict",
                        "numpy.load", "builtins.object", "__builtin__.apply"):
        assert code_runner not in names
