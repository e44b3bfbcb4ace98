# Quick start targets: `make demo` runs the main job on the bundled sample data,
# `make test` runs the whole test suite. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): setup.cfg setup.py pyproject.toml sentiment/lang/_dag.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The sample exports end on 2026-11-24: the demo digests that day. `run --once` waits
# for files copied into the inbox just before to settle, then takes them.
DEMO_DAY := 2026-11-24

demo: $(STAMP)
	mkdir -p inbox
	cp examples/exports/* inbox/
	$(BIN)/sentiment run --once --date $(DEMO_DAY)
	$(BIN)/sentiment outbox
	@echo "digests rendered for $(DEMO_DAY):"; ls -1 outbox/*digest_*$(DEMO_DAY).eml

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) build *.egg-info sentiment.db sentiment.db-wal sentiment.db-shm outbox
