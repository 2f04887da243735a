"""Which modules of a new environment get bytecode (validator.runtime.environments.bytecode): what importing
its packages loads, found from the source text, compiled by the script exactly as the builder runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from validator.runtime.environments.bytecode import module_level_imports
from validator.runtime.environments.venv import BYTECODE_SCRIPT

SOURCE = '''"""A module."""
import os, sys as system
from . import a, b
from .sub import (
    c,
    d,
)
from ..up import thing
if TYPE_CHECKING:
    import typing_only
else:
    import runtime_only
def f(
    x,
):
    import lazy
    return x
class K:
    import in_class
    def m(self):
        import lazy2
try:
    import maybe
except ImportError:
    pass
x = importlib.import_module("dyn.mod")
'''


def test_module_level_imports_leave_out_function_bodies_and_type_checking_blocks() -> None:
    found = [(base, " ".join(names.replace("(", " ").replace(")", " ").replace(",", " ").split()), level)
             for base, names, level in module_level_imports(SOURCE)]
    assert found == [("os", "", 0), ("sys", "", 0), ("", "a b", 1), ("sub", "c d", 1), ("up", "thing", 2),
                     ("runtime_only", "", 0), ("in_class", "", 0), ("maybe", "", 0), ("dyn.mod", "", 0)]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_builder_compiles_what_importing_the_packages_loads(tmp_path: Path) -> None:
    site = tmp_path / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    _write(site, {
        "pkg/__init__.py": "from . import sub\nfrom .helpers import tool\nif TYPE_CHECKING:\n    from . import typing_only\n"
                           "def later(\n    x,\n):\n    from . import lazy\n",
        "pkg/sub.py": "import toplevel_dep\n",
        "pkg/helpers/__init__.py": "",
        "pkg/helpers/tool.py": "VALUE = 1\n",
        "pkg/typing_only.py": "",
        "pkg/lazy.py": "",
        "pkg/tests/test_pkg.py": "import pkg\n",
        "toplevel_dep.py": "",
        "alone.py": "",
        "namespace/inner/__init__.py": "",
        "pkg-1.0.dist-info/METADATA": "Name: pkg\n",
    })
    done = subprocess.run([sys.executable, "-I", "-S", "-c", BYTECODE_SCRIPT.read_text(), str(tmp_path / "lib")],
                          capture_output=True, text=True, check=False, env={})
    assert done.returncode == 0, done.stderr
    compiled = {str(pyc.parent.parent.relative_to(site) / pyc.name.split(".")[0]) for pyc in site.rglob("*.pyc")}
    assert compiled == {"pkg/__init__", "pkg/sub", "pkg/helpers/__init__", "pkg/helpers/tool", "toplevel_dep", "alone",
                        "namespace/inner/__init__"}
    assert done.stdout.strip() == "7 modules compiled"
