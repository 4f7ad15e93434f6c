"""The contract layer: what every part of the product reads and writes alike, at the bottom of the imports.

- metadata.py: a model's metadata.json (its schema, public copy, bounds of calibration and prior)
- manifest.py: an export's manifest.json (sha256 of every file, checked before use)
- atomic.py: files written whole or not at all (temp file, fsync, rename)
- normalize.py: pixels to the model's input (scale, mean, std from the metadata)
- probabilities.py: log-probabilities to answers (temperature, prior correction)
- tfjs_weights.py: reading a TF.js graph model's weights

Imported by training/, convert/, predict/, the server and the Recognizer; it imports nothing from them
(only fer_browser.schema, fer_browser.paths and fer_browser.cli, themselves standard-library modules at the
bottom; tests/test_layering.py keeps it so).
"""
