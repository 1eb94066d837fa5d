# rlfb: `make demo` and `make test` are the two commands a new user needs.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rlfb-installed
PYTEST_ARGS ?=

.PHONY: install demo verifier-demo test test-all lock clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py .ci/install.sh .ci/constraints-cpu.txt .ci/constraints-cuda.txt
	bash .ci/install.sh
	touch $(STAMP)

# The main job: GRPO on SmolLM2-135M-Instruct (experiments/quickstart.yaml), report in
# runs/quickstart/ (a second run replaces the first).
demo: install
	rm -rf runs/quickstart
	$(VENV)/bin/rlfb train experiments/quickstart.yaml

verifier-demo: install
	$(PY) experiments/verifier_demo.py

test: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Refresh the pinned versions: install into a fresh temporary venv with only torch pinned (the
# newest versions pyproject.toml allows), write .ci/constraints-cpu.txt and constraints-cuda.txt
# from it, then reinstall .venv from the new lock and run the tests on it.
lock:
	python3 .ci/lock.py fresh
	$(MAKE) test

clean:
	rm -rf $(VENV) build *.egg-info
