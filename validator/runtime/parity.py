"""Compare two outputs of the same model the way the guideline does, and say by how much they differ.

`compare(actual, desired, rtol, atol)` passes exactly when
`numpy.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)` passes (the guideline's
check, NaN equal to NaN), and adds the figures an author needs: largest absolute and relative
difference, the smallest atol (at this rtol) and rtol (at this atol) that would pass, non-finite
values, and for classifiers the share of samples whose arg-max class agrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where arrays are handled (CLI start-up: issue 16)
    import numpy as np


@dataclass(frozen=True)
class Comparison:
    label: str  # e.g. "native vs ONNX, output 'logits', test_data/input_0.npy"
    passed: bool
    shape: tuple[int, ...]
    max_abs_diff: float | None  # None when the shapes differ or nothing finite was compared
    max_rel_diff: float | None
    needed_atol: float | None  # smallest atol that passes at the given rtol
    needed_rtol: float | None  # smallest rtol that passes at the given atol; None: no rtol suffices
    nonfinite_actual: int
    nonfinite_desired: int
    argmax_agreement: float | None  # share of samples with the same arg-max; None: not a classifier output
    problem: str | None = None  # why no comparison was possible (shape or dtype)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "passed": self.passed,
            "shape": list(self.shape),
            "max_abs_diff": _number(self.max_abs_diff),
            "max_rel_diff": _number(self.max_rel_diff),
            "needed_atol": _number(self.needed_atol),
            "needed_rtol": _number(self.needed_rtol),
            "nonfinite_actual": self.nonfinite_actual,
            "nonfinite_desired": self.nonfinite_desired,
            "argmax_agreement": self.argmax_agreement,
            "problem": self.problem,
        }

    def describe(self) -> str:
        """One sentence of figures, for a finding."""
        if self.problem:
            return self.problem
        parts = [f"max |diff| {_fmt(self.max_abs_diff)}", f"max relative diff {_fmt(self.max_rel_diff)}",
                 f"would pass with atol >= {_fmt(self.needed_atol)}"]
        parts.append(f"or rtol >= {_fmt(self.needed_rtol)}" if self.needed_rtol is not None
                     else "(no rtol alone suffices)")
        if self.argmax_agreement is not None:
            unit = "pixels" if len(self.shape) == 4 else "samples"
            parts.append(f"arg-max class agrees on {self.argmax_agreement:.0%} of {unit}")
        if self.nonfinite_actual or self.nonfinite_desired:
            parts.append(f"non-finite values: {self.nonfinite_actual} vs {self.nonfinite_desired}")
        return ", ".join(parts)


def compare(label: str, actual: np.ndarray, desired: np.ndarray, rtol: float, atol: float) -> Comparison:
    import numpy as np

    actual, desired = np.asarray(actual), np.asarray(desired)
    nonfinite = (_nonfinite(actual), _nonfinite(desired))
    if actual.shape != desired.shape:
        return Comparison(label, False, tuple(desired.shape), None, None, None, None, *nonfinite, None,
                          f"shapes differ: {list(actual.shape)} vs {list(desired.shape)}")
    if not (_numeric(actual) and _numeric(desired)):
        return Comparison(label, False, tuple(desired.shape), None, None, None, None, *nonfinite, None,
                          f"cannot compare dtypes {actual.dtype} and {desired.dtype} numerically")
    try:
        np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)
        passed = True
    except AssertionError:
        passed = False
    a, d = actual.astype(np.float64), desired.astype(np.float64)
    both = np.isfinite(a) & np.isfinite(d)
    diff = np.abs(a - d)[both]
    scale = np.abs(d)[both]
    max_abs = float(diff.max()) if diff.size else None
    nonzero = scale > 0
    max_rel = _max_relative(diff, scale)
    needed_atol = float(np.maximum(diff - rtol * scale, 0.0).max()) if diff.size else None
    if diff.size == 0:
        needed_rtol = None
    elif np.any((diff > atol) & ~nonzero):
        needed_rtol = None  # a difference where the desired value is 0: only atol can cover it
    else:
        over = (diff > atol) & nonzero
        needed_rtol = float(((diff[over] - atol) / scale[over]).max()) if over.any() else 0.0
    return Comparison(label, passed, tuple(desired.shape), max_abs, max_rel, needed_atol, needed_rtol,
                      *nonfinite, _argmax_agreement(a, d))


def _max_relative(diff: np.ndarray, scale: np.ndarray) -> float | None:
    """max |diff| / |desired| as numpy reports it; None when it is infinite or nothing was compared."""
    import numpy as np

    if diff.size == 0 or np.any((diff > 0) & (scale == 0)):
        return None
    nonzero = scale > 0
    return float((diff[nonzero] / scale[nonzero]).max()) if nonzero.any() else 0.0


def _numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuf"


def _nonfinite(array: np.ndarray) -> int:
    import numpy as np

    return int(np.count_nonzero(~np.isfinite(array))) if array.dtype.kind in "fc" else 0


def _argmax_agreement(actual: np.ndarray, desired: np.ndarray) -> float | None:
    """For (N, K) scores with K > 1: the share of rows whose arg-max is the same. For (N, K, H, W) per-pixel
    scores (segmentation): the share of pixels whose class (arg-max over axis 1) is the same, pixels with a
    non-finite score (nodata) left out."""
    import numpy as np

    if actual.ndim == 4 and actual.shape[1] >= 2 and actual.size:
        valid = np.isfinite(actual).all(axis=1) & np.isfinite(desired).all(axis=1)
        if not valid.any():
            return None
        same = np.nan_to_num(actual).argmax(axis=1) == np.nan_to_num(desired).argmax(axis=1)
        return float(np.mean(same[valid]))
    if actual.ndim != 2 or actual.shape[1] < 2 or actual.shape[0] == 0:
        return None
    if not (np.isfinite(actual).all() and np.isfinite(desired).all()):
        return None
    return float(np.mean(actual.argmax(axis=1) == desired.argmax(axis=1)))


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity."""
    return value if value is not None and math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
