# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""Overlay networks' options and a declared network's rules: what Docker's overlay driver reads and what it refuses.

The option keys and their defaults; whether a network is encrypted (is_encrypted, is_encrypted_overlay), its
VXLAN ids and whether the allocator gave them (network_vnis, is_allocated); the checks of a declaration, with
the field and the fix in each message (name_errors, validate_driver_options, parse_mtu, ipam_errors and
parse_ipam, check_overlaps); a declared entry's flags and state as the module reads them (entry_flag,
entry_state); and the MTU containers get (container_mtu).
The comparison with a live network is in network_diff.py, the services and containers on a network in
attachments.py. Nothing here talks to an engine, so all of it is tested with recorded outputs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import re


# Docker's overlay driver reads only whether this key is present: "", "true",
# "false" and any other value all give an encrypted network.
ENCRYPTED_KEY = 'encrypted'
MTU_KEY = 'com.docker.network.driver.mtu'
VXLANID_KEY = 'com.docker.network.driver.overlay.vxlanid_list'
IFACE_PREFIX_KEY = 'com.docker.network.container_iface_prefix'

# What the overlay driver and libnetwork read from a network's options, and
# which of them belong in driver_options. The others have an option of their own.
ALLOWED_DRIVER_OPTIONS = (VXLANID_KEY, IFACE_PREFIX_KEY)
OWN_OPTION_FOR = {
    ENCRYPTED_KEY: 'encrypted',
    MTU_KEY: 'mtu',
    'com.docker.network.enable_ipv6': 'ipam (an IPv6 subnet enables IPv6)',
    'com.docker.network.internal': 'internal',
}

# The yes/no fields of a networks_overlay entry (the module's options of the same names) and their defaults,
# and the strings Ansible reads as false in a bool option (the node agent reads entries without Ansible).
ENTRY_FLAGS = {'encrypted': True, 'attachable': False, 'internal': False, 'ingress': False}
FALSE_WORDS = ('n', 'no', 'off', '0', 'false', 'f')

# Overhead Docker subtracts from the network's MTU for container interfaces
# (libnetwork drivers/overlay: vxlanEncap and, when encrypted, pktExpansion).
VXLAN_OVERHEAD = 50
ESP_OVERHEAD = 26
DOCKER_DEFAULT_MTU = 1500
MIN_MTU = 68 + VXLAN_OVERHEAD + ESP_OVERHEAD
MAX_MTU = 65535

# swarmkit's rule for network names (manager/controlapi validateAnnotations: a DNS name component,
# "^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$", at most 63 characters), written so that Python's
# backtracking matcher stays linear; and the names Docker keeps for its own networks
# (runconfig.IsPreDefinedNetwork: "... is a pre-defined network and cannot be created").
NAME_PATTERN = re.compile(r'[A-Za-z0-9](?:[-_]*[A-Za-z0-9])*')
NAME_MAX_LENGTH = 63
PREDEFINED_NAMES = ('bridge', 'host', 'none', 'default')


class OverlayError(Exception):
    """A declaration that must not reach the engine. The message names the field and the fix."""


def is_encrypted(options):
    """Whether Docker encrypts a network with these options (it only tests the key's presence)."""
    return ENCRYPTED_KEY in (options or {})


def is_encrypted_overlay(network):
    """A network as the engine lists or inspects it: an overlay that Docker encrypts."""
    return network.get('Driver') == 'overlay' and is_encrypted(network.get('Options'))


def network_vnis(network):
    """A network as the engine lists or inspects it -> its VXLAN ids ([] before the allocator gave any)."""
    text = str((network.get('Options') or {}).get(VXLANID_KEY, ''))
    return [int(part) for part in text.split(',') if part.strip().isdigit()]


def is_allocated(network):
    """Whether the swarm allocator has filled in a new overlay network (its VXLAN ids and subnets).

    Right after a create, a manager may report the network without its options and subnets.
    """
    return VXLANID_KEY in (network.get('Options') or {}) and bool(((network.get('IPAM') or {}).get('Config')))


