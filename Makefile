# MRIFE for QGIS: routine tasks. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= offscreen
export PYTHONDONTWRITEBYTECODE := 1


.PHONY: qt6-index
.PHONY: help setup test test-fast lint package qgis demo model bench bench-models bench-accuracy bench-detect bench-finetune bench-engines bench-fewshot reliability clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup:  ## Debian packages, .venv and pinned Python packages (idempotent)
	@bash scripts/setup.sh

test: setup  ## the whole suite: backend unit tests and QGIS tests in a headless QGIS
	$(PY) -m pytest

test-fast: setup  ## the suite without tests marked slow
	$(PY) -m pytest -m "not slow"

lint: setup  ## ruff, Bandit over the packaged code (fails on Medium/High), the Qt6 check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit -q -r mrife_qgis backend --severity-level medium
	$(PY) scripts/qt6_check.py mrife_qgis tests scripts bench

qt6-index: setup  ## rebuild scripts/qt6_enums.json (PyQt6's enums) from the PyQt6 wheel on PyPI
	rm -rf build/pyqt6 && PIP_FIND_LINKS= $(VENV)/bin/pip download --no-deps --only-binary :all: \
		PyQt6==6.7.1 -d build/pyqt6
	$(PY) scripts/qt6_check.py --index-from build/pyqt6/PyQt6-*.whl

package: setup  ## build dist/mrife_qgis-<version>.zip for "Install from ZIP"
	$(PY) scripts/package.py

qgis: setup  ## start QGIS desktop with the plugin (live source) and the venv's packages
	bash scripts/run_qgis.sh

demo: setup  ## detection with the bundled model on the bundled sample, in headless QGIS
	$(PY) scripts/demo.py

model: setup  ## train the bundled model and the baseline on Sichuan (CPU, 30 epochs); docs/bundled-model.md
	bash scripts/make_model.sh

bench: bench-models bench-detect bench-finetune  ## all benchmarks; numbers go to docs/

bench-models: setup  ## parameter counts and forward time per 512 px tile for every network
	$(PY) bench/bench_models.py --out docs/benchmarks-models.md

bench-detect: setup  ## detection end to end vs bare model forward, and peak memory, by raster size
	$(PY) bench/bench_detect.py --out docs/benchmarks-detect.md

bench-finetune: setup  ## the bundled model before/after mrife:train on the sample, scored on held-out ground
	$(PY) bench/bench_finetune.py --out docs/benchmarks-finetune.md

bench-accuracy: setup  ## train/evaluate baseline, ICSSN, MRIFE and ablations on Sichuan (CPU, ~1 h)
	$(PY) bench/bench_accuracy.py --out docs/results.md

bench-fewshot: setup  ## base model, then k = 6/12/18-scene fine-tuning vs scratch, 3 seeds (CPU, hours)
	$(PY) bench/bench_fewshot.py --out docs/results-fewshot.md

bench-engines: setup  ## torch float32 / auto vs ONNX Runtime, per tile and end to end; training step
	$(PY) bench/bench_engines.py --out docs/benchmarks-engines.md

reliability: setup  ## every bad input and fault through the CLI (~4 min); table in docs/reliability.md
	$(PY) bench/reliability.py --out docs/reliability.md

clean:  ## remove build outputs (keeps .venv)
	rm -rf build dist .pytest_cache
