# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stateful stand-in of the Hetzner Cloud API, serving on loopback only.

The real hetzner.hcloud modules and inventory plugin talk to it through
``api_endpoint`` / ``HCLOUD_ENDPOINT`` = ``http://127.0.0.1:PORT/v1``. It keeps
servers, firewalls, SSH keys, placement groups and actions in memory, serves a
fixed catalogue of locations, server types and images, records every API
request and can inject faults. See STANDIN.md next to this file.

Python use (pytest fixtures)::

    with StandIn(ipv4_pool=["10.0.0.5"]) as api:
        client = Client(token=api.token, api_endpoint=api.url)

Command line::

    python tests/hcloud/standin.py --port 0 --port-file /tmp/port
"""

import argparse
import base64
import binascii
import copy
import datetime
import hashlib
import ipaddress
import itertools
import json
import os
import re
import secrets
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
PREFIX = "/v1"
ADMIN = "/__standin/"
DEFAULT_TOKEN = "standin-token"
FALLBACK_NET = ipaddress.ip_network("203.0.113.0/24")

# docs.hetzner.cloud "Errors": invalid_input is answered with HTTP 400.
INVALID_INPUT_STATUS = 400
PER_PAGE_DEFAULT = 25
PER_PAGE_MAX = 50
MAX_RULES = 50
MAX_RULE_IPS = 100
MAX_FIREWALLS_PER_SERVER = 5
MAX_SPREAD_SERVERS = 10
PROTOCOLS = ("tcp", "udp", "icmp", "esp", "gre")
PORT_PROTOCOLS = ("tcp", "udp")

LABEL_KEY_RE = re.compile(r"^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
SEL_KEY = r"[A-Za-z0-9][A-Za-z0-9._/-]*"
SEL_VALUE = r"[A-Za-z0-9._-]*"
SEL_SET_RE = re.compile(rf"^({SEL_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
SEL_CMP_RE = re.compile(rf"^({SEL_KEY})\s*(==|!=|=)\s*({SEL_VALUE})$")
SEL_EXISTS_RE = re.compile(rf"^(!?)\s*({SEL_KEY})$")
PORT_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
HOSTNAME_RE = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


class ApiError(Exception):
    """An error answered in the documented envelope {"error": {"code", "message", "details"}}."""

    def __init__(self, status, code, message, details=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self):
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def invalid(message, fields=None):
    """invalid_input with details.fields = [{"name", "messages"}] as documented."""
    details = {"fields": [{"name": name, "messages": [msg]} for name, msg in (fields or {}).items()]}
    return ApiError(INVALID_INPUT_STATUS, "invalid_input", message, details)


def not_found(kind, ident=None):
    message = f"{kind} not found" if ident is None else f"{kind} with ID {ident} not found"
    return ApiError(404, "not_found", message)


# ---------------------------------------------------------------------------
# Read-only catalogue (locations, server types, images)
# ---------------------------------------------------------------------------

LOCATIONS = [
    {"id": 1, "name": "fsn1", "description": "Falkenstein DC Park 1", "country": "DE", "city": "Falkenstein",
     "latitude": 50.47612, "longitude": 12.370071, "network_zone": "eu-central"},
    {"id": 2, "name": "nbg1", "description": "Nuremberg DC Park 1", "country": "DE", "city": "Nuremberg",
     "latitude": 49.452102, "longitude": 11.076665, "network_zone": "eu-central"},
    {"id": 3, "name": "hel1", "description": "Helsinki DC Park 1", "country": "FI", "city": "Helsinki",
     "latitude": 60.169855, "longitude": 24.938379, "network_zone": "eu-central"},
    {"id": 4, "name": "ash", "description": "Ashburn, VA", "country": "US", "city": "Ashburn, VA",
     "latitude": 39.045821, "longitude": -77.487073, "network_zone": "us-east"},
    {"id": 5, "name": "hil", "description": "Hillsboro, OR", "country": "US", "city": "Hillsboro, OR",
     "latitude": 45.54222, "longitude": -122.951924, "network_zone": "us-west"},
    {"id": 6, "name": "sin", "description": "Singapore", "country": "SG", "city": "Singapore",
     "latitude": 1.283333, "longitude": 103.833333, "network_zone": "ap-southeast"},
]
EU = ("fsn1", "nbg1", "hel1")
ALL_LOCATIONS = tuple(loc["name"] for loc in LOCATIONS)


def _server_type(ident, name, desc, category, cores, memory, disk, cpu_type, arch, where):
    return {
        "id": ident, "name": name, "description": desc, "category": category, "cores": cores,
        "memory": float(memory), "disk": disk, "prices": [], "storage_type": "local", "cpu_type": cpu_type,
        "architecture": arch, "deprecation": None,
        "locations": [{"id": loc["id"], "name": loc["name"], "deprecation": None, "available": True, "recommended": True}
                      for loc in LOCATIONS if loc["name"] in where],
    }


SERVER_TYPES = [
    _server_type(22, "cpx11", "CPX 11", "regular_purpose", 2, 2, 40, "shared", "x86", ALL_LOCATIONS),
    _server_type(23, "cpx21", "CPX 21", "regular_purpose", 3, 4, 80, "shared", "x86", ALL_LOCATIONS),
    _server_type(45, "cax11", "CAX11", "cost_optimized", 2, 4, 40, "shared", "arm", EU),
    _server_type(96, "ccx13", "CCX13", "general_purpose", 2, 8, 80, "dedicated", "x86", ALL_LOCATIONS),
    _server_type(104, "cx22", "CX22", "cost_optimized", 2, 4, 40, "shared", "x86", EU),
    _server_type(105, "cx32", "CX32", "cost_optimized", 4, 8, 80, "shared", "x86", EU),
]


def _image(ident, name, flavor, version, arch):
    return {
        "id": ident, "type": "system", "status": "available", "name": name,
        "description": f"{flavor.capitalize()} {version}", "image_size": None, "disk_size": 5,
        "created": "2025-01-01T00:00:00+00:00", "created_from": None, "bound_to": None, "os_flavor": flavor,
        "os_version": version, "rapid_deploy": True, "protection": {"delete": False}, "deprecated": None,
        "deleted": None, "labels": {}, "architecture": arch,
    }


IMAGES = [
    _image(114690387, "debian-12", "debian", "12", "x86"),
    _image(114690389, "debian-12", "debian", "12", "arm"),
    _image(310557660, "debian-13", "debian", "13", "x86"),
    _image(310557661, "debian-13", "debian", "13", "arm"),
    _image(161547269, "ubuntu-24.04", "ubuntu", "24.04", "x86"),
    _image(161547270, "ubuntu-24.04", "ubuntu", "24.04", "arm"),
]


def _find(items, ref):
    """Find a catalogue entry by ID (int or digit string) or by name."""
    for item in items:
        if ref == item["id"] or str(ref) == str(item["id"]) or ref == item["name"]:
            return item
    return None


# ---------------------------------------------------------------------------
# Label selectors and validation helpers
# ---------------------------------------------------------------------------

def _split_terms(text):
    terms, depth, cur = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += char
    terms.append(cur)
    return [t.strip() for t in terms]


def parse_selector(text):
    """Parse a label selector into a list of (op, key, values); raise invalid_input when malformed."""
    if not isinstance(text, str) or not text.strip():
        raise invalid("invalid label selector", {"label_selector": "must not be empty"})
    parsed = []
    for term in _split_terms(text):
        match = SEL_SET_RE.match(term)
        if match:
            values = [v.strip() for v in match.group(3).split(",") if v.strip()]
            parsed.append((match.group(2), match.group(1), values))
            continue
        match = SEL_CMP_RE.match(term)
        if match:
            parsed.append(("!=" if match.group(2) == "!=" else "=", match.group(1), [match.group(3)]))
            continue
        match = SEL_EXISTS_RE.match(term)
        if match:
            parsed.append(("absent" if match.group(1) else "exists", match.group(2), []))
            continue
        raise invalid(f"invalid label selector: {text!r}", {"label_selector": f"cannot parse {term!r}"})
    return parsed


def selector_matches(parsed, labels):
    for op, key, values in parsed:
        value = labels.get(key)
        if op in ("=", "in", "exists") and (key not in labels or (op != "exists" and value not in values)):
            return False
        if op in ("!=", "notin") and value in values:
            return False
        if op == "absent" and key in labels:
            return False
    return True


def check_labels(labels, field="labels"):
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid("invalid input in field 'labels'", {field: "must be an object"})
    for key, value in labels.items():
        if not isinstance(value, str) or not LABEL_KEY_RE.match(key) or not LABEL_VALUE_RE.match(value):
            raise invalid("invalid input in field 'labels'", {field: f"invalid label {key!r}: {value!r}"})
    return dict(labels)


def check_name(name, field="name"):
    if not isinstance(name, str) or not name or len(name) > 128:
        raise invalid(f"invalid input in field '{field}'", {field: "must be a non-empty string of at most 128 characters"})
    return name


def _cidr(value):
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(value)
    return str(ipaddress.ip_interface(value))


def check_rules(rules):
    """Validate and normalise firewall rules like the API: return the stored list."""
    if not isinstance(rules, list):
        raise invalid("invalid input in field 'rules'", {"rules": "must be a list"})
    if len(rules) > MAX_RULES:
        raise invalid(f"a firewall can hold at most {MAX_RULES} rules", {"rules": f"at most {MAX_RULES} rules allowed"})
    out = []
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if not isinstance(rule, dict):
            raise invalid("invalid input in field 'rules'", {where: "must be an object"})
        direction, protocol, port = rule.get("direction"), rule.get("protocol"), rule.get("port")
        if direction not in ("in", "out"):
            raise invalid("invalid input in field 'direction'", {f"{where}.direction": "must be 'in' or 'out'"})
        if protocol not in PROTOCOLS:
            raise invalid("invalid input in field 'protocol'", {f"{where}.protocol": f"must be one of {', '.join(PROTOCOLS)}"})
        if protocol in PORT_PROTOCOLS:
            if port is None:
                raise invalid("invalid input in field 'port'", {f"{where}.port": f"port is required for protocol {protocol}"})
            match = PORT_RE.match(str(port)) if str(port) != "any" else None
            if str(port) != "any" and (not match or not 1 <= int(match.group(1)) <= 65535
                                       or (match.group(2) and not int(match.group(1)) < int(match.group(2)) <= 65535)):
                raise invalid("invalid input in field 'port'", {f"{where}.port": "must be a port, a range a-b or 'any'"})
            port = str(port)
        elif port is not None:
            raise invalid("invalid input in field 'port'", {f"{where}.port": f"port is not allowed for protocol {protocol}"})
        ips = {}
        for key in ("source_ips", "destination_ips"):
            values = rule.get(key) or []
            if not isinstance(values, list):
                raise invalid(f"invalid input in field '{key}'", {f"{where}.{key}": "must be a list"})
            if len(values) > MAX_RULE_IPS:
                raise invalid(f"invalid input in field '{key}'", {f"{where}.{key}": f"at most {MAX_RULE_IPS} entries allowed"})
            try:
                ips[key] = [_cidr(v) for v in values]
            except ValueError as exc:
                raise invalid(f"invalid input in field '{key}'", {f"{where}.{key}": f"invalid CIDR {exc}"}) from None
        needed = "source_ips" if direction == "in" else "destination_ips"
        if not ips[needed]:
            raise invalid(f"invalid input in field '{needed}'", {f"{where}.{needed}": f"required for direction {direction}"})
        description = rule.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 255):
            raise invalid("invalid input in field 'description'", {f"{where}.description": "at most 255 characters"})
        out.append({"direction": direction, "protocol": protocol, "port": port, "source_ips": ips["source_ips"],
                    "destination_ips": ips["destination_ips"], "description": description})
    return out


def ssh_fingerprint(public_key):
    parts = public_key.strip().split() if isinstance(public_key, str) else []
    try:
        raw = base64.b64decode(parts[1].encode("ascii"), validate=True)
    except (IndexError, binascii.Error, UnicodeEncodeError):
        raise invalid("invalid input in field 'public_key'", {"public_key": "not a valid SSH public key"}) from None
    digest = hashlib.md5(raw).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def paginate(items, query, key):
    """Answer a list endpoint with meta.pagination (page, per_page default 25, max 50)."""
    try:
        page = int(query.get("page", ["1"])[-1])
        per_page = min(int(query.get("per_page", [str(PER_PAGE_DEFAULT)])[-1]), PER_PAGE_MAX)
    except ValueError:
        raise invalid("invalid input in field 'page'", {"page": "must be an integer"}) from None
    if page < 1 or per_page < 1:
        raise invalid("invalid pagination", {"page": "page and per_page must be positive"})
    total = len(items)
    last = max(1, -(-total // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    pagination = {"page": page, "per_page": per_page, "previous_page": page - 1 if page > 1 else None,
                  "next_page": page + 1 if page < last else None, "last_page": last, "total_entries": total}
    return {key: chunk, "meta": {"pagination": pagination}}


def sort_items(items, query):
    for spec in reversed(query.get("sort", [])):
        field, _sep, order = spec.partition(":")
        if field not in ("id", "name", "created"):
            raise invalid("invalid input in field 'sort'", {"sort": f"cannot sort by {field}"})
        items = sorted(items, key=lambda item, f=field: item["id"] if f == "id" else (item.get(f) or ""), reverse=order == "desc")
    return items


def filter_common(items, query, labels_of=lambda item: item.get("labels", {})):
    if "name" in query:
        items = [i for i in items if i.get("name") == query["name"][-1]]
    if query.get("label_selector", [""])[-1]:
        parsed = parse_selector(query["label_selector"][-1])
        items = [i for i in items if selector_matches(parsed, labels_of(i))]
    return sort_items(items, query)


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------

class State:
    """All resources, the request log and the faults; every method runs under self.lock."""

    def __init__(self, token=DEFAULT_TOKEN, ipv4_pool=(), action_polls=1):
        self.lock = threading.RLock()
        self.token = token
        # Tokens with the Console's "Read" permission: GET only, every write answers 403 forbidden.
        self.read_only_tokens = set()
        self.ipv4_pool = list(ipv4_pool)
        self.action_polls = int(action_polls)
        self.log = []
        self.seq = itertools.count(1)
        self.faults = []
        self.fault_ids = itertools.count(1)
        self.reset()

    def reset(self):
        with self.lock:
            self.servers, self.firewalls, self.ssh_keys, self.placement_groups, self.actions = {}, {}, {}, {}, {}
            self.ids = {kind: itertools.count(1) for kind in ("server", "firewall", "ssh_key", "placement_group", "action", "ip")}

    def new_id(self, kind):
        return next(self.ids[kind])

    # -- actions ------------------------------------------------------------

    def action(self, command, resources):
        ident = self.new_id("action")
        self.actions[ident] = {"id": ident, "command": command, "status": "running", "progress": 0, "started": _now(),
                               "finished": None, "resources": [{"id": rid, "type": rtype} for rtype, rid in resources],
                               "error": None, "polls_left": self.action_polls}
        return self.render_action(ident, poll=False)

    def render_action(self, ident, poll=True):
        action = self.actions[ident]
        if poll and action["status"] == "running":
            if action["polls_left"] > 0:
                action["polls_left"] -= 1
            else:
                action.update(status="success", progress=100, finished=_now())
        return {k: copy.deepcopy(v) for k, v in action.items() if k != "polls_left"}

    def get_action(self, ident, resource=None):
        action = self.actions.get(int(ident))
        if action is None or (resource and not any(r["type"] == resource for r in action["resources"])):
            raise not_found("action", ident)
        return self.render_action(action["id"])

    def list_actions(self, query, rtype=None, rid=None):
        items = [a for a in self.actions.values()
                 if rtype is None or any(r["type"] == rtype and (rid is None or r["id"] == rid) for r in a["resources"])]
        if "id" in query:
            wanted = {int(i) for i in query["id"] if i.isdigit()}
            items = [a for a in items if a["id"] in wanted]
        rendered = [self.render_action(a["id"]) for a in sorted(items, key=lambda a: a["id"])]
        if "status" in query:
            rendered = [a for a in rendered if a["status"] in query["status"]]
        return paginate(rendered, query, "actions")

    # -- IP addresses -------------------------------------------------------

    def allocate_ipv4(self):
        used = {s["ipv4"] for s in self.servers.values() if s["ipv4"]}
        for address in self.ipv4_pool:
            if address not in used:
                return address
        for address in FALLBACK_NET.hosts():
            if str(address) not in used:
                return str(address)
        raise ApiError(403, "resource_limit_exceeded", "no public IPv4 address left in the stand-in pool")

    # -- firewalls seen from servers ------------------------------------------

    def firewall_ids_of(self, server_id, labels, applied=None):
        """IDs of the firewalls that apply to a server, directly or by label selector."""
        result = []
        for fw in sorted(self.firewalls.values(), key=lambda f: f["id"]):
            entries = (applied or {}).get(fw["id"], fw["applied"])
            for entry in entries:
                if (entry["type"] == "server" and entry["server"] == server_id) or \
                        (entry["type"] == "label_selector" and selector_matches(parse_selector(entry["selector"]), labels)):
                    result.append(fw["id"])
                    break
        return result

    def check_firewall_limit(self, applied=None, extra_server=None):
        """Refuse when any server would end up with more than 5 firewalls."""
        servers = [(s["id"], s["labels"], []) for s in self.servers.values()]
        if extra_server:
            servers.append(extra_server)
        for sid, labels, direct in servers:
            count = len(set(self.firewall_ids_of(sid, labels, applied)) | set(direct))
            if count > MAX_FIREWALLS_PER_SERVER:
                raise ApiError(403, "resource_limit_exceeded",
                               f"server {sid or 'to be created'} would have {count} firewalls, the limit is {MAX_FIREWALLS_PER_SERVER}",
                               {"limit": MAX_FIREWALLS_PER_SERVER})

    # -- rendering ------------------------------------------------------------

    def render_placement_group(self, pg):
        return copy.deepcopy({k: pg[k] for k in ("id", "name", "labels", "type", "servers", "created")})

    def render_server(self, srv):
        ipv4 = None
        if srv["ipv4"]:
            reverse = ".".join(reversed(srv["ipv4"].split(".")))
            ipv4 = {"id": srv["ipv4_id"], "ip": srv["ipv4"], "blocked": False, "dns_ptr": f"static.{reverse}.clients.your-server.de"}
        ipv6 = None
        if srv["ipv6"]:
            ipv6 = {"id": srv["ipv6_id"], "ip": srv["ipv6"], "blocked": False, "dns_ptr": []}
        pg = self.placement_groups.get(srv["placement_group"])
        return copy.deepcopy({
            "id": srv["id"], "name": srv["name"], "status": srv["status"], "created": srv["created"],
            "public_net": {"ipv4": ipv4, "ipv6": ipv6, "floating_ips": [],
                           "firewalls": [{"id": f, "status": "applied"} for f in self.firewall_ids_of(srv["id"], srv["labels"])]},
            "private_net": [], "server_type": _find(SERVER_TYPES, srv["server_type"]), "location": _find(LOCATIONS, srv["location"]),
            "image": _find(IMAGES, srv["image"]), "iso": None, "rescue_enabled": srv["rescue_enabled"], "locked": False,
            "backup_window": srv["backup_window"], "outgoing_traffic": 0, "ingoing_traffic": 0,
            "included_traffic": 21990232555520, "protection": srv["protection"], "labels": srv["labels"],
            "volumes": [], "load_balancers": [], "primary_disk_size": _find(SERVER_TYPES, srv["server_type"])["disk"],
            "placement_group": self.render_placement_group(pg) if pg else None,
        })

    def render_firewall(self, fw):
        applied = []
        for entry in fw["applied"]:
            if entry["type"] == "server":
                applied.append({"type": "server", "server": {"id": entry["server"]}})
            else:
                parsed = parse_selector(entry["selector"])
                matching = [{"type": "server", "server": {"id": s["id"]}}
                            for s in sorted(self.servers.values(), key=lambda s: s["id"]) if selector_matches(parsed, s["labels"])]
                applied.append({"type": "label_selector", "label_selector": {"selector": entry["selector"]},
                                "applied_to_resources": matching})
        return copy.deepcopy({"id": fw["id"], "name": fw["name"], "labels": fw["labels"], "created": fw["created"],
                              "rules": fw["rules"], "applied_to": applied})

    def render_ssh_key(self, key):
        return copy.deepcopy(key)

    def snapshot(self):
        with self.lock:
            return {
                "servers": [self.render_server(s) for s in self.servers.values()],
                "firewalls": [self.render_firewall(f) for f in self.firewalls.values()],
                "ssh_keys": [self.render_ssh_key(k) for k in self.ssh_keys.values()],
                "placement_groups": [self.render_placement_group(p) for p in self.placement_groups.values()],
                "actions": [copy.deepcopy({k: v for k, v in a.items() if k != "polls_left"}) for a in self.actions.values()],
            }

    # -- lookups --------------------------------------------------------------

    def _get(self, table, kind, ident):
        try:
            return table[int(ident)]
        except (KeyError, ValueError):
            raise not_found(kind, ident) from None

    def _unique(self, table, name, kind, exclude=None):
        if any(item["name"] == name and item["id"] != exclude for item in table.values()):
            raise ApiError(409, "uniqueness_error", f"{kind} name is already used", {"fields": [{"name": "name", "messages": ["already used"]}]})

    def _ref(self, table, ref, field):
        for item in table.values():
            if ref == item["id"] or str(ref) == str(item["id"]) or ref == item["name"]:
                return item
        raise invalid(f"invalid input in field '{field}'", {field: f"{ref!r} not found"})


# ---------------------------------------------------------------------------
# Endpoint handlers: each takes (state, match, query, body) and answers (status, payload)
# ---------------------------------------------------------------------------

def h_servers_list(st, m, q, b):
    items = [st.render_server(s) for s in sorted(st.servers.values(), key=lambda s: s["id"])]
    if "status" in q:
        items = [s for s in items if s["status"] in q["status"]]
    return 200, paginate(filter_common(items, q), q, "servers")


def h_server_get(st, m, q, b):
    return 200, {"server": st.render_server(st._get(st.servers, "server", m[1]))}


def h_server_create(st, m, q, b):
    name = check_name(b.get("name"))
    if not HOSTNAME_RE.match(name):
        raise invalid("invalid input in field 'name'", {"name": "must be a valid hostname"})
    st._unique(st.servers, name, "server")
    if b.get("datacenter") is not None:
        raise invalid("the datacenter property was removed, use location", {"datacenter": "removed, use location"})
    stype = _find(SERVER_TYPES, b.get("server_type"))
    if stype is None:
        raise invalid("invalid input in field 'server_type'", {"server_type": "server type not found"})
    ref = b.get("image")
    if isinstance(ref, int) or str(ref).isdigit():
        image = _find(IMAGES, int(ref))
    else:
        image = _find([i for i in IMAGES if i["architecture"] == stype["architecture"]], ref)
    if image is None:
        raise invalid("invalid input in field 'image'", {"image": f"image not found for architecture {stype['architecture']}"})
    if image["architecture"] != stype["architecture"]:
        raise invalid("image architecture does not match server type", {"image": "architecture mismatch"})
    location = _find(LOCATIONS, b["location"]) if b.get("location") is not None else _find(LOCATIONS, stype["locations"][0]["name"])
    if location is None:
        raise invalid("invalid input in field 'location'", {"location": "location not found"})
    if location["name"] not in [loc["name"] for loc in stype["locations"]]:
        raise ApiError(412, "resource_unavailable", f"server type {stype['name']} is unavailable in {location['name']}")
    labels = check_labels(b.get("labels"))
    keys = [st._ref(st.ssh_keys, ref, "ssh_keys") for ref in b.get("ssh_keys") or []]
    for field in ("volumes", "networks"):
        if b.get(field):
            raise invalid(f"invalid input in field '{field}'", {field: f"{b[field][0]!r} not found (not modelled by the stand-in)"})
    fw_ids = []
    for entry in b.get("firewalls") or []:
        fw_id = entry.get("firewall") if isinstance(entry, dict) else None
        if fw_id not in st.firewalls:
            raise invalid("invalid input in field 'firewalls'", {"firewalls": f"firewall {fw_id!r} not found"})
        fw_ids.append(fw_id)
    pg = None
    if b.get("placement_group") is not None:
        pg = st._ref(st.placement_groups, b["placement_group"], "placement_group")
        if len(pg["servers"]) >= MAX_SPREAD_SERVERS:
            raise ApiError(412, "placement_error", f"placement group {pg['id']} is full: a spread group holds at most {MAX_SPREAD_SERVERS} servers")
    public = b.get("public_net") or {}
    for field in ("ipv4", "ipv6"):
        if public.get(field) is not None:
            raise invalid(f"invalid input in field 'public_net.{field}'", {f"public_net.{field}": "primary IP not found (not modelled)"})
    st.check_firewall_limit(extra_server=(0, labels, fw_ids))
    start = b.get("start_after_create", True) is not False
    ident = st.new_id("server")
    srv = {"id": ident, "name": name, "status": "running" if start else "off", "created": _now(), "server_type": stype["id"],
           "location": location["id"], "image": image["id"], "labels": labels, "placement_group": pg["id"] if pg else None,
           "protection": {"delete": False, "rebuild": False}, "rescue_enabled": False, "backup_window": None,
           "ssh_keys": [k["id"] for k in keys], "user_data": b.get("user_data"),
           "ipv4": None, "ipv4_id": None, "ipv6": None, "ipv6_id": None}
    if public.get("enable_ipv4", True) is not False:
        srv["ipv4"], srv["ipv4_id"] = st.allocate_ipv4(), st.new_id("ip")
    if public.get("enable_ipv6", True) is not False:
        srv["ipv6"], srv["ipv6_id"] = f"2001:db8:{ident:x}::/64", st.new_id("ip")
    st.servers[ident] = srv
    if pg:
        pg["servers"].append(ident)
    for fw_id in fw_ids:
        st.firewalls[fw_id]["applied"].append({"type": "server", "server": ident})
    action = st.action("create_server", [("server", ident)] + [("image", image["id"])])
    next_actions = [st.action("start_server", [("server", ident)])] if start else []
    root_password = None if keys else secrets.token_urlsafe(12)
    return 201, {"server": st.render_server(srv), "action": action, "next_actions": next_actions, "root_password": root_password}


def h_server_update(st, m, q, b):
    srv = st._get(st.servers, "server", m[1])
    if "name" in b:
        name = check_name(b["name"])
        st._unique(st.servers, name, "server", exclude=srv["id"])
        srv["name"] = name
    if "labels" in b:
        srv["labels"] = check_labels(b["labels"])
    return 200, {"server": st.render_server(srv)}


def h_server_delete(st, m, q, b):
    srv = st._get(st.servers, "server", m[1])
    if srv["protection"]["delete"]:
        raise ApiError(423, "protected", "server is delete protected")
    action = st.action("delete_server", [("server", srv["id"])])
    for fw in st.firewalls.values():
        fw["applied"] = [e for e in fw["applied"] if not (e["type"] == "server" and e["server"] == srv["id"])]
    pg = st.placement_groups.get(srv["placement_group"])
    if pg:
        pg["servers"].remove(srv["id"])
    del st.servers[srv["id"]]
    return 200, {"action": action}


def _server_action(st, srv, command, **extra):
    return 201, {"action": st.action(command, [("server", srv["id"])]), **extra}


def _require_off(srv, what):
    if srv["status"] != "off":
        raise ApiError(409, "server_not_stopped", f"server must be stopped to {what}")


def h_server_action(st, m, q, b):
    srv = st._get(st.servers, "server", m[1])
    name = m[2]
    if name in ("poweron", "reboot", "reset"):
        srv["status"] = "running"
        return _server_action(st, srv, {"poweron": "start_server", "reboot": "reboot_server", "reset": "reset_server"}[name])
    if name in ("poweroff", "shutdown"):
        srv["status"] = "off"
        return _server_action(st, srv, "stop_server" if name == "poweroff" else "shutdown_server")
    if name == "change_type":
        stype = _find(SERVER_TYPES, b.get("server_type"))
        if stype is None:
            raise invalid("invalid input in field 'server_type'", {"server_type": "server type not found"})
        _require_off(srv, "change its type")
        srv["server_type"] = stype["id"]
        return _server_action(st, srv, "change_server_type")
    if name == "rebuild":
        if srv["protection"]["rebuild"]:
            raise ApiError(423, "protected", "server is rebuild protected")
        image = _find([i for i in IMAGES if i["architecture"] == _find(SERVER_TYPES, srv["server_type"])["architecture"]], b.get("image"))
        if image is None:
            raise invalid("invalid input in field 'image'", {"image": "image not found"})
        srv["image"] = image["id"]
        return _server_action(st, srv, "rebuild_server", root_password=secrets.token_urlsafe(12))
    if name == "enable_rescue":
        srv["rescue_enabled"] = True
        return _server_action(st, srv, "enable_rescue", root_password=secrets.token_urlsafe(12))
    if name == "disable_rescue":
        srv["rescue_enabled"] = False
        return _server_action(st, srv, "disable_rescue")
    if name == "enable_backup":
        srv["backup_window"] = "22-02"
        return _server_action(st, srv, "enable_backup")
    if name == "disable_backup":
        srv["backup_window"] = None
        return _server_action(st, srv, "disable_backup")
    if name == "change_protection":
        for key in ("delete", "rebuild"):
            if key in b:
                if not isinstance(b[key], bool):
                    raise invalid(f"invalid input in field '{key}'", {key: "must be a boolean"})
                srv["protection"][key] = b[key]
        return _server_action(st, srv, "change_protection")
    if name == "reset_password":
        return _server_action(st, srv, "reset_password", root_password=secrets.token_urlsafe(12))
    if name == "add_to_placement_group":
        pg = st._ref(st.placement_groups, b.get("placement_group"), "placement_group")
        if srv["placement_group"] is not None:
            raise ApiError(409, "server_already_in_placement_group", "server is already in a placement group")
        _require_off(srv, "add it to a placement group")
        if len(pg["servers"]) >= MAX_SPREAD_SERVERS:
            raise ApiError(412, "placement_error", f"placement group {pg['id']} is full")
        pg["servers"].append(srv["id"])
        srv["placement_group"] = pg["id"]
        return _server_action(st, srv, "add_to_placement_group")
    if name == "remove_from_placement_group":
        pg = st.placement_groups.get(srv["placement_group"])
        if pg is None:
            raise ApiError(409, "server_not_in_placement_group", "server is not in a placement group")
        pg["servers"].remove(srv["id"])
        srv["placement_group"] = None
        return _server_action(st, srv, "remove_from_placement_group")
    raise not_found(f"server action {name} (not modelled by the stand-in)")


def h_firewalls_list(st, m, q, b):
    items = [st.render_firewall(f) for f in sorted(st.firewalls.values(), key=lambda f: f["id"])]
    return 200, paginate(filter_common(items, q), q, "firewalls")


def h_firewall_get(st, m, q, b):
    return 200, {"firewall": st.render_firewall(st._get(st.firewalls, "firewall", m[1]))}


def _resource_entries(st, entries, field):
    """Parse apply_to / remove_from entries into stored form."""
    if not isinstance(entries, list):
        raise invalid(f"invalid input in field '{field}'", {field: "must be a list"})
    out = []
    for index, entry in enumerate(entries):
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind == "server":
            sid = (entry.get("server") or {}).get("id")
            if sid not in st.servers:
                raise ApiError(404, "firewall_resource_not_found", f"server {sid!r} not found",
                               {"resources": [{"type": "server", "server": {"id": sid}}]})
            out.append({"type": "server", "server": sid})
        elif kind == "label_selector":
            selector = (entry.get("label_selector") or {}).get("selector")
            parse_selector(selector)
            out.append({"type": "label_selector", "selector": selector})
        else:
            raise invalid(f"invalid input in field '{field}'", {f"{field}[{index}].type": "must be server or label_selector"})
    return out


def _apply(st, fw, entries):
    new = list(fw["applied"])
    for entry in entries:
        if entry in new:
            raise ApiError(422, "firewall_already_applied", "firewall is already applied to this resource")
        new.append(entry)
    st.check_firewall_limit(applied={fw["id"]: new})
    fw["applied"] = new
    return [st.action("apply_firewall", [("firewall", fw["id"])] + [("server", e["server"]) for e in entries if e["type"] == "server"])]


def h_firewall_create(st, m, q, b):
    name = check_name(b.get("name"))
    st._unique(st.firewalls, name, "firewall")
    rules = check_rules(b.get("rules") or [])
    labels = check_labels(b.get("labels"))
    ident = st.new_id("firewall")
    fw = {"id": ident, "name": name, "labels": labels, "rules": rules, "applied": [], "created": _now()}
    entries = _resource_entries(st, b.get("apply_to") or [], "apply_to")
    st.firewalls[ident] = fw
    actions = [st.action("set_firewall_rules", [("firewall", ident)])] if rules else []
    if entries:
        try:
            actions += _apply(st, fw, entries)
        except ApiError:
            del st.firewalls[ident]
            raise
    return 201, {"firewall": st.render_firewall(fw), "actions": actions}


def h_firewall_update(st, m, q, b):
    fw = st._get(st.firewalls, "firewall", m[1])
    if "name" in b:
        name = check_name(b["name"])
        st._unique(st.firewalls, name, "firewall", exclude=fw["id"])
        fw["name"] = name
    if "labels" in b:
        fw["labels"] = check_labels(b["labels"])
    return 200, {"firewall": st.render_firewall(fw)}


def h_firewall_delete(st, m, q, b):
    fw = st._get(st.firewalls, "firewall", m[1])
    if fw["applied"]:
        raise ApiError(422, "resource_in_use", f"firewall with ID {fw['id']} is still in use")
    del st.firewalls[fw["id"]]
    return 204, None


def h_firewall_action(st, m, q, b):
    fw = st._get(st.firewalls, "firewall", m[1])
    name = m[2]
    if name == "set_rules":
        if "rules" not in b:
            raise invalid("invalid input in field 'rules'", {"rules": "required"})
        fw["rules"] = check_rules(b["rules"])
        servers = [s["id"] for s in st.servers.values() if fw["id"] in st.firewall_ids_of(s["id"], s["labels"])]
        return 201, {"actions": [st.action("set_firewall_rules", [("firewall", fw["id"])] + [("server", s) for s in servers])]}
    if name == "apply_to_resources":
        return 201, {"actions": _apply(st, fw, _resource_entries(st, b.get("apply_to"), "apply_to"))}
    if name == "remove_from_resources":
        entries = []
        for index, entry in enumerate(b.get("remove_from") or []):
            # a server that no longer exists can still be named here; accept it when applied
            if isinstance(entry, dict) and entry.get("type") == "server":
                entries.append({"type": "server", "server": (entry.get("server") or {}).get("id")})
            else:
                entries += _resource_entries(st, [entry], f"remove_from[{index}]")
        for entry in entries:
            if entry in fw["applied"]:
                continue
            srv = st.servers.get(entry.get("server")) if entry["type"] == "server" else None
            if srv is not None and fw["id"] in st.firewall_ids_of(srv["id"], srv["labels"]):
                # applied to the server through one of the firewall's label selectors only
                raise ApiError(422, "firewall_managed_by_label_selector",
                               "firewall is applied via a label selector and cannot be removed manually")
            raise ApiError(422, "firewall_already_removed", "firewall is not applied to this resource")
        fw["applied"] = [e for e in fw["applied"] if e not in entries]
        return 201, {"actions": [st.action("remove_firewall", [("firewall", fw["id"])]
                                           + [("server", e["server"]) for e in entries if e["type"] == "server"])]}
    raise not_found(f"firewall action {name}")


def h_ssh_keys_list(st, m, q, b):
    items = [st.render_ssh_key(k) for k in sorted(st.ssh_keys.values(), key=lambda k: k["id"])]
    if "fingerprint" in q:
        items = [k for k in items if k["fingerprint"] == q["fingerprint"][-1]]
    return 200, paginate(filter_common(items, q), q, "ssh_keys")


def h_ssh_key_get(st, m, q, b):
    return 200, {"ssh_key": st.render_ssh_key(st._get(st.ssh_keys, "ssh_key", m[1]))}


def h_ssh_key_create(st, m, q, b):
    name = check_name(b.get("name"))
    st._unique(st.ssh_keys, name, "SSH key")
    fingerprint = ssh_fingerprint(b.get("public_key"))
    if any(k["fingerprint"] == fingerprint for k in st.ssh_keys.values()):
        raise ApiError(409, "uniqueness_error", "SSH key with the same fingerprint already exists",
                       {"fields": [{"name": "public_key", "messages": ["already used"]}]})
    ident = st.new_id("ssh_key")
    st.ssh_keys[ident] = {"id": ident, "name": name, "fingerprint": fingerprint, "public_key": b["public_key"].strip(),
                          "labels": check_labels(b.get("labels")), "created": _now()}
    return 201, {"ssh_key": st.render_ssh_key(st.ssh_keys[ident])}


def h_ssh_key_update(st, m, q, b):
    key = st._get(st.ssh_keys, "ssh_key", m[1])
    if "name" in b:
        name = check_name(b["name"])
        st._unique(st.ssh_keys, name, "SSH key", exclude=key["id"])
        key["name"] = name
    if "labels" in b:
        key["labels"] = check_labels(b["labels"])
    return 200, {"ssh_key": st.render_ssh_key(key)}


def h_ssh_key_delete(st, m, q, b):
    key = st._get(st.ssh_keys, "ssh_key", m[1])
    del st.ssh_keys[key["id"]]
    return 204, None


def h_pgs_list(st, m, q, b):
    items = [st.render_placement_group(p) for p in sorted(st.placement_groups.values(), key=lambda p: p["id"])]
    if "type" in q:
        items = [p for p in items if p["type"] in q["type"]]
    return 200, paginate(filter_common(items, q), q, "placement_groups")


def h_pg_get(st, m, q, b):
    return 200, {"placement_group": st.render_placement_group(st._get(st.placement_groups, "placement_group", m[1]))}


def h_pg_create(st, m, q, b):
    name = check_name(b.get("name"))
    st._unique(st.placement_groups, name, "placement group")
    if b.get("type") != "spread":
        raise invalid("invalid input in field 'type'", {"type": "must be spread"})
    ident = st.new_id("placement_group")
    st.placement_groups[ident] = {"id": ident, "name": name, "labels": check_labels(b.get("labels")), "type": "spread",
                                  "servers": [], "created": _now()}
    return 201, {"placement_group": st.render_placement_group(st.placement_groups[ident]), "action": None}


def h_pg_update(st, m, q, b):
    pg = st._get(st.placement_groups, "placement_group", m[1])
    if "name" in b:
        name = check_name(b["name"])
        st._unique(st.placement_groups, name, "placement group", exclude=pg["id"])
        pg["name"] = name
    if "labels" in b:
        pg["labels"] = check_labels(b["labels"])
    return 200, {"placement_group": st.render_placement_group(pg)}


def h_pg_delete(st, m, q, b):
    pg = st._get(st.placement_groups, "placement_group", m[1])
    for sid in pg["servers"]:
        st.servers[sid]["placement_group"] = None
    del st.placement_groups[pg["id"]]
    return 204, None


def _catalogue(items, key, single):
    def list_handler(st, m, q, b):
        found = list(items)
        if "name" in q:
            found = [i for i in found if i["name"] == q["name"][-1]]
        if key == "images":
            for field in ("type", "architecture", "status"):
                if field in q:
                    found = [i for i in found if i[field] in q[field]]
            if q.get("label_selector", [""])[-1]:
                parsed = parse_selector(q["label_selector"][-1])
                found = [i for i in found if selector_matches(parsed, i["labels"])]
            if q.get("include_deprecated", ["false"])[-1].lower() != "true":
                found = [i for i in found if i["deprecated"] is None]
        return 200, paginate(sort_items(copy.deepcopy(found), q), q, key)

    def get_handler(st, m, q, b):
        item = next((i for i in items if i["id"] == int(m[1])), None)
        if item is None:
            raise not_found(single, m[1])
        return 200, {single: copy.deepcopy(item)}
    return list_handler, get_handler


def h_datacenters(st, m, q, b):
    raise ApiError(410, "deprecated_api_endpoint",
                   "datacenters were removed from the API, use locations instead "
                   "(https://docs.hetzner.cloud/changelog#2025-12-16-phasing-out-datacenters)")


def h_actions_list(st, m, q, b):
    return 200, st.list_actions(q)


def h_action_get(st, m, q, b):
    return 200, {"action": st.get_action(m[1])}


def h_res_actions_list(st, m, q, b):
    rtype = m[1].rstrip("s")
    rid = int(m[2]) if m[2] else None
    if rid is not None:
        st._get({"server": st.servers, "firewall": st.firewalls}[rtype], rtype, rid)
    return 200, st.list_actions(q, rtype, rid)


def h_res_action_get(st, m, q, b):
    return 200, {"action": st.get_action(m[3], m[1].rstrip("s"))}


LOC_LIST, LOC_GET = _catalogue(LOCATIONS, "locations", "location")
ST_LIST, ST_GET = _catalogue(SERVER_TYPES, "server_types", "server_type")
IMG_LIST, IMG_GET = _catalogue(IMAGES, "images", "image")

ROUTES = [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in [
    ("GET", r"/servers", h_servers_list),
    ("POST", r"/servers", h_server_create),
    ("GET", r"/servers/(\d+)", h_server_get),
    ("PUT", r"/servers/(\d+)", h_server_update),
    ("DELETE", r"/servers/(\d+)", h_server_delete),
    ("POST", r"/servers/(\d+)/actions/(\w+)", h_server_action),
    ("GET", r"/firewalls", h_firewalls_list),
    ("POST", r"/firewalls", h_firewall_create),
    ("GET", r"/firewalls/(\d+)", h_firewall_get),
    ("PUT", r"/firewalls/(\d+)", h_firewall_update),
    ("DELETE", r"/firewalls/(\d+)", h_firewall_delete),
    ("POST", r"/firewalls/(\d+)/actions/(\w+)", h_firewall_action),
    ("GET", r"/ssh_keys", h_ssh_keys_list),
    ("POST", r"/ssh_keys", h_ssh_key_create),
    ("GET", r"/ssh_keys/(\d+)", h_ssh_key_get),
    ("PUT", r"/ssh_keys/(\d+)", h_ssh_key_update),
    ("DELETE", r"/ssh_keys/(\d+)", h_ssh_key_delete),
    ("GET", r"/placement_groups", h_pgs_list),
    ("POST", r"/placement_groups", h_pg_create),
    ("GET", r"/placement_groups/(\d+)", h_pg_get),
    ("PUT", r"/placement_groups/(\d+)", h_pg_update),
    ("DELETE", r"/placement_groups/(\d+)", h_pg_delete),
    ("GET", r"/locations", LOC_LIST),
    ("GET", r"/locations/(\d+)", LOC_GET),
    ("GET", r"/server_types", ST_LIST),
    ("GET", r"/server_types/(\d+)", ST_GET),
    ("GET", r"/images", IMG_LIST),
    ("GET", r"/images/(\d+)", IMG_GET),
    ("GET", r"/datacenters(?:/\d+)?", h_datacenters),
    ("GET", r"/actions", h_actions_list),
    ("GET", r"/actions/(\d+)", h_action_get),
    ("GET", r"/(servers|firewalls)(?:/(\d+))?/actions", h_res_actions_list),
    ("GET", r"/(servers|firewalls|placement_groups|ssh_keys)(?:/(\d+))?/actions/(\d+)", h_res_action_get),
]]


# ---------------------------------------------------------------------------
# HTTP layer
# ---------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """Serve /v1 (the API, with auth, log and faults) and /__standin/ (admin, no auth)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in separate writes
    server_version = "hcloud-standin/1"
    state: State  # set on the subclass made per server

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        return

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    def _send(self, status, payload):
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "json_error", "invalid JSON in request body") from None

    def _dispatch(self, method):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        if url.path.startswith(ADMIN):
            try:
                status, payload = admin(self.state, method, url.path[len(ADMIN):], self._read_body())
            except ApiError as exc:
                status, payload = exc.status, exc.body()
            self._send(status, payload)
            return
        st = self.state
        with st.lock:
            # user_agent tells the modules (hcloud-python ... ansible-module) from the inventory plugin (ansible-inventory).
            entry = {"seq": next(st.seq), "method": method, "path": url.path, "query": query, "body": None, "status": None,
                     "user_agent": self.headers.get("User-Agent", "")}
            st.log.append(entry)
        try:
            entry["body"] = self._read_body()
            status, payload = self._api(method, url.path, query, entry["body"])
        except ApiError as exc:
            status, payload = exc.status, exc.body()
        except Exception as exc:  # pylint: disable=broad-except
            status, payload = 500, ApiError(500, "server_error", f"stand-in bug: {exc!r}").body()
        entry["status"] = status
        self._send(status, payload)

    def _api(self, method, path, query, body):
        st = self.state
        auth = self.headers.get("Authorization", "")
        read_only = any(auth == f"Bearer {t}" for t in st.read_only_tokens)
        if auth != f"Bearer {st.token}" and not read_only:
            raise ApiError(401, "unauthorized", "unable to authenticate")
        if read_only and method != "GET":
            # docs.hetzner.cloud "Errors": forbidden (403), insufficient permissions for this request.
            raise ApiError(403, "forbidden", "insufficient permissions")
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            raise not_found("endpoint")
        sub = path[len(PREFIX):] or "/"
        with st.lock:
            fault = match_fault(st, method, path)
            if fault:
                raise ApiError(fault["status"], fault["code"], fault["message"])
            known_path = False
            for route_method, pattern, handler in ROUTES:
                match = pattern.match(sub)
                if match:
                    known_path = True
                    if route_method == method:
                        if method in ("POST", "PUT") and body is not None and not isinstance(body, dict):
                            raise ApiError(400, "json_error", "request body must be a JSON object")
                        groups = (None,) + match.groups()
                        return handler(st, groups, query, body or {})
            if known_path:
                raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}")
            raise not_found("endpoint")


