# Quick start targets: `make demo` runs the main job on the bundled sample data,
# `make test` runs the whole test suite. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test bench clean

$(STAMP): setup.cfg setup.py pyproject.toml sentiment/lang/_dag.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP) browser

# The console's browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# download needs the network): install it with apt when it is missing; they fail without it.
browser:
	@test -x /usr/bin/chromium || command -v chromium >/dev/null || \
	  (DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) || \
	  { echo "Chromium is missing and could not be installed: apt-get install chromium (as root)"; exit 1; }

# `make demo` works in ./demo/, rebuilt on every run: its own sentiment.toml (from `sentiment
# init`), store, inbox, outbox; never ./sentiment.db or a SENTIMENT_* setting of your shell.
# The sample exports end on 2026-11-24; shift_dates.py copies them into the inbox with every
# date moved so that their last day is yesterday (Asia/Shanghai): the critical reviews fall
# in the 48-hour alert window and yesterday's digest shows them. `run --once` waits for the
# files copied into the inbox just before to settle, then takes them.
DEMO := demo
DEMO_UNSET := $(foreach v,$(filter SENTIMENT_%,$(.VARIABLES)),-u $(v))
DEMO_CLI = $(if $(DEMO_UNSET),env $(DEMO_UNSET) )$(BIN)/sentiment --config $(DEMO)/sentiment.toml

demo: $(STAMP)
	rm -rf $(DEMO)
	mkdir -p $(DEMO)
	cd $(DEMO) && $(if $(DEMO_UNSET),env $(DEMO_UNSET) )$(abspath $(BIN))/sentiment init
	$(BIN)/python examples/shift_dates.py examples/exports $(DEMO)/inbox
	$(DEMO_CLI) run --once --digest
	$(DEMO_CLI) outbox
	$(DEMO_CLI) triage list
	@echo
	@echo "digests (yesterday's, one per audience):"; \
	  ls -1 $(DEMO)/outbox/*digest_*.eml 2>/dev/null | sed 's/^/  /' | grep . || { echo "  none"; exit 1; }
	@echo "immediate alerts:"; \
	  ls -1 $(DEMO)/outbox/*.eml | grep -v digest | sed 's/^/  /' | grep . || { echo "  none"; exit 1; }
	@echo "(delivered copies in $(DEMO)/outbox/sent/; the store is $(DEMO)/sentiment.db: try"
	@echo " $(BIN)/sentiment --config $(DEMO)/sentiment.toml status)"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) build *.egg-info sentiment.db sentiment.db-wal sentiment.db-shm outbox $(DEMO)
