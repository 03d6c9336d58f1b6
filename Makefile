# pyquic: every target bootstraps from a bare machine with Python >= 3.11 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck unit peers demo bench interop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The test command: linters, strict typing, the real peers, then the whole default suite.
test: lint typecheck peers unit

# ngtcp2's gtlsclient/gtlsserver and tshark, for tests/interop (installed with apt as root).
peers:
	sh scripts/install-test-peers.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/pytest -q tests

# A real QUIC server and client on loopback.
demo: $(STAMP)
	$(BIN)/pyquic demo

# The interop runner's test cases on loopback (no containers) through the impairment relay
# (10 Mbit/s, 15 ms, per-case loss/corruption/blackhole/long RTT/rebinding) plus the goodput
# measurement, for every server x client pair of pyquic, aioquic and ngtcp2 (tests/interop/peers.json)
# with pyquic on one side: a matrix in interop-results/ (matrix.md, results.json). Not in `make test`.
interop: $(STAMP) peers
	$(BIN)/python -m pyquic.tools.interop_runner --peers tests/interop/peers.json --output interop-results

# Benchmarks: never part of `make test`.
bench: $(STAMP)
	$(BIN)/python bench/packet_protection.py
	$(BIN)/python bench/udp_loopback.py
	$(BIN)/python bench/tls_handshake.py
	$(BIN)/python bench/receive_path.py
	$(BIN)/python bench/perf_compare.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
