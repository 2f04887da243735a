"""Environment builders (uv venv, conda, Docker) and the environments they build. Part of validator.runtime."""
