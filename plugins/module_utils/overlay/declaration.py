# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions may change at any time.
"""The networks role's declaration (networks_overlay), resolved once for every role that reads it.

resolve() takes the list as the user wrote it and returns each entry with its defaults applied (encrypted
unless it says otherwise), which networks will exist encrypted and which plain, whether an ingress entry
is declared, and every problem with the list. The networks role asserts on the problems, the firewall
role reads the plain networks and the ingress from it, and the audit asks _overlay.entry_flag, as this
does, whether a declared network is encrypted. The rules are those of the overlay_network module
(module_utils/_overlay.py), so the roles and the module cannot disagree. It runs on the controller only
(the overlay_declaration and swarm_network_errors filters).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible_collections.ironclad.swarm.plugins.module_utils import _overlay


class DeclarationError(TypeError):
    """networks_overlay is not a list at all: nothing in it can be resolved."""


def _label(position, entry):
    """How a message names an entry: networks_overlay[N] (its name)."""
    return 'networks_overlay[%d] (%s)' % (position, entry.get('name'))


def _name(entry):
    name = entry.get('name')
    return '' if name is None else '%s' % name


def _as_list(networks_overlay):
    """networks_overlay itself ([] for None); raises DeclarationError when it is not a list."""
    if networks_overlay is None:
        return []
    if not isinstance(networks_overlay, (list, tuple)):
        raise DeclarationError('networks_overlay must be a list, got %s' % type(networks_overlay).__name__)
    return networks_overlay


def _entries(networks_overlay):
    """[(position, entry)] for the entries that are dicts (network_errors names the others)."""
    return [(position, entry) for position, entry in enumerate(_as_list(networks_overlay)) if isinstance(entry, Mapping)]


def _ipam_shape_error(ipam):
    """A message when ipam is not a list of dicts (validate_argument_spec says so first), else None."""
    if ipam is None:
        return None
    if not isinstance(ipam, (list, tuple)) or not all(isinstance(entry, Mapping) for entry in ipam):
        return 'ipam: give a list of entries, each a dict with subnet and optionally gateway and ip_range.'
    return None


def network_errors(networks_overlay):
    """One message per problem the overlay_network module would find in an entry, and per overlap between entries.

    Per entry: the name, the MTU and the ipam entries, by the module's rules. Across entries: a subnet of one
    network that overlaps a subnet of another (entries with state absent are left out: they hold no subnet
    after the run). Each message names its entry and field. The swarm_network_errors filter returns this.
    """
    errors = []
    held = []  # (entry label, ipam index, subnet) of the networks checked so far
    for position, network in enumerate(_as_list(networks_overlay)):
        if not isinstance(network, Mapping):
            errors.append('networks_overlay[%d]: %r is not a dict; give each network as a dict with at least a name.'
                          % (position, network))
            continue
        where = _label(position, network)
        problems = _overlay.name_errors(network.get('name'))
        try:
            _overlay.parse_mtu(network.get('mtu'))
        except _overlay.OverlayError as error:
            problems.append('%s' % error)
        parsed = []
        shape = _ipam_shape_error(network.get('ipam'))
        if shape:
            problems.append(shape)
        else:
            parsed, ipam_problems = _overlay.ipam_errors(network.get('ipam'), fixes=True)
            problems.extend(ipam_problems)
        errors.extend('%s: %s' % (where, problem) for problem in problems)
        if _overlay.entry_state(network) == 'absent':
            continue
        for index, subnet, _entry in parsed:
            for other_where, other_index, other in held:
                if _overlay.subnets_overlap(subnet, other):
                    errors.append('%s: ipam[%d].subnet %s overlaps ipam[%d].subnet %s of %s; give each network a '
                                  'subnet of its own.' % (where, index, subnet, other_index, other, other_where))
        held.extend((where, index, subnet) for index, subnet, _entry in parsed)
    return errors


def _driver_option_errors(where, driver_options):
    """The role's words for the keys _overlay.refused_driver_options refuses: the entry's field, not the module's option."""
    if driver_options is not None and not isinstance(driver_options, Mapping):
        return ['%s: driver_options: give a dict of driver option names and values.' % where]
    errors = []
    for key, own in _overlay.refused_driver_options(driver_options):
        if own and key == _overlay.ENCRYPTED_KEY:
            errors.append("%s: driver_options.%s belongs in the %s field of the entry (Docker encrypts whenever a key "
                          "'%s' is present, whatever its value)." % (where, key, own, _overlay.ENCRYPTED_KEY))
        elif own:
            errors.append('%s: driver_options.%s belongs in the %s field of the entry.' % (where, key, own))
        else:
            errors.append("%s: driver_options.%s is not an option of Docker's overlay driver, which would ignore it "
                          "silently; known: %s. Encryption is the entry's encrypted field (default true)."
                          % (where, key, ', '.join(_overlay.ALLOWED_DRIVER_OPTIONS)))
    return errors


