# make demo  — set up .venv and generate the standard example agreement
# make serve — set up .venv and start the web app with the example provider (first user: see README)
# make test  — set up everything (incl. LibreOffice when root) and run lint, types and tests
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test check lint typecheck pytest system-deps template clean bench serve

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# setuptools prints a banner about editable installs (a UserWarning, not a deprecation)
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/dpa generate examples/deal-standard-nl.yaml -o $(OUT)/deal-standard-nl.docx
	@echo "Open $(OUT)/deal-standard-nl.docx in Word or LibreOffice."
	@echo "Why each clause is there: $(BIN)/dpa explain examples/deal-standard-nl.yaml"

system-deps:
	@bash .ci/system-deps

lint: $(BIN)/.installed
	$(BIN)/ruff check dpa_engine tests benchmarks
	$(BIN)/dpa clauses lint --library clauses

typecheck: $(BIN)/.installed
	$(BIN)/mypy dpa_engine

pytest: $(BIN)/.installed
	$(BIN)/pytest -q

test: system-deps lint typecheck pytest

template: $(BIN)/.installed
	$(BIN)/python -m dpa_engine.render.base_template templates/agreement.docx

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache build

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py $(if $(QUICK),--quick)

serve: $(BIN)/.installed
	@echo "No user yet? In another terminal: $(BIN)/dpa users add you@example.com --role admin"
	$(BIN)/dpa serve --provider examples/provider.yaml $(if $(PORT),--port $(PORT))
