# hwlat: two commands do all the set-up on a fresh machine with Python 3.11 and pip.
#   make demo   creates .venv, installs hwlat, profiles this machine's CPU, queries the table, searches
#               NB201 under a 2 ms budget and writes a gallery measured on the device
#   make test   creates .venv, installs hwlat with the dev extras, runs ruff, mypy and the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: demo test venv clean sshd

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
	$(BIN)/hwlat query --space nb201 --table $(DEMO_OUT)/cpu-ort/table.parquet --explain \
	  '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
	$(BIN)/hwlat search --device cpu-ort --space nb201 --table $(DEMO_OUT)/cpu-ort/table.parquet \
	  --budget 2 --evaluations 500 -o $(DEMO_OUT)/gallery

# The SSH device tests start a throwaway OpenSSH server on 127.0.0.1; where sshd is missing and
# apt-get can install it (root, Debian/Ubuntu) it is installed, else those tests skip and say why.
sshd:
	@command -v sshd >/dev/null 2>&1 || test -x /usr/sbin/sshd || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { echo "installing openssh-server for the SSH device tests"; \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >/dev/null 2>&1; } || \
	      echo "could not install openssh-server: the SSH device tests will skip"; }; } || true

test: $(STAMP) sshd
	$(BIN)/ruff check hwlat tests benchmarks
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) $(DEMO_OUT)
