# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One convention for the variables a role defines: a documented input (meta/argument_specs.yml), a fact
listed below for its readers, or private and named <role>__name."""

from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, 'roles', '*')) if os.path.isdir(path))

# Facts a role leaves for others to read, with the reason each has no <role>__ prefix.
PUBLIC_FACTS = {
    'engine': {
        'engine_host_facts': "engine_host's whole result; README and kernel.yml name it",
        'engine_upstream_sources': 'whether the upstream sources file changed; install.yml and users read it',
        'engine_pending': 'check mode on a host without Docker: the cluster, networks, audit and watch roles read it',
        'engine_server_version': 'the engine version of each host, compared across the play',
        'engine_package_names': "the engine's packages on the host's release; the rolling role upgrades them",
    },
    'firewall': {
        'firewall_result': "swarm_firewall's result, for playbooks that show the fence",
    },
    'cluster': {
        'cluster_nodes': 'the swarm node table, documented output (validate.yml lists the outputs)',
        'cluster_report': 'the printed swarm report, documented output',
        'cluster_drift': 'drift found before changes, documented output',
    },
    'networks': {
        'networks_applied': 'what was applied, documented output',
    },
    'audit': {
        'audit_report': 'the whole report as data, documented output; the templates read it',
    },
    'rolling': {
        'rolling_nodes': "the step's hosts, for the user's rolling_step_tasks (argument_specs, docs/operations.md)",
    },
    'hcloud': {
        'hcloud_servers': "the cluster's servers, a documented fact of the role (argument_specs)",
        'hcloud_departed': 'the servers marked for removal, a documented fact; playbooks/hcloud*.yml read it',
        'hcloud_declared_roles': "each declared server's role, a documented fact; hcloud_provision.yml checks the inventory",
    },
}

TASK_KEYS = ('block', 'rescue', 'always')
SET_FACT = ('set_fact', 'ansible.builtin.set_fact', 'ansible.legacy.set_fact')
NOT_FACTS = ('cacheable',)


class _Loader(yaml.SafeLoader):
    """Ansible's YAML: tags such as !unsafe and !vault read as plain values."""


_Loader.add_multi_constructor('!', lambda loader, suffix, node: loader.construct_scalar(node)
                              if isinstance(node, yaml.ScalarNode) else None)


def load(path):
    with open(path) as handle:
        return yaml.load(handle, Loader=_Loader)  # nosec: a SafeLoader subclass


def inputs(role):
    """Every option of every entry point in the role's argument specs."""
    path = os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')
    if not os.path.exists(path):
        return set()
    specs = (load(path) or {}).get('argument_specs') or {}
    return set(name for entry in specs.values() for name in ((entry or {}).get('options') or {}))


def task_defines(task, where):
    """(name, where) for each variable a task (and the tasks in its blocks) defines."""
    if not isinstance(task, dict):
        return
    if isinstance(task.get('register'), str):
        yield task['register'], where + ' register'
    for key in SET_FACT:
        if isinstance(task.get(key), dict):
            for name in task[key]:
                if name not in NOT_FACTS:
                    yield name, where + ' set_fact'
    for name in (task.get('vars') or {}) if isinstance(task.get('vars'), dict) else ():
        yield name, where + ' vars'
    control = task.get('loop_control') or {}
    for key in ('loop_var', 'index_var'):
        if isinstance(control.get(key), str):
            yield control[key], where + ' ' + key
    for key in TASK_KEYS:
        for inner in task.get(key) or []:
            yield from task_defines(inner, where)


def defined(role):
    """(name, where) for each variable the role defines: in its tasks and handlers, and its vars files."""
    base = os.path.join(ROOT, 'roles', role)
    for path in sorted(glob.glob(os.path.join(base, 'tasks', '*.yml')) + glob.glob(os.path.join(base, 'handlers', '*.yml'))):
        where = os.path.relpath(path, ROOT)
        for task in load(path) or []:
            yield from task_defines(task, where)
    for path in sorted(glob.glob(os.path.join(base, 'vars', '*.yml'))):
        for name in load(path) or {}:
            yield name, os.path.relpath(path, ROOT)


@pytest.mark.parametrize('role', ROLES)
def test_every_variable_a_role_defines_is_an_input_a_listed_fact_or_private(role):
    """Also allowed: Ansible's own connection variables (ansible_*) and another role's documented input, given
    to it where this role includes it (the rolling role runs the audit role with audit_fail_on: none)."""
    others = set(name for other in ROLES if other != role for name in inputs(other))
    allowed = inputs(role) | set(PUBLIC_FACTS.get(role, {}))
    stray = sorted('%s (%s)' % (name, where) for name, where in defined(role)
                   if name not in allowed and not name.startswith(role + '__')
                   and not name.startswith('ansible_') and not (name in others and where.endswith(' vars')))
    assert stray == [], 'name them %s__NAME, or document them in meta/argument_specs.yml' % role


@pytest.mark.parametrize('role', ROLES)
def test_every_default_is_a_documented_input(role):
    path = os.path.join(ROOT, 'roles', role, 'defaults', 'main.yml')
    names = set(load(path) or {}) if os.path.exists(path) else set()
    assert sorted(names - inputs(role)) == []


def test_the_public_facts_are_still_set():
    """An entry above that no role sets any more goes."""
    for role, facts in PUBLIC_FACTS.items():
        names = set(name for name, dummy in defined(role))
        assert sorted(set(facts) - names) == [], role


OLD_STYLE = re.compile(r'(?<![A-Za-z0-9_])__(?:site|%s)_[a-z0-9]' % '|'.join(ROLES))


def test_no_private_variable_keeps_the_old_prefix():
    """__cluster_x, __site_x and the like: the old prefix, anywhere in the roles' and playbooks' files."""
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '**', '*'), recursive=True)
                       + glob.glob(os.path.join(ROOT, 'playbooks', '*.yml'))):
        if os.path.isfile(path):
            with open(path) as handle:
                for number, line in enumerate(handle, 1):
                    if OLD_STYLE.search(line):
                        found.append('%s:%d' % (os.path.relpath(path, ROOT), number))
    assert found == []


PRIVATE = re.compile(r'(?<![A-Za-z0-9_])((%s)__[a-z0-9_]+)' % '|'.join(ROLES))


def playbook_defines(path):
    """Names a playbook defines itself: registered, set as facts or given as vars, in any of its plays."""
    names = set()
    for play in load(path) or []:
        if not isinstance(play, dict):
            continue
        names.update((play.get('vars') or {}) if isinstance(play.get('vars'), dict) else ())
        for key in ('pre_tasks', 'tasks', 'post_tasks', 'handlers'):
            for task in play.get(key) or []:
                names.update(name for name, dummy in task_defines(task, path))
    return names


def test_no_role_or_playbook_reads_another_roles_private_variables():
    """A role's <role>__ names are its own: another role or a playbook reads its documented facts instead
    (PUBLIC_FACTS). A playbook may use a name of that shape it defines itself (hcloud.yml's hcloud__nodes)."""
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '**', '*'), recursive=True)
                       + glob.glob(os.path.join(ROOT, 'playbooks', '*.yml'))):
        if not os.path.isfile(path) or not path.endswith(('.yml', '.yaml', '.j2')):
            continue
        rel = os.path.relpath(path, ROOT)
        own = rel.split(os.sep)[1] if rel.startswith('roles' + os.sep) else None
        mine = playbook_defines(path) if own is None else set()
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                for match in PRIVATE.finditer(line):
                    if match.group(2) != own and match.group(1) not in mine:
                        found.append('%s:%d %s' % (rel, number, match.group(1)))
    assert found == []
