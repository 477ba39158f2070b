# The two set-up commands of the README: `make app` and `make test`. Both create .venv and install
# requirements.txt into it the first time (and again whenever requirements.txt changes).
PY := .venv/bin/python
STAMP := .venv/.requirements-stamp

.PHONY: app test lint

$(STAMP): requirements.txt
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

app: $(STAMP)
	$(PY) -m streamlit run app.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .
