# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""swarm/member.py's read_member (swarm_member_info): one read of a node, and on a manager of the swarm.

The engine's answers are the lab's recordings: info on a manager and a worker of Docker 26.1
(fixtures/xfrm/docker-26.1/lab-*-info-swarm.json holds the info's Swarm part) and the swarm's nodes.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.common.docker import explain
from ansible_collections.ironclad.swarm.plugins.module_utils.swarm.member import read_member

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), 'fixtures')
XFRM = os.path.join(FIXTURES, 'xfrm', 'docker-26.1')


def recorded_swarm(node):
    with open(os.path.join(XFRM, 'lab-%s-info-swarm.json' % node)) as handle:
        return json.load(handle)


class Api:
    """A docker.APIClient answering with recorded objects; it counts what was asked."""

    def __init__(self, node, fail_swarm=None):
        self.info_answer = {'Name': 'lab-%s' % node, 'Swarm': recorded_swarm(node)}
        self.fail_swarm = fail_swarm
        self.asked = []

    def info(self):
        self.asked.append('info')
        return copy.deepcopy(self.info_answer)

    def inspect_swarm(self):
        self.asked.append('inspect_swarm')
        if self.fail_swarm:
            raise self.fail_swarm
        return {'ID': 'swarm-id', 'JoinTokens': {'Worker': 'SWMTKN-1-worker', 'Manager': 'SWMTKN-1-manager'},
                'Spec': {'EncryptionConfig': {'AutoLockManagers': False}}, 'DataPathPort': 4789}

    def nodes(self):
        self.asked.append('nodes')
        return [{'ID': 'n1', 'Description': {'Hostname': 'lab-manager-1'}}]


class NoLeader(Exception):
    explanation = b'rpc error: code = Unknown desc = The swarm does not have a leader.\n'


def test_manager_read_brings_the_swarm_without_tokens():
    api = Api('manager-1')
    result = read_member(api, True, explain)
    assert api.asked == ['info', 'inspect_swarm', 'nodes']
    assert result['host_info']['Swarm']['ControlAvailable'] is True
    assert result['swarm_facts']['ID'] == 'swarm-id' and 'JoinTokens' not in result['swarm_facts']
    assert result['nodes'][0]['ID'] == 'n1' and result['swarm_error'] is None


def test_tokens_only_when_asked():
    result = read_member(Api('manager-1'), True, explain, join_tokens=True)
    assert result['swarm_facts']['JoinTokens']['Worker'] == 'SWMTKN-1-worker'


@pytest.mark.parametrize('node, swarm', [('worker-1', True), ('manager-1', False)])
def test_worker_or_not_asked_reads_the_info_only(node, swarm):
    api = Api(node)
    result = read_member(api, swarm, explain)
    assert api.asked == ['info']
    assert result['swarm_facts'] is None and result['nodes'] is None and result['swarm_error'] is None
    assert result['host_info']['Swarm']['LocalNodeState'] == 'active'


def test_locked_manager_is_not_asked_for_the_swarm():
    api = Api('manager-1')
    api.info_answer['Swarm'] = {'LocalNodeState': 'locked', 'ControlAvailable': False, 'NodeID': ''}
    result = read_member(api, True, explain)
    assert api.asked == ['info'] and result['swarm_facts'] is None


def test_no_leader_is_said_in_the_engines_words():
    result = read_member(Api('manager-1', fail_swarm=NoLeader()), True, explain)
    assert result['swarm_facts'] is None and result['nodes'] is None
    assert result['swarm_error'] == 'rpc error: code = Unknown desc = The swarm does not have a leader.'
    assert result['host_info']['Name'] == 'lab-manager-1'
