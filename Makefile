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

# Until the trained default model ships (shapes-world issue), the demo makes a storybook with the
# tiny RANDOM model: every stage of the real pipeline runs; its words and pictures are noise.
demo: $(STAMP)
	$(PY) -m minigpt5_core save-tiny --out out/models/tiny
	$(PY) -m storybook make --model out/models/tiny --prompt "A little fox finds a lantern." \
		--pages 5 --seed 0 --out out/storybook

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
