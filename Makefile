# realcheck: `make serve` to run it, `make test` to check it. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= demo
MODEL_STORE ?= model_store
RUN_DIR ?= build/$(PRESET)
SERVE_DIR ?= build/serve
UI_HOST ?= 127.0.0.1
UI_PORT ?= 8090
API ?= http://127.0.0.1:8080
MARS := $(MODEL_STORE)/cnn.mar $(MODEL_STORE)/fcn.mar $(MODEL_STORE)/vit.mar

.PHONY: install serve stop models test test-fast ui bench bench-smoke clean

$(VENV)/.installed: pyproject.toml scripts/install.sh
	EXTRAS=test VENV=$(VENV) scripts/install.sh
	touch $@

install: $(VENV)/.installed

# Built once; a second `make serve` reuses them. Delete model_store/*.mar to rebuild.
$(MARS): | $(VENV)/.installed
	$(PY) -m training all --preset $(PRESET) --data synthetic --out $(RUN_DIR) --model-store $(MODEL_STORE)

models: $(MARS)

serve: $(VENV)/.installed $(MARS)
	$(PY) -m serving start --model-store $(MODEL_STORE) --workdir $(SERVE_DIR)

stop: | $(VENV)/.installed
	$(PY) -m serving stop --workdir $(SERVE_DIR)

ui: | $(VENV)/.installed
	$(PY) web/serve.py --host $(UI_HOST) --port $(UI_PORT) --api $(API)

test: $(VENV)/.installed
	scripts/install-chromium.sh
	$(PY) -m pytest -q

clean:
	rm -rf build $(MODEL_STORE)/*.mar