def container_mtu(network_mtu, encrypted):
    """The MTU Docker gives container interfaces on an overlay network.

    Docker treats the network's MTU option (default 1500) as the underlay's MTU and
    subtracts the VXLAN header and, when encrypted, the ESP overhead, rounded down to
    a multiple of 4 (measured on the lab: 1400 gives 1350 plain and 1324 encrypted).
    """
    mtu = (network_mtu or DOCKER_DEFAULT_MTU) - VXLAN_OVERHEAD
    if encrypted:
        mtu -= ESP_OVERHEAD
        mtu -= mtu % 4
    return mtu


def _suggest(key):
    """The known option key closest to a mistyped one, or None."""
    candidates = {}
    for known in list(ALLOWED_DRIVER_OPTIONS) + list(OWN_OPTION_FOR):
        candidates[known] = known
        candidates[known.rsplit('.', 1)[-1]] = known
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(key.rsplit('.', 1)[-1], list(candidates), n=1, cutoff=0.6)
    return candidates[close[0]] if close else None


def refused_driver_options(driver_options):
    """[(key, the option of its own or None)] for each key driver_options must not hold, sorted by key.

    A key with an option of its own (OWN_OPTION_FOR) belongs there; any other key but ALLOWED_DRIVER_OPTIONS
    is one the overlay driver does not read. The module and the networks role word their messages from this.
    """
    return [(key, OWN_OPTION_FOR.get(key)) for key in sorted(driver_options or {}, key=str)
            if key not in ALLOWED_DRIVER_OPTIONS]


def validate_driver_options(driver_options):
    """Errors for driver_options: unknown keys (with the closest known one) and keys with an option of their own."""
    errors = []
    for key, own in refused_driver_options(driver_options):
        if own:
            errors.append(
                "driver_options.%s: set it with the %s option of this module, not in driver_options "
                "(Docker encrypts whenever the key '%s' is present, whatever its value)."
                % (key, own, ENCRYPTED_KEY)
                if key == ENCRYPTED_KEY else
                "driver_options.%s: set it with the %s option of this module, not in driver_options."
                % (key, own))
            continue
        suggestion = _suggest('%s' % key)
        message = "driver_options.%s is not an option of Docker's overlay driver, which would ignore it silently" % key
        if suggestion in OWN_OPTION_FOR:
            message += "; did you mean '%s'? Use the %s option of this module." % (suggestion, OWN_OPTION_FOR[suggestion])
        elif suggestion:
            message += "; did you mean '%s'?" % suggestion
        else:
            message += "; known driver options: %s." % ', '.join(ALLOWED_DRIVER_OPTIONS)
        errors.append(message)
    return errors


def entry_flag(entry, field):
    """A yes/no field of a declared network (an entry of the networks role's networks_overlay), as the module reads it.

    A field the entry does not set takes its default (ENTRY_FLAGS): a network is encrypted unless its entry says
    encrypted: false. An explicit null is false, as in the module, which keeps a null instead of its default.
    The audit, the node agent and the overlay_declaration filter all ask here.
    """
    if field not in entry:
        return ENTRY_FLAGS[field]
    value = entry[field]
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


def entry_state(entry):
    """A declared network's state: 'absent' (the networks role removes it) or, by default, 'present'."""
    return entry.get('state') or 'present'


