# Two commands for a fresh checkout: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bootstrap toolchain clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Moorage needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

bootstrap: $(STAMP)

# Installs what is missing or damaged; a no-op (a few seconds of checksums) when the cache is complete.
toolchain: bootstrap
	$(BIN)/moorage toolchain install

run: toolchain
	$(BIN)/moorage up

# pytest exits 5 when it collects no tests; that must fail CI, and it does, since make fails on any non-zero.
test: toolchain
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
