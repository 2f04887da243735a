"""Regenerate every binary artefact of this demonstration package, reproducibly.

    python make_weights.py

writes, in this folder:
  model.safetensors      state dict of ``model.WaterUNet`` (4 input bands, 2 classes + a water
                         fraction) with the guideline's metadata; UNTRAINED deterministic weights
  model.onnx             the same network (opset 17), batch, height and width dynamic
  test_data/input_0.npy  deterministic model-ready scene (1, 4, 128, 128) float32 with a nodata patch
  test_data/output_0.npy PyTorch logits for input_0 (1, 2, 128, 128), NaN at the nodata pixels

and checks that the weights load strictly and that ONNX Runtime matches PyTorch
(rtol = atol = 1e-4, class maps equal) for batch 1 and 2 and tiles of 128 and 96 pixels.
It needs the environment of requirements.txt. The safetensors metadata keys are sorted after
saving (as in examples/goes-cloud-regime/make_weights.py) so that a second run is byte-identical.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import inference
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
SEED = 20261203

METADATA = {
    "model_id": inference.MODEL_ID,
    "version": inference.VERSION,
    "architecture": inference.ARCHITECTURE,
    "task": "semantic-segmentation",
    "input_shape": ",".join(str(d) for d in inference.INPUT_SHAPE),
    "channel_names": ",".join(inference.CHANNEL_NAMES),
    "channel_units": ",".join(inference.CHANNEL_UNITS),
    "class_names": ",".join(inference.load_labels()),
    "output_names": ",".join(inference.OUTPUT_NAMES),
    "output_units": "logit,1",
    "input_nodata": "0",
    "output_nodata": "nan",
    "license": "Apache-2.0",
    "source_repository": "https://github.com/earthcode-examples/s2-water-segmentation-demo",
    "training_data": "none: untrained deterministic demonstration weights",
    "validation_data": "none: untrained deterministic demonstration weights",
}


def canonicalise_safetensors_header(path: Path) -> None:
    """Sort the ``__metadata__`` keys of a safetensors header in place."""
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    raw = bytes(data[8 : 8 + n])
    header = json.loads(raw)
    metadata = header.pop("__metadata__", None)
    ordered = {}
    if metadata is not None:
        ordered["__metadata__"] = dict(sorted(metadata.items()))
    ordered.update(header)
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    stripped = raw.rstrip(b" ")
    if len(text) != len(stripped) or sorted(text) != sorted(stripped):
        raise RuntimeError("unexpected safetensors header layout; not rewriting it")
    data[8 : 8 + n] = text + b" " * (n - len(text))
    path.write_bytes(bytes(data))


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    model = inference.build_model().eval()

    weights_path = HERE / inference.WEIGHTS_FILE
    state_dict = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state_dict, str(weights_path), metadata=METADATA)
    canonicalise_safetensors_header(weights_path)
    weights_path.chmod(0o644)
    with safe_open(str(weights_path), framework="pt") as f:
        assert f.metadata() == METADATA, "metadata did not round-trip"

    torch.onnx.export(
        model,
        torch.full((1, 4, 128, 128), 0.1, dtype=torch.float32),
        str(HERE / inference.ONNX_FILE),
        input_names=["input"],
        output_names=list(inference.OUTPUT_NAMES),
        dynamic_axes={name: {0: "batch", 2: "height", 3: "width"} for name in ("input", *inference.OUTPUT_NAMES)},
        opset_version=17,
        dynamo=False,
    )

    (HERE / "test_data").mkdir(exist_ok=True)
    x = inference.synthetic_scene(seed=0, batch=1)
    logits, _ = inference.predict_torch(model, x)
    np.save(HERE / inference.TEST_INPUT_FILE, x)
    np.save(HERE / inference.TEST_OUTPUT_FILE, logits.astype(np.float32))

    reloaded = inference.load_model(weights_path)
    session = inference.load_onnx_session(HERE / inference.ONNX_FILE)
    for batch in (x, inference.synthetic_scene(seed=1, batch=2), inference.synthetic_scene(seed=2, batch=2, size=96)):
        native = inference.predict_torch(reloaded, batch)
        onnx = inference.predict_onnx(session, batch)
        for mine, theirs in zip(native, onnx, strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)
        assert (inference.postprocess(native[0]) == inference.postprocess(onnx[0])).all()
    print("wrote model.safetensors, model.onnx, test_data/*.npy; ONNX parity ok (batch 1, 2; 128 and 96 px)")


if __name__ == "__main__":
    main()
