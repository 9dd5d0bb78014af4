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

.PHONY: install serve stop models test ui bench bench-smoke scale-demo clean

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

# Serving benchmarks (loadtest/, results in BENCHMARKS.md). `bench` measures the
# demo models (about 20 min on 2 cores); `bench-smoke` runs every phase briefly on
# the tiny models, built here the way the tests build them, for CI.
BENCH_SMOKE_RUN ?= build/bench-smoke/tiny

$(BENCH_SMOKE_RUN)/model_store/vit.mar: | $(VENV)/.installed
	$(PY) -m training all --preset tiny --out $(BENCH_SMOKE_RUN) --model-store $(BENCH_SMOKE_RUN)/model_store --workers 0

bench: $(VENV)/.installed $(MARS)
	$(PY) -m loadtest.bench --runs $(RUN_DIR) --model-store $(MODEL_STORE) --report BENCHMARKS.md

bench-smoke: $(VENV)/.installed $(BENCH_SMOKE_RUN)/model_store/vit.mar
	$(PY) -m loadtest.bench --smoke --runs $(BENCH_SMOKE_RUN) --model-store $(BENCH_SMOKE_RUN)/model_store --out build/bench-smoke

scale-demo: $(VENV)/.installed $(MARS)
	$(PY) -m loadtest.scale_demo --runs $(RUN_DIR) --report BENCHMARKS.md
