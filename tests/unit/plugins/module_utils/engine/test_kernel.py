# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""engine/kernel_modules.py, kernel_modules_manager.py, overlay/xfrm.py and esp_probe.py driven by kernel facts recorded on the lab kernel and Debian 12's."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import time

import pytest

from ansible_collections.ironclad.swarm.plugins.module_utils.engine import kernel_modules as kernel_modules_helper
from ansible_collections.ironclad.swarm.plugins.module_utils.engine import kernel_modules_manager
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import esp_probe
from ansible_collections.ironclad.swarm.plugins.module_utils.overlay import xfrm as overlay_xfrm

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'kernel')
LAB = os.path.join(FIXTURES, 'lab-6.18.44')
DEBIAN = os.path.join(FIXTURES, 'debian12-6.1.0-53-cloud-amd64')
LAB_RELEASE = '6.18.44-fc-v595'
DEBIAN_RELEASE = '6.1.0-53-cloud-amd64'

SWARM_ENTRIES = [('vxlan',), ('xfrm_user',), ('esp4',), ('ip_vs',), ('ip_vs_rr',), ('xt_u32', 'xt_bpf')]


def fixture_text(*parts):
    with open(os.path.join(*parts)) as handle:
        return handle.read()


def recorded_probe(directory, calls=None):
    """A probe that answers with the recorded `modprobe --dry-run --verbose` results."""
    recorded = json.loads(fixture_text(directory, 'modprobe-dry-run-verbose.json'))

    def probe(name):
        if calls is not None:
            calls.append(name)
        answer = recorded[name]
        if answer['rc'] == 0:
            return True, 'modprobe --dry-run: %s' % (answer['stdout'].strip().splitlines() or ['(builtin)'])[-1]
        return False, 'modprobe --dry-run: %s' % answer['stderr'].strip()
    return probe


def no_probe(name):
    raise AssertionError('modprobe must not be asked about %s' % name)


def proc_modules_line(name):
    """One /proc/modules line in the format of proc(5)."""
    return '%s 20480 0 - Live 0x0000000000000000\n' % name


@pytest.fixture
def lab_root(tmp_path):
    """The lab kernel's files as they are on the machine: only /proc/config.gz."""
    proc = tmp_path / 'proc'
    proc.mkdir()
    with gzip.open(str(proc / 'config.gz'), 'wb') as handle:
        handle.write(fixture_text(LAB, 'config').encode())
    return tmp_path


def lab_state(root):
    return kernel_modules_helper.KernelState.from_system(
        release=LAB_RELEASE,
        proc_modules=str(root / 'proc' / 'modules'),
        modules_dir=str(root / 'lib' / 'modules'),
        proc_config=str(root / 'proc' / 'config.gz'),
        boot_dir=str(root / 'boot'))


@pytest.fixture
def debian_root(tmp_path):
    """A Debian 12 host: /boot/config-*, modules.builtin, /proc/modules; no /proc/config.gz."""
    (tmp_path / 'boot').mkdir()
    shutil.copy(os.path.join(DEBIAN, 'config-' + DEBIAN_RELEASE), str(tmp_path / 'boot'))
    moddir = tmp_path / 'lib' / 'modules' / DEBIAN_RELEASE
    moddir.mkdir(parents=True)
    shutil.copy(os.path.join(DEBIAN, 'modules.builtin'), str(moddir))
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'proc' / 'modules').write_text(
        proc_modules_line('xfrm_user') + proc_modules_line('nf_conntrack') + proc_modules_line('x_tables'))
    return tmp_path


def debian_state(root):
    return kernel_modules_helper.KernelState.from_system(
        release=DEBIAN_RELEASE,
        proc_modules=str(root / 'proc' / 'modules'),
        modules_dir=str(root / 'lib' / 'modules'),
        proc_config=str(root / 'proc' / 'config.gz'),
        boot_dir=str(root / 'boot'))


