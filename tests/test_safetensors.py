"""Area safetensors: the format invariants (validator.readers.safetensors) and the check's findings."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors_helpers import (
    FULL_METADATA,
    entry,
    frame,
    make_package,
    minimal_package,
    split,
    valid_bytes,
    valid_tensors,
    write_big_header,
    write_valid,
)

from validator.checks.base import Skip
from validator.checks.safetensors import SafetensorsCheck
from validator.cli.main import main
from validator.core.options import Options
from validator.core.report import validate_report
from validator.readers.package import ModelPackage
from validator.readers.safetensors import (
    DTYPE_BITS,
    ENTRY_FIELDS,
    MAX_PROBLEMS_PER_KIND,
    _Problems,
    _read_entry,
    _read_offsets,
    _well_formed_entry,
    read_header,
)

F32x2 = entry("F32", [2], 0, 8)


def check_cli(root: Path, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    code = main(["check", str(root), "--env", "none", "--json", str(out), "--quiet"])
    report = json.loads(out.read_text())
    validate_report(report)
    return code, report


def safetensors_findings(report: dict[str, Any], rule: str | None = None) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["area"] == "safetensors" and rule in (None, f["rule"])]


def run_check(root: Path) -> tuple[list[Any], ModelPackage]:
    pkg = ModelPackage(root)
    try:
        result = SafetensorsCheck().run(pkg, Options(env="none"))
        assert not isinstance(result, Skip)
        return list(result), pkg
    finally:
        pkg.close()


def _pickle() -> bytes:
    return pickle.dumps({"weight": [1.0, 2.0]}, protocol=2)


def _zip() -> bytes:  # the layout of a torch.save checkpoint: archive/data.pkl and friends
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", _pickle())
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


def _trailing(tmp_path: Path) -> bytes:
    return write_valid(tmp_path / "v.safetensors").read_bytes() + _zip()


# (id, file content, expected rule, a fragment of the message)
MALFORMED: list[tuple[str, Callable[[Path], bytes], str, str]] = [
    ("empty", lambda _: b"", "MC401", "is empty"),
    ("seven-bytes", lambda _: b"\x02\x00\x00\x00\x00\x00\x00", "MC401", "shorter than the 8-byte"),
    ("length-2^64-1", lambda _: frame(b"{}", length=2**64 - 1), "MC401", "at most 100,000,000"),
    ("length-past-eof", lambda _: frame(b"{}", length=4096), "MC401", "past the end of the file"),
    ("length-100000001", lambda _: frame(b"{}", length=100_000_001), "MC401", "100,000,001 bytes"),
    ("non-utf8", lambda _: frame(b'{"w\xff\xfe":{}}'), "MC403", "not valid UTF-8"),
    ("bom", lambda _: frame(b"\xef\xbb\xbf{}"), "MC403", "byte-order mark"),
    ("array", lambda _: frame(b"[]      "), "MC403", "starting with '{'"),
    ("leading-space", lambda _: frame(b"  {}    "), "MC403", "starting with '{'"),
    ("truncated-json", lambda _: frame(b'{"w":{"dtype":"F32","sha'), "MC403", "not valid JSON"),
    ("text-after-json", lambda _: frame(b"{}\n{}    "), "MC403", "space padding"),
    ("nan", lambda _: frame(b'{"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,4]}}', b"\0" * 4), "MC403", "NaN"),
    ("infinity", lambda _: frame(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,Infinity]}}'), "MC403",
     "Infinity"),
    ("deep-nesting", lambda _: frame('{"w":' + "[" * 200_000 + "]" * 200_000 + "}"), "MC403", "nested too deeply"),
    ("duplicate-tensor", lambda _: frame('{"w":' + json.dumps(entry("F32", [1], 0, 4)) + ',"w":'
                                         + json.dumps(entry("F32", [1], 4, 8)) + "}", b"\0" * 8),
     "MC403", "repeats the key 'w'"),
    ("metadata-int", lambda _: frame({"__metadata__": {"epochs": 10}, "w": F32x2}, b"\0" * 8), "MC407",
     "['epochs'] is a number"),
    ("metadata-list", lambda _: frame({"__metadata__": ["a"], "w": F32x2}, b"\0" * 8), "MC407", "it is a list"),
    ("unknown-dtype", lambda _: frame({"w": entry("F128", [2], 0, 32)}, b"\0" * 32), "MC404", "dtype 'F128'"),
    ("dtype-not-string", lambda _: frame({"w": entry(4, [2], 0, 8)}, b"\0" * 8), "MC404", "dtype a number"),
    ("shape-negative", lambda _: frame({"w": entry("F32", [-2], 0, 8)}, b"\0" * 8), "MC404", "non-negative"),
    ("shape-bool", lambda _: frame({"w": entry("F32", [True], 0, 4)}, b"\0" * 4), "MC404", "non-negative"),
    ("shape-overflow", lambda _: frame({"w": entry("F32", [2**32, 2**32, 2], 0, 8)}, b"\0" * 8), "MC404",
     "overflows a 64-bit"),
    ("span-mismatch", lambda _: frame({"w": entry("F32", [3], 0, 8)}, b"\0" * 8), "MC404", "needs 12"),
    ("sub-byte-misaligned", lambda _: frame({"w": entry("F4", [3], 0, 1)}, b"\0"), "MC404", "whole bytes"),
    ("missing-field", lambda _: frame({"w": {"dtype": "F32", "shape": [2]}}), "MC404", "lacks data_offsets"),
    ("unknown-field", lambda _: frame({"w": {**F32x2, "url": "x"}}, b"\0" * 8), "MC404", "unknown fields 'url'"),
    ("entry-not-object", lambda _: frame({"w": [1, 2]}), "MC404", "it is a list"),
    ("offsets-negative", lambda _: frame({"w": entry("F32", [1], -4, 0)}, b"\0" * 4), "MC405", "non-negative"),
    ("offsets-reversed", lambda _: frame({"w": entry("F32", [1], 8, 4)}, b"\0" * 8), "MC405", "end before they begin"),
    ("offsets-three", lambda _: frame({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1, 2]}}, b"\0"),
     "MC405", "[begin, end]"),
    ("offsets-gap", lambda _: frame({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, b"\0" * 12),
     "MC405", "gap of 4 bytes"),
    ("offsets-overlap", lambda _: frame({"a": F32x2, "b": entry("F32", [2], 4, 12)}, b"\0" * 12), "MC405",
     "tensors overlap"),
    ("offsets-not-from-zero", lambda _: frame({"a": entry("F32", [1], 4, 8)}, b"\0" * 8), "MC405", "gap of 4"),
    ("trailing-bytes", _trailing, "MC406", "bytes after the last tensor"),
    ("truncated-data", lambda _: frame({"w": F32x2}, b"\0" * 4), "MC406", "truncated"),
    ("pickle", lambda _: _pickle(), "MC402", "looks like a pickle"),
    ("pickle-protocol-0", lambda _: pickle.dumps({"weight": [1.0]}, protocol=0), "MC402", "looks like a pickle"),
    ("zip", lambda _: _zip(), "MC402", "looks like a zip archive"),
    ("npy", lambda _: b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "MC402",
     "NumPy"),
]


@pytest.mark.parametrize(("content", "rule", "fragment"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_file_fails_with_a_finding(tmp_path: Path, content: Callable[[Path], bytes], rule: str,
                                             fragment: str) -> None:
    root = minimal_package(tmp_path / "pkg", content(tmp_path))
    code, report = check_cli(root, tmp_path)
    assert code == 1
    hits = safetensors_findings(report, rule)
    assert hits, f"no {rule} in {safetensors_findings(report)}"
    assert all(f["file"] == "model.safetensors" and f["severity"] == "error" for f in hits)
    assert any(fragment in f["message"] for f in hits), [f["message"] for f in hits]


@pytest.mark.parametrize(("content", "rule", "fragment"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_read_header_reports_the_problem_without_raising(tmp_path: Path, content: Callable[[Path], bytes], rule: str,
                                                         fragment: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content(tmp_path))
    header = read_header(path, "model.safetensors")
    assert not header.ok
    assert any(fragment in p.message for p in header.problems)
    assert all(p.message.startswith("model.safetensors") for p in header.problems)


def test_example_package_passes(tmp_path: Path) -> None:
    code, report = check_cli(make_package(tmp_path / "pkg"), tmp_path)
    assert [c["status"] for c in report["checks"] if c["area"] == "safetensors"] == ["passed"]
    assert [f["rule"] for f in safetensors_findings(report)] == ["MC421"]
    assert code == (1 if report["summary"]["error"] else 0)


def test_valid_file_has_no_problems_and_reports_its_content(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    write_valid(root / "model.safetensors", FULL_METADATA)
    findings, pkg = run_check(root)
    assert [f.rule for f in findings] == ["MC421"]
    assert findings[0].file == "model.safetensors"
    assert "3 tensors, 32 parameters (dtypes: F32 x 2, I64 x 1)" in findings[0].message
    header = pkg.safetensors["model.safetensors"]
    assert (len(header.tensors), header.total_parameters, header.dtypes, header.ok) == (3, 32, {"F32": 2, "I64": 1}, True)
    assert header.metadata == FULL_METADATA
    assert header.tensors["backbone.weight"].shape == (2, 3, 4)


def test_tensors_listed_out_of_offset_order_are_valid(tmp_path: Path) -> None:
    path = write_valid(tmp_path / "model.safetensors")
    header, data = split(path.read_bytes())
    reordered = dict(reversed(list(header.items())))
    assert list(reordered) != list(header)
    path.write_bytes(frame(reordered, data))
    result = read_header(path, "model.safetensors")
    assert result.ok, result.problems
    assert set(result.tensors) == set(valid_tensors())


def test_empty_tensor_and_sub_byte_dtypes_are_valid(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(frame({"empty": entry("F32", [0, 3], 0, 0), "packed": entry("F4", [4], 0, 2),
                            "mx": entry("F6_E2M3", [4], 2, 5)}, b"\0" * 5))
    header = read_header(path, "m.safetensors")
    assert header.ok, header.problems
    assert header.total_parameters == 8
    assert header.dtypes == {"F32": 1, "F4": 1, "F6_E2M3": 1}


def test_every_dtype_of_the_format_is_known(tmp_path: Path) -> None:
    assert {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64",
            "U64"} <= set(DTYPE_BITS)
    begin, tensors = 0, {}
    for dtype, bits in DTYPE_BITS.items():
        tensors[dtype.lower()] = entry(dtype, [8], begin, begin + bits)
        begin += bits
    path = tmp_path / "m.safetensors"
    path.write_bytes(frame(tensors, b"\0" * begin))
    assert read_header(path, "m.safetensors").ok


def test_problems_of_one_kind_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(frame({f"t{i}": entry("X9", [1], i, i + 1) for i in range(100)}, b"\0" * 100))
    problems = read_header(path, "m.safetensors").problems
    assert len(problems) == MAX_PROBLEMS_PER_KIND + 1
    assert problems[-1].message == "… and 80 more problems of this kind"


def test_fifo_named_safetensors_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    header = read_header(fifo, "model.safetensors")
    assert [p.kind for p in header.problems] == ["io"]
    assert "not a regular file" in header.problems[0].message


def test_check_skips_a_package_without_safetensors(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    (root / "model.safetensors").unlink()
    pkg = ModelPackage(root)
    try:
        result = SafetensorsCheck().run(pkg, Options(env="none"))
    finally:
        pkg.close()
    assert result == Skip("the package has no .safetensors file")


# -- recommended metadata --------------------------------------------------------------------

# rule -> (the key FULL_METADATA uses for it, the label its message names)
KEY_RULES = {"MC410": ("model_id", "model identifier"), "MC411": ("version", "version"),
             "MC412": ("architecture", "architecture name"), "MC413": ("input_shape", "input shape"),
             "MC414": ("channel_names", "channel names"), "MC415": ("channel_units", "channel units"),
             "MC416": ("class_names", "output names or class names"), "MC417": ("license", "license"),
             "MC418": ("source_repository", "source repository"),
             "MC419": ("training_data", "training or validation data references")}


def test_each_missing_metadata_key_is_a_warning(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    write_valid(root / "model.safetensors", {"format": "pt"})
    findings, _ = run_check(root)
    missing = {f.rule: f for f in findings if f.rule in KEY_RULES}
    assert set(missing) == set(KEY_RULES)
    for rule, (_, label) in KEY_RULES.items():
        assert missing[rule].severity.value == "warning"
        assert missing[rule].file == "model.safetensors"
        assert f"has no {label}" in missing[rule].message


@pytest.mark.parametrize("rule", sorted(KEY_RULES))
def test_dropping_one_key_warns_about_that_key_only(tmp_path: Path, rule: str) -> None:
    root = make_package(tmp_path / "pkg")
    dropped = KEY_RULES[rule][0]
    write_valid(root / "model.safetensors", {k: v for k, v in FULL_METADATA.items() if k != dropped})
    findings, _ = run_check(root)
    assert [f.rule for f in findings if f.severity.value != "info"] == [rule]


def test_complete_metadata_and_common_spellings_pass(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg")
    spelled = {"Model-Name": "x", "model_version": "1", "arch": "unet", "input shape": "N,3,64,64",
               "bands": "B02,B03,B04", "units": "1,1,1", "labels": "water,land", "licence": "MIT",
               "repository": "https://example.org/r", "validation_dataset": "doi:10/x"}
    write_valid(root / "model.safetensors", spelled)
    findings, _ = run_check(root)
    assert [f.rule for f in findings] == ["MC421"]


@pytest.mark.parametrize("metadata_null", [False, True])
def test_no_metadata_at_all_is_one_warning(tmp_path: Path, metadata_null: bool) -> None:
    root = make_package(tmp_path / "pkg")
    header, data = split(valid_bytes())
    if metadata_null:  # the reference implementation reads null as "no metadata", so does model-check
        header = {"__metadata__": None, **header}
    (root / "model.safetensors").write_bytes(frame(header, data))
    findings, _ = run_check(root)
    assert [f.rule for f in findings if f.severity.value == "warning"] == ["MC409"]
    assert "model.safetensors has no __metadata__" in findings[-1].message


@pytest.mark.parametrize(("value", "fragment"), [
    ("x" * 1500, "is 1,500 characters long"),
    ('{"mean": [0.1, 0.2], "std": [1, 2]}', "nested JSON (a JSON object)"),
    ("[[1, 2], [3, 4]]", "a JSON list of lists"),
])
def test_long_or_nested_metadata_value_warns(tmp_path: Path, value: str, fragment: str) -> None:
    root = make_package(tmp_path / "pkg")
    write_valid(root / "model.safetensors", {**FULL_METADATA, "normalisation": value})
    findings, _ = run_check(root)
    bloated = [f for f in findings if f.rule == "MC420"]
    assert len(bloated) == 1 and fragment in bloated[0].message and "'normalisation'" in bloated[0].message


@pytest.mark.parametrize("value", ["[1, 4, 128, 128]", "{not json", "N,4,128,128", "y" * 1000])
def test_compact_metadata_values_pass(tmp_path: Path, value: str) -> None:
    root = make_package(tmp_path / "pkg")
    write_valid(root / "model.safetensors", {**FULL_METADATA, "extra": value})
    findings, _ = run_check(root)
    assert "MC420" not in [f.rule for f in findings]


def test_broken_header_gives_no_metadata_warnings(tmp_path: Path) -> None:
    root = make_package(tmp_path / "pkg", frame(b"[]"))
    findings, pkg = run_check(root)
    assert [f.rule for f in findings] == ["MC403"]
    assert not pkg.safetensors["model.safetensors"].parsed


# -- a 99 MB header with a million tensors ----------------------------------------------------

def test_99_mb_header_with_a_million_tensors_is_read_in_bounded_memory(tmp_path: Path) -> None:
    root = minimal_package(tmp_path / "pkg", b"")
    write_big_header(root / "model.safetensors")
    out = tmp_path / "report.json"
    # A child process, so its peak memory is its own: the whole CLI run, header parse included.
    script = textwrap.dedent(f"""
        import resource, sys
        from validator.cli.main import main
        code = main(["check", {str(root)!r}, "--env", "none", "--json", {str(out)!r}, "--quiet"])
        print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    code, peak_mb = map(int, done.stdout.split()[-2:])
    report = json.loads(out.read_text())
    validate_report(report)
    assert code in (0, 1)
    summary = safetensors_findings(report, "MC421")
    assert len(summary) == 1 and summary[0]["file"] == "model.safetensors"
    assert "1,000,000 tensors, 1,000,000 parameters (dtypes: U8 x 1,000,000)" in summary[0]["message"]
    assert not [f for f in safetensors_findings(report) if f["severity"] == "error"]
    assert peak_mb < 1024, f"peak RSS {peak_mb} MB"


