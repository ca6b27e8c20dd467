# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.kernel_modules run against recorded kernels with a simulated modprobe."""

from __future__ import annotations

import gzip
import json
import os
import shutil

import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.module_utils.engine import kernel_modules as kernel_modules_helper
from ansible_collections.ironclad.swarm.plugins.modules import kernel_modules
from module_harness import run_main

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'kernel')
LAB = os.path.join(FIXTURES, 'lab-6.18.44')
DEBIAN = os.path.join(FIXTURES, 'debian12-6.1.0-53-cloud-amd64')
LAB_RELEASE = '6.18.44-fc-v595'
DEBIAN_RELEASE = '6.1.0-53-cloud-amd64'
MODPROBE = '/usr/sbin/modprobe'
READ_KERNEL = kernel_modules_helper.KernelState.from_system
SWARM = ['vxlan', 'xfrm_user', 'esp4', 'ip_vs', 'ip_vs_rr', 'xt_u32|xt_bpf']


class FakeHost:
    """A kernel made of recorded files, and a modprobe that loads into /proc/modules."""

    def __init__(self, root, release, recordings, modprobe=MODPROBE, load_fails=()):
        self.root = root
        self.release = release
        self.recorded = json.loads(open(os.path.join(recordings, 'modprobe-dry-run-verbose.json')).read())
        self.modprobe = modprobe
        self.load_fails = set(load_fails)
        self.commands = []
        self.warnings = []

    @property
    def proc_modules(self):
        return self.root / 'proc' / 'modules'

    def state(self):
        return READ_KERNEL(
            release=self.release,
            proc_modules=str(self.proc_modules),
            modules_dir=str(self.root / 'lib' / 'modules'),
            proc_config=str(self.root / 'proc' / 'config.gz'),
            boot_dir=str(self.root / 'boot'))

    def mark_loaded(self, *names):
        with open(str(self.proc_modules), 'a') as handle:
            for name in names:
                handle.write('%s 20480 0 - Live 0x0000000000000000\n' % name)

    def run_command(self, module, args, **kwargs):
        assert isinstance(args, list), 'commands must be argv lists'
        self.commands.append(args)
        if args[1:3] == ['--dry-run', '--verbose']:
            answer = self.recorded[args[3]]
            return answer['rc'], answer['stdout'], answer['stderr']
        assert args[0] == MODPROBE and len(args) == 2, args
        name = args[1]
        if name in self.load_fails:
            return 1, '', 'modprobe: ERROR: could not insert %r: Operation not permitted\n' % name
        self.mark_loaded(name)
        return 0, '', ''

    @property
    def loads(self):
        return [c[1] for c in self.commands if len(c) == 2]


@pytest.fixture
def lab_host(tmp_path):
    (tmp_path / 'proc').mkdir()
    with gzip.open(str(tmp_path / 'proc' / 'config.gz'), 'wb') as handle:
        handle.write(open(os.path.join(LAB, 'config'), 'rb').read())
    return FakeHost(tmp_path, LAB_RELEASE, LAB)


@pytest.fixture
def debian_host(tmp_path):
    (tmp_path / 'boot').mkdir()
    shutil.copy(os.path.join(DEBIAN, 'config-' + DEBIAN_RELEASE), str(tmp_path / 'boot'))
    moddir = tmp_path / 'lib' / 'modules' / DEBIAN_RELEASE
    moddir.mkdir(parents=True)
    shutil.copy(os.path.join(DEBIAN, 'modules.builtin'), str(moddir))
    (tmp_path / 'proc').mkdir()
    host = FakeHost(tmp_path, DEBIAN_RELEASE, DEBIAN)
    host.mark_loaded('xfrm_user', 'x_tables')
    return host


def run_module(monkeypatch, host, args, check_mode=False, diff=False):
    def run_command(module, args, **kwargs):
        return host.run_command(module, args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda module, name, required=False, opt_dirs=None: host.modprobe)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda module, msg: host.warnings.append(msg))
    monkeypatch.setattr(kernel_modules_helper.KernelState, 'from_system', classmethod(lambda cls: host.state()))
    ok, result = run_main(monkeypatch, kernel_modules.main, args, check_mode, diff)
    return ('ok' if ok else 'failed'), result


def persist_path(host):
    return host.root / 'etc' / 'modules-load.d' / 'ironclad-swarm.conf'


def swarm_args(host, **extra):
    args = {'names': SWARM, 'persist_file': str(persist_path(host))}
    args.update(extra)
    return args


def payload(text):
    return [line for line in text.splitlines() if line and not line.startswith('#')]


class TestLabKernel:
    def test_reports_missing_without_failing_or_running_modprobe(self, monkeypatch, lab_host):
        outcome, result = run_module(monkeypatch, lab_host, swarm_args(lab_host))
        assert outcome == 'ok'
        assert result['changed'] is False
        assert result['missing'] == ['esp4', 'ip_vs', 'ip_vs_rr']
        assert result['kernel_release'] == LAB_RELEASE
        assert result['modules']['vxlan'] == {
            'status': 'builtin', 'loaded_now': False,
            'source': 'CONFIG_VXLAN=y in %s' % (lab_host.root / 'proc' / 'config.gz')}
        assert result['modules']['esp4']['status'] == 'missing'
        assert result['entries'][-1] == {'entry': 'xt_u32|xt_bpf', 'satisfied_by': 'xt_u32', 'status': 'builtin'}
        assert result['persisted'] == []
        assert not persist_path(lab_host).exists()
        assert lab_host.commands == []
        assert lab_host.warnings == ['The running kernel (%s) lacks esp4, ip_vs, ip_vs_rr' % LAB_RELEASE]

    def test_removes_stale_persist_file(self, monkeypatch, lab_host):
        path = persist_path(lab_host)
        path.parent.mkdir(parents=True)
        path.write_text('esp4\n')
        outcome, result = run_module(monkeypatch, lab_host, swarm_args(lab_host), check_mode=True, diff=True)
        assert result['changed'] is True
        assert result['diff']['before'] == 'esp4\n' and result['diff']['after'] == ''
        assert path.exists(), 'check mode must not remove the file'
        outcome, result = run_module(monkeypatch, lab_host, swarm_args(lab_host))
        assert result['changed'] is True
        assert not path.exists()

    def test_query_neither_writes_nor_warns(self, monkeypatch, lab_host):
        outcome, result = run_module(monkeypatch, lab_host, swarm_args(lab_host, state='query'))
        assert result['changed'] is False
        assert result['missing'] == ['esp4', 'ip_vs', 'ip_vs_rr']
        assert 'persist_file' not in result
        assert lab_host.warnings == []


