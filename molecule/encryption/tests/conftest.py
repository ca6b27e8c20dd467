"""Fixtures for the VM scenario: every VM as a testinfra host, the lab description,
and helpers to run things on the host (tcpdump on the lab bridge)."""

import json
import os
import sys

import pytest
import testinfra

# The tests import molecule/shared/labtest.py and tests/watch/alerts_on.py.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "watch"))

WORKDIR = os.environ.get("VM_WORKDIR", "/var/tmp/ironclad-swarm-vm")


@pytest.fixture(scope="session")
def lab():
    with open(os.path.join(WORKDIR, "run", "lab.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def nodes(lab):
    """name -> testinfra host, reached through molecule's inventory."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return {
        n["name"]: testinfra.get_host("ansible://%s" % n["name"], ansible_inventory=inventory)
        for n in lab["nodes"]
    }


@pytest.fixture(scope="session")
def lab_addr(lab):
    """name -> address on the lab segment (the swarm's advertise address)."""
    return {n["name"]: n["lab_addr"] for n in lab["nodes"]}