class TestParsers:
    def test_lab_config_symbols(self):
        config = kernel_modules_helper.parse_kernel_config(fixture_text(LAB, 'config'))
        assert config['CONFIG_MODULES'] == 'n'
        assert config['CONFIG_VXLAN'] == 'y'
        assert config['CONFIG_XFRM_USER'] == 'y'
        assert config['CONFIG_INET_ESP'] == 'n'
        assert config['CONFIG_IP_VS'] == 'n'
        assert config['CONFIG_CRYPTO_GCM'] == 'n'
        assert 'CONFIG_IP_VS_RR' not in config
        # quoted strings lose their quotes; comments are not symbols
        assert config['CONFIG_CC_VERSION_TEXT'] == 'gcc (GCC) 15.3.0'
        assert not any(not key.startswith('CONFIG_') for key in config)

    def test_debian_config_builds_swarm_modules_as_modules(self):
        config = kernel_modules_helper.parse_kernel_config(fixture_text(DEBIAN, 'config-' + DEBIAN_RELEASE))
        assert config['CONFIG_MODULES'] == 'y'
        for name in ('vxlan', 'xfrm_user', 'esp4', 'ip_vs', 'ip_vs_rr', 'xt_u32', 'xt_bpf'):
            assert config[kernel_modules_helper.CONFIG_SYMBOLS[name]] == 'm', name
        assert config['CONFIG_IP_VS_TAB_BITS'] == '12'

    def test_modules_builtin_paths_become_names(self):
        builtin = kernel_modules_helper.parse_modules_builtin(fixture_text(DEBIAN, 'modules.builtin'))
        assert 'unix' in builtin
        assert 'af_packet' in builtin
        assert 'esp4' not in builtin and 'vxlan' not in builtin
        assert not any('/' in name or name.endswith('.ko') for name in builtin)

    def test_modules_builtin_dashes_are_underscores(self):
        assert kernel_modules_helper.parse_modules_builtin('kernel/crypto/crc32c-intel.ko\n\n') == frozenset(['crc32c_intel'])

    def test_proc_modules(self):
        text = proc_modules_line('esp4') + proc_modules_line('ip_vs-rr') + '\n'
        assert kernel_modules_helper.parse_proc_modules(text) == frozenset(['esp4', 'ip_vs_rr'])

    @pytest.mark.parametrize('entry, names', [
        ('esp4', ('esp4',)),
        (' xt_u32 | xt-bpf ', ('xt_u32', 'xt_bpf')),
        ('xt_u32|xt_u32', ('xt_u32',)),
    ])
    def test_parse_entry(self, entry, names):
        assert kernel_modules_helper.parse_entry(entry) == names

    @pytest.mark.parametrize('entry, message', [
        ('', "'' has an empty module name"),
        ('xt_u32|', "'xt_u32|' has an empty module name"),
        ('-v', "'-v' is not a kernel module name"),
        ('esp4 ip_vs', "'esp4 ip_vs' is not a kernel module name"),
        ('../x', "'../x' is not a kernel module name"),
    ])
    def test_parse_entry_rejects(self, entry, message):
        with pytest.raises(ValueError) as exc:
            kernel_modules_helper.parse_entry(entry)
        assert str(exc.value).startswith(message)

    def test_render_persist_file(self):
        assert kernel_modules_manager.render_persist_file([]) is None
        text = kernel_modules_manager.render_persist_file(['esp4', 'ip_vs'])
        assert text.startswith('# Managed by the ironclad.swarm.kernel_modules')
        assert [line for line in text.splitlines() if not line.startswith('#')] == ['esp4', 'ip_vs']


class TestLabKernel:
    """The 6.18 kernel of the dev machines and lab containers, as recorded."""

    def test_reads_gzipped_proc_config(self, lab_root):
        state = lab_state(lab_root)
        assert state.config_source == str(lab_root / 'proc' / 'config.gz')
        assert state.loaded is None
        assert state.builtin is None
        assert state.modules_supported() is False

    def test_swarm_modules(self, lab_root):
        results = kernel_modules_helper.resolve_entries(SWARM_ENTRIES, lab_state(lab_root), no_probe)
        chosen = dict((r.entry, r.chosen.status if r.chosen else None) for r in results)
        assert chosen == {
            'vxlan': 'builtin',
            'xfrm_user': 'builtin',
            'esp4': None,
            'ip_vs': None,
            'ip_vs_rr': None,
            'xt_u32|xt_bpf': 'builtin',
        }
        assert [r.entry for r in results if not r.satisfied] == ['esp4', 'ip_vs', 'ip_vs_rr']
        by_entry = dict((r.entry, r) for r in results)
        config = str(lab_root / 'proc' / 'config.gz')
        assert by_entry['vxlan'].chosen.source == 'CONFIG_VXLAN=y in %s' % config
        assert by_entry['xt_u32|xt_bpf'].chosen.name == 'xt_u32'
        esp4 = by_entry['esp4'].statuses[0]
        assert esp4.source == (
            'CONFIG_INET_ESP is not set in %s; the kernel cannot load modules '
            '(CONFIG_MODULES is not set in %s)' % (config, config))
        assert by_entry['ip_vs_rr'].statuses[0].source.startswith('CONFIG_IP_VS_RR is not in %s' % config)

    def test_without_any_config_asks_modprobe_only_if_modules_exist(self, tmp_path):
        """No config, no /proc/modules: nothing can be loaded, nothing is built in that we know of."""
        state = kernel_modules_helper.KernelState.from_system(
            release=LAB_RELEASE, proc_modules=str(tmp_path / 'modules'), modules_dir=str(tmp_path),
            proc_config=str(tmp_path / 'config.gz'), boot_dir=str(tmp_path))
        status = kernel_modules_helper.classify_module('esp4', state, no_probe)
        assert status == kernel_modules_helper.ModuleStatus('esp4', 'missing', 'the kernel cannot load modules (%s is absent)' % (tmp_path / 'modules'))

    def test_recorded_modprobe_failure_is_the_evidence(self, lab_root):
        """If the kernel claimed module support, the recorded modprobe answer decides."""
        state = lab_state(lab_root)
        state.config['CONFIG_MODULES'] = 'y'
        status = kernel_modules_helper.classify_module('esp4', state, recorded_probe(LAB))
        assert status.status == 'missing'
        assert status.source.endswith(
            'modprobe --dry-run: modprobe: FATAL: Module esp4 not found in directory /lib/modules/%s' % LAB_RELEASE)