class TestDebianKernel:
    def test_check_mode_reports_what_would_load(self, monkeypatch, debian_host):
        outcome, result = run_module(monkeypatch, debian_host, swarm_args(debian_host), check_mode=True, diff=True)
        assert outcome == 'ok'
        assert result['changed'] is True
        assert debian_host.loads == []
        assert not persist_path(debian_host).exists()
        assert result['modules']['esp4']['status'] == 'loadable'
        assert result['modules']['esp4']['loaded_now'] is True
        assert result['modules']['xfrm_user'] == {
            'status': 'loaded', 'loaded_now': False, 'source': str(debian_host.proc_modules)}
        assert result['missing'] == []
        expected = ['vxlan', 'xfrm_user', 'esp4', 'ip_vs', 'ip_vs_rr', 'xt_u32']
        assert result['persisted'] == expected
        assert result['diff']['before'] == ''
        assert payload(result['diff']['after']) == expected
        assert result['diff']['after_header'] == str(persist_path(debian_host))

    def test_loads_persists_then_is_idempotent(self, monkeypatch, debian_host):
        outcome, result = run_module(monkeypatch, debian_host, swarm_args(debian_host))
        assert result['changed'] is True
        assert debian_host.loads == ['vxlan', 'esp4', 'ip_vs', 'ip_vs_rr', 'xt_u32']
        assert result['modules']['esp4'] == {'status': 'loaded', 'source': 'loaded by modprobe', 'loaded_now': True}
        assert result['modules']['xt_bpf']['status'] == 'loadable'
        assert result['modules']['xt_bpf']['loaded_now'] is False
        path = persist_path(debian_host)
        assert payload(path.read_text()) == ['vxlan', 'xfrm_user', 'esp4', 'ip_vs', 'ip_vs_rr', 'xt_u32']
        assert oct(path.stat().st_mode & 0o777) == '0o644'
        assert 'diff' not in result

        debian_host.commands[:] = []
        outcome, again = run_module(monkeypatch, debian_host, swarm_args(debian_host))
        assert again['changed'] is False
        assert debian_host.loads == []
        assert all(again['modules'][name]['status'] == 'loaded' for name in ('vxlan', 'esp4', 'ip_vs_rr', 'xt_u32'))

    def test_persist_false_leaves_file_alone(self, monkeypatch, debian_host):
        path = persist_path(debian_host)
        path.parent.mkdir(parents=True)
        path.write_text('mine\n')
        outcome, result = run_module(monkeypatch, debian_host, swarm_args(debian_host, persist=False, names=['esp4']))
        assert result['changed'] is True
        assert debian_host.loads == ['esp4']
        assert path.read_text() == 'mine\n'
        assert 'persisted' not in result

    def test_load_failure_is_missing_with_reason(self, monkeypatch, debian_host):
        debian_host.load_fails.add('esp4')
        outcome, result = run_module(monkeypatch, debian_host, swarm_args(debian_host, names=['esp4', 'vxlan']))
        assert outcome == 'ok'
        assert result['missing'] == ['esp4']
        assert result['modules']['esp4']['status'] == 'missing'
        assert "modprobe esp4 failed: modprobe: ERROR: could not insert 'esp4'" in result['modules']['esp4']['source']
        assert result['persisted'] == ['vxlan']
        assert debian_host.warnings[0].startswith("modprobe esp4 failed:")

    def test_alternative_prefers_what_is_there(self, monkeypatch, debian_host):
        debian_host.mark_loaded('xt_bpf')
        outcome, result = run_module(monkeypatch, debian_host, swarm_args(debian_host, names=['xt_u32|xt_bpf']))
        assert result['entries'] == [{'entry': 'xt_u32|xt_bpf', 'satisfied_by': 'xt_bpf', 'status': 'loaded'}]
        assert debian_host.loads == []
        assert result['persisted'] == ['xt_bpf']

    def test_without_modprobe(self, monkeypatch, debian_host):
        debian_host.modprobe = None
        outcome, result = run_module(monkeypatch, debian_host, swarm_args(debian_host, names=['esp4', 'xfrm_user']))
        assert result['missing'] == ['esp4']
        assert result['modules']['esp4']['source'].endswith('modprobe not found (install kmod)')
        assert debian_host.commands == []


@pytest.mark.parametrize('names, message', [
    (['esp4', '-v'], "names[1]: '-v' is not a kernel module name"),
    (['xt_u32|'], "names[0]: 'xt_u32|' has an empty module name"),
    ([], 'names is empty'),
])
def test_bad_names_fail_with_the_entry(monkeypatch, lab_host, names, message):
    outcome, result = run_module(monkeypatch, lab_host, {'names': names})
    assert outcome == 'failed'
    assert result['msg'].startswith(message)
    assert lab_host.commands == []
