"""Regenerate every binary artefact of this demonstration package, reproducibly.

    python make_weights.py

writes, in this folder:
  model.safetensors      state dict of ``model.CloudRegimeCNN`` (4 input channels, 6 classes)
                         with the guideline's metadata; UNTRAINED deterministic weights
  model.onnx             the same network, exported as the guideline shows (opset 17)
  test_data/raw_0.npy    deterministic raw test scene, physical units, NaN nodata patch
  test_data/input_0.npy  preprocess(raw_0): model-ready input, shape (1, 4, 128, 128) float32
  test_data/output_0.npy PyTorch logits for input_0, shape (1, 6) float32

and then checks that the weights load strictly and that ONNX Runtime matches PyTorch
(rtol = atol = 1e-4) for batch sizes 1 and 2.

It needs the environment of requirements.txt (torch's ONNX exporter needs ``onnx``).
Running it twice gives a byte-identical model.safetensors. safetensors (0.8.0) writes
the ``__metadata__`` entries in a random order on every run (a Rust hash map), so after
``save_file`` the header is rewritten with its metadata keys sorted; the tensors, their
offsets and the header length do not change.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import inference

HERE = Path(__file__).resolve().parent
SEED = 20260101

METADATA = {
    "model_id": inference.MODEL_ID,
    "version": inference.VERSION,
    "architecture": inference.ARCHITECTURE,
    "input_shape": ",".join(str(d) for d in inference.INPUT_SHAPE),
    "channel_names": ",".join(inference.CHANNEL_NAMES),
    "channel_units": ",".join(inference.CHANNEL_UNITS),
    "class_names": ",".join(inference.load_labels()),
    "license": "Apache-2.0",
    "source_repository": "https://github.com/earthcode-examples/goes-cloud-regime-demo",
    "training_data": "none: untrained deterministic demonstration weights",
    "validation_data": "none: untrained deterministic demonstration weights",
}


def make_model() -> torch.nn.Module:
    """The architecture with seeded weights; BatchNorm affine parameters and running
    statistics are also drawn from the seeded generator so every layer matters."""
    torch.manual_seed(SEED)
    model = inference.build_model()
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(0.1 * torch.randn(n, generator=gen))
                module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return model.eval()


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
    ordered.update(header)  # tensor entries keep the order safetensors wrote
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    stripped = raw.rstrip(b" ")
    if len(text) != len(stripped) or sorted(text) != sorted(stripped):
        raise RuntimeError("unexpected safetensors header layout; not rewriting it")
    data[8 : 8 + n] = text + b" " * (n - len(text))
    path.write_bytes(bytes(data))


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = make_model()

    # 1. weights + metadata
    weights_path = HERE / inference.WEIGHTS_FILE
    state_dict = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state_dict, str(weights_path), metadata=METADATA)
    canonicalise_safetensors_header(weights_path)
    weights_path.chmod(0o644)  # safetensors creates the file readable by its owner only
    with safe_open(str(weights_path), framework="pt") as f:
        assert f.metadata() == METADATA, "metadata did not round-trip"

    # 2. ONNX, exactly as in the guideline
    dummy_input = torch.zeros((1, 4, 128, 128), dtype=torch.float32)
    torch.onnx.export(
        model,
        dummy_input,
        str(HERE / inference.ONNX_FILE),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )

    # 3. test data
    (HERE / "test_data").mkdir(exist_ok=True)
    raw = inference.synthetic_scene(seed=0, batch=1)
    x = inference.preprocess(raw)
    logits = inference.predict_torch(model, x)
    np.save(HERE / inference.TEST_RAW_FILE, raw)
    np.save(HERE / inference.TEST_INPUT_FILE, x)
    np.save(HERE / inference.TEST_OUTPUT_FILE, logits.astype(np.float32))

    # 4. validation: strict reload, native vs ONNX for batch 1 and 2
    reloaded = inference.load_model(weights_path)
    np.testing.assert_array_equal(inference.predict_torch(reloaded, x), logits)
    session = inference.load_onnx_session(HERE / inference.ONNX_FILE)
    batch2 = inference.preprocess(inference.synthetic_scene(seed=1, batch=2))
    for batch in (x, batch2):
        native = inference.predict_torch(reloaded, batch)
        onnx_logits = inference.predict_onnx(session, batch)
        np.testing.assert_allclose(native, onnx_logits, rtol=1e-4, atol=1e-4)
    print("wrote model.safetensors, model.onnx, test_data/*.npy; ONNX parity ok (batch 1, 2)")


if __name__ == "__main__":
    main()
