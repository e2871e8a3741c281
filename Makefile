# The two commands of the README: `make demo` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck unit bench clean docs docs-serve

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,demo,docs]"
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m tools.demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers, each with its own test servers; against a given MongoDB (MONGODB_URI) tests share it: serial,
# and realcluster/ (what only a real mongod or a mongos does: never collected on the test servers) runs too.
XDIST := $(if $(MONGODB_URI),,-n 2 --dist worksteal)
REAL := $(if $(MONGODB_URI),tests realcluster,)

unit: $(STAMP)
	$(BIN)/pytest -q $(XDIST) $(REAL)

# The documentation site, into site/ (make test builds it too, with --strict, in tests/docs/test_site.py).
# The reference pages (commands, Python API, exit codes, configuration) are generated on each build.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

docs: $(STAMP)
	$(MKDOCS) build --strict

docs-serve: $(STAMP)
	$(MKDOCS) serve

bench: $(STAMP)
	$(BIN)/python -m benchmarks.migrations
	$(BIN)/python -m benchmarks.backup
	$(BIN)/python -m benchmarks.faithful_copy
	$(BIN)/python -m benchmarks.fleet

clean:
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache site
