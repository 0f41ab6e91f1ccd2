# Two commands do all the set-up on a fresh Debian machine with Python 3.11:
#   make run    -- create .venv, install pricewar[all], run the baseline scenario
#   make test   -- the same set-up plus the [ema] extra and Chromium (browser tests), then the
#                  default test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# the tests also cover the EMA Workbench adapter, outside [all] (pyproject.toml)
TEST_STAMP := $(VENV)/.installed-test-stamp
# what `pricewar run baseline` writes by default (runs/<scenario>-seed<seed>)
OUT ?= runs/baseline-seed1

.PHONY: run test test-slow bench lint figures screenshots chromium

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need python3.11 (Python >= 3.11) on PATH"; exit 1; }
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); } \
	  || { echo "venv failed: installing Debian's python3-venv"; rm -rf $(VENV); \
	       apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	       >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[all,ema]"
	@touch $(TEST_STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: $(STAMP)
	$(BIN)/pricewar run baseline --out $(OUT)

# pytest exits 5 when it collects no test: that is a broken suite, not a pass.
test: $(TEST_STAMP) chromium
	@$(BIN)/python -m pytest -q -n 2 --dist loadgroup; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	exit $$rc

test-slow: $(TEST_STAMP) chromium
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python experiments/bench_kernel.py

lint: $(STAMP)
	$(BIN)/ruff check .

figures: $(STAMP)
	$(BIN)/pricewar figures

# the README's pictures of the browser app: market, look-back and comparison views (tests never
# write tracked files)
screenshots: $(STAMP) chromium
	$(BIN)/python experiments/app_screenshots.py --out figures
