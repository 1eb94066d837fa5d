# rlfb: `make demo` and `make test` are the two commands a new user needs.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rlfb-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-all lint clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py .ci/install.sh .ci/constraints-cpu.txt
	bash .ci/install.sh
	touch $(STAMP)

demo: install
	$(PY) experiments/verifier_demo.py

test: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
