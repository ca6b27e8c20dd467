# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit role's judgement of the whole swarm, on the controller.

``swarm_audit_judge`` takes the findings the node modules made, every audited host's
ipsec_audit result, the swarm as a manager's swarm_audit read it and the declaration
(networks_overlay), and returns every finding with the tables of the report. The rules live in
plugins/module_utils/_audit_rules.py; docs/audit.md lists them.
Documentation of the filter lives in the sidecar ``swarm_audit_judge.yml`` next to this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.module_utils._audit_rules import SwarmJudge


def swarm_audit_judge(findings, hosts, view, view_host=None, view_error=None, declared=None, settings=None):
    if not isinstance(hosts, list) or any(not isinstance(h, dict) or 'host' not in h for h in hosts):
        raise AnsibleFilterError('swarm_audit_judge: hosts must be a list of {host, role, names, result} items')
    return SwarmJudge(hosts, view or None, view_host, view_error or None, declared or [], settings or {}).run(list(findings or []))


class FilterModule:

    def filters(self):
        return {'swarm_audit_judge': swarm_audit_judge}
