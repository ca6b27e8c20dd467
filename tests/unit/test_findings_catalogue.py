# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One catalogue of findings (plugins/module_utils/audit/findings.py): the code, the modules' RETURN docs and the
docs' tables agree with it, and a finding the catalogue does not know cannot be raised."""

from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

from ansible_collections.ironclad.swarm.plugins.module_utils.audit import findings as audit_findings
from ansible_collections.ironclad.swarm.plugins.module_utils.audit.rules import _finding
from ansible_collections.ironclad.swarm.plugins.modules import firewall_audit, ipsec_audit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = sorted(glob.glob(os.path.join(ROOT, 'plugins', '**', '*.py'), recursive=True)
                 + glob.glob(os.path.join(ROOT, 'roles', '**', '*.yml'), recursive=True))
# The ways the code names a finding it raises: a dict literal, find(...), add(...), catalogued(...), and the
# firewall audit's tables of flows, whose rows start with the id.
RAISED = re.compile(r"'id': '([a-z0-9_]+)'|(?:find|add|catalogued)\('([a-z0-9_]+)', "
                    r"|\('([a-z_]+_(?:blocked|open))', ")


def text(path):
    with open(path) as handle:
        return handle.read()


def raised_in_code():
    found = {}
    for path in SOURCES:
        if path.endswith(os.path.join('audit', 'findings.py')):
            continue
        for match in RAISED.finditer(text(path)):
            fid = next(g for g in match.groups() if g)
            found.setdefault(fid, os.path.relpath(path, ROOT))
    return found


def test_every_finding_the_code_raises_is_catalogued():
    found = raised_in_code()
    assert len(found) > 50, 'the pattern finds the raisers'
    unknown = sorted('%s (%s)' % (fid, path) for fid, path in found.items() if fid not in audit_findings.CATALOGUE)
    assert unknown == []


def test_every_catalogued_finding_is_raised_somewhere():
    """No dead entry: each id is raised by name, or built as sa_<direction>_missing by IpsecAudit."""
    found = raised_in_code()
    built = {'sa_out_missing', 'sa_in_missing'}
    assert "self.find(key + '_missing'" in text(os.path.join(ROOT, 'plugins', 'module_utils', 'audit', 'node.py'))
    assert sorted(set(audit_findings.CATALOGUE) - set(found) - built) == []


def test_docs_table_is_the_catalogue():
    doc = text(os.path.join(ROOT, 'docs', 'audit.md'))
    block = doc.split('<!-- findings:start -->\n', 1)[1].split('<!-- findings:end -->', 1)[0]
    assert block == audit_findings.markdown_table(), (
        'docs/audit.md disagrees with the catalogue: regenerate the table with '
        'python -m ansible_collections.ironclad.swarm.plugins.module_utils.audit.findings')


def test_firewall_docs_table_agrees():
    rows = re.findall(r'^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \| ([a-z /]+) \|', text(os.path.join(ROOT, 'docs', 'firewall.md')),
                      re.MULTILINE)
    documented = {}
    for first, second, severities in rows:
        for fid in (first, second):
            if fid and fid in audit_findings.CATALOGUE:
                documented[fid] = set(severities.replace(' ', '').split('/'))
    fence = dict((f, e) for f, e in audit_findings.CATALOGUE.items() if e[0] == 'fence')
    assert sorted(documented) == sorted(fence)
    for fid, severities in documented.items():
        assert severities == set(fence[fid][1]), fid


@pytest.mark.parametrize('module, parts', [(ipsec_audit, ('kernel', 'ipsec')), (firewall_audit, ('fence',))])
def test_modules_return_docs_list_their_findings(module, parts):
    doc = yaml.safe_load(module.RETURN)
    described = ' '.join(doc['findings']['contains']['id']['description'])
    listed = set(re.findall(r'V\(([a-z0-9_]+)\)', described))
    assert listed == set(f for f, e in audit_findings.CATALOGUE.items() if e[0] in parts)


def test_a_finding_outside_the_catalogue_cannot_be_raised():
    with pytest.raises(audit_findings.UnknownFinding, match='not in the catalogue'):
        _finding('quorum_lots', 'high', 'typo')
    with pytest.raises(audit_findings.UnknownFinding, match='cannot be low: the catalogue says high'):
        _finding('quorum_lost', 'low', 'wrong severity')
    assert _finding('quorum_lost', 'high', 'ok')['id'] == 'quorum_lost'


def test_every_entry_is_complete():
    parts = [p for p, dummy in audit_findings.PARTS]
    for fid, (part, severities, rule, meaning, cis) in audit_findings.CATALOGUE.items():
        assert part in parts and severities and set(severities) <= {'high', 'medium', 'low'}, fid
        assert rule and meaning.endswith('.') and (cis is None or re.match(r'^\d+\.\d+$', cis)), fid
