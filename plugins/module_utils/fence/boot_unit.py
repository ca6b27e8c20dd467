# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""The systemd unit that loads the fence's persisted batch at boot (swarm_firewall boot_unit=true).

Its path, its [Install] target and its text; see docs/firewall.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ironclad.swarm.plugins.module_utils.fence.spec import FieldError


BOOT_UNIT_PATH = '/etc/systemd/system/ironclad-swarm-firewall.service'
BOOT_UNIT_WANTED_BY = ('sysinit.target',)   # [Install] WantedBy= of the unit below

_BOOT_UNIT = """\
# Written by the ironclad.swarm.swarm_firewall module (boot_unit=true); edits are overwritten.
# Loads the nftables table inet ironclad_swarm that the swarm_firewall module applied last,
# before the network comes up and before Docker starts, and again whenever nftables.service
# is restarted (Debian's /etc/nftables.conf starts with "flush ruleset").
[Unit]
Description=ironclad.swarm fence for the Docker Swarm ports (nftables table inet ironclad_swarm)
Documentation=https://github.com/ironclad-swarm/ironclad.swarm/blob/main/docs/firewall.md
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target docker.service
After=nftables.service
PartOf=nftables.service
Conflicts=shutdown.target
ConditionPathExists={persist_file}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={nft} -j -f {persist_file}

[Install]
WantedBy=sysinit.target
"""


def boot_unit_text(persist_file, nft='/usr/sbin/nft'):
    """The systemd unit that loads the persisted batch at boot (see docs/firewall.md)."""
    for value, field in ((persist_file, 'persist_file'), (nft, 'nft')):
        if not value.startswith('/') or any(c in value for c in ' \t\n%$\\"\''):
            raise FieldError(field, '%r must be an absolute path without spaces, quotes, %% or $ '
                                    '(systemd would read it differently)' % value)
    return _BOOT_UNIT.format(persist_file=persist_file, nft=nft)
