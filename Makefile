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
# The controller tools need Python 3.12 or later: python3.13, then python3.12, found on
# PATH or in pyenv's versions (tests/tooling/find-python.sh). `make PYTHON=...` overrides.
PYTHON      ?= $(shell tests/tooling/find-python.sh 2>/dev/null)
# The releases the lab builds, oldest first, and its default one, from the one list of releases,
# molecule/shared/platforms.json (read with any Python 3; no package needed).
PLATFORMS_PY := $(or $(PYTHON),python3) molecule/shared/platforms.py
LAB_SUITES_ALL := $(shell $(PLATFORMS_PY) lab-suites)
DEFAULT_SUITE := $(shell $(PLATFORMS_PY) default)
$(if $(DEFAULT_SUITE),,$(error cannot read molecule/shared/platforms.json with $(PLATFORMS_PY)))
# Node platform of `make lab` and `make test-vm`, a codename of that list (bookworm, trixie, forky, ...).
SUITE       ?= $(DEFAULT_SUITE)
# What `make molecule` (and so `make test`) runs: scenario:suite pairs, the default scenario on every
# release of the lab and ha on the default one.
MATRIX      ?= $(foreach s,$(LAB_SUITES_ALL),default:$(s)) ha:$(DEFAULT_SUITE)
# make test runs the VM scenario and the MATRIX's scenarios as one pool, this many at a time, the
# next one starting when one ends (one alone leaves 60 % of two cores idle: the tests wait on swarms,
# services and VMs more than they compute). The VM scenario, the longest, starts first.
MOLECULE_JOBS ?= 2
comma := ,
space := $(subst ,, )
# The suites whose lab images `make images` builds (all of MATRIX's).
LAB_SUITES  ?= $(sort $(foreach m,$(MATRIX),$(word 2,$(subst :, ,$(m)))))

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

.PHONY: help python venv collection host images lab lab-down lint sanity unit molecule test test-vm test-vm-rolling test-hcloud bench bench-compare bench-firewall bench-audit bench-scale bench-agent bench-vm soak clean

help:
	@echo "make lab       start the local lab (1 manager + 2 workers, Debian SUITE=$(SUITE)) and build the swarm on it"
	@echo "make lab-down  remove the lab"
	@echo "make test      lint + sanity + unit + molecule ($(MATRIX)) + the VM scenario (encryption, $(SUITE))"
	@echo "make molecule-SCENARIO-SUITE  one container scenario on one suite, e.g. make molecule-default-forky"
	@echo "make test-hcloud  the Hetzner Cloud playbooks against the stand-in API, then end to end on a lab"
	@echo "make test-vm-rolling  the VM scenario with the rolling reboot of the VMs at the end (by hand)"
	@echo "make test-vm   the QEMU VM scenario alone: ESP on the wire, audit (SUITE=$(SUITE); root, ~13 min)"
	@echo "make bench     converge / re-run / floor timings on the lab, then site.yml vs the community.docker baseline"
	@echo "make bench-compare  only site.yml vs the community.docker baseline (converge, whole site, same scope)"
	@echo "make bench-firewall  apply time and rule count for 10 / 100 / 1,000 peers"
	@echo "make bench-audit     read-only audit time on a 3- and a 5-node lab"
	@echo "make bench-scale     the scale curve: converge, re-run and audit on 3, 6, 9 and 15 nodes, plotted"
	@echo "make bench-agent     the node agent's CPU, wall time and peak RSS per run on labs of 3 and 15 nodes"
	@echo "make bench-vm        audit time and HTTP throughput plain vs encrypted on the VM lab"
	@echo "make soak      make lab, then 10 minutes of service churn under a real Prometheus with the alert rules"

# Stops with advice when no Python 3.12+ was found.
python:
	@if [[ -z "$(PYTHON)" ]]; then tests/tooling/find-python.sh >/dev/null; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
	  || { echo "PYTHON=$(PYTHON) is older than 3.12; ansible-core 2.21 needs 3.12 or later" >&2; exit 1; }

# A venv made by another Python (say 3.11 before the move to ansible 14) is made anew.
$(VENV)/.installed: requirements.txt | python
	rm -rf $(VENV)
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
	tests/lab/build-images.sh $(LAB_SUITES)