class TestDebianKernel:
    """Debian 12's cloud kernel: swarm modules are all =m."""

    def test_reads_boot_config_when_proc_has_none(self, debian_root):
        state = debian_state(debian_root)
        assert state.config_source == str(debian_root / 'boot' / ('config-' + DEBIAN_RELEASE))
        assert state.modules_supported() is True
        assert state.builtin_source == str(debian_root / 'lib' / 'modules' / DEBIAN_RELEASE / 'modules.builtin')

    def test_proc_config_wins_over_boot(self, debian_root):
        with gzip.open(str(debian_root / 'proc' / 'config.gz'), 'wb') as handle:
            handle.write(b'CONFIG_MODULES=y\nCONFIG_VXLAN=y\n')
        state = debian_state(debian_root)
        assert state.config_source == str(debian_root / 'proc' / 'config.gz')
        assert kernel_modules_helper.classify_module('vxlan', state, no_probe).status == 'builtin'

    def test_swarm_modules(self, debian_root):
        calls = []
        results = kernel_modules_helper.resolve_entries(SWARM_ENTRIES, debian_state(debian_root), recorded_probe(DEBIAN, calls))
        by_entry = dict((r.entry, r) for r in results)
        # xfrm_user is in /proc/modules: loaded, modprobe not asked
        assert by_entry['xfrm_user'].chosen == kernel_modules_helper.ModuleStatus('xfrm_user', 'loaded', str(debian_root / 'proc' / 'modules'))
        assert 'xfrm_user' not in calls
        for entry in ('vxlan', 'esp4', 'ip_vs_rr'):
            assert by_entry[entry].chosen.status == 'loadable', entry
        boot_config = str(debian_root / 'boot' / ('config-' + DEBIAN_RELEASE))
        assert by_entry['esp4'].chosen.source == (
            'CONFIG_INET_ESP=m in %s; modprobe --dry-run: insmod /lib/modules/%s/kernel/net/ipv4/esp4.ko'
            % (boot_config, DEBIAN_RELEASE))
        # first alternative that is loadable, in the order given
        assert by_entry['xt_u32|xt_bpf'].chosen.name == 'xt_u32'
        assert not [r.entry for r in results if not r.satisfied]

    def test_each_module_probed_once(self, debian_root):
        calls = []
        kernel_modules_helper.resolve_entries([('xt_u32',), ('xt_u32', 'vxlan')], debian_state(debian_root), recorded_probe(DEBIAN, calls))
        assert calls == ['xt_u32', 'vxlan']

    def test_builtin_from_modules_builtin(self, debian_root):
        status = kernel_modules_helper.classify_module('unix', debian_state(debian_root), no_probe)
        assert status.status == 'builtin'
        assert status.source.endswith('lib/modules/%s/modules.builtin' % DEBIAN_RELEASE)

    def test_unknown_module_is_missing_by_modprobe(self, debian_root):
        status = kernel_modules_helper.classify_module('nosuch', debian_state(debian_root), recorded_probe(DEBIAN))
        assert status.status == 'missing'
        assert status.source == 'modprobe --dry-run: modprobe: FATAL: Module nosuch not found in directory /lib/modules/%s' % DEBIAN_RELEASE


