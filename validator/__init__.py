"""model-check: validate ML model packages against EarthCODE's FAIR ML Model Packaging guideline."""

__version__ = "0.1.0"
