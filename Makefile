# The targets create .venv themselves, so a fresh clone needs only python3 and PyPI.
# Stamps under .venv record which extras are installed; they are redone when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: venv demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Tests run numba.cuda kernels under the simulator, hence the cuda extra.
$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,cuda]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) examples/forecast.py

test: $(VENV)/.installed-test
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -q tests $(PYTEST_ARGS)

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .s2sad-cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
