# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive tests/hcloud/standin.py with the real hcloud-python client vendored by hetzner.hcloud."""

import json
import os
import sys
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hcloud"))

# pylint: disable=wrong-import-position
from standin import StandIn  # noqa: E402

from ansible_collections.hetzner.hcloud.plugins.module_utils._ssh import ssh_public_key_md5_fingerprint  # noqa: E402
from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud import APIException, Client  # noqa: E402
from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud.firewalls import (  # noqa: E402
    FirewallResource,
    FirewallResourceLabelSelector,
    FirewallRule,
)
from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud.images import Image  # noqa: E402
from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud.locations import Location  # noqa: E402
from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud.placement_groups import PlacementGroup  # noqa: E402
from ansible_collections.hetzner.hcloud.plugins.module_utils._vendor.hcloud.server_types import ServerType  # noqa: E402

POOL = ["192.0.2.10", "192.0.2.11"]
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ4a2V5Zm9ydGhlc3RhbmRpbnNtb2tldGVzdDAx test@example"


@pytest.fixture(name="api")
def fixture_api():
    with StandIn(ipv4_pool=POOL) as standin:
        yield standin


@pytest.fixture(name="client")
def fixture_client(api):
    return Client(token=api.token, api_endpoint=api.url, poll_interval=0.01)