lab: LAB_SUITES = $(SUITE)
lab: venv collection images
	$(BIN)/ansible-playbook -i localhost, playbooks/lab.yml -e lab_suite=$(SUITE) \
	  -e lab_inventory_file=$(CURDIR)/.build/lab-inventory.yml -e @tests/lab/demo-vars.yml $(LAB_ARGS)

lab-down: venv collection host
	$(BIN)/ansible-playbook -i localhost, playbooks/lab.yml -e lab_state=absent $(LAB_ARGS)

lint: venv collection
	$(BIN)/ansible-lint --offline --profile production

$(CURDIR)/.venv-sanity/.installed: requirements-sanity.txt | python
	rm -rf $(CURDIR)/.venv-sanity
	$(PYTHON) -m venv $(CURDIR)/.venv-sanity
	$(CURDIR)/.venv-sanity/bin/pip install -q --disable-pip-version-check -r requirements-sanity.txt
	touch $@

sanity: host $(CURDIR)/.venv-sanity/.installed
	$(eval SANITY_PY := $(shell $(CURDIR)/.venv-sanity/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ $(SANITY_ROOT)/
	cd $(SANITY_ROOT) && git init -q && git add -A
	pipver=$$($(CURDIR)/.venv-sanity/bin/python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; import types; print(g(types.SimpleNamespace(version="$(SANITY_PY)"))["pip"])'); \
	  mkdir -p ~/.ansible/test/cache && cp tests/tooling/get_pip_offline.py ~/.ansible/test/cache/get_pip_$${pipver//./_}.py
	cd $(SANITY_ROOT) && PATH=$(CURDIR)/.venv-sanity/bin:$$PATH $(CURDIR)/.venv-sanity/bin/ansible-test sanity --python $(SANITY_PY) --color no

unit: venv collection
	$(BIN)/python -m pytest tests/unit -q

molecule: venv collection images
	for m in $(MATRIX); do $(MAKE) --no-print-directory molecule-$${m/:/-} || exit 1; done

# One scenario on one suite: molecule-default-forky, molecule-ha-trixie, ...
# Each run has its own lab name (the default scenario's nodes are mol-default-SUITE-*) and its own
# ephemeral directory, so that two runs can share the machine (make test runs two at a time).
molecule-%: LAB_SUITES = $(lastword $(subst -, ,$*))
# The fault catalogue (molecule/default/tests/test_faults.py, on the default release) adds a node of
# the oldest other one (platforms.other_suite) for its engine-version-skew fault.
molecule-default-$(DEFAULT_SUITE): LAB_SUITES = $(DEFAULT_SUITE) $(firstword $(filter-out $(DEFAULT_SUITE),$(LAB_SUITES_ALL)))
molecule-%: venv collection images
	LAB_SUITE=$(lastword $(subst -, ,$*)) MOL_LAB=mol-$* MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/.build/molecule/$* \
	  ANSIBLE_HOME=$(CURDIR)/.build/ansible-home-$* $(BIN)/molecule test -s $(firstword $(subst -, ,$*))

# Every stage in turn, each timed; the table of stage times is printed at the end,
# also when a stage fails (the run stops there).
# The pool's order: the VM scenario first (the longest), the Hetzner tests after the third member, so
# that the two slots end close together.
POOL        = test-vm $(foreach m,$(MATRIX),molecule-$(subst :,-,$(m)))
POOL_ORDER  = $(wordlist 1,3,$(POOL)) test-hcloud $(wordlist 4,99,$(POOL))
test: venv collection
	tests/tooling/prefetch.sh $(CURDIR)/.build $(SUITE) $(LAB_SUITES)
	PREFETCH_TIMES=$(CURDIR)/.build/prefetch.times STAGE_LOGS=$(CURDIR)/.build/stage-logs STAGE_JOBS=$(MOLECULE_JOBS) \
	  tests/tooling/stages.sh lint sanity unit $(subst $(space),$(comma),$(strip $(POOL_ORDER)))

# The Hetzner Cloud tests (docs/hetzner.md): the hcloud playbooks, role and inventory template with the
# real hetzner.hcloud modules against the project's stand-in API on loopback (tests/hcloud/standin.py),
# then end to end: the stand-in reports a lab's addresses (HCLOUD_E2E_SUITE, the default release) and
# site.yml builds the swarm on it.
test-hcloud: LAB_SUITES = $(or $(HCLOUD_E2E_SUITE),$(DEFAULT_SUITE))
test-hcloud: venv collection images
	$(BIN)/python -m pytest tests/hcloud -v -p no:cacheprovider

# The VM scenario (QEMU TCG, about 25 minutes on Debian 13): ESP on the wire on a real kernel, the audit
# clean, then a dropped ESP pair flagged and repaired; see docs/vm-lab.md.
test-vm: venv collection
	tests/vm/host-setup.sh
	VM_SUITE=$(SUITE) $(BIN)/molecule test -s encryption

# The same, with the rolling reboot of the VMs at the end (playbooks/rolling.yml, rolling_reboot=always); by hand.
test-vm-rolling: venv collection
	tests/vm/host-setup.sh
	VM_ROLLING=1 VM_SUITE=$(SUITE) $(BIN)/molecule test -s encryption

bench bench-audit: LAB_SUITES = $(SUITE)
bench: venv collection images
	LAB_SUITE=$(SUITE) $(BIN)/python tests/bench/bench.py
	LAB_SUITE=$(SUITE) $(BIN)/python tests/bench/compare.py

# Only the side-by-side comparison with the community.docker baseline (tests/bench/baseline.yml).
bench-compare: LAB_SUITES = $(SUITE)
bench-compare: venv collection images
	LAB_SUITE=$(SUITE) $(BIN)/python tests/bench/compare.py

bench-audit: venv collection images
	LAB_SUITE=$(SUITE) $(BIN)/python tests/bench/audit_bench.py --nodes 3 5

# The scale curve (tests/bench/scale.py): a lab of each size in turn, 3 managers and the rest workers.
# SCALE_ARGS="--nodes 3 6 --repeat 2" for a shorter run. Its plot needs matplotlib (requirements-bench.txt).
SCALE_ARGS ?=
$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-bench.txt
	touch $@

bench-scale: LAB_SUITES = $(SUITE)
bench-scale: venv collection images $(VENV)/.installed-bench
	LAB_SUITE=$(SUITE) $(BIN)/python tests/bench/scale.py $(SCALE_ARGS)

# The node agent's cost per run (tests/bench/agent_bench.py): AGENT_ARGS="--nodes 3 --runs 5" for a shorter run.
AGENT_ARGS ?=
bench-agent: LAB_SUITES = $(SUITE)
bench-agent: venv collection images
	LAB_SUITE=$(SUITE) $(BIN)/python tests/bench/agent_bench.py $(AGENT_ARGS)

# The soak (tests/watch/soak.py) on make lab's lab: a real Prometheus scrapes the nodes' node_exporter and
# evaluates roles/watch/files/ironclad-swarm-alerts.yml while services churn; no alert may hold but SOAK_ALLOW
# (on a kernel without ESP, such as the CI machine's, the lab truthfully deserves IroncladSwarmKernelCannotEncrypt).
SOAK_SECONDS ?= 600
SOAK_ALLOW  ?= IroncladSwarmKernelCannotEncrypt
soak: lab
	$(BIN)/python tests/watch/soak.py --nodes ironclad-lab-manager-1 ironclad-lab-worker-1 ironclad-lab-worker-2 \
	  --seconds $(SOAK_SECONDS) --networks lab-encrypted lab-plain --allow $(SOAK_ALLOW)

# Converges the VM lab (as `molecule converge -s encryption`), measures, then removes it.
# No container images: the VMs carry their own (tests/vm/build-image.sh).
bench-vm: venv collection
	tests/vm/host-setup.sh
	VM_SUITE=$(SUITE) $(BIN)/molecule converge -s encryption
	$(BIN)/python tests/bench/audit_bench.py --nodes --vm-lab "$${VM_WORKDIR:-/var/tmp/ironclad-swarm-vm}"; \
	  rc=$$?; $(BIN)/molecule destroy -s encryption; exit $$rc

bench-firewall: venv host
	$(BIN)/python tests/bench/firewall_bench.py --netns ironclad-fw-bench

clean: lab-down
	rm -rf .build
