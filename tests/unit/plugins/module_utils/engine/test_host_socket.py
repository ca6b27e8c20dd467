# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""EngineHost's Docker API socket steps (module_utils/engine/host.py): the docker.socket drop-in and the live socket.

The drop-in is a real file under tmp_path and the live socket a real Unix socket; systemctl is only
recorded. The owners asked for are the test's own user and group, so that the tests run as any user;
a group repair needs a second group to start from (root has them all, others their supplementary ones).
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import stat

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ironclad.swarm.plugins.module_utils.engine import host as engine_host_helper

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def dropin_text(mode='0660'):
    return ('# ironclad.swarm.engine: the Docker API socket is root on the host.\n'
            '# Written by ironclad.swarm.engine_host; changes by hand are undone by its next run.\n'
            '[Socket]\nSocketMode=%s\nSocketUser=%s\nSocketGroup=%s\n' % (mode, USER, GROUP))


class Host:
    """An EngineHost over a real AnsibleModule whose commands are recorded (each answers rc 0)."""

    def __init__(self, monkeypatch, check_mode=False):
        self.commands = []
        self.warnings = []
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, argv, **kw: self.record(argv))
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda module, name, required=False: '/usr/bin/' + name)
        monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda module, msg: self.warnings.append(msg))
        monkeypatch.setattr(engine_host_helper.EngineHost, 'OWNER', USER)
        monkeypatch.setattr(engine_host_helper.EngineHost, 'GROUP', GROUP)
        with patch_module_args({'_ansible_check_mode': check_mode}):
            module = basic.AnsibleModule(argument_spec={}, supports_check_mode=True)
        self.engine = engine_host_helper.EngineHost(module)

    def record(self, argv):
        assert isinstance(argv, list), 'commands must be argv lists'
        self.commands.append(argv)
        return 0, '', ''


def existing_dropin(tmp_path, text):
    """The drop-in as a run left it: its directory 0755, the file 0644, holding text."""
    directory = tmp_path / 'docker.socket.d'
    directory.mkdir()
    directory.chmod(0o755)
    dropin = directory / 'ironclad-swarm.conf'
    dropin.write_text(text)
    dropin.chmod(0o644)
    return dropin


def listening_socket(monkeypatch, directory, name='docker.sock'):
    """A Unix socket bound at directory/name (bound by a relative name: a tmp_path can be longer than sun_path)."""
    monkeypatch.chdir(str(directory))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(name)
    server.close()
    path = directory / name
    os.chmod(str(path), 0o660)
    return path


def another_group():
    """A gid other than the test's own that this process may give a file, or None."""
    if os.getuid() == 0:
        return next(g.gr_gid for g in grp.getgrall() if g.gr_gid != os.getgid())
    return next((gid for gid in os.getgroups() if gid != os.getgid()), None)


def attributes(path):
    info = os.lstat(str(path))
    return '%04o' % stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name


class TestParsers:
    @pytest.mark.parametrize('text, expected', [('0660', 0o660), ('660', 0o660), ('0600', 0o600), ('2770', 0o2770)])
    def test_octal_modes(self, text, expected):
        assert engine_host_helper.octal_mode(text) == expected

    @pytest.mark.parametrize('value', [432, '0668', '66', '00660', 'rw-rw----', '', None])
    def test_what_is_not_a_quoted_octal_mode(self, value):
        assert engine_host_helper.octal_mode(value) is None

    def test_dropin_text(self):
        assert engine_host_helper.socket_dropin(0o660, 'root', 'docker').splitlines()[2:] == [
            '[Socket]', 'SocketMode=0660', 'SocketUser=root', 'SocketGroup=docker']


