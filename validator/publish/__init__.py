"""Publishing to EarthCODE: a STAC Item with the MLM extension, an OSC product skeleton, offline
schema validation, and what the publishing lint shares with them (asset kinds, JSON line lookup).

`model-check publish` lives in command.py; the lint of records shipped in a package lives in
validator/checks/publishing.py.
"""
