# Two commands (README): `make run` installs only what serving needs (Flask and waitress in
# .venv-serve, the npm files) and serves the web app with the shipped model; `make test` sets
# everything up and runs the whole test suite (.ci/run calls it).
PY      ?= python3.11
VENV    := .venv
PYTHON  := $(VENV)/bin/python
SERVE_VENV := .venv-serve
PORT    ?= 5000
CHROMIUM := /usr/bin/chromium
MODEL   ?= fer-default
# TF.js weight storage for `make convert` (QUANTIZE= for fp32); the shipped model uses mixed (uint8 large kernels + float16)
QUANTIZE ?= mixed

.PHONY: setup run test test-generic-cpu bench ablations train-default convert verify wheel clean help
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup: $(VENV)/.installed node_modules/.installed web/dist/bundle.json $(CHROMIUM)  ## install Python, npm and browser dependencies

# The pins name opencv-python-headless: an older .venv's GUI build goes first (two OpenCV wheels
# share cv2/, and removing one breaks the other), then requirements.txt installs the headless one.
$(VENV)/.installed: requirements.txt requirements-nodeps.txt $(wildcard requirements/*.txt)
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	if $(PYTHON) -m pip show --quiet opencv-python 2>/dev/null; then \
		$(PYTHON) -m pip uninstall --quiet --yes opencv-python opencv-python-headless; fi
	$(PYTHON) -m pip install -r requirements.txt
	$(PYTHON) -m pip install --no-deps -r requirements-nodeps.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The page's own modules bundled into one file (npm/bundle.mjs, under a second): server.py serves it
# while it matches the sources on disk, and the modules one by one otherwise (fer_browser/bundle.py).
PAGE_SOURCES := $(shell find web/js web/lib web/schemas -name '*.js' -o -name '*.json') web/index.html web/adaptation.json
web/dist/bundle.json: node_modules/.installed npm/bundle.mjs $(PAGE_SOURCES)
	npm run --silent build

# Debian's Chromium for the browser tests (Playwright drives it; never `playwright install`).
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	else sudo apt-get update && sudo apt-get install -y chromium; fi

# Serving needs Flask and waitress only: a small venv of its own, not the 3.8 GB one.
$(SERVE_VENV)/.installed: requirements/serve.txt
	$(PY) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/python -m pip install --quiet -r requirements/serve.txt
	touch $@

run: $(SERVE_VENV)/.installed node_modules/.installed web/dist/bundle.json  ## install only what serving needs and serve the web app on http://127.0.0.1:5000 (PORT=...)
	$(SERVE_VENV)/bin/python server.py --port $(PORT)

# The numerics-sensitive tests run a second time on the generic kernels of tests/generic_cpu.env
# (OpenBLAS, ATen, oneDNN, OpenCV), so a result that depends on this CPU fails here, not on a user's.
NUMERICS_TESTS := tests/test_cpu_profile.py tests/test_fingerprint_portability.py tests/test_trust_model.py \
	tests/test_shipped_model.py tests/test_convert.py tests/test_calibration.py tests/test_predict_detector.py \
	tests/test_predict_preprocess.py tests/test_predict_cli.py tests/test_predict_outputs.py tests/test_embedding.py \
	tests/test_adaptation.py tests/test_profile.py tests/test_calibrate_api.py

test: setup  ## run the whole test suite, then its numerics-sensitive part again on generic CPU kernels
	$(PYTHON) -m pytest
	$(MAKE) --no-print-directory test-generic-cpu

test-generic-cpu: setup  ## the numerics-sensitive tests on generic CPU kernels (tests/generic_cpu.env)
	env $$(grep -v '^#' tests/generic_cpu.env | xargs) $(PYTHON) -m pytest $(NUMERICS_TESTS) \
		-k "not sigterm and not sigkilled and not bench_prints"  # signals and timing: no float result involved

bench: setup  ## run the benchmarks in bench/ (slow; results are printed as tables)
	$(PYTHON) -m bench

ablations: setup  ## soft vs hard labels, augmentation, flip TTA: short runs, table in reports/ablations/
	$(PYTHON) bench/ablations.py

train-default: setup  ## retrain the shipped model's recipe into runs/fer-default (about 70 min on 2 CPU cores)
	$(PYTHON) -m training.train --model vgg --label-set ferplus-soft --tta --out runs/fer-default

convert: setup  ## convert models/$(MODEL)/checkpoint.pt into models/$(MODEL)/export (parity-gated)
	$(PYTHON) -m convert models/$(MODEL)/checkpoint.pt --out models/$(MODEL)/export $(if $(QUANTIZE),--quantize $(QUANTIZE))

verify: setup  ## re-run the parity test between backends on models/$(MODEL)/export
	$(PYTHON) -m convert verify models/$(MODEL)/export --checkpoint models/$(MODEL)/checkpoint.pt

wheel: node_modules/.installed  ## build the Python package (page, shipped model, npm files included) into dist/
	$(PY) -m pip wheel . --no-deps --wheel-dir dist

clean:  ## remove installed environments and build outputs (not the shipped model)
	rm -rf $(VENV) $(SERVE_VENV) node_modules build dist fer_browser.egg-info web/dist
