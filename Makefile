VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench airflow clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev,airflow]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/recsys demo --workdir demo_run

test: $(STAMP)
	$(VENV)/bin/ruff check recsys serving feature_store dags tests bench
	$(VENV)/bin/python -m pytest -q -ra

lint: $(STAMP)
	$(VENV)/bin/ruff check recsys serving feature_store dags tests bench
	$(VENV)/bin/mypy recsys serving feature_store

airflow: $(STAMP)
	./scripts/airflow-standalone.sh

clean:
	rm -rf demo_run airflow_home .pytest_cache
