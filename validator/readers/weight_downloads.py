"""Where a package's code fetches model weights at run time, read statically (never run).

Python modules and notebook cells are parsed with `ast`; shell lines (notebook `!wget`, `*.sh`,
Dockerfile `RUN`) are matched with regular expressions. A download is one of:

- `hf_hub_download` / `snapshot_download` / `hf_hub_url` (repository id, `revision=`);
- `X.from_pretrained("owner/name")` with a literal repository id that is not a folder of the package;
- `torch.hub.load_state_dict_from_url` / `download_url_to_file` / `torch.hub.load("owner/repo", ...)`;
- `keras.utils.get_file(..., origin=url)`; `gdown.*`; `wget.download`;
- `urllib.request.urlretrieve/urlopen`, `requests.get`, `httpx.get`, or any call, given a URL of weights
  (a file ending in a weight suffix, a Hugging Face `/resolve/` URL, Google Drive), and such a URL in
  the code on its own;
- `wget` / `curl` of such a URL in a shell line.

A download is *pinned* when its content is fixed: a full commit `revision=` (or `/resolve/<commit>/`), or a
checksum verified (`check_hash=True`, `hash_prefix=`, `file_hash=`, gdown's `hash=`/`md5=`, a sha256 or md5
literal next to hashlib in the same file, `sha256sum -c` in the same shell command).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from validator.readers.locate import line_containing

if TYPE_CHECKING:
    from validator.readers.package import ModelPackage

MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_FILES = 400
WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".ckpt", ".bin", ".h5", ".hdf5", ".keras", ".pb", ".tflite",
                   ".pkl", ".joblib", ".msgpack", ".gguf", ".npz", ".tar", ".pth.tar", ".mar", ".model", ".weights", ".pt2")
# Suffixes data files use too: a URL counts only when its path says model/weights/checkpoint.
_AMBIGUOUS = (".h5", ".hdf5", ".npz", ".pkl", ".bin", ".tar", ".pb", ".model")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HEX_DIGEST = re.compile(r"\b(?:[0-9a-f]{64}|[0-9a-f]{32})\b")
_URL = re.compile(r"https?://[^\s'\"`<>)\]]+")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HF_RESOLVE = re.compile(r"(?:huggingface\.co|hf\.co)/(?:[^/]+/)?[^/]+/[^/]+/resolve/([^/]+)/")
_ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar.xz", ".7z")
_WEIGHT_WORDS = re.compile(r"model|weight|ckpt|checkpoint|pretrained", re.I)
# Folders of training, evaluation and data preparation: their downloads are data or other models, not the package's weights.
_NOT_RUNTIME = re.compile(r"(?:^|/)(?:train|training|validation|eval|evaluation|datasets?|data|benchmarks?|experiments?)/", re.I)
_SKIP_DIRS = ("tests/", "test/", "docs/", "doc/", ".github/", "build/", "dist/")
HUB_FUNCTIONS = frozenset({"hf_hub_download", "snapshot_download", "hf_hub_url", "cached_download"})
URL_FUNCTIONS = frozenset({"load_state_dict_from_url", "download_url_to_file", "urlretrieve", "urlopen", "get_file"})


@dataclass(frozen=True)
class WeightDownload:
    file: str
    line: int | None
    how: str  # the call or command, e.g. "hf_hub_download", "wget"
    source: str  # the URL or repository id as written; "" when the code computes it
    pinned: bool  # the content is fixed (a commit revision) and/or verified (a checksum)
    detail: str = ""  # what pins it, or what is missing

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def weight_url(url: str) -> bool:
    """A URL that names model weights: a weight file, a Hugging Face /resolve/ file, or a Google Drive file."""
    path = url.split("?", 1)[0].split("#", 1)[0].lower().rstrip("/")
    if path.endswith(_ARCHIVES):
        return _WEIGHT_WORDS.search(path.rsplit("/", 1)[-1]) is not None
    if path.endswith(_AMBIGUOUS) and "/resolve/" not in path:
        return _WEIGHT_WORDS.search(path.split("://", 1)[-1]) is not None
    return path.endswith(WEIGHT_SUFFIXES) or "/resolve/" in path and "hf" in path or "drive.google.com" in path


def code_files(pkg: ModelPackage) -> list[str]:
    """The package's Python modules, notebooks, shell scripts and Dockerfiles; tests, docs and setup files left out."""
    found = []
    for rel in pkg.files:
        name = rel.rsplit("/", 1)[-1]
        if (rel.startswith(_SKIP_DIRS) or "/tests/" in rel or _NOT_RUNTIME.search(rel) or name.startswith(("test_", "train"))
                or name in ("setup.py", "conftest.py")):
            continue
        if rel.endswith((".py", ".ipynb", ".sh")) or name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
            found.append(rel)
    return found[:MAX_FILES]