class TestChoose:
    def test_present_beats_loadable_regardless_of_order(self):
        statuses = [kernel_modules_helper.ModuleStatus('xt_u32', 'loadable', 'x'), kernel_modules_helper.ModuleStatus('xt_bpf', 'builtin', 'y')]
        assert kernel_modules_helper.choose(statuses).name == 'xt_bpf'

    def test_loaded_first_in_order(self):
        statuses = [kernel_modules_helper.ModuleStatus('a', 'builtin', 'x'), kernel_modules_helper.ModuleStatus('b', 'loaded', 'y')]
        assert kernel_modules_helper.choose(statuses).name == 'a'

    def test_none_when_all_missing(self):
        assert kernel_modules_helper.choose([kernel_modules_helper.ModuleStatus('a', 'missing', 'x')]) is None


# xfrm: recorded in the container lab (see fixtures/xfrm/README.md)

XFRM = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'xfrm')


class TestXfrmPolicies:
    def test_docker_out_policies_from_the_lab(self):
        policies = overlay_xfrm.parse_xfrm_policies(fixture_text(XFRM, 'lab-worker-1-policy.txt'))
        assert [(p['src'], p['dst'], p['proto'], p['dport'], p['dir']) for p in policies] == [
            ('192.168.48.3', '192.168.48.4', 'udp', 4789, 'out'),
            ('192.168.48.3', '192.168.48.2', 'udp', 4789, 'out'),
        ]
        first = policies[0]
        assert first['mark'] == '0xd0c4e3/0xffffffff'
        assert first['priority'] == 0
        assert first['tmpl'] == [{'src': '192.168.48.3', 'dst': '192.168.48.4', 'proto': 'esp',
                                  'spi': 0xe9e7c639,
                                  'reqid': 13681891, 'mode': 'transport'}]

    def test_spi_read_as_hex(self):
        policies = overlay_xfrm.parse_xfrm_policies(fixture_text(XFRM, 'lab-worker-2-policy.txt'))
        assert [p['tmpl'][0]['spi'] for p in policies] == [0x749833fd, 0x7398326a]

    def test_every_node_sends_to_the_two_others(self):
        addresses = {'manager-1': '192.168.48.2', 'worker-1': '192.168.48.3', 'worker-2': '192.168.48.4'}
        for node, own in addresses.items():
            policies = overlay_xfrm.parse_xfrm_policies(fixture_text(XFRM, 'lab-%s-policy.txt' % node))
            assert set(p['src'] for p in policies) == set([own])
            assert set(p['dst'] for p in policies) == set(addresses.values()) - set([own])

    def test_empty_listing(self):
        assert overlay_xfrm.parse_xfrm_policies('') == []
        assert overlay_xfrm.parse_xfrm_states(fixture_text(XFRM, 'lab-worker-1-state.txt')) == []


class TestEspProbe:
    def recorded_run(self, calls):
        recording = json.loads(fixture_text(XFRM, 'lab-probe-esp.json'))
        answers = [(c['argv'], c['rc'], c['stdout'], c['stderr']) for c in recording['calls']]

        def run(argv):
            calls.append(argv)
            for recorded_argv, rc, out, err in answers:
                if recorded_argv[:2] == argv[:2] and recorded_argv[3:] == argv[3:]:
                    return rc, out, err
            raise AssertionError('not recorded: %r' % (argv,))
        return run, recording['result']

    def test_lab_kernel_lacks_esp_and_gcm(self):
        calls = []
        run, recorded_result = self.recorded_run(calls)
        result = esp_probe.probe_esp(run, 'ironclad-audit-rec')
        # the recording was made before the *_detail keys existed; all it holds must match
        assert dict((key, result[key]) for key in recorded_result) == recorded_result
        assert result['esp_detail'] == 'ESP SA with cipher_null refused: Error: Requested type not found.'
        assert result['aes_gcm_detail'] == ('ESP SA with rfc4106(gcm(aes)) refused: '
                                            'Error: Requested AEAD algorithm not found.')
        assert result['esp'] is False and result['aes_gcm'] is False
        assert 'Requested AEAD algorithm not found' in result['detail']
        assert calls[0] == ['netns', 'add', 'ironclad-audit-rec']
        assert calls[-1] == ['netns', 'delete', 'ironclad-audit-rec']

    def test_namespace_deleted_when_the_probe_breaks(self):
        calls = []

        def run(argv):
            calls.append(argv)
            if argv[:2] == ['netns', 'exec']:
                raise OSError('ip vanished')
            return 0, '', ''
        with pytest.raises(OSError):
            esp_probe.probe_esp(run, 'ns-x')
        assert calls[-1] == ['netns', 'delete', 'ns-x']

    def test_no_namespace_no_verdict(self):
        calls = []

        def run(argv):
            calls.append(argv)
            return 1, '', 'mount --make-shared /run/netns failed: Operation not permitted\n'
        result = esp_probe.probe_esp(run, 'ns-y')
        assert result['esp'] is None and result['aes_gcm'] is None
        assert 'Operation not permitted' in result['detail']
        assert calls == [['netns', 'add', 'ns-y']]

    def test_aes_gcm_sa_accepted_is_conclusive(self):
        calls = []

        def run(argv):
            calls.append(argv)
            return 0, '', ''
        result = esp_probe.probe_esp(run, 'ns-z')
        assert result['esp'] is True and result['aes_gcm'] is True
        # one SA, rfc4106(gcm(aes)), transport mode; no second try
        assert len([c for c in calls if c[:2] == ['netns', 'exec']]) == 1
        assert 'rfc4106(gcm(aes))' in calls[1]

    @pytest.mark.parametrize('rc, message, verdict', [
        (0, '', esp_probe.XFRM_OK),
        (2, 'Error: Requested AEAD algorithm not found.\n', esp_probe.XFRM_NO_ALGORITHM),
        (2, 'Error: Requested type not found.\n', esp_probe.XFRM_NO_TYPE),
        (2, 'RTNETLINK answers: Operation not permitted\n', esp_probe.XFRM_ERROR),
    ])
    def test_kernel_answers(self, rc, message, verdict):
        assert esp_probe.classify_state_add_error(rc, message) == verdict