def match_fault(st, method, path):
    """Count the request against every matching fault; return the first one that fires."""
    fired = None
    for fault in st.faults:
        if fault["method"] and fault["method"].upper() != method:
            continue
        if fault["path"] is not None and path not in (fault["path"], PREFIX + fault["path"]):
            continue
        if fault["path_regex"] is not None and not re.search(fault["path_regex"], path):
            continue
        fault["seen"] += 1
        if fired is None and fault["nth"] <= fault["seen"] < fault["nth"] + fault["times"]:
            fault["fired"] += 1
            fired = fault
    return fired


def make_fault(st, spec):
    if not isinstance(spec, dict):
        raise invalid("fault must be an object")
    unknown = set(spec) - {"method", "path", "path_regex", "nth", "times", "status", "code", "message"}
    if unknown:
        raise invalid(f"unknown fault keys: {sorted(unknown)}")
    if spec.get("path_regex") is not None:
        try:
            re.compile(spec["path_regex"])
        except re.error as exc:
            raise invalid(f"bad path_regex: {exc}") from None
    fault = {"id": next(st.fault_ids), "method": spec.get("method"), "path": spec.get("path"), "path_regex": spec.get("path_regex"),
             "nth": int(spec.get("nth", 1)), "times": int(spec.get("times", 1)), "status": int(spec.get("status", 500)),
             "code": spec.get("code", "server_error"), "message": spec.get("message", "fault injected by the stand-in"),
             "seen": 0, "fired": 0}
    st.faults.append(fault)
    return fault


