# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.swarm_firewall against a simulated nft that lists what it was given, as the lab's did.

The tests that read the lab's listings run on each recorded nftables version (fixtures/nft/docker-*/:
nftables 1.0.6, 1.1.3 and 1.1.7). The boot unit's tests write real files in a temporary directory
and simulate systemctl's enablement (the symlink in sysinit.target.wants) beside them.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.ironclad.swarm.plugins.module_utils.fence import boot_unit as fence_boot_unit
from ansible_collections.ironclad.swarm.plugins.module_utils.fence import nftio as fence_nftio
from ansible_collections.ironclad.swarm.plugins.module_utils.common import systemd as common_systemd
from ansible_collections.ironclad.swarm.plugins.modules import swarm_firewall
from module_harness import run_main
from recordings import versions

RECORDINGS = versions('nft')
NFT = '/usr/sbin/nft'
SYSTEMCTL = '/usr/bin/systemctl'
UNIT = 'ironclad-swarm-firewall.service'
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'fixtures')
PEERS = ['172.27.0.2', '172.27.0.3', '172.27.0.4']


class FakeNft:
    """Holds one table; `list table` answers with the recorded listing when it is the lab's table."""

    def __init__(self, listing=None):
        self.listing = listing     # nft -j output text, or None: no table
        self.commands = []
        self.systemd = None        # a FakeSystemd answers systemctl when set

    def run_command(self, args, data=None, **kwargs):
        assert isinstance(args, list), 'commands must be argv lists'
        self.commands.append((args, data))
        if args[0] == SYSTEMCTL and self.systemd is not None:
            return self.systemd.run(args[1:])
        if args[1:] == ['-j', 'list', 'table', 'inet', 'ironclad_swarm']:
            if self.listing is None:
                return 1, '', 'Error: No such file or directory\nlist table inet ironclad_swarm\n'
            return 0, self.listing, ''
        if args[1:] == ['-j', '-c', '-f', '-']:
            return 0, '', ''
        if args[1:] == ['-j', '-f', '-']:
            batch = json.loads(data)
            if batch['nftables'][0].get('delete') and len(batch['nftables']) == 1:
                self.listing = None
            else:
                objs = fence_nftio.table_objects_from_batch(batch)
                self.listing = json.dumps({'nftables': [{'metainfo': {'version': '1.0.6'}}] + objs})
            return 0, '', ''
        raise AssertionError('unexpected command %r' % args)

    @property
    def applied(self):
        return [cmd[0] for cmd in self.commands if cmd[0][1:] == ['-j', '-f', '-']]

    @property
    def checked(self):
        return [cmd[0] for cmd in self.commands if cmd[0][1:] == ['-j', '-c', '-f', '-']]


class FakeSystemd:
    """systemctl over a real unit directory: enabling links the unit into sysinit.target.wants, as systemd does.

    `reloaded` is the unit file's text at each daemon-reload, so a test sees what systemd last read.
    """

    def __init__(self, unit_dir, masked=False):
        self.unit_dir = unit_dir
        self.wants = os.path.join(unit_dir, 'sysinit.target.wants')
        self.masked = masked
        self.reloaded = []

    def link(self, name):
        return os.path.join(self.wants, name)

    def unit_text(self, name):
        path = os.path.join(self.unit_dir, name)
        return open(path).read() if os.path.exists(path) else None

    def run(self, args):
        verb, name = args[0], (args[1] if len(args) > 1 else None)
        if verb == 'daemon-reload':
            self.reloaded.append(self.unit_text(UNIT))
            return 0, '', ''
        if self.masked:
            return (1, 'masked\n', '') if verb == 'is-enabled' else (1, '', 'Failed to %s unit: Unit file /etc/systemd/system/%s '
                                                                            'is masked.\n' % (verb, name))
        if verb == 'disable' and os.path.lexists(self.link(name)):
            # systemd 257 removes the links of a unit whose file is gone, too
            os.unlink(self.link(name))
            return 0, '', 'Removed "%s".\n' % self.link(name)
        if self.unit_text(name) is None:
            if verb == 'is-enabled':
                return 4, 'not-found\n', ''
            return 1, '', 'Failed to %s unit: Unit %s does not exist\n' % (verb, name)
        if verb == 'is-enabled':
            return (0, 'enabled\n', '') if os.path.lexists(self.link(name)) else (1, 'disabled\n', '')
        if verb == 'enable':
            os.makedirs(self.wants, exist_ok=True)
            os.symlink(os.path.join(self.unit_dir, name), self.link(name))
            return 0, '', 'Created symlink %s -> %s.\n' % (self.link(name), os.path.join(self.unit_dir, name))
        if verb == 'disable':
            return 0, '', ''
        raise AssertionError('unexpected systemctl %r' % args)


