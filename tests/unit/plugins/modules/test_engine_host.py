# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.engine_host on a simulated Debian host.

daemon.json, the docker.socket drop-in, their directories and the API socket are real files under
tmp_path; dpkg-query, systemctl and docker answer as they did on the trixie lab (docker.io 26.1.5),
recorded below; modprobe answers from the kernel fixtures of the kernel_modules tests.
"""

from __future__ import annotations

import gzip
import json
import os
import pwd
import grp
import socket
import stat

import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.module_utils.engine import host as engine_host_helper
from ansible_collections.ironclad.swarm.plugins.module_utils.engine import kernel_modules as kernel_modules_helper
from ansible_collections.ironclad.swarm.plugins.modules import engine_host
from module_harness import run_main

KERNEL = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'kernel', 'lab-6.18.44')
KERNEL_RELEASE = '6.18.44-fc-v595'
SWARM_MODULES = ['vxlan', 'xfrm_user', 'esp4', 'ip_vs', 'ip_vs_rr', 'xt_u32|xt_bpf']
PACKAGES = ['docker.io', 'docker-cli', 'python3-docker', 'apparmor']
VERSION = '26.1.5+dfsg1'

# Recorded on the trixie lab: `dpkg-query --show --showformat='${Package} ${db:Status-Status}\n' ...`
# (stdout; unknown packages go to stderr and make the exit code 1).
DPKG_CONVERGED = 'apparmor not-installed\ndocker-cli installed\ndocker.io installed\npython3-docker installed\n'
DPKG_UNKNOWN = 'dpkg-query: no packages found matching %s\n'
# `systemctl show docker.service --property=LoadState --property=UnitFileState --property=ActiveState`
SHOW_RUNNING = 'LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n'
SHOW_NOT_FOUND = 'LoadState=not-found\nActiveState=inactive\nUnitFileState=\n'
DOCKER_DOWN = 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n'

DAEMON_JSON = '{\n  "icc": false,\n  "log-driver": "json-file",\n  "no-new-privileges": true\n}\n'


class FakeHost:
    """dpkg, systemd and the docker CLI of one host; commands are recorded."""

    def __init__(self, root, packages=(), unit=None, dpkg_rc=None):
        self.root = root
        self.packages = dict(packages)      # name -> dpkg status ('installed', 'config-files', ...)
        self.unit = unit                    # None: no unit file; else dict(UnitFileState=..., ActiveState=...)
        self.dpkg_rc = dpkg_rc
        self.commands = []
        self.warnings = []
        self.refuse = {}                    # systemctl verb -> error message

    def run_command(self, module, args, **kwargs):
        assert isinstance(args, list), 'commands must be argv lists'
        self.commands.append(args)
        tool = os.path.basename(args[0])
        if tool == 'dpkg-query':
            return self.dpkg(args[3:])
        if tool == 'systemctl':
            return self.systemctl(args[1], args[2] if len(args) > 2 else None)
        if tool == 'docker':
            assert args[1:] == ['version', '--format', '{{.Server.Version}}'], args
            if self.unit and self.unit['ActiveState'] == 'active':
                return 0, VERSION + '\n', ''
            return 1, '\n', DOCKER_DOWN
        if tool == 'modprobe':
            recorded = json.load(open(os.path.join(KERNEL, 'modprobe-dry-run-verbose.json')))
            answer = recorded[args[-1]]
            return answer['rc'], answer['stdout'], answer['stderr']
        raise AssertionError('unexpected command %r' % args)

    def dpkg(self, names):
        if self.dpkg_rc is not None:
            return self.dpkg_rc, '', 'dpkg-query: error: parsing file /var/lib/dpkg/status near line 7\n'
        out = ''.join('%s %s\n' % (name, self.packages[name]) for name in sorted(names) if name in self.packages)
        err = ''.join(DPKG_UNKNOWN % name for name in names if name not in self.packages)
        return (1 if err else 0), out, err

    def systemctl(self, verb, unit):
        if verb == 'daemon-reload':
            assert unit is None
            return 0, '', ''
        assert unit == 'docker.service'
        if verb == 'show':
            if self.unit is None:
                return 0, SHOW_NOT_FOUND, ''
            return 0, 'LoadState=loaded\nActiveState=%(ActiveState)s\nUnitFileState=%(UnitFileState)s\n' % self.unit, ''
        if verb in self.refuse:
            return 1, '', self.refuse[verb]
        if verb == 'enable':
            self.unit['UnitFileState'] = 'enabled'
        elif verb == 'start':
            self.unit['ActiveState'] = 'active'
        else:
            raise AssertionError('unexpected systemctl %s' % verb)
        return 0, '', ''

    def install(self):
        """What apt does: the packages, then the unit, enabled and started (with the daemon.json it finds)."""
        self.packages.update((name, 'installed') for name in PACKAGES)
        self.unit = {'UnitFileState': 'enabled', 'ActiveState': 'active'}

    def verbs(self):
        return [c[1] for c in self.commands if os.path.basename(c[0]) == 'systemctl']

    def ran(self, tool):
        return [c for c in self.commands if os.path.basename(c[0]) == tool]


@pytest.fixture
def kernel(tmp_path):
    """The lab's kernel: everything built in except esp4, ip_vs and ip_vs_rr (missing)."""
    (tmp_path / 'proc').mkdir()
    with gzip.open(str(tmp_path / 'proc' / 'config.gz'), 'wb') as handle:
        handle.write(open(os.path.join(KERNEL, 'config'), 'rb').read())
    return kernel_modules_helper.KernelState.from_system(
        release=KERNEL_RELEASE, proc_modules=str(tmp_path / 'proc' / 'modules'),
        modules_dir=str(tmp_path / 'lib' / 'modules'), proc_config=str(tmp_path / 'proc' / 'config.gz'),
        boot_dir=str(tmp_path / 'boot'))


