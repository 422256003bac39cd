# The two commands: `make run` starts the gateway, `make test` runs the whole test suite.
# Both create .venv and install the project with its dev extras on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell python3 -c "import hashlib,sys;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: run test bench clients

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/crabllm serve

test: $(STAMP)
	$(PY) -m pytest

# The real-client conformance suite alone (clients cached in .cache/clients/), then the README table.
clients: $(STAMP)
	$(PY) -m pytest -m clients tests/clients
	$(PY) -m tests.clients.report

bench: $(STAMP)
	$(PY) -m bench.run --quick