def parse_mtu(value):
    """The mtu option as None, 'auto' or an int; raises OverlayError naming the field."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == 'auto':
            return 'auto'
        if not text.isdigit():
            raise OverlayError("mtu: '%s' is neither an integer nor 'auto'." % value)
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise OverlayError("mtu: %r is neither an integer nor 'auto'." % (value,))
    if not MIN_MTU <= value <= MAX_MTU:
        raise OverlayError(
            "mtu: %d is out of range; give the underlay (data-path interface) MTU, between %d and %d, "
            "or 'auto'. Docker subtracts the VXLAN and ESP overhead itself." % (value, MIN_MTU, MAX_MTU))
    return value


def name_errors(name):
    """Errors for a network name the swarm would refuse (swarmkit's rule, Docker's predefined names)."""
    text = '' if name is None else '%s' % name
    if not text:
        return ['name: a network needs a name.']
    errors = []
    if not NAME_PATTERN.fullmatch(text):
        errors.append("name: '%s' is not a valid network name; use letters, digits, '-' and '_', starting and ending "
                      "with a letter or digit (the swarm takes names that are DNS name components)." % text)
    if len(text) > NAME_MAX_LENGTH:
        errors.append("name: '%s' is %d characters long; a swarm network name has at most %d."
                      % (text, len(text), NAME_MAX_LENGTH))
    if text in PREDEFINED_NAMES:
        errors.append("name: '%s' is the name of one of Docker's predefined networks (%s); choose another name."
                      % (text, ', '.join(PREDEFINED_NAMES)))
    return errors


def subnets_overlap(first, second):
    """Whether two ipaddress networks share an address (never across IPv4 and IPv6)."""
    return first.version == second.version and first.overlaps(second)


def _cidr(text, strict):
    """ipaddress.ip_network, refusing a bare address (which it would take as a /32 or /128)."""
    if '/' not in text:
        raise ValueError('%r has no prefix length' % text)
    return ipaddress.ip_network(text, strict=strict)


def ipam_errors(entries, fixes=False):
    """Check ipam entries: ([(index, subnet, canonical entry)] for each entry whose subnet parsed, [errors]).

    The errors are those parse_ipam raises, each naming its field (ipam[M].subnet ...). With fixes,
    the messages that only state the problem also say what to change (the role's validation asks for
    that; the module keeps its established messages).
    """
    parsed = []
    errors = []

    def add(message, fix):
        errors.append(message + (' ' + fix if fixes else ''))

    for index, entry in enumerate(entries or []):
        field = 'ipam[%d]' % index
        subnet_text = '%s' % entry.get('subnet')
        try:
            subnet = _cidr(subnet_text, strict=True)
        except ValueError:
            try:
                loose = _cidr(subnet_text, strict=False)
            except ValueError:
                add("%s.subnet: '%s' is not an IPv4 or IPv6 network in CIDR notation." % (field, subnet_text),
                    "Write it as network/prefix, for example 10.20.0.0/24.")
            else:
                errors.append("%s.subnet: '%s' is not a network address (host bits are set); did you mean '%s'?"
                              % (field, subnet_text, loose))
            continue
        canonical = {'subnet': str(subnet), 'gateway': None, 'ip_range': None}
        gateway_text = entry.get('gateway')
        if gateway_text:
            try:
                gateway = ipaddress.ip_address('%s' % gateway_text)
            except ValueError:
                add("%s.gateway: '%s' is not an IP address." % (field, gateway_text),
                    "Give one address inside %s, or leave gateway unset." % subnet)
                gateway = None
            if gateway is not None:
                if gateway.version != subnet.version or gateway not in subnet:
                    add("%s.gateway: %s is outside its subnet %s." % (field, gateway, subnet),
                        "Pick a host address inside %s, or leave gateway unset (Docker then takes the first one)."
                        % subnet)
                elif gateway in (subnet.network_address, subnet.broadcast_address) and subnet.version == 4 and subnet.prefixlen < 31:
                    errors.append("%s.gateway: %s is the network or broadcast address of %s; pick a host address."
                                  % (field, gateway, subnet))
                else:
                    canonical['gateway'] = str(gateway)
        range_text = entry.get('ip_range')
        if range_text:
            try:
                ip_range = _cidr('%s' % range_text, strict=True)
            except ValueError:
                add("%s.ip_range: '%s' is not a network address in CIDR notation." % (field, range_text),
                    "Give a network inside %s, for example its upper half." % subnet)
                ip_range = None
            if ip_range is not None:
                if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):
                    add("%s.ip_range: %s is not inside its subnet %s." % (field, ip_range, subnet),
                        "Give a part of %s, or leave ip_range unset to use all of it." % subnet)
                else:
                    canonical['ip_range'] = str(ip_range)
        parsed.append((index, subnet, canonical))
    for (i, first, _one), (j, second, _other) in _pairs(parsed):
        if subnets_overlap(first, second):
            add("ipam[%d].subnet %s overlaps ipam[%d].subnet %s." % (i, first, j, second),
                "Give each entry a subnet of its own.")
    if not errors and parsed and not any(subnet.version == 4 for _index, subnet, _entry in parsed):
        errors.append("ipam: an overlay network needs an IPv4 subnet; add one next to %s."
                      % ', '.join(str(subnet) for _index, subnet, _entry in parsed))
    return parsed, errors


def parse_ipam(entries):
    """Validate ipam entries; return them canonical ([{subnet, gateway, ip_range}], sorted). Raises OverlayError."""
    if entries is None:
        return None
    parsed, errors = ipam_errors(entries)
    if errors:
        raise OverlayError(' '.join(errors))
    return sorted((entry for _index, _subnet, entry in parsed), key=_ipam_key)


def _pairs(items):
    items = list(items)
    for position, first in enumerate(items):
        for second in items[position + 1:]:
            yield first, second


def _ipam_key(entry):
    network = ipaddress.ip_network('%s' % entry['subnet'], strict=False)
    return (network.version, int(network.network_address), network.prefixlen)


def _live_ipam(ipam):
    entries = []
    for config in ((ipam or {}).get('Config') or []):
        subnet = config.get('Subnet')
        if not subnet:
            continue
        network = ipaddress.ip_network('%s' % subnet, strict=False)
        gateway = config.get('Gateway') or None
        if gateway:
            gateway = str(ipaddress.ip_address('%s' % gateway.split('/', 1)[0]))
        ip_range = config.get('IPRange') or None
        if ip_range:
            ip_range = str(ipaddress.ip_network('%s' % ip_range, strict=False))
        entries.append({'subnet': str(network), 'gateway': gateway, 'ip_range': ip_range})
    return sorted(entries, key=_ipam_key)


def check_overlaps(ipam, networks, default_pools, own_ids=()):
    """Errors for declared subnets that overlap another network or the swarm's default address pool.

    networks: the engine's network list (each with Name, Id, Scope, IPAM.Config);
    own_ids: ids of the network being managed, which may keep its own subnets (a subnet it
    already holds is not checked against the pool either: the swarm has reserved it).
    """
    errors = []
    held = set()
    for network in networks:
        if network.get('Id') in own_ids:
            held.update(entry['subnet'] for entry in _live_ipam(network.get('IPAM')))
    for index, entry in enumerate(ipam or []):
        subnet = ipaddress.ip_network(entry['subnet'])
        for network in networks:
            if network.get('Id') in own_ids:
                continue
            for config in ((network.get('IPAM') or {}).get('Config') or []):
                try:
                    other = ipaddress.ip_network('%s' % config.get('Subnet'), strict=False)
                except ValueError:
                    continue
                if subnets_overlap(other, subnet):
                    errors.append("ipam[%d].subnet %s overlaps %s of the %s-scoped network '%s'."
                                  % (index, subnet, other, network.get('Scope', 'local'), network.get('Name')))
        for pool in [] if entry['subnet'] in held else default_pools or []:
            try:
                pool_net = ipaddress.ip_network('%s' % pool, strict=False)
            except ValueError:
                continue
            if subnets_overlap(pool_net, subnet):
                errors.append("ipam[%d].subnet %s overlaps the swarm's default address pool %s, from which Docker "
                              "gives subnets to networks declared without one; choose a subnet outside it."
                              % (index, subnet, pool_net))
    return errors
