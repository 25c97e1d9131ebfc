# Two commands on a fresh machine: `make demo`, then `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo run test lint bench check-config clean

venv: $(STAMP)

# Re-run the install only when the dependency files change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: venv
	$(PY) -m monitor.demo

run: venv
	$(VENV)/bin/monitor --config config/monitor.yaml run

check-config: venv
	$(VENV)/bin/monitor --config config/monitor.yaml check-config

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

# Static checks, configured in pyproject.toml: ruff (bugs, not style) and mypy.
lint: venv
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy

# Speed and quality are measured here, never asserted by timed unit tests.
# The idle benchmark runs for 3 minutes; the numbers are in the README and docs/.
bench: venv
	$(PY) benchmarks/detection.py
	$(PY) benchmarks/matcher_speed.py
	$(PY) benchmarks/extraction.py
	$(PY) benchmarks/delivery.py
	$(PY) benchmarks/stories.py
	$(PY) benchmarks/idle.py

clean:
	rm -rf $(VENV) var
