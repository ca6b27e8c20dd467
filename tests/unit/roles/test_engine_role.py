# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine role's controller-side behaviour, run through ansible-playbook on localhost.

- the upstream repository path renders its deb822 file correctly in check mode (Docker's site
  cannot be reached from CI, so the key download must be skipped there);
- tasks_from=validate refuses wrong variables with messages naming the variable and the fix.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(REPO, '.build', 'collections')
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason='ansible-playbook not next to this Python')

PLAY = """
- name: Run part of ironclad.swarm.engine
  hosts: localhost
  gather_facts: {gather}
  tasks:
    - name: Include the role's {tasks_from} tasks
      ansible.builtin.include_role:
        name: ironclad.swarm.engine
        tasks_from: {tasks_from}
"""


def run_playbook(tmp_path, tasks_from, extra_vars, check=False, gather=False):
    playbook = tmp_path / 'play.yml'
    playbook.write_text(PLAY.format(gather='true' if gather else 'false', tasks_from=tasks_from))
    extra = dict(extra_vars, ansible_python_interpreter=sys.executable)
    (tmp_path / 'vars.json').write_text(json.dumps(extra))
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
        'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json',
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'ansible-tmp'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
    })
    cmd = [PLAYBOOK_BIN, '-i', 'localhost,', '-c', 'local', str(playbook), '-e', '@%s' % (tmp_path / 'vars.json')]
    if check:
        cmd += ['--check', '--diff']
    proc = subprocess.run(cmd, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('no JSON from ansible-playbook (rc %d):\n%s\n%s' % (proc.returncode, proc.stdout, proc.stderr))
    tasks = dict((task['task']['name'], task['hosts']['localhost']) for task in report['plays'][0]['tasks'])
    return proc.returncode, tasks


def os_release():
    values = {}
    with open('/etc/os-release') as handle:
        for line in handle:
            key, sep, value = line.strip().partition('=')
            if sep:
                values[key] = value.strip('"')
    return values


DEB_ARCH = {'x86_64': 'amd64', 'aarch64': 'arm64'}


class TestUpstreamRepository:
    @pytest.mark.skipif(not os.path.exists('/etc/os-release'), reason='needs /etc/os-release')
    @pytest.mark.parametrize('url, channel, expected_base', [
        ('https://download.docker.com/linux', 'stable', 'https://download.docker.com/linux'),
        ('https://mirror.invalid/docker-ce/linux/', 'test', 'https://mirror.invalid/docker-ce/linux'),
    ])
    def test_check_mode_renders_deb822(self, tmp_path, url, channel, expected_base):
        root = tmp_path / 'root'
        (root / 'etc' / 'apt' / 'sources.list.d').mkdir(parents=True)
        keyring = root / 'etc' / 'apt' / 'keyrings' / 'docker.asc'
        sources = root / 'etc' / 'apt' / 'sources.list.d' / 'docker.sources'
        rc, tasks = run_playbook(tmp_path, 'repository', {
            'engine_source': 'upstream',
            'engine_upstream_url': url,
            'engine_upstream_channel': channel,
            'engine_upstream_keyring': str(keyring),
            'engine_upstream_sources_file': str(sources),
        }, check=True, gather=True)
        assert rc == 0, tasks

        download = tasks["ironclad.swarm.engine : Download Docker's repository signing key"]
        assert download.get('skipped') is True, 'check mode must not reach for the key'

        rendered = tasks["ironclad.swarm.engine : Write the deb822 sources file for Docker's repository"]
        assert rendered['changed'] is True
        after = rendered['diff'][0]['after']
        fields = dict(line.split(': ', 1) for line in after.splitlines() if line and not line.startswith('#'))
        release = os_release()
        distro = release['ID']
        assert fields == {
            'Types': 'deb',
            'URIs': '%s/%s' % (expected_base, distro),
            'Suites': release['VERSION_CODENAME'],
            'Components': channel,
            'Architectures': DEB_ARCH.get(platform.machine(), platform.machine()),
            'Signed-By': str(keyring),
        }
        # check mode wrote nothing
        assert not sources.exists()
        assert not keyring.parent.exists()


VALIDATE_FAILED = 'ironclad.swarm.engine : Check the engine variables\' values'
SPEC_FAILED = 'ironclad.swarm.engine : Check the engine variables\' types against meta/argument_specs.yml'


class TestValidate:
    def test_defaults_pass(self, tmp_path):
        rc, tasks = run_playbook(tmp_path, 'validate', {})
        assert rc == 0
        assert tasks[VALIDATE_FAILED].get('skipped') is True

    @pytest.mark.parametrize('extra, fragments', [
        ({'engine_log_max_file': 'three'}, ["argument 'engine_log_max_file' is of type str and we were unable to convert to int"]),
        ({'engine_daemon_options': 'x'}, ["argument 'engine_daemon_options' is of type str and we were unable to convert to dict"]),
        ({'engine_source': 'docker.com'}, ['value of engine_source must be one of: distro, upstream, got: docker.com']),
        ({'engine_kernel_modules': 'esp4'}, []),  # a string is a one-element list: accepted by the spec
    ])
    def test_wrong_types(self, tmp_path, extra, fragments):
        rc, tasks = run_playbook(tmp_path, 'validate', extra)
        result = tasks[SPEC_FAILED]
        if not fragments:
            assert rc == 0 and not result.get('failed')
            return
        assert rc != 0
        assert result['failed'] is True
        message = ' '.join(result['argument_errors'])
        for fragment in fragments:
            assert fragment in message

    @pytest.mark.parametrize('extra, expected', [
        ({'engine_daemon_options': {'live-restore': True}},
         'engine_daemon_options sets live-restore, but Docker refuses swarm mode while live-restore is on'),
        ({'engine_daemon_options': {'hosts': ['tcp://0.0.0.0:2375']}},
         'engine_daemon_options sets hosts, but docker.service already starts dockerd with -H fd://'),
        ({'engine_daemon_options': {'log-driver': 'journald'}},
         'engine_daemon_options sets log-driver: set engine_log_driver instead.'),
        ({'engine_daemon_options': {'log-opts': {'max-size': '1g'}}},
         'engine_daemon_options sets log-opts max-size or max-file: set engine_log_max_size and engine_log_max_file instead.'),
        ({'engine_daemon_options': {'log-opts': {'compress': True}}},
         'engine_daemon_options log-opts must map option names to strings'),
        ({'engine_log_max_size': '10 MB'},
         'engine_log_max_size is "10 MB", not a size Docker accepts here: write a number followed by k, m or g, such as 10m.'),
        ({'engine_log_max_file': 0},
         'engine_log_max_file is 0: keep at least 1 log file per container (default 3).'),
        ({'engine_kernel_modules': ['esp4', '-r ip_vs']},
         'engine_kernel_modules has "-r ip_vs": each entry must be a kernel module name'),
        ({'engine_upstream_url': 'download.docker.com/linux'},
         'engine_upstream_url is "download.docker.com/linux": give the http:// or https:// base URL'),
    ])
    def test_semantic_errors_name_variable_and_fix(self, tmp_path, extra, expected):
        rc, tasks = run_playbook(tmp_path, 'validate', extra)
        assert rc != 0
        result = tasks[VALIDATE_FAILED]
        assert result['failed'] is True
        assert any(message.startswith(expected) for message in result['msg']), result['msg']
        assert len(result['msg']) == 1, 'only the broken variable is reported'

    def test_all_errors_at_once(self, tmp_path):
        rc, tasks = run_playbook(tmp_path, 'validate', {
            'engine_daemon_options': {'live-restore': 'true', 'no-new-privileges': False},
            'engine_log_max_size': '10',
        })
        assert rc != 0
        messages = tasks[VALIDATE_FAILED]['msg']
        assert [m.split(' ')[0] for m in messages] == ['engine_daemon_options', 'engine_daemon_options', 'engine_log_max_size']

    def test_live_restore_false_is_fine(self, tmp_path):
        rc, tasks = run_playbook(tmp_path, 'validate', {'engine_daemon_options': {'live-restore': False, 'log-opts': {'compress': 'true'}}})
        assert rc == 0, tasks[VALIDATE_FAILED]
