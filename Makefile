# The two commands: `make demo` (everything set up, the lab up, the main job run on it)
# and `make test` (lint, sanity, unit, integration). Everything lives in .venv/ and .lab/.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
HOSTS ?= 3
# make demo: the fault the lab gets before the diagnosis (python -m lab fault --help)
DEMO_HOST ?= genesis-002
DEMO_FAULT ?= rate_limit --hosts $(DEMO_HOST)
LINK := .collections/ansible_collections/genesis/model_ops
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup system-packages demo test static lint sanity unit faults integration mutation lab-up lab-down lab-status build ee-context ee clean

help:
	@echo "make demo          set everything up, start a $(HOSTS)-host lab, run the main job on it"
	@echo "make test          lint, sanity, unit, fault and integration tests (starts its own lab)"
	@echo "make faults        the fault suite (lock races, kill -9, concurrent edits, ...); figures to docs/reliability.md"
	@echo "make mutation      mutation testing (mutmut), the score per file; not part of make test"
	@echo "make lab-up HOSTS=N / make lab-down / make lab-status"

setup: $(VENV)/.installed $(LINK) system-packages

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The collection, found by ansible.cfg's collections_path: a link to this clone, so edits are live.
$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

# Prometheus and promtool (the lab's metrics, the alert rules' tests), Alertmanager and Java (the
# alert-driven test: ansible-rulebook runs on Java 17), sshd (`lab up --ssh`), shellcheck (a sanity
# test), openssl (a self-signed certificate for the health probe's TLS test) and chromium (the HTML report opened
# in a real browser) come from Debian's packages.
system-packages:
	@missing=""; command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	 test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	 command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	 command -v openssl >/dev/null || missing="$$missing openssl"; \
	 command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	 command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	 command -v chromium >/dev/null || missing="$$missing chromium"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ]; then \
	     echo "installing Debian packages:$$missing"; \
	     apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	   else echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; fi; \
	 fi

lab-up: setup
	$(PY) -m lab up --hosts $(HOSTS)

lab-down:
	@if [ -x $(PY) ]; then $(PY) -m lab down; fi

lab-status:
	$(PY) -m lab status

demo: setup
	$(PY) -m lab up --hosts $(HOSTS)
	$(PY) -m lab fault $(DEMO_FAULT)
	$(PY) -m lab wait --hosts $(DEMO_HOST) --status degraded,down
	$(BIN)/ansible-playbook diagnose.yml
	@echo; cat reports/diagnosis-latest.md

lint: setup
	$(BIN)/ansible-lint
	$(BIN)/antsibull-changelog lint
	cd .collections/ansible_collections/genesis/model_ops && PATH="$(CURDIR)/$(BIN):$$PATH" antsibull-docs lint-collection-docs --plugin-docs .
	promtool check rules extensions/prometheus/rules/*.yml
	promtool test rules extensions/prometheus/tests/*.yml

sanity: setup
	tests/sanity/run.sh

unit: setup
	$(PY) -m pytest tests/unit -q

# The fault tests print their counts (and keep them in tests/output/faults.json);
# `make faults FAULTS_DOC=docs/reliability.md` also writes them into that table.
faults: setup
	FAULTS_DOC=$(FAULTS_DOC) $(PY) -m pytest tests/faults -q -p no:cacheprovider

# mutmut over the code that decides and changes things, each file against its own unit tests; the score
# per file at the end (docs/dev/testing.md). Not part of `make test`: about two hours on 2 cores; a file's survivors
# alone: .venv/bin/python tests/mutation/run.py --survivors FILE.
mutation: setup
	$(PY) tests/mutation/run.py

# Workers for the integration tests, each with its own lab: the tests wait on their labs much of the time
INTEGRATION_WORKERS ?= 3

integration: setup
	$(PY) -m pytest tests/lab tests/integration -q -p no:cacheprovider -n $(INTEGRATION_WORKERS) --dist worksteal --durations=40

# The lab-free checks run beside the integration tests, which wait on the lab much of the time;
# each target's output is printed whole when it ends. (Tried and measured worse: the checks niced, 28 min, as
# they then ended after the integration tests; the integration tests longest first with --dist load, 29.7 min.)
test: setup
	@$(MAKE) --no-print-directory -j2 --output-sync=target integration static

static: lint sanity unit faults

build: setup
	$(BIN)/ansible-galaxy collection build --force

# The execution environment (execution-environment.yml). The collection's version is galaxy.yml's alone:
# ee-context builds the tarball into dist/ and writes dist/requirements.yml naming it, then context/.
VERSION = $(shell $(PY) -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
TARBALL = genesis-model_ops-$(VERSION).tar.gz
# The base image and package manager (build arguments; empty: execution-environment.yml's, CentOS Stream 9
# and dnf as awx-ee). AAP's ee-minimal: EE_BASE_IMAGE=registry.redhat.io/ansible-automation-platform-25/ee-minimal-rhel9:latest EE_PKGMGR=/usr/bin/microdnf
EE_BASE_IMAGE ?=
EE_PKGMGR ?=
EE_ENGINE ?= podman
EE_TAG ?= genesis-model_ops-ee:$(VERSION)

ee-context: setup
	rm -rf dist context
	$(BIN)/ansible-galaxy collection build --output-path dist .
	@test -f dist/$(TARBALL) || { echo "ee-context: dist/$(TARBALL) was not built (galaxy.yml's version: '$(VERSION)')" >&2; exit 1; }
	printf 'collections:\n  - name: /build/collections/%s\n    type: file\n' $(TARBALL) > dist/requirements.yml
	$(BIN)/ansible-builder create -f execution-environment.yml --context context --output-filename Containerfile

ee: ee-context
	$(EE_ENGINE) build -f context/Containerfile -t $(EE_TAG) \
	  $(if $(EE_BASE_IMAGE),--build-arg EE_BASE_IMAGE=$(EE_BASE_IMAGE)) $(if $(EE_PKGMGR),--build-arg PKGMGR=$(EE_PKGMGR)) context

clean: lab-down
	rm -rf .mutation .collections .pytest_cache tests/output genesis-model_ops-*.tar.gz dist context
