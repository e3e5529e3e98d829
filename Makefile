# `make demo` and `make test` do all set-up on a fresh machine: they create (or reuse) .venv,
# install torch 2.13.0 (the CPU wheel on these machines) and this project with its dev extras.
# Re-running is fast: the install step is skipped while pyproject.toml is unchanged.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TORCH  ?= torch==2.13.0

# The oldest dependency set the package claims (requirements.txt's lower bounds where the API changed): the
# core, the nodes and the storybook's model path are tested on it in a second venv by `make test-oldest`.
OLDEST_VENV  ?= .cache/venv-oldest
OLDEST_PY    := $(OLDEST_VENV)/bin/python
OLDEST_STAMP := $(OLDEST_VENV)/.installed-stamp
OLDEST_SET   := "transformers==4.57.*" "peft==0.18.*" "diffusers==0.35.*" "accelerate==1.0.*" "tokenizers==0.22.*"
OLDEST_TESTS := tests/core/test_core_generation.py tests/core/test_core_checkpoint.py tests/core/test_core_prompts.py \
                tests/core/test_core_training.py tests/core/test_convert_official.py \
                tests/storybook/test_storybook_generate.py tests/comfy/test_comfy_nodes.py \
                tests/comfy/test_comfy_workflows.py tests/core/test_quantize.py

.PHONY: setup demo test test-slow test-server test-oldest bench clean

# spandrel (the [upscale] extra) is installed for its tests without its dependencies: it requires torchvision,
# and no torchvision loads with the CPU torch here (the tests stub it: tests/support/torchvision_shim.py).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]" "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps "spandrel>=0.4"
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

$(OLDEST_STAMP): pyproject.toml Makefile
	@test -x $(OLDEST_PY) || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(OLDEST_PY) -m pip install -q --disable-pip-version-check -e ".[dev]" $(OLDEST_SET) "$(TORCH)"
	@touch $(OLDEST_STAMP)

test-oldest: $(OLDEST_STAMP)
	$(OLDEST_PY) -c "import transformers, peft, diffusers; print('oldest set: transformers', transformers.__version__, 'peft', peft.__version__, 'diffusers', diffusers.__version__)"
	$(OLDEST_PY) -m pytest -q $(OLDEST_TESTS)

bench: $(STAMP)
	$(PY) bench/kv_cache_story.py
	$(PY) bench/decode_cost.py
	$(PY) bench/memory_tiers.py

clean:
	rm -rf $(VENV) out .cache
