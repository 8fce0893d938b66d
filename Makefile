# pcinspect developer entry points. `make demo` and `make test` each run `make install` first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@scripts/ensure-libusb.sh
	@scripts/ensure-chromium.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: install
	$(BIN)/pcinspect demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/pcinspect bench geometry --points 25000
	$(BIN)/pcinspect bench geometry --points 100000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
