"""Content scanners: pickles, archives, secrets, private references, package sources. Import core, sandbox and readers."""
