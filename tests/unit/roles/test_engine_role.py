# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine role's controller-side behaviour, run through ansible-playbook on localhost.

- the upstream repository path renders its deb822 file correctly in check mode (Docker's site
  cannot be reached from CI, so the key download must be skipped there);
- tasks_from=validate refuses wrong variables with messages naming the variable and the fix;
- tasks_from=platform loads the host's release's vars file, or refuses a release without one.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import platform
import subprocess
import sys
import threading

import platforms
import pytest
import yaml

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


def run_repository(tmp_path, url, extra, check=False):
    """The role's repository tasks with the keyring and sources file under tmp_path; (rc, tasks, keyring, sources)."""
    root = tmp_path / 'root'
    (root / 'etc' / 'apt' / 'sources.list.d').mkdir(parents=True)
    keyring = root / 'etc' / 'apt' / 'keyrings' / 'docker.asc'
    sources = root / 'etc' / 'apt' / 'sources.list.d' / 'docker.sources'
    rc, tasks = run_playbook(tmp_path, 'repository', dict({
        'engine_source': 'upstream',
        'engine_upstream_url': url,
        'engine_upstream_keyring': str(keyring),
        'engine_upstream_sources_file': str(sources),
    }, **extra), check=check, gather=True)
    return rc, tasks, keyring, sources


class TestUpstreamRepository:
    @pytest.mark.skipif(not os.path.exists('/etc/os-release'), reason='needs /etc/os-release')
    @pytest.mark.parametrize('url, channel, expected_base', [
        ('https://download.docker.com/linux', 'stable', 'https://download.docker.com/linux'),
        ('https://mirror.invalid/docker-ce/linux/', 'test', 'https://mirror.invalid/docker-ce/linux'),
    ])
    def test_check_mode_renders_deb822(self, tmp_path, url, channel, expected_base):
        rc, tasks, keyring, sources = run_repository(tmp_path, url, {'engine_upstream_channel': channel}, check=True)
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


FIXTURES = os.path.join(REPO, 'tests', 'unit', 'fixtures', 'openpgp')
# Debian's bookworm archive key (RSA 4096), exported armoured by gpg; see fixtures/openpgp/README.md.
ARMOURED_KEY = 'bookworm-automatic.asc'
ARMOURED_KEY_FPR = 'B8B8 0B5B 623E AB6A D877  5C45 B7C5 D7D6 3509 47F8'


@pytest.fixture
def key_server(tmp_path):
    """An HTTP server on loopback laid out like Docker's site: <url>/<distribution>/gpg."""
    root = tmp_path / 'www'
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(content):
        target = root / 'linux' / os_release()['ID'] / 'gpg'
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return 'http://127.0.0.1:%d/linux' % server.server_address[1]

    yield serve
    server.shutdown()
    thread.join()


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists('/etc/os-release'), reason='needs root and /etc/os-release')
class TestUpstreamKeyCheck:
    """The repository tasks for real (not check mode), against a key served on loopback."""

    def run(self, tmp_path, url, fingerprints):
        return run_repository(tmp_path, url, {'engine_upstream_key_fingerprints': fingerprints})

    def test_trusted_key_is_kept_and_the_repository_added(self, tmp_path, key_server):
        with open(os.path.join(FIXTURES, ARMOURED_KEY), 'rb') as handle:
            url = key_server(handle.read())
        rc, tasks, keyring, sources = self.run(tmp_path, url, ['0000000000000000000000000000000000000000', ARMOURED_KEY_FPR.lower()])
        assert rc == 0, tasks
        assert keyring.is_file() and sources.is_file()
        assert 'Signed-By: %s' % keyring in sources.read_text()

    def test_untrusted_key_is_removed_and_the_repository_not_added(self, tmp_path, key_server):
        with open(os.path.join(FIXTURES, ARMOURED_KEY), 'rb') as handle:
            url = key_server(handle.read())
        docker = '9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88'
        rc, tasks, keyring, sources = self.run(tmp_path, url, [docker])
        assert rc != 0
        message = tasks['ironclad.swarm.engine : Stop before the repository is added']['msg']
        assert 'has fingerprint(s) %s' % ARMOURED_KEY_FPR.replace(' ', '') in message
        assert 'none of them in engine_upstream_key_fingerprints (9DC858229FC7DD38854AE2D88D81803C0EBFCD88)' in message
        assert not keyring.exists() and not sources.exists()

    def test_a_page_that_is_not_a_key_is_removed(self, tmp_path, key_server):
        url = key_server(b'<html><body>Moved</body></html>\n')
        rc, tasks, keyring, sources = self.run(tmp_path, url, ['9DC858229FC7DD38854AE2D88D81803C0EBFCD88'])
        assert rc != 0
        assert 'not an OpenPGP key' in tasks['ironclad.swarm.engine : Stop before the repository is added']['msg']
        assert not keyring.exists() and not sources.exists()


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
        ({'engine_upstream_key_fingerprints': ['0EBFCD88']},
         'engine_upstream_key_fingerprints has "0EBFCD88": give at least one OpenPGP key fingerprint'),
        ({'engine_upstream_key_fingerprints': []},
         'engine_upstream_key_fingerprints has no entry: give at least one OpenPGP key fingerprint'),
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


LOAD_PLATFORM = "ironclad.swarm.engine : Load the engine facts of the host's release"
CHECK_PLATFORM = "ironclad.swarm.engine : Check that the host runs a release the engine role supports"


def release_facts(distribution, codename, version):
    return {'ansible_facts': {'distribution': distribution, 'distribution_release': codename,
                              'distribution_version': version, 'os_family': 'Debian'}}


class TestPlatform:
    """tasks/platform.yml finds the host's release's vars file by name, or refuses the release."""

    @pytest.mark.parametrize('entry', platforms.PLATFORMS, ids=lambda entry: entry['codename'])
    def test_each_listed_release_loads_its_vars_file(self, tmp_path, entry):
        name = '%s-%s.yml' % (entry['distribution'].lower(), entry['codename'])
        with open(os.path.join(REPO, 'roles', 'engine', 'vars', name)) as handle:
            expected = yaml.safe_load(handle)
        rc, tasks = run_playbook(tmp_path, 'platform', release_facts(entry['distribution'], entry['codename'], entry['version']))
        assert rc == 0, tasks
        [loaded] = tasks[LOAD_PLATFORM]['results']
        assert [os.path.basename(path) for path in loaded['ansible_included_var_files']] == [name]
        assert loaded['ansible_facts'] == expected
        assert not tasks[CHECK_PLATFORM].get('failed')

    def test_a_release_without_a_vars_file_is_refused_by_name(self, tmp_path):
        rc, tasks = run_playbook(tmp_path, 'platform', release_facts('Debian', 'bullseye', '11.11'))
        assert rc != 0
        message = tasks[CHECK_PLATFORM]['msg']
        assert message.startswith('localhost runs Debian 11.11 (bullseye), which the engine role does not support.'), message
        supported = ', '.join(sorted('%s-%s' % (e['distribution'].lower(), e['codename']) for e in platforms.PLATFORMS))
        assert 'It supports %s:' % supported in message, message
