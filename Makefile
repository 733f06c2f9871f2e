# detco-mm developer entry points. Everything runs inside the repo's virtual environment.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: install test demo

## install: create .venv with the pinned OpenMMLab stack and detco_mm (idempotent)
install:
	DETCO_VENV=$(VENV) bash tools/install.sh

## test: install when needed, then run the whole test suite on CPU
test: install
	$(PYTHON) -m pytest tests -p no:cacheprovider $(PYTEST_ARGS)

## demo: install when needed, then DetCo end to end on data made from scikit-image's bundled
##       photographs: pre-train, export, fine-tune RetinaNet, evaluate, table + loss curves
##       (tools/demo.py; options with DEMO_ARGS=..., e.g. DEMO_ARGS="--device cuda")
demo: install
	$(PYTHON) tools/demo.py $(DEMO_ARGS)
