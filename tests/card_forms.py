"""Self-written packages reproducing the card forms of docs/research/real-packages.md (§2, §5).

Each form starts from the rule examples' base package (tests/rules/base: a complete, valid package)
and rewrites the card, or adds a file, the way real authors write that item. No third-party text:
names (Tiny Scene Classifier, tiny-scene), values and sentences are made up.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import safe_open
from safetensors.numpy import save_file

BASE = Path(__file__).resolve().parent / "rules" / "base"
README = "README.md"

NAME_ROWS = ("| Model name | Tiny Scene Classifier |\n", "| Model ID | tiny-scene-classifier |\n")
TITLE = "# Tiny Scene Classifier\n"
LICENSE_ROW = "| License | MIT |\n"
AUTHORS_ROW = "| Authors | model-check contributors |\n"
CHANNEL_SECTION = "### Channel order\n\n1. red\n2. green\n3. blue\n4. nir\n\n"
CLASS_SECTION = "### Class names\n\nIn output order, identical to `labels.json`:\n\n1. clear\n2. cloud\n3. shadow\n\n"
SHAPE_ROW = "| Input shape | `N,4,16,16` |\n"
NORMALIZATION = ("### Normalization\n\n`preprocess()` in `inference.py`: `x[:, c] = (raw[:, c] - MEAN[c]) / STD[c]` with\n"
                 "MEAN = 0.1, 0.1, 0.1, 0.2 and STD = 0.05, 0.05, 0.05, 0.1.\n\n")
NODATA_NORMALIZED = "after normalization every"
PREDICTS = ("## What the model predicts\n\nThe model classifies a 16 × 16 pixel tile into one of three scene classes "
            "and returns logits.\nThe scientific use case it imitates is cloud screening of optical imagery before "
            "land-surface\nanalysis.\n\n")
INFERENCE = "## How to run inference\n\n```bash\npython inference.py\n```\n\n"
PYPROJECT = '[project]\nname = "tiny-scene"\nversion = "1.0.0"\nlicense = "MIT"\n'
CC_BY_TEXT = ("Attribution 4.0 International\n\nThis is a stand-in for the Creative Commons Attribution 4.0 "
              "International public license text, written for model-check's tests.\n")
APACHE_TEXT = ("Apache License\nVersion 2.0, January 2004\n\nA stand-in for the Apache License 2.0 text, written for "
               "model-check's tests.\n")


@dataclass(frozen=True)
class Form:
    """One card form: replacements in README.md (each `old` must be there), files written or removed."""

    why: str
    replace: tuple[tuple[str, str], ...] = ()
    files: dict[str, str | None] = field(default_factory=dict)  # None removes the file
    readme: str | None = None  # the whole README instead of the base one edited
    weights_license: str | None = None  # model.safetensors' metadata `license`, rewritten

    def build(self, target: Path) -> Path:
        shutil.copytree(BASE, target)
        readme = target / README
        text = self.readme if self.readme is not None else readme.read_text(encoding="utf-8")
        for old, new in self.replace:
            assert old in text, f"{old!r} is not in the base card"
            text = text.replace(old, new)
        readme.write_text(text, encoding="utf-8")
        for rel, content in self.files.items():
            path = target / rel
            if content is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
        if self.weights_license is not None:
            _set_weights_license(target / "model.safetensors", self.weights_license)
        return target


def _set_weights_license(path: Path, value: str) -> None:
    with safe_open(str(path), "np") as handle:
        metadata = dict(handle.metadata() or {})
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    metadata["license"] = value
    save_file(tensors, str(path), metadata=metadata)


def without(*rows: str) -> tuple[tuple[str, str], ...]:
    return tuple((row, "") for row in rows)


def base_card() -> str:
    return (BASE / README).read_text(encoding="utf-8")


def html_sections(card: str) -> str:
    """Every `## Heading` line as `<h2 align="center">Heading</h2>`."""
    return "\n".join(f'<h2 align="center">{line[3:]}</h2>' if line.startswith("## ") else line
                     for line in card.split("\n"))
