# Copyright: (c) 2026, ironclad.swarm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit role's judgement of the whole swarm, on the controller.

``swarm_audit_judge`` takes the findings the node modules made, every audited host's
ipsec_audit result, the swarm as a manager's swarm_audit read it and the declaration
(networks_overlay), and returns every finding with the tables of the report. The rules live in
plugins/module_utils/audit/rules.py; docs/audit.md lists them.
``audit_report_data`` builds the whole report from every host's result (plugins/module_utils/audit/report.py):
the matrices, the checks that need both ends of a pair, then the judgement above.
Documentation of the filters lives in the sidecars ``swarm_audit_judge.yml`` and ``audit_report_data.yml``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ironclad.swarm.plugins.module_utils.audit.rules import SwarmJudge
from ansible_collections.ironclad.swarm.plugins.module_utils.audit.report import report_data


def swarm_audit_judge(findings, hosts, view, view_host=None, view_error=None, declared=None, settings=None):
    if not isinstance(hosts, list) or any(not isinstance(h, dict) or 'host' not in h for h in hosts):
        raise AnsibleFilterError('swarm_audit_judge: hosts must be a list of {host, role, names, result} items')
    return SwarmJudge(hosts, view or None, view_host, view_error or None, declared or [], settings or {}).run(list(findings or []))


def audit_report_data(hosts, results, managers, names=None, probe=None, probe_findings=None, probe_status='not run',
                      declared=None, settings=None):
    if not isinstance(hosts, list) or not isinstance(results, dict):
        raise AnsibleFilterError('audit_report_data: the input must be the list of audited hosts and results a dict '
                                 '{host: its ipsec_audit result}')
    return report_data(list(hosts), dict(results), list(managers or []), dict(names or {}), dict(probe or {}),
                       list(probe_findings or []), probe_status, list(declared or []), dict(settings or {}))


class FilterModule:

    def filters(self):
        return {'swarm_audit_judge': swarm_audit_judge, 'audit_report_data': audit_report_data}
