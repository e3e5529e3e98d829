# `make demo` and `make test` do all set-up on a fresh machine: they create (or reuse) .venv,
# install torch 2.13.0 (the CPU wheel on these machines) and this project with its dev extras.
# Re-running is fast: the install step is skipped while pyproject.toml is unchanged.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TORCH  ?= torch==2.13.0

.PHONY: setup demo test test-slow test-server bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]" "$(TORCH)"
	@touch $(STAMP)

setup: $(STAMP)

# The main job: a 5-page storybook (HTML + print PDF) from the bundled shapes-world model.
demo: $(STAMP)
	$(PY) -m storybook make --out out/storybook

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

test-server: $(STAMP)
	$(PY) -m pytest -q -m server

bench: $(STAMP)
	$(PY) bench/kv_cache_story.py

clean:
	rm -rf $(VENV) out .cache