def admin(st, method, name, body):
    """The admin interface under /__standin/ (no auth, not logged)."""
    body = body if isinstance(body, dict) else {}
    with st.lock:
        if (method, name) == ("GET", "requests"):
            return 200, {"requests": copy.deepcopy(st.log)}
        if (method, name) == ("DELETE", "requests"):
            st.log.clear()
            return 204, None
        if (method, name) == ("GET", "faults"):
            return 200, {"faults": copy.deepcopy(st.faults)}
        if (method, name) == ("POST", "faults"):
            return 201, {"fault": dict(make_fault(st, body))}
        if (method, name) == ("DELETE", "faults"):
            st.faults.clear()
            return 204, None
        if (method, name) == ("POST", "token"):
            if not isinstance(body.get("token"), str) or not body["token"]:
                raise invalid("token must be a non-empty string")
            st.token = body["token"]
            return 200, {"token": st.token}
        if (method, name) == ("POST", "read_only_token"):
            if not isinstance(body.get("token"), str) or not body["token"] or body["token"] == st.token:
                raise invalid("token must be a non-empty string other than the read/write token")
            st.read_only_tokens.add(body["token"])
            return 200, {"read_only_tokens": sorted(st.read_only_tokens)}
        if (method, name) == ("POST", "ip_pool"):
            pool = body.get("ipv4", [])
            try:
                st.ipv4_pool = [str(ipaddress.IPv4Address(a)) for a in pool]
            except (ValueError, TypeError):
                raise invalid("ipv4 must be a list of IPv4 addresses") from None
            return 200, {"ipv4": list(st.ipv4_pool)}
        if (method, name) == ("GET", "state"):
            return 200, st.snapshot()
        if (method, name) == ("POST", "reset"):
            st.reset()
            return 204, None
        if (method, name) == ("POST", "config"):
            if "action_polls" in body:
                st.action_polls = int(body["action_polls"])
            return 200, {"action_polls": st.action_polls}
    raise not_found(f"admin endpoint {method} {name}")