def find_weight_downloads(pkg: ModelPackage) -> list[WeightDownload]:
    found: list[WeightDownload] = []
    folders = {f.split("/", 1)[0] for f in pkg.files if "/" in f}
    for rel in code_files(pkg):
        read = pkg.read_text(rel, limit=MAX_SOURCE_BYTES * (8 if rel.endswith(".ipynb") else 1))
        if read.text is None:
            continue
        if rel.endswith(".py"):
            found += _python(read.text, rel, None, folders)
        elif rel.endswith(".ipynb"):
            found += _notebook(read.text, rel, folders)
        else:
            found += _shell(read.text, rel, read.text)
    return found


# -- Python ---------------------------------------------------------------------------------------------
def _dotted(node: ast.expr) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    return ".".join(reversed(parts))


def _python(text: str, rel: str, raw: str | None, folders: set[str]) -> list[WeightDownload]:
    """Downloads in one module (or one notebook cell: `raw` is then the notebook's text, for line numbers)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    constants: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _string(node.value, {})
            if value is not None:
                constants[node.targets[0].id] = value
    checksum = "hashlib" in text and _HEX_DIGEST.search(text) is not None
    found: list[WeightDownload] = []
    lines: set[int] = set()

    def line_of(node: ast.AST, needle: str) -> int | None:
        if raw is None:
            return getattr(node, "lineno", None)
        return line_containing(raw, needle) if needle else None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        args = [_string(a, constants) for a in node.args]
        item = _classify(name, last, keywords, args, constants, folders, checksum)
        if item is not None:
            how, source, pinned, detail = item
            line = line_of(node, source or last)
            found.append(WeightDownload(rel, line, how, source, pinned, detail))
            lines.add(getattr(node, "lineno", 0))
    for node in ast.walk(tree):  # a URL of weights written in the code, used however
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.lineno not in lines:
            for url in _URL.findall(node.value):
                if weight_url(url):
                    pinned, detail = _url_pinned(url, checksum)
                    found.append(WeightDownload(rel, line_of(node, url), "a URL in the code", url, pinned, detail))
                    lines.add(node.lineno)
    return found


def _string(node: ast.expr, constants: dict[str, str]) -> str | None:
    """A string the code spells out: a literal, a name bound to one, an f-string or + of them ({…} for the rest)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{…}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string(node.left, constants), _string(node.right, constants)
        if left is not None or right is not None:
            return (left or "{…}") + (right or "{…}")
    return None


