# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The releases the collection supports are written once: molecule/shared/platforms.json lists them, and
each has one vars file of the engine role, roles/engine/vars/<distribution>-<codename>.yml.

These tests hold the two together (a release without its vars file, or a vars file without its release,
fails), check that every vars file defines the same facts and nothing main.yml defines too, and compare
the engine role's meta/main.yml platforms (the one copy Galaxy needs there) with the list; the other roles say all.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import platforms
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ENGINE_VARS = os.path.join(REPO, 'roles', 'engine', 'vars')
# The roles that run on the nodes: the lab proves them on each release it builds. The engine role claims
# every release of the list (Ubuntu's too); hcloud provisions servers of one image.
NODE_ROLES = ['audit', 'cluster', 'firewall', 'lab', 'networks', 'rolling', 'watch']


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def release_files():
    """{vars file name without .yml: its facts} for the per-release files (main.yml aside)."""
    return dict((os.path.basename(path)[:-len('.yml')], load(path))
                for path in glob.glob(os.path.join(ENGINE_VARS, '*.yml')) if os.path.basename(path) != 'main.yml')


def listed():
    return ['%s-%s' % (entry['distribution'].lower(), entry['codename']) for entry in platforms.PLATFORMS]


def meta_platforms(role):
    """A role's meta/main.yml platforms as {distribution: [codename, ...]}."""
    info = load(os.path.join(REPO, 'roles', role, 'meta', 'main.yml'))['galaxy_info']
    return dict((platform['name'], platform['versions']) for platform in info['platforms'])


def by_distribution(entries):
    grouped = {}
    for entry in entries:
        grouped.setdefault(entry['distribution'], []).append(entry['codename'])
    return grouped


def test_every_listed_release_has_its_engine_vars_file():
    missing = sorted(set(listed()) - set(release_files()))
    assert not missing, 'no roles/engine/vars/<name>.yml for %s (docs/architecture.md, To add a platform)' % missing


def test_every_engine_vars_file_is_a_listed_release():
    unlisted = sorted(set(release_files()) - set(listed()))
    assert not unlisted, '%s not in molecule/shared/platforms.json' % unlisted


def test_every_vars_file_defines_the_same_facts():
    keys = dict((name, sorted(facts)) for name, facts in release_files().items())
    assert len(set(map(tuple, keys.values()))) == 1, keys


def test_release_facts_are_private_and_not_also_in_main():
    shared = set(load(os.path.join(ENGINE_VARS, 'main.yml')))
    for name, facts in release_files().items():
        assert all(key.startswith('engine__') for key in facts), (name, sorted(facts))
        assert not shared & set(facts), (name, sorted(shared & set(facts)))


def test_codenames_and_docker_versions_are_unique():
    codenames = [entry['codename'] for entry in platforms.PLATFORMS]
    assert len(codenames) == len(set(codenames)), codenames
    # The recordings are kept per Docker version (tests/unit/recordings.py): one lab release each.
    dockers = list(platforms.suite_docker().values())
    assert all(dockers) and len(dockers) == len(set(dockers)), dockers


def test_default_is_a_lab_release():
    assert platforms.DEFAULT_SUITE in platforms.lab_suites()
    assert platforms.other_suite(platforms.DEFAULT_SUITE) != platforms.DEFAULT_SUITE


def test_engine_meta_lists_every_release():
    assert meta_platforms('engine') == by_distribution(platforms.PLATFORMS)


@pytest.mark.parametrize('role', NODE_ROLES)
def test_the_other_roles_meta_defer_to_the_engine_role(role):
    """They run wherever the engine role does, so a new release touches the engine role's meta only."""
    assert meta_platforms(role) == {'Debian': ['all']}
    assert set(meta_platforms('engine')) >= {'Debian'}


def test_hcloud_meta_lists_lab_releases_only():
    lab = by_distribution(entry for entry in platforms.PLATFORMS if entry['lab'])
    for distribution, codenames in meta_platforms('hcloud').items():
        assert set(codenames) <= set(lab.get(distribution, [])), (distribution, codenames)


@pytest.mark.parametrize('question, answer', [
    ('lab-suites', ' '.join(platforms.lab_suites())),
    ('default', platforms.DEFAULT_SUITE),
])
def test_what_the_makefile_reads(question, answer):
    """The Makefile asks platforms.py with whatever Python 3 it found, so no package may be needed."""
    script = os.path.join(REPO, 'molecule', 'shared', 'platforms.py')
    proc = subprocess.run([sys.executable, '-S', script, question], capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, answer), proc.stderr


def test_lab_role_reads_the_list():
    """The lab role has no list of its own: its default and its check come from platforms.json."""
    lab_vars = load(os.path.join(REPO, 'roles', 'lab', 'vars', 'main.yml'))
    assert 'molecule/shared/platforms.json' in lab_vars['lab__platforms']
    spec = load(os.path.join(REPO, 'roles', 'lab', 'meta', 'argument_specs.yml'))['argument_specs']['main']['options']
    assert 'choices' not in spec['lab_suite'] and 'default' not in spec['lab_suite']
