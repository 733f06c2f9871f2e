# detco-mm developer entry points. Everything runs inside the repo's virtual environment.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test

## install: create .venv with the pinned OpenMMLab stack and detco_mm (idempotent)
install:
	DETCO_VENV=$(VENV) bash tools/install.sh

## test: install when needed, then run the whole test suite on CPU
test: install
	$(PYTHON) -m pytest tests -p no:cacheprovider $(PYTEST_ARGS)
