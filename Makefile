# Two commands for a newcomer: `make demo` and `make test`. Both create or reuse
# .venv and install the package with torch pinned to its CPU build (constraints.txt),
# onnxruntime's CPU flavour and OpenVINO.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/alexnet-deploy
DATA := data/synth

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[cpu,openvino,test]'
	touch $(STAMP)

# The pipeline on the built-in dataset; each step reruns only when its input changed.
demo: $(STAMP)
	$(CLI) env
	$(CLI) models --arch paper
	$(MAKE) --no-print-directory models/alexnet.int8.onnx
	@echo "demo done: models/ holds the checkpoint and the fp32, fp16 and int8 ONNX models; reports/ the figures"

$(DATA)/dataset.json: | $(STAMP)
	$(CLI) data synth --out $(DATA)

models/alexnet.pt: $(DATA)/dataset.json
	$(CLI) train --arch paper --recipe fast --data $(DATA) --out $@
	$(CLI) eval --model $@ --data $(DATA) --json reports/eval.json

models/alexnet.onnx: models/alexnet.pt
	$(CLI) export --model $< --out $@ --data $(DATA) --fp16 --json reports/export.json

models/alexnet.int8.onnx: models/alexnet.onnx
	$(CLI) quantize --model $< --calib $(DATA)/calib --data $(DATA) --out $@ --json reports/int8.json

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
