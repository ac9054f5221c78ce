# bayescope: `make demo` and `make test` are the two commands a new user needs.
# Both create .venv with Python 3.12 when it is missing and install the package first.

VENV      := .venv
VPY       := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
DEMO_OUT  ?= demo_out

.PHONY: install demo test test-all lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@PY="$$(bash .ci/find-python312)" || exit 1; \
	if [ ! -x $(VPY) ]; then echo "creating $(VENV) with $$PY"; "$$PY" -m venv $(VENV); fi
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: install
	$(VENV)/bin/bayescope demo --out $(DEMO_OUT)

# Test files run in parallel processes, each file whole on one (its module fixtures fit once).
test: install
	$(VPY) -m pytest -q -m "not slow" -n auto --maxprocesses 4 --dist loadfile

test-all: install
	$(VPY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy bayescope data models inference posterior_reports

bench: install
	$(VPY) bench/btyd.py
	$(VPY) bench/api.py
	$(VPY) bench/propensity.py
	$(VPY) bench/propensity_scoring.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
