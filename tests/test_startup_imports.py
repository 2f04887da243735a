"""CLI start-up (issue 16): what `model-check check` imports before its first progress line. Module sets, not
timings (benchmarks/bench_startup.py times it): heavy libraries are imported inside the functions that use
them, and the registry imports each check's module when the runner reaches it (validator/checks/lazy.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from validator.checks import DYNAMIC_CHECKS, STATIC_CHECKS, DynamicCheck, StaticCheck

HEAVY = ("numpy", "docker", "requests", "jsonschema", "referencing", "detect_secrets", "markdown_it", "onnx",
         "model_signing", "validator.pipeline.environment")

PROBE = """
import json, sys
import validator.cli.main, validator.cli.check, validator.cli.progress, validator.pipeline.opening
from validator.pipeline import runner
before = sorted(m for m in sys.modules if m.startswith("validator.checks."))
first = runner.PLAN.static[0]
after = sorted(m for m in sys.modules if m.startswith("validator.checks."))
print(json.dumps({"modules": sorted(sys.modules), "checks_before": before, "checks_after": after,
                  "first": first.__name__}))
"""


def test_the_first_progress_line_waits_for_no_heavy_library_and_for_the_first_check_only() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    seen = json.loads(done.stdout)
    assert [m for m in HEAVY if m in seen["modules"]] == []
    assert seen["checks_before"] == ["validator.checks.base", "validator.checks.lazy"]
    assert seen["first"] == "LayoutCheck"
    assert "validator.checks.layout" in seen["checks_after"]
    later = {"validator.checks.security", "validator.checks.consistency", "validator.checks.parity",
             "validator.checks.application_package", "validator.checks.license", "validator.checks.inference"}
    assert later.isdisjoint(seen["checks_after"])


def test_the_registry_names_real_check_classes_once_each() -> None:
    static, dynamic = list(STATIC_CHECKS), list(DYNAMIC_CHECKS)
    assert all(issubclass(c, StaticCheck) for c in static) and all(issubclass(c, DynamicCheck) for c in dynamic)
    assert len({c.name for c in static}) == len(static) and len({c.name for c in dynamic}) == len(dynamic)
    assert STATIC_CHECKS[0] is static[0] and list(STATIC_CHECKS[-2:]) == static[-2:]
