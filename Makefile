# hwlat: two commands do all the set-up on a fresh machine with Python 3.11 and pip.
#   make demo   creates .venv, installs hwlat, profiles this machine's CPU and shows the result
#   make test   creates .venv, installs hwlat with the dev extras, runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: demo test venv clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[torch,dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hwlat devices detect
	$(BIN)/hwlat profile --device cpu-ort --space nb201 -o $(DEMO_OUT)/cpu-ort
	$(BIN)/hwlat profile --device cpu-litert --space nb201 -o $(DEMO_OUT)/cpu-litert
	$(BIN)/hwlat table diff $(DEMO_OUT)/cpu-ort/table.parquet $(DEMO_OUT)/cpu-litert/table.parquet --top 10

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) $(DEMO_OUT)
