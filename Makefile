# overlayc — every target creates/uses the local virtualenv by itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test golden lint demo bench fuzz clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "overlayc needs Python >= 3.11")'
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y --no-install-recommends python3-venv >/dev/null; \
	  else echo "python3-venv is missing: apt-get install python3-venv" >&2; exit 1; fi; fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

test: $(STAMP)
	$(PY) tools/debian_deps.py
	$(PY) -m pytest -q

golden: $(STAMP)
	OVERLAYC_REGEN_GOLDEN=1 $(PY) -m pytest -q tests -k golden -p no:randomly
	@git status --short golden schemas || true

lint: $(STAMP)
	$(VENV)/bin/ruff check overlayc tests lab tools bench
	$(VENV)/bin/mypy

demo: $(STAMP)
	$(PY) -m lab.demo

bench: $(STAMP)
	$(PY) -m bench

# >= 10,000 mutated configs, locks, saved plans, snapshots and option values (tests/fuzz.py);
# reports tracebacks, runs over 5 s and peak RSS, and fails on any of them
fuzz: $(STAMP)
	$(PY) -m tests.fuzz --examples 2000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