def _classify(name: str, last: str, keywords: dict[str, ast.expr], args: list[str | None], constants: dict[str, str],
              folders: set[str], checksum: bool) -> tuple[str, str, bool, str] | None:
    def keyword(key: str) -> str | None:
        return _string(keywords[key], constants) if key in keywords else None

    def true(key: str) -> bool:
        value = keywords.get(key)
        return isinstance(value, ast.Constant) and bool(value.value)

    if last in HUB_FUNCTIONS:
        repo = keyword("repo_id") or (args[0] if args else None) or ""
        revision = keyword("revision")
        pinned = revision is not None and bool(_COMMIT.match(revision))
        detail = (f"revision {revision}" if pinned else f"revision {revision!r} is not a full commit" if revision
                  else "no revision=: the newest files of the repository's main branch")
        return last, repo, pinned, detail
    if last == "from_pretrained":
        model_id = keyword("pretrained_model_name_or_path") or (args[0] if args else None)
        if model_id is None or not _REPO_ID.match(model_id) or model_id.split("/", 1)[0] in folders or model_id.startswith("."):
            return None
        revision = keyword("revision")
        pinned = revision is not None and bool(_COMMIT.match(revision))
        detail = (f"revision {revision}" if pinned else f"revision {revision!r} is not a full commit" if revision
                  else "no revision=: the newest files of the repository's main branch")
        return name, model_id, pinned, detail
    if name.endswith("hub.load") and args and args[0] and re.match(r"^[\w.-]+/[\w.-]+(:\S+)?$", args[0]):
        ref = args[0].partition(":")[2]
        pinned = bool(_COMMIT.match(ref))
        return "torch.hub.load", args[0], pinned, (f"commit {ref}" if pinned else "no commit: the repository's default branch")
    url = keyword("url") or keyword("origin") or next((a for a in args if a and _URL.match(a)), None)
    if last in URL_FUNCTIONS or name.startswith(("gdown.", "wget.")) or last in ("get", "stream", "download") or "download" in last.lower():
        if url is None or not _URL.match(url):
            if not (name.startswith("gdown.") and (url or args)):
                return None
            url = url or args[0] or ""
        if not (weight_url(url) or name.startswith("gdown.") or last == "load_state_dict_from_url"):
            return None
        verified = (true("check_hash") or "hash_prefix" in keywords or "file_hash" in keywords or "hash" in keywords
                    or "md5" in keywords or "sha256" in keywords)
        pinned, detail = _url_pinned(url, checksum or verified)
        return name, url, pinned, detail
    return None


def _url_pinned(url: str, checksum: bool) -> tuple[bool, str]:
    resolve = _HF_RESOLVE.search(url)
    if resolve and _COMMIT.match(resolve.group(1)):
        return True, f"commit {resolve.group(1)}"
    if checksum:
        return True, "a checksum is verified"
    return False, "no checksum is verified after the download"


# -- notebooks and shell --------------------------------------------------------------------------------
def _notebook(text: str, rel: str, folders: set[str]) -> list[WeightDownload]:
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError):
        return []
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    found: list[WeightDownload] = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        lines = [str(s) for s in source] if isinstance(source, list) else str(source).splitlines(keepends=True)
        shell = "".join(line.lstrip()[1:] for line in lines if line.lstrip().startswith("!"))
        code = "".join("\n" if line.lstrip().startswith(("!", "%")) else line for line in lines)
        found += _python(code + "\n", rel, text, folders)
        found += _shell(shell, rel, text)
    return found


_FETCH = re.compile(r"\b(wget|curl|aria2c|gdown)\b")


def _shell(text: str, rel: str, raw: str) -> list[WeightDownload]:
    """wget / curl / gdown of weights in shell lines (Dockerfile RUN continuations joined)."""
    found: list[WeightDownload] = []
    joined = re.sub(r"\\\r?\n", " ", text)
    variables = dict(re.findall(r"(?m)^\s*(?:export\s+|ARG\s+|ENV\s+)?(\w+)=[\"']?(https?://[^\s\"']+)", joined))
    for command in re.split(r"\n|&&|;", joined):
        command = re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), command)
        tool = _FETCH.search(command)
        if tool is None:
            continue
        verified = re.search(r"\b(sha256sum|sha512sum|md5sum|shasum)\b", joined) is not None and _HEX_DIGEST.search(joined) is not None
        for url in _URL.findall(command[tool.start():]):
            if weight_url(url) or tool.group(1) == "gdown":
                pinned, detail = _url_pinned(url, verified)
                found.append(WeightDownload(rel, line_containing(raw, url), tool.group(1), url, pinned, detail))
    return found
