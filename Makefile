# Every user-facing action is one target. Variables: PROFILE, HOST, PORT, ARGS, USERS,
# DURATION, RATES, STEP, BASELINE, SPIKE, OPEN, RUN (a run folder), OFFERED, PYTEST_ARGS,
# A and B (two run folders to compare). ARGS: extra options for the target's command (Locust
# options for the load targets, --set for the gateway, --model for doctor, --live-s for tune).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HELP_HOOK := $(VENV)/.locust-help-stamp
PROFILE ?= default
HOST   ?= 127.0.0.1
PORT   ?= 8000
USERS  ?= 4
DURATION ?= 30s
RATES  ?= 2,5,10,20,40
STEP   ?= 10
BASELINE ?= 1
SPIKE  ?= 20
OPEN   ?=
RUNNER := $(BIN)/python -m locustfiles.run --profile $(PROFILE) $(if $(RUN),--run-dir $(RUN))

.PHONY: install system-deps test gateway doctor demo tight-loop spike sweep probe report render tune compare index bench-gateway clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# Locust answers --help before it imports a locustfile: this hook lets
# `locust -f locustfiles/probe.py --help` list the harness's options (locustfiles/locust_help.py).
$(HELP_HOOK): $(STAMP) locustfiles/locust_help.py
	$(BIN)/python -c "from locustfiles.locust_help import install; print('locust --help hook:', install())"
	@touch $(HELP_HOOK)

install: $(STAMP) $(HELP_HOOK)

# Debian's programs first (npm among them), then the npm limiters into limiters/node/.
system-deps:
	@scripts/install-system-deps.sh
	@scripts/install-node-deps.sh

test: install system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

gateway: install
	$(BIN)/python -m gateway --profile $(PROFILE) --host $(HOST) --port $(PORT) $(ARGS)

# The troubleshooting page as checks against PINAIVU_BASE_URL with PINAIVU_API_KEY.
doctor: install
	$(BIN)/python -m doctor $(ARGS)

demo: install
	$(BIN)/python scripts/demo.py --profile $(PROFILE)

tight-loop: install
	$(RUNNER) tight_loop --users $(USERS) --duration $(DURATION) -- $(ARGS)

# Each phase lasts 10 s, then 10 s, then 20 s; OPEN=1 offers arrival rates instead of users.
# Spike and sweep end by themselves: their run time bound is their plan plus 5 s (auto).
spike: install
	$(RUNNER) $(if $(OPEN),spike_open --users 1 --duration auto -- --baseline-rate $(BASELINE) --spike-rate $(SPIKE) $(ARGS),spike --users 1 --duration auto -- --baseline-users $(BASELINE) --spike-users $(SPIKE) $(ARGS))

sweep: install
	$(RUNNER) sweep --users 1 --duration auto -- --rates $(RATES) --step-s $(STEP) $(ARGS)

probe: install
	$(RUNNER) probe --users 1 --duration auto -- $(ARGS)

# RUN= a run folder; without it, the newest under reports/.
report: install
	$(BIN)/python -m analysis report $(RUN)

# The page again from RUN's summary.json and figures: no events read, nothing re-fitted.
render: install
	$(BIN)/python -m analysis render $(RUN)

# Simulates retry policies against the run's fitted quota, then checks the best and the OpenAI
# SDK's default live; OFFERED= logical requests/s, ARGS="--live-s 0" to simulate only.
tune: install
	$(BIN)/python -m analysis tune $(RUN) $(if $(OFFERED),--offered $(OFFERED)) $(ARGS)

# A= and B= two run folders; without them, the newest run and the one before it of the same
# scenario.
compare: install
	$(BIN)/python -m analysis compare $(A) $(B) $(ARGS)

# reports/index.html: every run and comparison (also refreshed by report, tune and compare).
index: install
	$(BIN)/python -m analysis index

bench-gateway: install system-deps
	$(BIN)/python benchmarks/gateway_throughput.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
