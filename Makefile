# make demo: set up the environment if missing, then run the workflow on the built-in demo data.
# make test: set up the environment if missing, then run the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.eevflow-installed
CORES ?= all

.PHONY: setup demo test lint schema clean-results

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" snakemake --cores $(CORES)

test: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" python -m pytest -q -ra

lint: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" snakemake --lint && $(VENV)/bin/snakefmt --check .

# regenerate schemas/config.schema.yaml and the README's option tables from the option classes
schema: $(STAMP)
	$(PY) scripts/gen_schema.py

clean-results:
	rm -rf results .snakemake