def declaration_errors(networks_overlay):
    """Every problem with networks_overlay that needs no engine, each naming its entry and field and the fix.

    First the list as a whole (a name declared twice, more than one ingress entry), then each entry (an
    attachable ingress, driver_options keys that belong in a field of their own or that the driver does
    not read), then network_errors.
    """
    entries = _entries(networks_overlay)
    errors = []
    names = [_name(entry) for _position, entry in entries if _name(entry)]
    for name in sorted(set(names), key=names.index):
        if names.count(name) > 1:
            errors.append("networks_overlay: the name '%s' is declared more than once; give each network one entry."
                          % name)
    ingress = [_name(entry) for _position, entry in entries if _overlay.entry_flag(entry, 'ingress')]
    if len(ingress) > 1:
        errors.append('networks_overlay: %s are all marked ingress; a swarm has one ingress network.' % ', '.join(ingress))
    for position, entry in entries:
        where = _label(position, entry)
        if _overlay.entry_flag(entry, 'ingress') and _overlay.entry_flag(entry, 'attachable'):
            errors.append('%s: an ingress network cannot be attachable; set attachable to false.' % where)
        errors.extend(_driver_option_errors(where, entry.get('driver_options')))
    return errors + network_errors(networks_overlay)


def _resolved(entry):
    """An entry with its defaults applied: state, the yes/no fields, the MTU parsed and whether it has IPv6."""
    resolved = dict(entry)
    resolved['state'] = _overlay.entry_state(entry)
    for field in _overlay.ENTRY_FLAGS:
        resolved[field] = _overlay.entry_flag(entry, field)
    try:
        resolved['mtu'] = _overlay.parse_mtu(entry.get('mtu'))
    except _overlay.OverlayError:
        resolved['mtu'] = entry.get('mtu')  # an error already; left as written
    parsed = [] if _ipam_shape_error(entry.get('ipam')) else _overlay.ipam_errors(entry.get('ipam'))[0]
    resolved['ipv6'] = any(subnet.version == 6 for _index, subnet, _entry in parsed)
    return resolved


def resolve(networks_overlay):
    """networks_overlay as the user wrote it -> the declaration every role reads.

    networks: each entry (that is a dict) in order, with state ('present' unless it says 'absent'), encrypted
    (true unless it says false), attachable, internal and ingress resolved, mtu parsed (None, 'auto' or an
    integer) and ipv6 (whether an ipam subnet is IPv6);
    present, absent: the names of the networks the networks role keeps and removes;
    encrypted, plain: the names of the present ones that are encrypted and that are plain;
    ingress: the name of the entry marked ingress, or None; declares_ingress: whether an entry is marked
    ingress (with state absent too: the swarm then has no ingress network, not Docker's default plain one);
    errors: declaration_errors, empty when the list is usable.
    Raises DeclarationError when networks_overlay is not a list.
    """
    networks = [_resolved(entry) for _position, entry in _entries(networks_overlay)]
    present = [network for network in networks if network['state'] != 'absent']
    ingress = [network['name'] for network in networks if network['ingress']]
    return {
        'networks': networks,
        'present': [network['name'] for network in present],
        'absent': [network['name'] for network in networks if network['state'] == 'absent'],
        'encrypted': [network['name'] for network in present if network['encrypted']],
        'plain': [network['name'] for network in present if not network['encrypted']],
        'ingress': ingress[0] if ingress else None,
        'declares_ingress': bool(ingress),
        'errors': declaration_errors(networks_overlay),
    }