def run_module(monkeypatch, nft, args, check_mode=False, diff=False, env=None, installed=('nft', 'systemctl')):
    paths = {'nft': NFT, 'systemctl': SYSTEMCTL}
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda module, args, **kw: nft.run_command(args, **kw))
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda module, name, *a, **kw: paths[name] if name in installed else None)
    monkeypatch.delenv('SSH_CONNECTION', raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    return run_main(monkeypatch, swarm_firewall.main, args, check_mode, diff)


@pytest.fixture
def persist(tmp_path):
    return str(tmp_path / 'etc' / 'ironclad-swarm' / 'firewall.json')


def lab(persist, **extra):
    args = {'peers': PEERS, 'managers': ['172.27.0.2'], 'persist_file': persist}
    args.update(extra)
    return args


@pytest.mark.parametrize('rec', RECORDINGS)
def test_four_ways_apply_then_nothing(monkeypatch, persist, rec):
    nft = FakeNft()
    ok, result = run_module(monkeypatch, nft, lab(persist), check_mode=True, diff=True)
    assert ok and result['changed']
    assert nft.applied == [] and len(nft.checked) == 1
    assert not os.path.exists(persist)
    assert result['diff'][0]['before'] == '' and 'set peers4' in result['diff'][0]['after']
    assert result['differences'] == ['the table is missing']

    ok, result = run_module(monkeypatch, nft, lab(persist))
    assert ok and result['changed'] and len(nft.applied) == 1
    assert result['rules'] == 14 and result['elements'] == 3
    assert json.load(open(persist)) == json.loads(rec.text('persisted-firewall.json'))

    ok, result = run_module(monkeypatch, nft, lab(persist))
    assert ok and not result['changed'] and len(nft.applied) == 1
    ok, result = run_module(monkeypatch, nft, lab(persist), check_mode=True, diff=True)
    assert ok and not result['changed'] and 'diff' not in result


@pytest.mark.parametrize('rec', RECORDINGS)
def test_recorded_table_is_unchanged(monkeypatch, persist, rec):
    os.makedirs(os.path.dirname(persist))
    with open(persist, 'w') as handle:
        handle.write(rec.text('persisted-firewall.json'))
    nft = FakeNft(rec.text('table-fenced.json'))
    ok, result = run_module(monkeypatch, nft, lab(persist, peers=list(reversed(PEERS))))
    assert ok and not result['changed'] and result['differences'] == []
    assert nft.checked == [] and nft.applied == []


@pytest.mark.parametrize('rec', RECORDINGS)
def test_hand_edit_restored(monkeypatch, persist, rec):
    edited = fence_nftio.table_objects(fence_nftio.parse_ruleset(rec.text('worker-edited.json')))
    nft = FakeNft(json.dumps({'nftables': edited}))
    ok, result = run_module(monkeypatch, nft, lab(persist), diff=True)
    assert ok and result['changed']
    assert result['differences'] == ['chain swarm_peer lacks the rule "meta l4proto esp counter accept"']
    assert 'meta l4proto esp counter accept' in result['diff'][0]['after']
    assert 'meta l4proto esp counter accept' not in result['diff'][0]['before']


@pytest.mark.parametrize('rec', RECORDINGS)
def test_new_node_changes_set_elements_only(monkeypatch, persist, rec):
    nft = FakeNft(rec.text('table-fenced.json'))
    ok, result = run_module(monkeypatch, nft, lab(persist, peers=PEERS + ['172.27.0.5']))
    assert ok and result['changed']
    assert result['differences'] == ['set peers4 lacks 172.27.0.5']
    assert result['rules'] == 14


@pytest.mark.parametrize('extra, field, message', [
    ({'peers': ['172.27.0.2', 'node-3']}, 'peers[1]',
     "peers[1]: 'node-3' is not an IP address or CIDR network (such as 203.0.113.10 or 2001:db8::/64)"),
    ({'peers': []}, 'peers', 'peers: is empty: the fence would drop the swarm ports from every host and cut the cluster '
                             'apart; list the addresses of every swarm node (this one included)'),
    ({'ssh_ports': [0]}, 'ssh_ports[0]', 'ssh_ports[0]: 0 is out of range: use 1 to 65535'),
    ({'input_policy': 'drop', 'ssh_ports': []}, 'ssh_ports',
     'ssh_ports: is empty while input_policy=drop: SSH would be cut off; list the port sshd listens on (default 22)'),
])
def test_bad_input_fails_before_nft_runs(monkeypatch, persist, extra, field, message):
    nft = FakeNft(RECORDINGS[0].values[0].text('table-fenced.json'))
    ok, result = run_module(monkeypatch, nft, lab(persist, **extra))
    assert not ok
    assert result['msg'] == message and result['field'] == field
    assert nft.commands == []


def test_unknown_protocol_refused_by_argument_spec(monkeypatch, persist):
    nft = FakeNft()
    ok, result = run_module(monkeypatch, nft, lab(persist, allow=[{'port': 443, 'protocol': 'sctp'}]))
    assert not ok and 'protocol' in result['msg'] and 'sctp' in result['msg']
    assert nft.commands == []


def test_ssh_connection_port_must_stay_open(monkeypatch, persist):
    nft = FakeNft()
    ok, result = run_module(monkeypatch, nft, lab(persist, input_policy='drop'),
                            env={'SSH_CONNECTION': '198.51.100.7 50022 203.0.113.10 2222'})
    assert not ok and result['field'] == 'ssh_ports'
    assert '2222, the port of the SSH connection running this task' in result['msg']
    assert nft.commands == []


def test_absent_deletes_table_and_file(monkeypatch, persist):
    nft = FakeNft()
    run_module(monkeypatch, nft, lab(persist))
    ok, result = run_module(monkeypatch, nft, {'state': 'absent', 'persist_file': persist})
    assert ok and result['changed'] and nft.listing is None and not os.path.exists(persist)
    ok, result = run_module(monkeypatch, nft, {'state': 'absent', 'persist_file': persist})
    assert ok and not result['changed']


# ---------------------------------------------------------------------------
# The boot unit (boot_unit=true): written, reloaded and enabled in the same call
# ---------------------------------------------------------------------------

@pytest.fixture
def host(tmp_path, monkeypatch):
    """A node's files under tmp_path: the persist file, the unit directory, a booted systemd."""
    unit_dir = tmp_path / 'etc' / 'systemd' / 'system'
    unit_dir.mkdir(parents=True)
    runtime = tmp_path / 'run' / 'systemd' / 'system'
    runtime.mkdir(parents=True)
    monkeypatch.setattr(common_systemd, 'SYSTEMD_RUNTIME_DIR', str(runtime))
    nft = FakeNft()
    nft.systemd = FakeSystemd(str(unit_dir))
    nft.unit = str(unit_dir / UNIT)
    nft.persist = str(tmp_path / 'etc' / 'ironclad-swarm' / 'firewall.json')
    nft.runtime = str(runtime)
    return nft


def booted(host, **extra):
    args = lab(host.persist, boot_unit=True, boot_unit_path=host.unit)
    args.update(extra)
    return args


def systemctl_calls(host):
    return [cmd[0][1:] for cmd in host.commands if cmd[0][0] == SYSTEMCTL]


def test_boot_unit_is_the_one_the_role_templated():
    """Same unit as the role's template wrote on the lab, but for the first comment line."""
    with open(os.path.join(FIXTURES, 'systemd', UNIT)) as handle:
        recorded = handle.read()
    text = fence_boot_unit.boot_unit_text('/etc/ironclad-swarm/firewall.json')
    assert text.splitlines()[1:] == recorded.splitlines()[1:]
    assert 'ExecStart=/usr/sbin/nft -j -f /etc/ironclad-swarm/firewall.json' in text.splitlines()


def test_boot_unit_four_ways(monkeypatch, host):
    ok, result = run_module(monkeypatch, host, booted(host), check_mode=True, diff=True)
    assert ok and result['changed']
    assert result['boot_unit'] == {'path': host.unit, 'state': 'enabled', 'actions': ['written', 'enabled']}
    assert not os.path.exists(host.unit) and not os.path.exists(host.persist)
    assert systemctl_calls(host) == [['is-enabled', UNIT]]
    unit_diff = [d for d in result['diff'] if d.get('after_header') == host.unit]
    assert unit_diff and unit_diff[0]['before'] == '' and 'ExecStart=/usr/sbin/nft -j -f %s' % host.persist in unit_diff[0]['after']

    host.commands = []
    ok, result = run_module(monkeypatch, host, booted(host))
    assert ok and result['changed'] and result['boot_unit']['actions'] == ['written', 'enabled']
    assert open(host.unit).read() == fence_boot_unit.boot_unit_text(host.persist)
    assert oct(os.stat(host.unit).st_mode & 0o777) == '0o644'
    assert os.path.exists(host.persist)
    # systemd read the new file before the unit was enabled
    assert systemctl_calls(host) == [['daemon-reload'], ['is-enabled', UNIT], ['enable', UNIT]]
    assert host.systemd.reloaded == [open(host.unit).read()]

    for check_mode in (False, True):
        host.commands = []
        ok, result = run_module(monkeypatch, host, booted(host), check_mode=check_mode, diff=True)
        assert ok and not result['changed'] and 'diff' not in result
        assert result['boot_unit'] == {'path': host.unit, 'state': 'enabled', 'actions': []}
        # a re-run asks nft for the table and systemctl whether the unit is enabled, nothing else
        expected = [['-j', 'list', 'table', 'inet', 'ironclad_swarm'], ['is-enabled', UNIT]]
        assert [cmd[0][1:] for cmd in host.commands] == expected


def test_deleted_unit_is_written_again_and_stays_enabled(monkeypatch, host):
    run_module(monkeypatch, host, booted(host))
    os.unlink(host.unit)           # the symlink in sysinit.target.wants now dangles, as on a node
    host.commands = []
    ok, result = run_module(monkeypatch, host, booted(host))
    assert ok and result['changed'] and result['boot_unit']['actions'] == ['written']
    assert systemctl_calls(host) == [['daemon-reload'], ['is-enabled', UNIT]]
    assert host.systemd.run(['is-enabled', UNIT]) == (0, 'enabled\n', '')


def test_edited_unit_is_restored_with_a_diff(monkeypatch, host):
    run_module(monkeypatch, host, booted(host))
    with open(host.unit, 'a') as handle:
        handle.write('ExecStartPost=/bin/true\n')
    ok, result = run_module(monkeypatch, host, booted(host), diff=True)
    assert ok and result['changed'] and result['differences'] == []
    assert [d['before_header'] for d in result['diff']] == [host.unit]
    assert 'ExecStartPost' in result['diff'][0]['before'] and 'ExecStartPost' not in result['diff'][0]['after']
    assert open(host.unit).read() == fence_boot_unit.boot_unit_text(host.persist)


def test_disabled_unit_is_enabled_without_a_reload(monkeypatch, host):
    run_module(monkeypatch, host, booted(host))
    host.systemd.run(['disable', UNIT])
    host.commands = []
    ok, result = run_module(monkeypatch, host, booted(host))
    assert ok and result['changed'] and result['boot_unit']['actions'] == ['enabled']
    assert systemctl_calls(host) == [['is-enabled', UNIT], ['enable', UNIT]]


def test_not_booted_with_systemd_enables_without_reload(monkeypatch, host):
    os.rmdir(host.runtime)
    ok, result = run_module(monkeypatch, host, booted(host))
    assert ok and result['changed'] and result['boot_unit']['actions'] == ['written', 'enabled']
    assert systemctl_calls(host) == [['is-enabled', UNIT], ['enable', UNIT]]


def test_persist_off_disables_and_removes_unit_and_file(monkeypatch, host):
    run_module(monkeypatch, host, booted(host))

    host.commands = []
    ok, result = run_module(monkeypatch, host, booted(host, persist=False), check_mode=True, diff=True)
    assert ok and result['changed'] and result['boot_unit']['actions'] == ['disabled', 'removed']
    assert 'persist_file' not in result and result['boot_unit']['state'] == 'absent'
    assert sorted(d['before_header'] for d in result['diff']) == sorted([host.unit, host.persist])
    assert os.path.exists(host.unit) and os.path.exists(host.persist)
    assert systemctl_calls(host) == [['is-enabled', UNIT]]

    host.commands = []
    ok, result = run_module(monkeypatch, host, booted(host, persist=False))
    assert ok and result['changed'] and result['differences'] == []
    assert not os.path.exists(host.unit) and not os.path.exists(host.persist)
    assert not os.path.lexists(host.systemd.link(UNIT))
    assert systemctl_calls(host) == [['is-enabled', UNIT], ['disable', UNIT], ['daemon-reload']]
    assert host.listing is not None    # the live table stays until the next boot

    host.commands = []
    ok, result = run_module(monkeypatch, host, booted(host, persist=False))
    assert ok and not result['changed'] and systemctl_calls(host) == []

    ok, result = run_module(monkeypatch, host, booted(host))
    assert ok and result['changed'] and result['boot_unit']['actions'] == ['written', 'enabled']
    assert os.path.exists(host.unit) and os.path.exists(host.persist)


def test_persist_off_after_the_unit_was_deleted_by_hand_leaves_no_link(monkeypatch, host):
    run_module(monkeypatch, host, booted(host))
    os.unlink(host.unit)
    host.commands = []
    ok, result = run_module(monkeypatch, host, booted(host, persist=False))
    assert ok and result['changed'] and result['boot_unit']['actions'] == ['disabled']
    assert systemctl_calls(host) == [['disable', UNIT]]
    assert not os.path.lexists(host.systemd.link(UNIT)) and not os.path.exists(host.persist)


def test_persist_off_without_boot_unit_leaves_the_file(monkeypatch, host):
    run_module(monkeypatch, host, lab(host.persist))
    ok, result = run_module(monkeypatch, host, dict(lab(host.persist), persist=False))
    assert ok and not result['changed'] and os.path.exists(host.persist)
    assert 'boot_unit' not in result and systemctl_calls(host) == []


def test_absent_removes_the_unit_too(monkeypatch, host):
    run_module(monkeypatch, host, booted(host))
    ok, result = run_module(monkeypatch, host, {'state': 'absent', 'persist_file': host.persist,
                                                'boot_unit': True, 'boot_unit_path': host.unit})
    assert ok and result['changed'] and host.listing is None
    assert result['boot_unit']['actions'] == ['disabled', 'removed']
    assert not os.path.exists(host.unit) and not os.path.exists(host.persist)


def test_masked_unit_fails_naming_the_command(monkeypatch, host):
    host.systemd.masked = True
    ok, result = run_module(monkeypatch, host, booted(host))
    assert not ok
    assert result['msg'] == ('systemctl enable %s failed: Failed to enable unit: Unit file /etc/systemd/system/%s '
                             'is masked.' % (UNIT, UNIT))


def test_boot_unit_needs_systemctl(monkeypatch, host):
    ok, result = run_module(monkeypatch, host, booted(host), installed=('nft',))
    assert not ok and result['msg'].startswith('systemctl not found on the host')


def test_persist_file_the_unit_cannot_name_fails_first(monkeypatch, host):
    ok, result = run_module(monkeypatch, host, booted(host, persist_file='/etc/iron clad/firewall.json'))
    assert not ok and result['field'] == 'persist_file'
    assert result['msg'] == ("persist_file: '/etc/iron clad/firewall.json' must be an absolute path without spaces, "
                             "quotes, % or $ (systemd would read it differently)")
    assert host.commands == []


# ---------------------------------------------------------------------------
# nft not installed
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('check_mode', [False, True])
def test_missing_nft_reported_without_touching_anything(monkeypatch, host, check_mode):
    ok, result = run_module(monkeypatch, host, booted(host, on_missing_nft='report'), check_mode=check_mode,
                            installed=('systemctl',))
    assert ok and not result['changed'] and result['nftables_missing'] is True
    assert result['ruleset'] == '' and result['rules'] == 0
    assert host.commands == []
    assert not os.path.exists(host.unit) and not os.path.exists(host.persist)


def test_missing_nft_fails_by_default(monkeypatch, host):
    ok, result = run_module(monkeypatch, host, booted(host), installed=('systemctl',))
    assert not ok
    assert result['msg'] == ('nft not found on the host: install the nftables package '
                             '(the ironclad.swarm.firewall role does).')
    assert host.commands == []


def test_missing_nft_still_checks_the_input(monkeypatch, host):
    ok, result = run_module(monkeypatch, host, booted(host, on_missing_nft='report', peers=['node-3']),
                            installed=('systemctl',))
    assert not ok and result['field'] == 'peers[0]'


def test_installed_nft_says_so(monkeypatch, host):
    ok, result = run_module(monkeypatch, host, booted(host, on_missing_nft='report'))
    assert ok and result['nftables_missing'] is False and result['rules'] == 14
