# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.

"""An overlay network compared with its declaration: both in one canonical form, and what to do about it.

canonical_live reads a live network (as `docker network inspect` reports it), canonical_desired the
overlay_network module's parameters; differences lists what the declaration sets and the network lacks,
merged_after and describe_differences say what a recreate brings, create_arguments is the SDK's call that
makes the network, and newest picks the swarm's network among the stale ones a manager still lists.
The rules for the declaration itself are in options.py. Nothing here talks to an engine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.ironclad.swarm.plugins.module_utils.overlay.options import (
    DOCKER_DEFAULT_MTU,
    ENCRYPTED_KEY,
    MTU_KEY,
    VXLANID_KEY,
    _live_ipam,
)

# Fields of the canonical form, in the order they are reported.
FIELDS = ('driver', 'scope', 'encrypted', 'attachable', 'internal', 'ingress',
          'ipv6', 'ipam', 'mtu', 'labels', 'driver_options')


def _created_key(network):
    """A sortable form of Docker's Created timestamp (RFC 3339, UTC, up to nanoseconds)."""
    created = (network.get('Created') or '').rstrip('Z')
    seconds, _dot, fraction = created.partition('.')
    return seconds, fraction.ljust(9, '0')


def newest(networks):
    """(the most recently created network or None, [the others]).

    A swarm holds one network per name (and one ingress network); when a manager lists more,
    the older ones are removed networks it still keeps locally until its endpoints on them go.
    """
    ordered = sorted(networks, key=_created_key, reverse=True)
    if not ordered:
        return None, []
    return ordered[0], ordered[1:]


def canonical_live(network):
    """A live network (inspect output) in canonical form."""
    options = dict(network.get('Options') or {})
    mtu_text = options.pop(MTU_KEY, None)
    mtu = DOCKER_DEFAULT_MTU
    if mtu_text not in (None, ''):
        try:
            mtu = int(mtu_text)
        except ValueError:
            mtu = mtu_text  # a value Docker would refuse today; shown as it is, so it is a difference
    encrypted = options.pop(ENCRYPTED_KEY, None) is not None
    return {
        'driver': network.get('Driver'),
        'scope': network.get('Scope'),
        'encrypted': encrypted,
        'attachable': bool(network.get('Attachable')),
        'internal': bool(network.get('Internal')),
        'ingress': bool(network.get('Ingress')),
        'ipv6': bool(network.get('EnableIPv6')),
        'ipam': _live_ipam(network.get('IPAM')),
        'mtu': mtu,
        'labels': dict(network.get('Labels') or {}),
        'driver_options': options,
    }


def canonical_desired(params, mtu):
    """The declaration in canonical form. None stands for "whatever Docker chooses" and is never compared.

    params: the module's parameters after validation (ipam already canonical);
    mtu: None or the resolved integer.
    """
    ipam = params.get('ipam')
    return {
        'driver': 'overlay',
        'scope': 'swarm',
        'encrypted': bool(params.get('encrypted')),
        'attachable': bool(params.get('attachable')),
        'internal': bool(params.get('internal')),
        'ingress': bool(params.get('ingress')),
        'ipv6': None if ipam is None else any(':' in entry['subnet'] for entry in ipam),
        'ipam': ipam,
        'mtu': mtu,
        'labels': None if params.get('labels') is None else dict(
            (str(key), str(value)) for key, value in params['labels'].items()),
        'driver_options': dict((str(key), str(value)) for key, value in (params.get('driver_options') or {}).items()),
    }


def _ipam_matches(wanted, live):
    if len(wanted) != len(live):
        return False
    for want, have in zip(wanted, live):
        if want['subnet'] != have['subnet']:
            return False
        for key in ('gateway', 'ip_range'):
            if want[key] is not None and want[key] != have[key]:
                return False
    return True


def differences(wanted, live):
    """[(field, live value, wanted value)] for every field the declaration sets and the live network lacks."""
    found = []
    live_options = dict(live['driver_options'])
    if VXLANID_KEY not in wanted['driver_options']:
        # The swarm allocator records the VXLAN ids it picked; only a declared list is compared.
        live_options.pop(VXLANID_KEY, None)
    for field in FIELDS:
        want = wanted[field]
        have = live_options if field == 'driver_options' else live[field]
        if want is None:
            continue
        if field == 'ipam':
            if not _ipam_matches(want, have):
                found.append((field, have, want))
        elif want != have:
            found.append((field, have, want))
    return found


def merged_after(wanted, live):
    """What the network will look like after a recreate: the declaration, Docker's choices where it has none."""
    after = copy.deepcopy(wanted)
    for field in FIELDS:
        if after[field] is None and live is not None:
            after[field] = copy.deepcopy(live[field])
    if after['mtu'] is None:
        after['mtu'] = DOCKER_DEFAULT_MTU
    if after['labels'] is None:
        after['labels'] = {}
    return after


def describe(field, value):
    """A difference's value as a short human string."""
    if field == 'ipam':
        if not value:
            return '(none)'
        parts = []
        for entry in value:
            text = entry['subnet']
            extras = ['%s %s' % (key, entry[key]) for key in ('gateway', 'ip_range') if entry.get(key)]
            if extras:
                text += ' (%s)' % ', '.join(extras)
            parts.append(text)
        return ', '.join(parts)
    if isinstance(value, dict):
        if not value:
            return '{}'
        return '{%s}' % ', '.join('%s: %s' % (key, value[key]) for key in sorted(value))
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return '%s' % (value,)


def describe_differences(found):
    return '; '.join('%s is %s, declared %s' % (field, describe(field, have), describe(field, want))
                     for field, have, want in found)


def create_arguments(wanted):
    """Keyword arguments for the SDK's APIClient.create_network from a canonical declaration."""
    options = dict(wanted['driver_options'])
    if wanted['encrypted']:
        options[ENCRYPTED_KEY] = 'true'
    if wanted['mtu'] is not None:
        options[MTU_KEY] = str(wanted['mtu'])
    arguments = {
        'driver': 'overlay',
        'options': options,
        'internal': wanted['internal'],
        'attachable': wanted['attachable'],
        'scope': 'swarm',
        'labels': wanted['labels'] or None,
        'check_duplicate': True,
    }
    if wanted['ingress']:
        arguments['ingress'] = True
        # Every node keeps its old ingress sandbox, listed under the old name, until a new
        # ingress network arrives: a duplicate-name check would wait for itself.
        arguments['check_duplicate'] = False
    if wanted['ipam']:
        configs = []
        for entry in wanted['ipam']:
            config = {'Subnet': entry['subnet']}
            if entry['gateway']:
                config['Gateway'] = entry['gateway']
            if entry['ip_range']:
                config['IPRange'] = entry['ip_range']
            configs.append(config)
        arguments['ipam'] = {'Driver': 'default', 'Config': configs, 'Options': {}}
        arguments['enable_ipv6'] = bool(wanted['ipv6'])
    return arguments