@pytest.fixture
def owner(monkeypatch):
    """root:root as the role asks; the test's own user and group where the tests do not run as root."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    monkeypatch.setattr(engine_host_helper.EngineHost, 'OWNER', user)
    monkeypatch.setattr(engine_host_helper.EngineHost, 'GROUP', group)


def fresh(tmp_path):
    return FakeHost(tmp_path, packages={'apparmor': 'not-installed'})


def converged(tmp_path):
    host = FakeHost(tmp_path, packages={'apparmor': 'not-installed', 'docker.io': 'installed', 'docker-cli': 'installed',
                                        'python3-docker': 'installed'},
                    unit={'UnitFileState': 'enabled', 'ActiveState': 'active'})
    daemon_json(host).parent.mkdir(parents=True)
    daemon_json(host).parent.chmod(0o755)
    daemon_json(host).write_text(DAEMON_JSON)
    daemon_json(host).chmod(0o644)
    return host


def daemon_json(host):
    return host.root / 'etc' / 'docker' / 'daemon.json'


def run_module(monkeypatch, host, kernel, check_mode=False, diff=False, **args):
    def run_command(module, argv, **kwargs):
        return host.run_command(module, argv, **kwargs)

    def get_bin_path(module, name, required=False, opt_dirs=None):
        return '/usr/bin/%s' % name

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda module, msg: host.warnings.append(msg))
    monkeypatch.setattr(kernel_modules_helper.KernelState, 'from_system', classmethod(lambda cls: kernel))
    ok, result = run_main(monkeypatch, engine_host.main, args, check_mode, diff)
    return ('ok' if ok else 'failed'), result


def role_args(host, **extra):
    """What the engine role's first call passes."""
    args = {
        'kernel_modules': SWARM_MODULES,
        'kernel_modules_persist_file': str(host.root / 'etc' / 'modules-load.d' / 'ironclad-swarm.conf'),
        'packages': PACKAGES,
        'daemon_json': DAEMON_JSON,
        'daemon_json_path': str(daemon_json(host)),
    }
    args.update(extra)
    return args


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def dropin(host):
    return host.root / 'etc' / 'systemd' / 'system' / 'docker.socket.d' / 'ironclad-swarm.conf'


def docker_sock(host):
    return host.root / 'run' / 'docker.sock'