# ---------------------------------------------------------------------------
# Python API and command line
# ---------------------------------------------------------------------------

class StandIn:
    """Run the stand-in in a background thread; usable as a context manager."""

    def __init__(self, port=0, token=DEFAULT_TOKEN, ipv4_pool=(), action_polls=1, host=HOST):
        if host != HOST:
            raise ValueError(f"the stand-in binds to {HOST} only, not {host!r}")
        self.port = port
        self.store = State(token=token, ipv4_pool=ipv4_pool, action_polls=action_polls)
        self._httpd = None
        self._thread = None

    @property
    def token(self):
        return self.store.token

    @property
    def url(self):
        return f"http://{HOST}:{self.port}{PREFIX}"

    def start(self):
        handler = type("BoundHandler", (Handler,), {"state": self.store})
        self._httpd = ThreadingHTTPServer((HOST, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hcloud-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def requests(self):
        return admin(self.store, "GET", "requests", None)[1]["requests"]

    def clear_requests(self):
        admin(self.store, "DELETE", "requests", None)

    def add_fault(self, **spec):
        return admin(self.store, "POST", "faults", spec)[1]["fault"]

    def clear_faults(self):
        admin(self.store, "DELETE", "faults", None)

    def set_token(self, token):
        admin(self.store, "POST", "token", {"token": token})

    def add_read_only_token(self, token):
        admin(self.store, "POST", "read_only_token", {"token": token})

    def set_ip_pool(self, ipv4):
        admin(self.store, "POST", "ip_pool", {"ipv4": list(ipv4)})

    def set_action_polls(self, polls):
        admin(self.store, "POST", "config", {"action_polls": polls})

    def state(self):
        return self.store.snapshot()

    def reset(self):
        self.store.reset()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Stateful stand-in of the Hetzner Cloud API on 127.0.0.1.")
    parser.add_argument("--host", default=HOST, help="must be 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--ipv4-pool", default="", help="comma-separated public IPv4 addresses handed out in order")
    parser.add_argument("--action-polls", type=int, default=1, help="polls an action answers running before success")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    args = parser.parse_args(argv)
    if args.host != HOST:
        parser.error(f"refusing to bind to {args.host}: the stand-in serves on {HOST} only")
    pool = [a.strip() for a in args.ipv4_pool.split(",") if a.strip()]
    for address in pool:
        ipaddress.IPv4Address(address)
    standin = StandIn(port=args.port, token=args.token, ipv4_pool=pool, action_polls=args.action_polls).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.port_file:
        with open(args.port_file + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(f"{standin.port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"stand-in listening on {standin.url}", flush=True)
    stop.wait()
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