class TestXfrmStates:
    """Real ESP SAs, recorded on the VM lab's Debian 12 kernel (fixtures/xfrm/README.md)."""

    def test_sas_with_counters(self):
        text = fixture_text(XFRM, 'vm-netns-state-s.txt')
        (stamp,) = set(re.findall(r'add (\S+ \S+) use', text))
        ADDED = int(time.mktime(time.strptime(stamp, '%Y-%m-%d %H:%M:%S')))  # noqa: N806 (the local time, as on a node)
        states = overlay_xfrm.parse_xfrm_states(text)
        assert states == [
            {'src': '192.0.2.11', 'dst': '192.0.2.12', 'proto': 'esp', 'spi': 0x5e3d2b02, 'reqid': 13681891,
             'mode': 'transport', 'mark': None, 'algorithm': 'rfc4106(gcm(aes))', 'bytes': 0, 'packets': 0, 'added': ADDED},
            {'src': '192.0.2.12', 'dst': '192.0.2.11', 'proto': 'esp', 'spi': 0x4d2c1a01, 'reqid': 13681891,
             'mode': 'transport', 'mark': None, 'algorithm': 'rfc4106(gcm(aes))', 'bytes': 0, 'packets': 0, 'added': ADDED},
        ]

    def test_without_statistics_the_counters_are_unknown(self):
        states = overlay_xfrm.parse_xfrm_states(fixture_text(XFRM, 'vm-netns-state.txt'))
        expected = [(0x5e3d2b02, None, None, None), (0x4d2c1a01, None, None, None)]
        assert [(s['spi'], s['bytes'], s['packets'], s['added']) for s in states] == expected

    def test_the_key_never_leaves_the_parser(self):
        text = fixture_text(XFRM, 'vm-netns-state-s.txt')
        key = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
        assert key in text
        assert key not in json.dumps(overlay_xfrm.parse_xfrm_states(text))

    def test_policy_from_the_same_kernel(self):
        (policy,) = overlay_xfrm.parse_xfrm_policies(fixture_text(XFRM, 'vm-netns-policy.txt'))
        assert (policy['src'], policy['dst'], policy['dport'], policy['dir'], policy['mark']) == (
            '192.0.2.12', '192.0.2.11', 4789, 'out', '0xd0c4e3/0xffffffff')
        assert policy['tmpl'][0]['spi'] == 0x4d2c1a01


def test_xfrm_stat_of_a_lab_node():
    """/proc/net/xfrm_stat recorded on a lab node; XfrmInNoStates is what an SPI with no state raises (moby#51798)."""
    here = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'xfrm', 'lab-xfrm_stat')
    with open(here) as handle:
        text = handle.read()
    stat = overlay_xfrm.parse_xfrm_stat(text)
    assert len(stat) >= 20 and stat['XfrmInNoStates'] == 0 and stat['XfrmOutNoStates'] == 0
    raised = text.replace('XfrmInNoStates          \t0', 'XfrmInNoStates          \t10')
    assert overlay_xfrm.parse_xfrm_stat(raised)['XfrmInNoStates'] == 10
    assert overlay_xfrm.parse_xfrm_stat('') == {} and overlay_xfrm.parse_xfrm_stat('garbage line here\n') == {}