def socket_args(host, **extra):
    """The role's socket option, with the test's own user and group (see the owner fixture)."""
    args = {'path': str(docker_sock(host)), 'mode': '0660', 'owner': pwd.getpwuid(os.getuid()).pw_name,
            'group': grp.getgrgid(os.getgid()).gr_name, 'dropin': str(dropin(host))}
    args.update(extra)
    return args


def start_socket(monkeypatch, host):
    """What systemd does when docker.socket starts: the socket, mode 0660 (bound by a relative name:
    a tmp_path can be longer than a socket's path may be)."""
    docker_sock(host).parent.mkdir(exist_ok=True)
    monkeypatch.chdir(str(docker_sock(host).parent))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(docker_sock(host).name)
    server.close()
    docker_sock(host).chmod(0o660)


def socket_converged(monkeypatch, tmp_path, kernel):
    """A converged host whose socket and drop-in a first run with the socket option made."""
    host = converged(tmp_path)
    start_socket(monkeypatch, host)
    outcome, result = run_module(monkeypatch, host, kernel, **role_args(host, socket=socket_args(host)))
    assert (outcome, result['socket']['dropin_changed']) == ('ok', True)
    host.commands = []
    return host


@pytest.mark.usefixtures('owner')
class TestFreshHost:
    def test_writes_daemon_json_before_docker_is_installed(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel, diff=True, **role_args(host))
        assert outcome == 'ok'
        assert result['changed'] is True
        assert result['missing_packages'] == PACKAGES
        assert result['daemon_json_changed'] is True
        assert daemon_json(host).read_text() == DAEMON_JSON
        assert mode(daemon_json(host)) == 0o644
        assert mode(daemon_json(host).parent) == 0o755
        # No unit yet: systemd is only asked, and no version is read.
        assert result['service']['found'] is False
        assert host.verbs() == ['show']
        assert result['server_version'] is None
        assert 'server_version_error' not in result
        assert host.ran('docker') == []
        content = [d for d in result['diff'] if 'before_header' in d]
        assert content == [{'before_header': str(daemon_json(host)), 'after_header': str(daemon_json(host)),
                            'before': '', 'after': DAEMON_JSON}]
        # The kernel part answers as kernel_modules does.
        assert result['missing'] == ['esp4', 'ip_vs', 'ip_vs_rr']
        assert result['kernel_release'] == KERNEL_RELEASE
        assert host.warnings == ['The running kernel (%s) lacks esp4, ip_vs, ip_vs_rr' % KERNEL_RELEASE]

    def test_check_mode_predicts_and_writes_nothing(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel, check_mode=True, diff=True, **role_args(host))
        assert outcome == 'ok'
        assert result['changed'] is True
        assert result['daemon_json_changed'] is True
        assert result['missing_packages'] == PACKAGES
        assert not daemon_json(host).parent.exists()
        assert {'before': {'path': str(daemon_json(host).parent), 'state': 'absent'},
                'after': {'path': str(daemon_json(host).parent), 'state': 'directory'}} in result['diff']
        assert host.verbs() == ['show']

    def test_after_apt_the_second_call_reads_the_version_and_changes_nothing(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        run_module(monkeypatch, host, kernel, **role_args(host))
        host.install()
        host.commands = []
        outcome, result = run_module(monkeypatch, host, kernel)
        assert outcome == 'ok'
        assert result['changed'] is False
        assert result['server_version'] == VERSION
        assert result['service'] == {'name': 'docker.service', 'found': True, 'load_state': 'loaded', 'was_active': True,
                                     'was_enabled': True, 'enabled_now': False, 'started_now': False}
        assert host.verbs() == ['show']
        assert host.ran('dpkg-query') == [] and host.ran('modprobe') == []
        # and the run after that, with everything, is idempotent too
        outcome, result = run_module(monkeypatch, host, kernel, **role_args(host))
        assert (result['changed'], result['missing_packages'], result['daemon_json_changed']) == (False, [], False)


@pytest.mark.usefixtures('owner')
class TestConvergedHost:
    def test_rerun_changes_nothing(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        before = os.stat(str(daemon_json(host)))
        outcome, result = run_module(monkeypatch, host, kernel, diff=True, **role_args(host))
        assert outcome == 'ok'
        assert result['changed'] is False
        assert 'diff' not in result
        assert result['missing_packages'] == ['apparmor']
        assert result['server_version'] == VERSION
        assert host.verbs() == ['show']
        assert os.stat(str(daemon_json(host))).st_ino == before.st_ino, 'an unchanged file is not rewritten'

    def test_new_settings_under_a_running_daemon_are_reported_not_applied(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        new = DAEMON_JSON.replace('"icc": false', '"icc": true')
        outcome, result = run_module(monkeypatch, host, kernel, diff=True, **role_args(host, daemon_json=new))
        assert outcome == 'ok'
        assert result['changed'] is True
        assert result['daemon_json_changed'] is True
        assert result['service']['was_active'] is True
        assert daemon_json(host).read_text() == new
        # The restart is the caller's: the module never restarts.
        assert host.verbs() == ['show']
        diff = [d for d in result['diff'] if 'before_header' in d][0]
        assert (diff['before'], diff['after']) == (DAEMON_JSON, new)

    def test_check_mode_leaves_new_settings_unwritten(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        new = DAEMON_JSON.replace('"icc": false', '"icc": true')
        outcome, result = run_module(monkeypatch, host, kernel, check_mode=True, **role_args(host, daemon_json=new))
        assert (outcome, result['changed'], result['daemon_json_changed']) == ('ok', True, True)
        assert daemon_json(host).read_text() == DAEMON_JSON

    def test_wrong_mode_is_put_right_without_counting_as_new_settings(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        daemon_json(host).chmod(0o600)
        outcome, result = run_module(monkeypatch, host, kernel, diff=True, **role_args(host))
        assert (outcome, result['changed'], result['daemon_json_changed']) == ('ok', True, False)
        assert mode(daemon_json(host)) == 0o644
        assert {'before': {'path': str(daemon_json(host)), 'mode': '0600'},
                'after': {'path': str(daemon_json(host)), 'mode': '0644'}} in result['diff']

    def test_stopped_and_disabled_docker_is_enabled_and_started(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        host.unit = {'UnitFileState': 'disabled', 'ActiveState': 'inactive'}
        outcome, result = run_module(monkeypatch, host, kernel, **role_args(host))
        assert outcome == 'ok'
        assert result['changed'] is True
        assert host.verbs() == ['show', 'enable', 'start']
        assert result['service']['was_active'] is False
        assert (result['service']['enabled_now'], result['service']['started_now']) == (True, True)
        assert result['server_version'] == VERSION

    def test_check_mode_predicts_the_start_without_starting(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        host.unit = {'UnitFileState': 'enabled', 'ActiveState': 'failed'}
        outcome, result = run_module(monkeypatch, host, kernel, check_mode=True, **role_args(host))
        assert (outcome, result['changed']) == ('ok', True)
        assert result['service']['started_now'] is True and result['service']['enabled_now'] is False
        assert host.verbs() == ['show']
        assert result['server_version'] is None and host.ran('docker') == []

    def test_query_leaves_a_stopped_service_alone(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        host.unit = {'UnitFileState': 'disabled', 'ActiveState': 'inactive'}
        outcome, result = run_module(monkeypatch, host, kernel, service_state='query')
        assert (outcome, result['changed'], host.verbs()) == ('ok', False, ['show'])
        assert result['service']['found'] is True and result['service']['was_enabled'] is False

    def test_a_daemon_that_does_not_answer_is_reported(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        host.unit['ActiveState'] = 'activating'
        outcome, result = run_module(monkeypatch, host, kernel)
        assert outcome == 'ok'
        assert result['server_version'] is None
        assert result['server_version_error'] == 'docker version: ' + DOCKER_DOWN.strip()


@pytest.mark.usefixtures('owner')
class TestStopsAndFailures:
    def test_required_kernel_modules_missing_stops_before_anything_else(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel, **role_args(host, kernel_modules_required=True))
        assert outcome == 'ok'
        assert result['missing'] == ['esp4', 'ip_vs', 'ip_vs_rr']
        assert (result['missing_packages'], result['daemon_json_changed'], result['server_version']) == ([], False, None)
        assert not daemon_json(host).parent.exists()
        assert host.ran('dpkg-query') == [] and host.ran('systemctl') == []

    def test_required_kernel_modules_present_go_on(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel,
                                     **role_args(host, kernel_modules=['vxlan'], kernel_modules_required=True))
        assert (outcome, result['missing'], result['daemon_json_changed']) == ('ok', [], True)

    def test_bad_kernel_module_name_names_the_option(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel, **role_args(host, kernel_modules=['vxlan', '-r ip_vs']))
        assert outcome == 'failed'
        assert result['msg'].startswith('kernel_modules[1]: ')

    def test_dpkg_failure_fails_with_its_words(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        host.dpkg_rc = 2
        outcome, result = run_module(monkeypatch, host, kernel, packages=PACKAGES)
        assert outcome == 'failed'
        assert result['msg'] == ('dpkg-query could not tell which packages are installed: '
                                 'dpkg-query: error: parsing file /var/lib/dpkg/status near line 7')

    def test_a_masked_unit_fails_naming_the_step(self, monkeypatch, tmp_path, kernel):
        host = converged(tmp_path)
        host.unit = {'UnitFileState': 'masked', 'ActiveState': 'inactive'}
        host.refuse['enable'] = 'Failed to enable unit: Unit file /etc/systemd/system/docker.service is masked.\n'
        outcome, result = run_module(monkeypatch, host, kernel)
        assert outcome == 'failed'
        assert result['msg'] == ('Enabling docker.service failed (/usr/bin/systemctl enable docker.service): '
                                 'Failed to enable unit: Unit file /etc/systemd/system/docker.service is masked.')


class TestParsers:
    def test_dpkg_status(self):
        text = DPKG_CONVERGED + 'containerd config-files\n'
        assert engine_host_helper.parse_dpkg_status(text) == {'docker-cli', 'docker.io', 'python3-docker'}
        assert engine_host_helper.missing_packages(['docker.io', 'apparmor', 'containerd', 'apparmor'],
                                                   engine_host_helper.parse_dpkg_status(text)) == ['apparmor', 'containerd']

    @pytest.mark.parametrize('text, expected', [
        (SHOW_RUNNING, {'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'enabled'}),
        (SHOW_NOT_FOUND, {'LoadState': 'not-found', 'ActiveState': 'inactive', 'UnitFileState': ''}),
    ])
    def test_systemctl_show(self, text, expected):
        assert engine_host_helper.parse_systemctl_show(text) == expected


@pytest.mark.usefixtures('owner')
class TestApiSocket:
    def test_fresh_host_gets_the_dropin_before_docker_and_no_socket_is_touched(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel, diff=True, **role_args(host, socket=socket_args(host)))
        assert (outcome, result['changed']) == ('ok', True)
        assert 'SocketMode=0660\n' in dropin(host).read_text()
        assert mode(dropin(host)) == 0o644 and mode(dropin(host).parent) == 0o755
        # systemd reloaded before it is asked about the service: a socket unit started then has the drop-in.
        assert host.verbs() == ['daemon-reload', 'show']
        assert result['socket'] == {'path': str(docker_sock(host)), 'dropin': str(dropin(host)), 'dropin_changed': True,
                                    'daemon_reloaded': True, 'found': False, 'repaired': False}
        assert not docker_sock(host).parent.exists()
        assert str(dropin(host)) in [d.get('after_header') for d in result['diff']]

    def test_rerun_changes_nothing_in_the_one_call(self, monkeypatch, tmp_path, kernel):
        host = socket_converged(monkeypatch, tmp_path, kernel)
        before = os.stat(str(dropin(host)))
        outcome, result = run_module(monkeypatch, host, kernel, diff=True, **role_args(host, socket=socket_args(host)))
        assert (outcome, result['changed'], 'diff' in result) == ('ok', False, False)
        assert host.verbs() == ['show']
        assert result['socket']['dropin_changed'] is False and result['socket']['daemon_reloaded'] is False
        assert (result['socket']['found'], result['socket']['repaired'], result['socket']['mode']) == (True, False, '0660')
        assert os.stat(str(dropin(host))).st_ino == before.st_ino

    def test_a_chmod_and_chgrp_by_hand_are_put_back_without_a_restart(self, monkeypatch, tmp_path, kernel):
        host = socket_converged(monkeypatch, tmp_path, kernel)
        group = grp.getgrgid(os.getgid()).gr_name
        other = next((gid for gid in (os.getgroups() if os.getuid() else [g.gr_gid for g in grp.getgrall()])
                      if gid != os.getgid()), None)
        if other is not None:
            os.chown(str(docker_sock(host)), -1, other)
        docker_sock(host).chmod(0o666)
        outcome, result = run_module(monkeypatch, host, kernel, diff=True, **role_args(host, socket=socket_args(host)))
        assert (outcome, result['changed'], result['daemon_json_changed']) == ('ok', True, False)
        assert (result['socket']['repaired'], result['socket']['mode'], result['socket']['dropin_changed']) == \
            (True, '0666', False)
        assert mode(docker_sock(host)) == 0o660
        assert grp.getgrgid(os.stat(str(docker_sock(host))).st_gid).gr_name == group
        changed_keys = ['group', 'mode'] if other is not None else ['mode']
        socket_diff = [d for d in result['diff'] if d.get('after', {}).get('path') == str(docker_sock(host))]
        assert [sorted(k for k in d['after'] if k != 'path') for d in socket_diff] == [changed_keys]
        assert socket_diff[0]['after']['mode'] == '0660'
        # Only asked: neither the socket unit nor the engine was restarted, nor systemd reloaded.
        assert host.verbs() == ['show']

    def test_check_mode_tells_and_leaves_socket_and_dropin(self, monkeypatch, tmp_path, kernel):
        host = socket_converged(monkeypatch, tmp_path, kernel)
        docker_sock(host).chmod(0o666)
        outcome, result = run_module(monkeypatch, host, kernel, check_mode=True, diff=True,
                                     **role_args(host, socket=socket_args(host, mode='0600')))
        assert (outcome, result['changed']) == ('ok', True)
        assert result['socket']['dropin_changed'] is True and result['socket']['daemon_reloaded'] is False
        assert result['socket']['repaired'] is True
        assert mode(docker_sock(host)) == 0o666
        assert 'SocketMode=0660\n' in dropin(host).read_text()
        assert host.verbs() == ['show']
        assert {'before': {'path': str(docker_sock(host)), 'mode': '0666'},
                'after': {'path': str(docker_sock(host)), 'mode': '0600'}} in result['diff']

    def test_without_the_option_the_socket_is_left_alone(self, monkeypatch, tmp_path, kernel):
        host = socket_converged(monkeypatch, tmp_path, kernel)
        docker_sock(host).chmod(0o666)
        outcome, result = run_module(monkeypatch, host, kernel, **role_args(host))
        assert (outcome, result['changed'], 'socket' in result) == ('ok', False, False)
        assert mode(docker_sock(host)) == 0o666

    @pytest.mark.parametrize('bad', [432, '0668', 'u=rw,g=rw'])
    def test_a_mode_not_a_quoted_octal_string_is_refused_first(self, monkeypatch, tmp_path, kernel, bad):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel, **role_args(host, socket=socket_args(host, mode=bad)))
        assert outcome == 'failed'
        assert result['msg'].startswith("socket.mode must be a quoted octal mode of three or four digits such as '0660'")
        assert host.commands == [] and not daemon_json(host).parent.exists()

    def test_required_kernel_modules_missing_stops_before_the_socket(self, monkeypatch, tmp_path, kernel):
        host = fresh(tmp_path)
        outcome, result = run_module(monkeypatch, host, kernel,
                                     **role_args(host, kernel_modules_required=True, socket=socket_args(host)))
        assert (outcome, 'socket' in result) == ('ok', False)
        assert not dropin(host).parent.exists() and host.ran('systemctl') == []