def raw(api, method, path, body=None, token="standin-token"):
    """Send one request with urllib; answer (status, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    url = api.url.rsplit("/v1", 1)[0] + path
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text else None


def create_server(client, name, labels=None, wait=True, **kw):
    resp = client.servers.create(name=name, server_type=ServerType(name=kw.pop("server_type", "cx22")), image=Image(name="debian-13"),
                                 location=Location(name=kw.pop("location", "fsn1")), labels=labels or {}, **kw)
    if wait:
        resp.action.wait_until_finished()
        for action in resp.next_actions:
            action.wait_until_finished()
    return resp.server


SSH_RULE = FirewallRule(direction="in", protocol="tcp", source_ips=["0.0.0.0/0", "::/0"], port="22")


def test_server_with_labels_and_firewall_at_creation(api, client):
    fw = client.firewalls.create(name="fw", rules=[SSH_RULE]).firewall
    server = create_server(client, "node-1", {"ironclad.swarm/cluster": "c1"}, firewalls=[fw])
    server = client.servers.get_by_id(server.id)
    assert server.public_net.ipv4.ip == POOL[0]
    assert server.public_net.ipv6.ip.endswith("::/64")
    assert [f.firewall.id for f in server.public_net.firewalls] == [fw.id]
    assert server.labels == {"ironclad.swarm/cluster": "c1"}
    fw = client.firewalls.get_by_id(fw.id)
    assert [(r.type, r.server.id) for r in fw.applied_to] == [("server", server.id)]
    second = create_server(client, "node-2")
    assert client.servers.get_by_id(second.id).public_net.ipv4.ip == POOL[1]
    third = create_server(client, "node-3")
    assert client.servers.get_by_id(third.id).public_net.ipv4.ip.startswith("203.0.113.")


def test_server_objects_follow_todays_api(api, client):
    server = create_server(client, "node-1", server_type="cax11")
    status, body = raw(api, "GET", f"/v1/servers/{server.id}")
    assert status == 200
    obj = body["server"]
    assert "datacenter" not in obj
    assert obj["location"]["name"] == "fsn1" and obj["location"]["network_zone"] == "eu-central"
    assert obj["server_type"]["architecture"] == "arm"
    assert obj["image"]["architecture"] == "arm" and obj["image"]["name"] == "debian-13"
    assert obj["status"] == "running" and obj["placement_group"] is None
    assert obj["public_net"]["firewalls"] == [] and obj["private_net"] == []
    for key in ("created", "protection", "rescue_enabled", "locked", "backup_window", "outgoing_traffic", "ingoing_traffic",
                "included_traffic", "primary_disk_size", "volumes", "load_balancers", "iso"):
        assert key in obj, key
    assert all("datacenter" not in s for s in api.state()["servers"])


def test_list_by_label_selector(client):
    create_server(client, "a", {"ironclad.swarm/cluster": "c1", "role": "manager"})
    create_server(client, "b", {"ironclad.swarm/cluster": "c1", "role": "worker"})
    create_server(client, "c", {"ironclad.swarm/cluster": "c2"})

    def names(selector):
        return sorted(s.name for s in client.servers.get_all(label_selector=selector))

    assert names("ironclad.swarm/cluster=c1") == ["a", "b"]
    assert names("ironclad.swarm/cluster==c2") == ["c"]
    assert names("ironclad.swarm/cluster=c1,role!=manager") == ["b"]
    assert names("role") == ["a", "b"]
    assert names("!role") == ["c"]
    assert names("role in (manager,worker),ironclad.swarm/cluster") == ["a", "b"]
    assert names("role notin (manager)") == ["b", "c"]
    assert names("ironclad.swarm/cluster in (c2, c3)") == ["c"]
    with pytest.raises(APIException) as err:
        client.servers.get_all(label_selector="role in manager")
    assert err.value.code == "invalid_input"


def test_pagination(api, client):
    for index in range(27):
        create_server(client, f"s{index:02d}", wait=False)
    page = client.servers.get_list(page=3, per_page=10)
    assert [s.name for s in page.servers] == ["s20", "s21", "s22", "s23", "s24", "s25", "s26"]
    pagination = page.meta.pagination
    assert (pagination.page, pagination.last_page, pagination.total_entries) == (3, 3, 27)
    assert pagination.previous_page == 2 and pagination.next_page is None
    assert len(client.servers.get_all()) == 27
    status, body = raw(api, "GET", "/v1/servers")
    assert status == 200 and len(body["servers"]) == 25 and body["meta"]["pagination"]["next_page"] == 2
    status, body = raw(api, "GET", "/v1/servers?per_page=500")
    assert len(body["servers"]) == 27 and body["meta"]["pagination"]["per_page"] == 50


def test_set_rules_esp_without_port_and_refusals(client):
    fw = client.firewalls.create(name="fw").firewall
    esp = FirewallRule(direction="in", protocol="esp", source_ips=["203.0.113.5/32"])
    actions = client.firewalls.set_rules(fw, [SSH_RULE, esp])
    for action in actions:
        action.wait_until_finished()
    rules = client.firewalls.get_by_id(fw.id).rules
    assert [(r.protocol, r.port) for r in rules] == [("tcp", "22"), ("esp", None)]

    for bad, field in [
        (FirewallRule(direction="in", protocol="esp", source_ips=["203.0.113.5/32"], port="500"), "rules[0].port"),
        (FirewallRule(direction="in", protocol="tcp", source_ips=["203.0.113.5/32"]), "rules[0].port"),
        (FirewallRule(direction="in", protocol="tcp", source_ips=["203.0.113.5"], port="22"), "rules[0].source_ips"),
        (FirewallRule(direction="in", protocol="sctp", source_ips=["203.0.113.5/32"]), "rules[0].protocol"),
    ]:
        with pytest.raises(APIException) as err:
            client.firewalls.set_rules(fw, [bad])
        assert err.value.code == "invalid_input"
        assert [f["name"] for f in err.value.details["fields"]] == [field]
    assert len(client.firewalls.get_by_id(fw.id).rules) == 2  # unchanged by the refused calls


def test_source_and_rule_limits(client):
    fw = client.firewalls.create(name="fw").firewall
    sources = [f"10.0.{i // 250}.{i % 250}/32" for i in range(101)]
    client.firewalls.set_rules(fw, [FirewallRule(direction="in", protocol="icmp", source_ips=sources[:100])])
    with pytest.raises(APIException) as err:
        client.firewalls.set_rules(fw, [FirewallRule(direction="in", protocol="icmp", source_ips=sources)])
    assert err.value.code == "invalid_input"
    rule = FirewallRule(direction="in", protocol="gre", source_ips=["10.0.0.0/8"])
    client.firewalls.set_rules(fw, [rule] * 50)
    with pytest.raises(APIException) as err:
        client.firewalls.set_rules(fw, [rule] * 51)
    assert err.value.code == "invalid_input"
    assert len(client.firewalls.get_by_id(fw.id).rules) == 50


def test_firewall_delete_while_applied_is_refused(api, client):
    server = create_server(client, "node-1")
    fw = client.firewalls.create(name="fw", resources=[FirewallResource(type="server", server=server)]).firewall
    with pytest.raises(APIException) as err:
        client.firewalls.delete(fw)
    assert err.value.code == "resource_in_use"
    assert err.value.details == {} and raw(api, "DELETE", f"/v1/firewalls/{fw.id}")[0] == 422
    assert client.firewalls.get_by_name("fw") is not None
    for action in client.firewalls.remove_from_resources(fw, [FirewallResource(type="server", server=server)]):
        action.wait_until_finished()
    assert client.firewalls.delete(fw) is True
    assert client.firewalls.get_by_name("fw") is None


def test_label_selector_application_follows_labels(client):
    one = create_server(client, "one", {"ironclad.swarm/cluster": "c1"})
    two = create_server(client, "two", {"ironclad.swarm/cluster": "c2"})
    fw = client.firewalls.create(name="fw").firewall
    selector = FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector(selector="ironclad.swarm/cluster=c1"))
    for action in client.firewalls.apply_to_resources(fw, [selector]):
        action.wait_until_finished()

    def applied():
        entry = client.firewalls.get_by_id(fw.id).applied_to[0]
        assert entry.label_selector.selector == "ironclad.swarm/cluster=c1"
        return sorted(r.server.id for r in entry.applied_to_resources or [])

    assert applied() == [one.id]
    assert [f.firewall.id for f in client.servers.get_by_id(one.id).public_net.firewalls] == [fw.id]
    assert client.servers.get_by_id(two.id).public_net.firewalls == []
    client.servers.update(two, labels={"ironclad.swarm/cluster": "c1"})
    assert applied() == [one.id, two.id]
    client.servers.update(one, labels={})
    assert applied() == [two.id]
    assert client.servers.get_by_id(one.id).public_net.firewalls == []


def test_at_most_five_firewalls_per_server(client):
    server = create_server(client, "node-1", {"k": "v"})
    for index in range(5):
        client.firewalls.create(name=f"fw{index}", resources=[FirewallResource(type="server", server=server)])
    sixth = client.firewalls.create(name="fw5").firewall
    selector = FirewallResource(type="label_selector", label_selector=FirewallResourceLabelSelector(selector="k=v"))
    with pytest.raises(APIException) as err:
        client.firewalls.apply_to_resources(sixth, [selector])
    assert err.value.code == "resource_limit_exceeded"
    assert client.firewalls.get_by_id(sixth.id).applied_to == []
    assert len(client.servers.get_by_id(server.id).public_net.firewalls) == 5


def test_placement_group_holds_ten_servers(api, client):
    group = client.placement_groups.create(name="pg", type=PlacementGroup.TYPE_SPREAD).placement_group
    for index in range(10):
        create_server(client, f"s{index}", wait=False, placement_group=group)
    with pytest.raises(APIException) as err:
        create_server(client, "s10", wait=False, placement_group=group)
    assert err.value.code == "placement_error"
    group = client.placement_groups.get_by_id(group.id)
    assert len(group.servers) == 10
    assert client.servers.get_by_name("s10") is None
    assert client.servers.get_by_name("s3").placement_group.name == "pg"


def test_bad_token_is_refused(api):
    client = Client(token="wrong", api_endpoint=api.url, poll_interval=0.01)
    with pytest.raises(APIException) as err:
        client.servers.get_all()
    assert err.value.code == "unauthorized"
    status, body = raw(api, "GET", "/v1/servers", token=None)
    assert status == 401
    assert body == {"error": {"code": "unauthorized", "message": "unable to authenticate", "details": {}}}
    api.set_token("rotated")
    assert raw(api, "GET", "/v1/servers")[0] == 401
    assert raw(api, "GET", "/v1/servers", token="rotated")[0] == 200


def test_datacenters_are_gone(api, client):
    status, body = raw(api, "GET", "/v1/datacenters")
    assert status == 410 and "datacenter" in body["error"]["message"]
    with pytest.raises(APIException):
        client.datacenters.get_all()


def test_actions_answer_running_then_success(api, client):
    api.set_action_polls(2)
    resp = client.servers.create(name="n", server_type=ServerType(name="cx22"), image=Image(name="debian-12"))
    assert resp.action.status == "running" and resp.action.progress == 0
    seen = [client.actions.get_by_id(resp.action.id).status for _poll in range(3)]
    assert seen == ["running", "running", "success"]
    done = client.actions.get_by_id(resp.action.id)
    assert done.progress == 100 and done.finished is not None
    assert [(r["type"], r["id"]) for r in done.resources][0] == ("server", resp.server.id)
    status, body = raw(api, "GET", f"/v1/actions?id={resp.action.id}&id={resp.next_actions[0].id}")
    assert status == 200 and [a["command"] for a in body["actions"]] == ["create_server", "start_server"]
    assert client.servers.actions.get_by_id(resp.action.id).status == "success"
    resp.next_actions[0].wait_until_finished()
    assert resp.next_actions[0].status == "success"


def test_fault_fires_on_nth_request_and_changes_nothing(api, client):
    fault = api.add_fault(method="POST", path="/servers", nth=2, status=500, code="server_error", message="boom")
    create_server(client, "first", wait=False)
    with pytest.raises(APIException) as err:
        create_server(client, "second", wait=False)
    assert (err.value.code, err.value.message) == ("server_error", "boom")
    assert client.servers.get_by_name("second") is None
    create_server(client, "third", wait=False)
    posts = [(r["body"]["name"], r["status"]) for r in api.requests() if r["method"] == "POST"]
    assert posts == [("first", 201), ("second", 500), ("third", 201)]
    assert fault["nth"] == 2
    api.add_fault(path_regex=r"^/v1/firewalls", times=2, status=503, code="unavailable")
    for _round in range(2):
        with pytest.raises(APIException) as err:
            client.firewalls.create(name="fw")
        assert err.value.code == "unavailable"
    assert api.state()["firewalls"] == []
    client.firewalls.create(name="fw")  # the third matching request passes
    assert [f["name"] for f in api.state()["firewalls"]] == ["fw"]


def test_request_log_records_bodies(api, client):
    client.firewalls.create(name="fw", labels={"a": "b"}, rules=[SSH_RULE])
    client.firewalls.get_all(label_selector="a=b")
    log = api.requests()
    post = next(r for r in log if r["method"] == "POST")
    assert post["path"] == "/v1/firewalls" and post["status"] == 201
    assert post["body"]["labels"] == {"a": "b"} and post["body"]["rules"][0]["port"] == "22"
    get = log[-1]
    assert get["query"]["label_selector"] == ["a=b"] and get["body"] is None
    assert [r["seq"] for r in log] == sorted(r["seq"] for r in log)
    api.clear_requests()
    assert api.requests() == []


def test_names_are_unique(client):
    create_server(client, "dup", wait=False)
    with pytest.raises(APIException) as err:
        create_server(client, "dup", wait=False)
    assert err.value.code == "uniqueness_error"
    client.placement_groups.create(name="pg", type="spread")
    with pytest.raises(APIException) as err:
        client.placement_groups.create(name="pg", type="spread")
    assert err.value.code == "uniqueness_error"


def test_ssh_keys(client):
    key = client.ssh_keys.create(name="k", public_key=SSH_KEY, labels={"ironclad.swarm/cluster": "c1"})
    assert key.fingerprint == ssh_public_key_md5_fingerprint(SSH_KEY)
    assert client.ssh_keys.get_by_fingerprint(key.fingerprint).id == key.id
    assert [k.name for k in client.ssh_keys.get_all(label_selector="ironclad.swarm/cluster=c1")] == ["k"]
    with pytest.raises(APIException) as err:
        client.ssh_keys.create(name="k2", public_key="not a key")
    assert err.value.code == "invalid_input"
    resp = client.servers.create(name="n", server_type=ServerType(name="cx22"), image=Image(name="debian-13"), ssh_keys=[key])
    assert resp.root_password is None


def test_catalogue(client):
    assert [loc.network_zone for loc in client.locations.get_all()] == [
        "eu-central", "eu-central", "eu-central", "us-east", "us-west", "ap-southeast"]
    cx22 = client.server_types.get_by_name("cx22")
    assert (cx22.cores, cx22.memory, cx22.architecture) == (2, 4.0, "x86")
    assert [o.location.name for o in cx22.locations] == ["fsn1", "nbg1", "hel1"]
    assert client.images.get_by_name_and_architecture("ubuntu-24.04", "arm").architecture == "arm"
    assert len(client.images.get_all(type=["system"], architecture=["x86"])) == 3
    with pytest.raises(APIException) as err:
        create_server(client, "n", location="ash")
    assert err.value.code == "resource_unavailable"


def test_loopback_only_and_admin_http(api):
    with pytest.raises(ValueError):
        StandIn(host="0.0.0.0")
    status, body = raw(api, "POST", "/__standin/faults", {"method": "GET", "path": "/locations", "status": 429, "code": "rate_limit_exceeded"},
                       token=None)
    assert status == 201 and body["fault"]["nth"] == 1
    status, body = raw(api, "GET", "/v1/locations")
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
    assert raw(api, "GET", "/v1/locations")[0] == 200
    status, body = raw(api, "GET", "/__standin/requests", token=None)
    assert [r["status"] for r in body["requests"]] == [429, 200]
    assert raw(api, "POST", "/__standin/ip_pool", {"ipv4": ["192.0.2.99"]}, token=None)[0] == 200
    status, body = raw(api, "POST", "/v1/servers", {"name": "n", "server_type": "cx22", "image": "debian-13"})
    assert status == 201 and body["server"]["public_net"]["ipv4"]["ip"] == "192.0.2.99"
    assert body["server"]["location"]["name"] == "fsn1"
    assert raw(api, "POST", "/__standin/reset", token=None)[0] == 204
    assert raw(api, "GET", "/__standin/state", token=None)[1]["servers"] == []


def test_removing_a_firewall_that_is_not_applied_directly(api, client):
    server = create_server(client, "node-1", {"team": "a"})
    direct = client.firewalls.create(name="direct", resources=[FirewallResource(type="server", server=server)]).firewall
    by_label = client.firewalls.create(name="by-label", resources=[FirewallResource(
        type="label_selector", label_selector=FirewallResourceLabelSelector(selector="team=a"))]).firewall
    unrelated = client.firewalls.create(name="unrelated").firewall
    # the server lists both: the one applied to it and the one applied through a label selector
    assert sorted(f.firewall.id for f in client.servers.get_by_id(server.id).public_net.firewalls) == sorted([direct.id, by_label.id])
    target = [FirewallResource(type="server", server=server)]
    with pytest.raises(APIException) as err:
        client.firewalls.remove_from_resources(by_label, target)
    assert err.value.code == "firewall_managed_by_label_selector"
    with pytest.raises(APIException) as err:
        client.firewalls.remove_from_resources(unrelated, target)
    assert err.value.code == "firewall_already_removed"
    status, _body = raw(api, "POST", f"/v1/firewalls/{unrelated.id}/actions/remove_from_resources",
                        {"remove_from": [{"type": "server", "server": {"id": server.id}}]})
    assert status == 422
    assert len(client.servers.get_by_id(server.id).public_net.firewalls) == 2  # nothing removed
    with pytest.raises(APIException) as err:
        client.firewalls.apply_to_resources(direct, target)
    assert err.value.code == "firewall_already_applied"


def test_deleting_a_server_leaves_no_trace_in_firewalls_or_its_placement_group(api, client):
    group = client.placement_groups.create(name="pg", type=PlacementGroup.TYPE_SPREAD).placement_group
    server = create_server(client, "node-1", {"team": "a"}, placement_group=group)
    keep = create_server(client, "node-2", {"team": "a"}, placement_group=group)
    both = [FirewallResource(type="server", server=server), FirewallResource(type="server", server=keep)]
    fw = client.firewalls.create(name="fw", resources=both).firewall
    client.servers.delete(server).wait_until_finished()
    applied = client.firewalls.get_by_id(fw.id).applied_to
    assert [(r.type, r.server.id) for r in applied] == [("server", keep.id)]
    assert client.placement_groups.get_by_id(group.id).servers == [keep.id]
    client.servers.delete(keep).wait_until_finished()
    assert client.firewalls.get_by_id(fw.id).applied_to == []
    assert client.firewalls.delete(fw) is True
    assert client.placement_groups.get_by_id(group.id).servers == []


def test_read_only_token_reads_but_never_writes(api, client):
    api.add_read_only_token("reader")
    reader = Client(token="reader", api_endpoint=api.url, poll_interval=0.01)
    create_server(client, "node-1")
    assert [s.name for s in reader.servers.get_all()] == ["node-1"]
    with pytest.raises(APIException) as err:
        reader.firewalls.create(name="fw")
    assert err.value.code == "forbidden"
    status, body = raw(api, "POST", "/v1/placement_groups", {"name": "pg", "type": "spread"}, token="reader")
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert raw(api, "DELETE", "/v1/servers/1", token="reader")[0] == 403
    state = api.state()
    assert state["firewalls"] == [] and state["placement_groups"] == [] and len(state["servers"]) == 1


def test_lists_answer_at_most_fifty_per_page(api, client):
    for index in range(120):
        create_server(client, f"s{index:03d}", wait=False)
    status, body = raw(api, "GET", "/v1/servers?per_page=100")
    assert status == 200 and len(body["servers"]) == 50
    assert body["meta"]["pagination"]["last_page"] == 3 and body["meta"]["pagination"]["next_page"] == 2
    assert len(client.servers.get_all()) == 120
