# The two set-up commands of the README: `make app` and `make test`. Both create .venv and install
# requirements.txt into it the first time (and again whenever a requirements file changes), then
# requirements-pose.txt without its declared dependencies (see that file).
PY := .venv/bin/python
STAMP := .venv/.requirements-stamp

.PHONY: app test lint

$(STAMP): requirements.txt requirements-pose.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-pose.txt
	touch $(STAMP)

app: $(STAMP)
	$(PY) -m streamlit run serve.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .
