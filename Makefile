# detco-mm developer entry points. Everything runs inside the repo's virtual environment.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=
STUDY_ARGS ?=

.PHONY: install lint test demo study

## install: create .venv with the pinned OpenMMLab stack and detco_mm (idempotent)
install:
	DETCO_VENV=$(VENV) bash tools/install.sh

## lint: install when needed, then flake8 and the import order (isort) over the whole tree
##       (settings in setup.cfg); `isort .` fixes the order
lint: install
	$(VENV)/bin/flake8 .
	$(VENV)/bin/isort --check-only --diff .

## test: install when needed, then run the whole test suite on CPU
test: install
	$(PYTHON) -m pytest tests -p no:cacheprovider $(PYTEST_ARGS)

## demo: install when needed, then: does DetCo pre-training help? On data made from
##       scikit-image's bundled photographs: pre-train DetCo and MoCo v2, fine-tune RetinaNet
##       from random init, MoCo v2 and DetCo, one table with the verdict, loss curves
##       (tools/demo.py; options with DEMO_ARGS=..., e.g. DEMO_ARGS="--device cuda")
demo: install
	$(PYTHON) tools/demo.py $(DEMO_ARGS)

## study: the demo's comparison with 3 seeds of pre-training and fine-tuning at 40 and 400
##        labelled scenes (tools/analysis/init_study.py; about an hour and a half on 2 CPU
##        cores; options with STUDY_ARGS=...)
study: install
	$(PYTHON) tools/analysis/init_study.py $(STUDY_ARGS)
