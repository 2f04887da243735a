"""Running package code: environments, probes, parity math, test vectors, notebook tools. Imports core, sandbox, readers and scanners."""