class TestDropin:
    def test_written_with_its_directory_then_systemd_reloaded(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        dropin = tmp_path / 'docker.socket.d' / 'ironclad-swarm.conf'
        assert host.engine.socket_dropin(str(dropin), 0o660, USER, GROUP) is True
        assert dropin.read_text() == dropin_text()
        assert stat.S_IMODE(os.stat(str(dropin)).st_mode) == 0o644
        assert stat.S_IMODE(os.stat(str(dropin.parent)).st_mode) == 0o755
        assert host.commands == [['/usr/bin/systemctl', 'daemon-reload']]
        assert host.engine.changed is True
        assert {'before_header': str(dropin), 'after_header': str(dropin), 'before': '', 'after': dropin_text()} \
            in host.engine.diffs

    def test_unchanged_is_neither_written_nor_reloaded(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        dropin = existing_dropin(tmp_path, dropin_text())
        before = os.stat(str(dropin))
        assert host.engine.socket_dropin(str(dropin), 0o660, USER, GROUP) is False
        assert (host.commands, host.engine.changed, host.engine.diffs) == ([], False, [])
        assert os.stat(str(dropin)).st_ino == before.st_ino

    def test_a_new_mode_rewrites_it(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        dropin = existing_dropin(tmp_path, dropin_text())
        assert host.engine.socket_dropin(str(dropin), 0o600, USER, GROUP) is True
        assert 'SocketMode=0600\n' in dropin.read_text()
        assert host.commands == [['/usr/bin/systemctl', 'daemon-reload']]

    def test_check_mode_tells_and_neither_writes_nor_reloads(self, monkeypatch, tmp_path):
        host = Host(monkeypatch, check_mode=True)
        dropin = tmp_path / 'docker.socket.d' / 'ironclad-swarm.conf'
        assert host.engine.socket_dropin(str(dropin), 0o660, USER, GROUP) is True
        assert not dropin.parent.exists()
        assert host.commands == []
        assert host.engine.changed is True
        assert [d['after'] for d in host.engine.diffs if 'before_header' in d] == [dropin_text()]

    def test_its_mode_put_right_alone_needs_no_reload(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        dropin = existing_dropin(tmp_path, dropin_text())
        dropin.chmod(0o600)
        assert host.engine.socket_dropin(str(dropin), 0o660, USER, GROUP) is False
        assert stat.S_IMODE(os.stat(str(dropin)).st_mode) == 0o644
        assert (host.commands, host.engine.changed) == ([], True)
        assert host.engine.diffs == [{'before': {'path': str(dropin), 'mode': '0600'},
                                      'after': {'path': str(dropin), 'mode': '0644'}}]


class TestLiveSocket:
    def test_as_wanted_is_left_alone(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        path = listening_socket(monkeypatch, tmp_path)
        result = host.engine.live_socket(str(path), 0o660, USER, GROUP)
        assert result == {'found': True, 'repaired': False, 'mode': '0660', 'owner': USER, 'group': GROUP}
        assert (host.engine.changed, host.engine.diffs, host.commands) == (False, [], [])

    def test_a_chmod_by_hand_is_put_back(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        path = listening_socket(monkeypatch, tmp_path)
        os.chmod(str(path), 0o666)
        result = host.engine.live_socket(str(path), 0o660, USER, GROUP)
        assert result == {'found': True, 'repaired': True, 'mode': '0666', 'owner': USER, 'group': GROUP}
        assert attributes(path) == ('0660', USER, GROUP)
        assert host.engine.changed is True
        assert host.engine.diffs == [{'before': {'path': str(path), 'mode': '0666'},
                                      'after': {'path': str(path), 'mode': '0660'}}]
        assert host.commands == [], 'the socket unit is never restarted'

    def test_a_chmod_and_chgrp_by_hand_are_put_back(self, monkeypatch, tmp_path):
        other = another_group()
        if other is None:
            pytest.skip('this user has no second group to give the socket')
        other_name = grp.getgrgid(other).gr_name
        host = Host(monkeypatch)
        path = listening_socket(monkeypatch, tmp_path)
        os.chown(str(path), -1, other)
        os.chmod(str(path), 0o666)
        result = host.engine.live_socket(str(path), 0o660, USER, GROUP)
        assert (result['repaired'], result['mode'], result['group']) == (True, '0666', other_name)
        assert attributes(path) == ('0660', USER, GROUP)
        assert host.engine.diffs == [{'before': {'path': str(path), 'group': other_name, 'mode': '0666'},
                                      'after': {'path': str(path), 'group': GROUP, 'mode': '0660'}}]

    def test_check_mode_tells_and_leaves_it(self, monkeypatch, tmp_path):
        host = Host(monkeypatch, check_mode=True)
        path = listening_socket(monkeypatch, tmp_path)
        os.chmod(str(path), 0o666)
        result = host.engine.live_socket(str(path), 0o660, USER, GROUP)
        assert (result['found'], result['repaired'], host.engine.changed) == (True, True, True)
        assert attributes(path)[0] == '0666'
        assert host.engine.diffs == [{'before': {'path': str(path), 'mode': '0666'},
                                      'after': {'path': str(path), 'mode': '0660'}}]

    def test_absent_is_reported_and_left_alone(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        path = tmp_path / 'docker.sock'
        assert host.engine.live_socket(str(path), 0o660, USER, GROUP) == {'found': False, 'repaired': False}
        assert not os.path.lexists(str(path))
        assert (host.engine.changed, host.engine.diffs, host.warnings) == (False, [], [])

    def test_something_else_at_its_path_is_left_alone_with_a_warning(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        path = tmp_path / 'docker.sock'
        path.mkdir(mode=0o777)
        path.chmod(0o777)
        assert host.engine.live_socket(str(path), 0o660, USER, GROUP) == {'found': False, 'repaired': False}
        assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o777
        assert host.warnings == ['%s is not a socket: left alone' % path]
        assert host.engine.changed is False

    def test_a_group_the_host_lacks_fails_naming_it(self, monkeypatch, tmp_path):
        host = Host(monkeypatch)
        path = listening_socket(monkeypatch, tmp_path)
        failures = []

        def fail_json(module, **kwargs):
            failures.append(kwargs['msg'])
            raise SystemExit(1)

        monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
        with pytest.raises(SystemExit):
            host.engine.live_socket(str(path), 0o660, USER, 'no-such-group-ironclad')
        assert failures == ['The host has no group no-such-group-ironclad (it comes with the Docker package)']
        assert attributes(path) == ('0660', USER, GROUP)
