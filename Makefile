# ironclad.swarm — developer entry points. The README's two commands:
#   make lab    build a local 1-manager/2-worker lab and run site.yml on it
#   make test   run every test (lint, sanity, unit, molecule)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := $(CURDIR)/.venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
COLL_ROOT   := $(CURDIR)/.build/collections
COLL_LINK   := $(COLL_ROOT)/ansible_collections/ironclad/swarm
SANITY_ROOT := $(or $(TMPDIR),/tmp)/ironclad-swarm-sanity/ansible_collections/ironclad/swarm
PYTHON      ?= python3
SCENARIOS   ?= default ha

export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
# Ansible's own state (molecule's copies of this collection, temp files) stays in the
# checkout, so a copy left in ~/.ansible by another checkout can never hide this one.
export ANSIBLE_HOME := $(CURDIR)/.build/ansible-home
export PATH := $(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR := $(if $(CI),0,1)
export ANSIBLE_PIPELINING := True
export ANSIBLE_NOCOLOR := $(if $(CI),1,0)
export PY_COLORS := $(if $(CI),0,1)

LAB_ARGS ?=

.PHONY: help venv collection host images lab lab-down lint sanity unit molecule test test-vm bench bench-firewall bench-audit bench-vm clean

help:
	@echo "make lab       start the local lab (1 manager + 2 workers) and build the swarm on it"
	@echo "make lab-down  remove the lab"
	@echo "make test      lint + sanity + unit + molecule ($(SCENARIOS)) + the VM scenario (encryption)"
	@echo "make test-vm   the QEMU VM scenario alone: ESP on the wire, audit (root, ~13 min)"
	@echo "make bench     converge / re-run / floor timings on the lab"
	@echo "make bench-firewall  apply time and rule count for 10 / 100 / 1,000 peers"
	@echo "make bench-audit     read-only audit time on a 3- and a 5-node lab"
	@echo "make bench-vm        audit time and HTTP throughput plain vs encrypted on the VM lab"

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(VENV)/.installed

# The repository is the collection: make it importable as ironclad.swarm.
collection:
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn ../../../.. $(COLL_LINK)

host:
	tests/lab/host-setup.sh

images: host
	tests/lab/build-images.sh

lab: venv collection images
	$(BIN)/ansible-playbook -i localhost, playbooks/lab.yml -e lab_inventory_file=$(CURDIR)/.build/lab-inventory.yml $(LAB_ARGS)

lab-down: venv collection host
	$(BIN)/ansible-playbook -i localhost, playbooks/lab.yml -e lab_state=absent $(LAB_ARGS)

lint: venv collection
	$(BIN)/ansible-lint --offline --profile production

$(CURDIR)/.venv-sanity/.installed: requirements-sanity.txt
	$(PYTHON) -m venv $(CURDIR)/.venv-sanity
	$(CURDIR)/.venv-sanity/bin/pip install -q --disable-pip-version-check -r requirements-sanity.txt
	touch $@

sanity: host $(CURDIR)/.venv-sanity/.installed
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ $(SANITY_ROOT)/
	cd $(SANITY_ROOT) && git init -q && git add -A
	pipver=$$($(CURDIR)/.venv-sanity/bin/python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; import types; print(g(types.SimpleNamespace(version="3.11"))["pip"])'); \
	  mkdir -p ~/.ansible/test/cache && cp tests/tooling/get_pip_offline.py ~/.ansible/test/cache/get_pip_$${pipver//./_}.py
	cd $(SANITY_ROOT) && $(CURDIR)/.venv-sanity/bin/ansible-test sanity --python 3.11 --color no

unit: venv collection
	$(BIN)/python -m pytest tests/unit -q

molecule: venv collection images
	for s in $(SCENARIOS); do (cd $(CURDIR) && $(BIN)/molecule test -s $$s) || exit 1; done

test: lint sanity unit molecule test-vm

# The VM scenario (QEMU TCG, about 13 minutes): ESP on the wire on a real kernel, the audit
# clean, then a dropped ESP pair flagged and repaired; see docs/vm-lab.md.
test-vm: venv collection images
	tests/vm/host-setup.sh
	$(BIN)/molecule test -s encryption

bench: venv collection images
	$(BIN)/python tests/bench/bench.py

bench-audit: venv collection images
	$(BIN)/python tests/bench/audit_bench.py --nodes 3 5

# Converges the VM lab (as `molecule converge -s encryption`), measures, then removes it.
bench-vm: venv collection images
	tests/vm/host-setup.sh
	$(BIN)/molecule converge -s encryption
	$(BIN)/python tests/bench/audit_bench.py --nodes --vm-lab "$${VM_WORKDIR:-/var/tmp/ironclad-swarm-vm}"; \
	  rc=$$?; $(BIN)/molecule destroy -s encryption; exit $$rc

bench-firewall: venv host
	$(BIN)/python tests/bench/firewall_bench.py --netns ironclad-fw-bench

clean: lab-down
	rm -rf .build
