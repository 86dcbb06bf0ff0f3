# The targets create .venv themselves, so a fresh clone needs only python3 and PyPI.
# Stamps under .venv record which extras are installed; they are redone when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: venv demo dask-demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Tests run numba.cuda kernels under the simulator, hence the cuda extra; and Dask's
# LocalCluster (tests/test_distributed.py), hence the dask extra.
$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,cuda,dask]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,bench,dask]'
	touch $@

venv: $(VENV)/.installed

$(VENV)/.installed-dask: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dask]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/forecast.py

dask-demo: $(VENV)/.installed-dask
	$(PY) examples/batch_on_dask.py $(DASK_ARGS)

test: $(VENV)/.installed-test
	$(PY) -m ruff check s2sad tests benchmarks examples
	$(PY) -m ruff format --check s2sad tests benchmarks examples
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -q -n auto --dist loadfile tests $(PYTEST_ARGS)

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .s2sad-cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
