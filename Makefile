# MRIFE for QGIS: routine tasks. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
QGIS ?= backports
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= offscreen
export PYTHONDONTWRITEBYTECODE := 1


.PHONY: qt6-index
.PHONY: translations screenshots qt6-widgets
.PHONY: help setup test test-fast lint package wheel qgis demo model bench bench-models bench-accuracy bench-detect bench-finetune bench-engines bench-fewshot reliability clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup:  ## Debian packages (QGIS 3.40; QGIS=debian for 3.22), .venv, pinned Python packages (idempotent)
	@QGIS=$(QGIS) bash scripts/setup.sh

test: setup  ## the whole suite: library unit tests and QGIS tests in a headless QGIS
	$(PY) -m pytest

test-fast: setup  ## the suite without tests marked slow
	$(PY) -m pytest -m "not slow"

lint: setup  ## ruff, Bandit (fails on Medium/High), the library's layers, the Qt6 and QGIS-enum checks, translations
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit -q -r mrife_qgis mrife --severity-level medium
	$(PY) scripts/layers.py
	$(PY) scripts/qt6_check.py mrife_qgis tests scripts bench
	$(PY) scripts/qgis_enum_check.py mrife_qgis tests scripts bench
	$(PY) scripts/translations.py --check
	$(MAKE) --no-print-directory qt6-widgets

qt6-widgets: setup  ## the Qt-only widgets under PyQt6 6.7.1 offscreen (a venv of its own, build/qt6-venv)
	@test -x build/qt6-venv/bin/python || (/usr/bin/python3 -m venv build/qt6-venv && \
		PIP_FIND_LINKS= build/qt6-venv/bin/pip install -q PyQt6==6.7.1)
	build/qt6-venv/bin/python scripts/qt6_widgets.py

screenshots: setup  ## the panel's three tabs in a real QGIS window (Xvfb, 1280 x 800), English and Chinese
	mkdir -p build && bash scripts/screenshots.sh

translations: setup  ## update mrife_qgis/i18n/*.ts from the code's tr() strings, compile the .qm files
	$(PY) scripts/translations.py

qt6-index: setup  ## rebuild scripts/qt6_enums.json (PyQt6's enums) from the PyQt6 wheel on PyPI
	rm -rf build/pyqt6 && PIP_FIND_LINKS= $(VENV)/bin/pip download --no-deps --only-binary :all: \
		PyQt6==6.7.1 -d build/pyqt6
	$(PY) scripts/qt6_check.py --index-from build/pyqt6/PyQt6-*.whl

package: setup  ## build dist/mrife_qgis-<version>.zip for "Install from ZIP"
	$(PY) scripts/package.py

wheel: setup  ## build dist/mrife-<version>-py3-none-any.whl: the library and its `mrife` command
	PIP_FIND_LINKS= $(PY) -m pip wheel --no-deps --no-build-isolation -q -w dist .
	@ls dist/mrife-*.whl

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

bench-fewshot: setup  ## base model, then k = 6/12/18-scene fine-tuning vs scratch, 3 seeds, today's and the shipped recipe (CPU, hours)
	$(PY) bench/bench_fewshot.py --out docs/results-fewshot.md
	$(PY) bench/bench_fewshot.py --recipe epochs-30+fusion-teacher --out docs/results-fewshot.md

bench-engines: setup  ## torch float32 / auto vs ONNX Runtime, per tile and end to end; training step
	$(PY) bench/bench_engines.py --out docs/benchmarks-engines.md

reliability: setup  ## every bad input and fault through the CLI (~4 min); table in docs/reliability.md
	$(PY) bench/reliability.py --out docs/reliability.md

clean:  ## remove build outputs (keeps .venv)
	rm -rf build dist .pytest_cache
