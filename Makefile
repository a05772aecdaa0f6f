# Every user-facing action is one target. Variables: PROFILE, HOST, PORT, ARGS, USERS,
# DURATION, RUN (a run folder), PYTEST_ARGS.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROFILE ?= default
HOST   ?= 127.0.0.1
PORT   ?= 8000
USERS  ?= 4
DURATION ?= 30s

.PHONY: install system-deps test gateway demo tight-loop bench-gateway clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

test: install system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

gateway: install
	$(BIN)/python -m gateway --profile $(PROFILE) --host $(HOST) --port $(PORT) $(ARGS)

demo: install
	$(BIN)/python scripts/demo.py --profile $(PROFILE)

tight-loop: install
	$(BIN)/python -m locustfiles.run tight_loop --profile $(PROFILE) --users $(USERS) --duration $(DURATION) $(if $(RUN),--run-dir $(RUN))

bench-gateway: install system-deps
	$(BIN)/python benchmarks/gateway_throughput.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
