"""Probe results are written by package code, so model-check reads them as untrusted JSON: only what
matches the protocol's TypedDicts (validator.runtime.probes.protocol) reaches the checks."""

from __future__ import annotations

import json

from validator.runtime.probes import read_result
from validator.runtime.probes.protocol import NativeResult, NotebookResult, OnnxResult, conform

GOOD_NATIVE = {"status": "ok", "attempts": [{"how": "factory", "built": True, "loaded": True}],
               "sets": [{"id": "s0", "outputs": [{"name": "logits", "key": "s0_o0", "shape": [1, 3], "dtype": "float32"}]}],
               "torch": "2.13.0"}


def test_a_well_formed_result_passes_unchanged() -> None:
    assert conform(json.loads(json.dumps(GOOD_NATIVE)), NativeResult) == GOOD_NATIVE


def test_a_missing_or_mistyped_required_key_gives_no_result() -> None:
    assert conform({k: v for k, v in GOOD_NATIVE.items() if k != "sets"}, NativeResult) is None
    assert conform({**GOOD_NATIVE, "status": "passed-by-the-package"}, NativeResult) is None  # not a known status
    assert conform({**GOOD_NATIVE, "attempts": "all good"}, NativeResult) is None
    assert conform([GOOD_NATIVE], NativeResult) is None
    assert conform({"status": "ok", "converted": [], "sets": {}}, OnnxResult) is None


def test_unknown_keys_and_bad_items_are_dropped() -> None:
    tampered = {**GOOD_NATIVE, "verdict": "passed", "torch": 2,
                "sets": [GOOD_NATIVE["sets"][0], {"id": 5, "outputs": []}, "junk"]}
    kept = conform(tampered, NativeResult)
    assert kept is not None
    assert "verdict" not in kept and "torch" not in kept  # an optional key of the wrong type is left out
    assert kept["sets"] == GOOD_NATIVE["sets"]


def test_unreadable_oversized_or_deeply_nested_result_files_give_no_result() -> None:
    rel = "_model_check/result.json"
    assert read_result({}, rel, NotebookResult) is None
    assert read_result({rel: b"\xff\xfe not utf-8"}, rel, NotebookResult) is None
    assert read_result({rel: b"{not json"}, rel, NotebookResult) is None
    assert read_result({rel: b"[" * 200_000 + b"]" * 200_000}, rel, NotebookResult) is None
    assert read_result({rel: b'{"status": "ok", "cells": 3}'}, rel, NotebookResult) == {"status": "ok", "cells": 3}
