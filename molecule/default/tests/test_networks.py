"""Verify the overlay networks declared in networks_overlay (role ironclad.swarm.networks).

Only what Docker reports is checked: the lab kernel has no ESP, so traffic across an
encrypted network between nodes cannot be used as evidence here.
"""

import ipaddress
import json

import pytest

OVERLAY_OPTIONS = {
    "com.docker.network.driver.overlay.vxlanid_list",
    "com.docker.network.container_iface_prefix",
    "com.docker.network.driver.mtu",
    "encrypted",
}


@pytest.fixture(scope="module")
def declared(host):
    networks = host.ansible.get_variables().get("networks_overlay") or []
    return [n for n in networks if n.get("state", "present") == "present"]


def inspect(host, name):
    return json.loads(host.check_output("docker network inspect %s" % name))[0]


def test_networks_are_declared_for_this_scenario(host, is_first_manager, declared):
    if not is_first_manager:
        pytest.skip("networks are checked from the first manager")
    assert any(n.get("encrypted", True) for n in declared), "declare an encrypted network in networks_overlay"
    assert any(not n.get("encrypted", True) for n in declared), "declare a plain network in networks_overlay"


def test_each_network_has_the_declared_options(host, is_first_manager, declared):
    if not is_first_manager:
        pytest.skip("networks are checked from the first manager")
    for spec in declared:
        live = inspect(host, spec["name"])
        options = live["Options"] or {}
        assert live["Driver"] == "overlay", spec["name"]
        assert live["Scope"] == "swarm", spec["name"]
        # Docker encrypts whenever the key is present, whatever its value.
        assert ("encrypted" in options) is bool(spec.get("encrypted", True)), (spec["name"], options)
        # No option Docker would ignore (a misspelt "encrytped" would show up here).
        assert set(options) <= OVERLAY_OPTIONS, (spec["name"], options)
        assert live["Attachable"] is bool(spec.get("attachable", False)), spec["name"]
        assert live["Internal"] is bool(spec.get("internal", False)), spec["name"]
        if spec.get("mtu") not in (None, "auto"):
            assert options.get("com.docker.network.driver.mtu") == str(spec["mtu"]), spec["name"]
        if spec.get("ipam"):
            live_subnets = {str(ipaddress.ip_network(c["Subnet"])) for c in live["IPAM"]["Config"]}
            assert live_subnets == {str(ipaddress.ip_network(e["subnet"])) for e in spec["ipam"]}, spec["name"]
        if spec.get("labels") is not None:
            assert (live["Labels"] or {}) == {k: str(v) for k, v in spec["labels"].items()}, spec["name"]


def test_a_re_run_of_the_role_changes_nothing(host, is_first_manager, declared):
    """The module in check mode, as the role calls it, reports no change for any declaration."""
    if not is_first_manager:
        pytest.skip("networks are checked from the first manager")
    for spec in declared:
        args = {k: v for k, v in spec.items() if v is not None}
        result = host.ansible("ironclad.swarm.overlay_network", json.dumps(args), check=True, become=False)
        assert not result.get("failed"), result.get("msg")
        assert result["changed"] is False, (spec["name"], result.get("differences"))
