# Two commands for a newcomer: `make demo` and `make test`. Both create or reuse
# .venv and install the package with torch pinned to its CPU build (constraints.txt),
# onnxruntime's CPU flavour and OpenVINO.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/alexnet-deploy
DATA := data/synth
# Options of the demo's pipeline: short bench windows keep it in minutes (bench's defaults are 1s and 5s).
DEMO_OPTIONS ?= --warmup 0.5s --duration 1s

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[cpu,openvino,test]'
	touch $(STAMP)

# The pipeline on the built-in dataset: train, export, fp16, INT8, verify, bench, runs/demo/report.md.
# A second run keeps every step whose inputs are unchanged; an interrupted one resumes where it stopped.
demo: $(STAMP) $(DATA)/dataset.json
	$(CLI) env
	$(CLI) pipeline --train --arch paper --recipe fast --data $(DATA) --out runs/demo $(DEMO_OPTIONS)

$(DATA)/dataset.json: | $(STAMP)
	$(CLI) data synth --out $(DATA)

# Two workers, each module's tests on one of them (module fixtures are made once): most tests wait on
# subprocesses and file I/O, so two workers on two cores take about half the time of one.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

clean:
	rm -rf $(VENV) build *.egg-info runs/demo
