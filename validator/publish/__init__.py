"""Publishing to EarthCODE: a STAC Item with the MLM extension and an OSC product skeleton. Imports the pipeline, reporters and every layer below; never github or cli."""