# -- properties ------------------------------------------------------------------------------

def _reference_accepts(path: Path) -> bool:
    """Whether huggingface/safetensors itself opens the file (it reads the header only)."""
    try:
        with safe_open(str(path), framework="numpy") as handle:
            handle.keys()
        return True
    except Exception:
        return False


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    header, data = split(valid_bytes(FULL_METADATA if draw(st.booleans()) else None))
    kind = draw(st.sampled_from(["flip", "truncate", "field", "length"]))
    raw = frame(header, data)
    if kind == "flip":
        position = draw(st.integers(0, len(raw) - 1))
        return raw[:position] + bytes([raw[position] ^ draw(st.integers(1, 255))]) + raw[position + 1:]
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == "length":
        return struct.pack("<Q", draw(st.integers(0, 2**64 - 1))) + raw[8:]
    name = draw(st.sampled_from(sorted(header)))
    field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "__entry__"]))
    value = draw(st.recursive(
        st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8)
        | st.sampled_from(sorted(DTYPE_BITS)),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=8))
    if field == "__entry__" or name == "__metadata__":
        header[name] = value
    elif isinstance(header[name], dict):
        header[name][field] = value
    return frame(header, data)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=mutated_files())
def test_mutated_headers_validate_or_yield_problems(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    header = read_header(path, "model.safetensors")
    assert header.ok == (not header.problems)
    assert all(p.kind and p.message.startswith("model.safetensors") for p in header.problems)
    if header.ok:
        # Whatever model-check accepts, the reference implementation opens too.
        assert _reference_accepts(path)
        ends = sorted((t.begin, t.end) for t in header.tensors.values())
        assert header.header_length is not None
        assert 8 + header.header_length + (ends[-1][1] if ends else 0) == header.size


entry_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 2**65), st.text(max_size=3), st.sampled_from(sorted(DTYPE_BITS)),
    st.lists(st.one_of(st.integers(-2, 2**33), st.booleans(), st.none()), max_size=4),
)


@settings(max_examples=500, deadline=None, database=None)
@given(fields=st.dictionaries(st.sampled_from([*ENTRY_FIELDS, "extra"]), entry_values, min_size=3, max_size=3))
def test_fast_path_accepts_exactly_what_the_detailed_path_accepts(fields: dict[str, Any]) -> None:
    problems = _Problems()
    offsets = _read_offsets("w", fields["data_offsets"], "m", problems) if "data_offsets" in fields else None
    detailed = _read_entry("w", fields, offsets, "m", problems)
    fast = _well_formed_entry(fields, {})
    assert fast == detailed
    assert (detailed is not None) == (not problems.items)
