"""Readers of untrusted package formats (Markdown card, runtime files, safetensors, ONNX, notebooks, JSON, CFF): typed views, never code. Import core and sandbox."""
