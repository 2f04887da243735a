"""Environments that rebuild a package's runtime and run its code sandboxed."""
