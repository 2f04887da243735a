"""Builders for the security tests: hand-made pickles (never loaded), archives, fake credentials.

The fake credentials are assembled at run time, so no secret scanner flags this source file.
"""

from __future__ import annotations

import io
import pickle
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Literal

import nbformat

from validator.checks.security import SecurityCheck
from validator.core.findings import Finding
from validator.readers.package import ModelPackage

# A protocol-0 pickle calling os.system('echo pwned') when loaded. Written by hand; never unpickled.
EVIL_PROTO0 = b"cos\nsystem\n(S'echo pwned'\ntR."
# The same call in protocol 4 (STACK_GLOBAL on "posix", "system"), as pickle.dumps would write it.
EVIL_PROTO4 = (b"\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94"
               b"\x8c\x04ls -\x94\x85\x94R\x94.")
HARMLESS = pickle.dumps({"weights": [0.5, 1.5], "epoch": 3})

AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"
GITHUB_TOKEN = "ghp_" + "x1Y2z3" * 6
PRIVATE_KEY_LINE = "-----BEGIN " + "RSA PRIVATE KEY-----"
URL_PASSWORD = "hunter2" + "Secret9"
PASSWORD_URL = f"https://admin:{URL_PASSWORD}@data.example.com/archive"


def run_security(root: Path) -> tuple[list[Finding], dict[str, Any]]:
    """Run only the security check on a folder: its findings and what it scanned."""
    pkg = ModelPackage(root)
    try:
        scan = SecurityCheck().scan(pkg)
    finally:
        pkg.close()
    return scan.findings, {"pickle_files": scan.pickle_files, "archives": scan.archives,
                           "text_files_scanned": scan.text_files_scanned}


def of_rule(found: list[Finding], rule: str) -> list[Finding]:
    return [f for f in found if f.rule == rule]


def torch_style_zip(path: Path, data_pkl: bytes) -> Path:
    """A zip laid out like torch.save's (archive/data.pkl, archive/data/0, archive/version)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/data/0", b"\x00" * 64)
        archive.writestr("archive/version", b"3\n")
    return path


def zip_with(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


TarMode = Literal["w", "w:gz", "w:xz"]


def tar_with(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None,
             mode: TarMode = "w", devices: tuple[str, ...] = ()) -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
        for name in devices:
            info = tarfile.TarInfo(name)
            info.type = tarfile.CHRTYPE
            archive.addfile(info)
    return path


def notebook(path: Path, cells: list[tuple[str, str | None]]) -> Path:
    """A notebook as Jupyter writes it: (source, stream output or None) per code cell."""
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]  # nbformat has no annotations
    for index, (source, output) in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=index)  # type: ignore[no-untyped-call]
        if output is not None:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]  # type: ignore[no-untyped-call]
        nb.cells.append(cell)
    path.write_text(nbformat.writes(nb), encoding="utf-8")  # type: ignore[no-untyped-call]
    return path
