# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# What the running kernel offers: which kernel modules are loaded, built in, or
# loadable. Everything here works on file contents, paths and a caller-supplied
# probe (a function that asks modprobe), so that it can be unit tested with
# recorded inputs and reused by other modules (the IPsec audit).
# KernelModulesManager drives them through an AnsibleModule (modprobe, the
# modules-load.d file) for the kernel_modules and engine_host modules.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import os
import re
import time

from ansible_collections.ironclad.swarm.plugins.module_utils._files import sync_file


STATUS_LOADED = 'loaded'
STATUS_BUILTIN = 'builtin'
STATUS_LOADABLE = 'loadable'
STATUS_MISSING = 'missing'

# Statuses that mean "the kernel has it, now or after a modprobe".
PRESENT_STATUSES = (STATUS_LOADED, STATUS_BUILTIN, STATUS_LOADABLE)

# Kernel module name -> the Kconfig symbol that builds it. Only the modules
# this collection asks about; an unknown module is still judged by
# /proc/modules, modules.builtin and modprobe, just not by the kernel config.
CONFIG_SYMBOLS = {
    # overlay networks
    'vxlan': 'CONFIG_VXLAN',
    'bridge': 'CONFIG_BRIDGE',
    'br_netfilter': 'CONFIG_BRIDGE_NETFILTER',
    'veth': 'CONFIG_VETH',
    'overlay': 'CONFIG_OVERLAY_FS',
    # IPsec for encrypted overlays
    'xfrm_user': 'CONFIG_XFRM_USER',
    'xfrm_algo': 'CONFIG_XFRM_ALGO',
    'af_key': 'CONFIG_NET_KEY',
    'esp4': 'CONFIG_INET_ESP',
    'esp6': 'CONFIG_INET6_ESP',
    'esp4_offload': 'CONFIG_INET_ESP_OFFLOAD',
    'xfrm4_tunnel': 'CONFIG_INET_XFRM_TUNNEL',
    'gcm': 'CONFIG_CRYPTO_GCM',
    'ghash_generic': 'CONFIG_CRYPTO_GHASH',
    'authenc': 'CONFIG_CRYPTO_AUTHENC',
    'seqiv': 'CONFIG_CRYPTO_SEQIV',
    # service VIPs (IPVS)
    'ip_vs': 'CONFIG_IP_VS',
    'ip_vs_rr': 'CONFIG_IP_VS_RR',
    'nf_conntrack': 'CONFIG_NF_CONNTRACK',
    # netfilter matches the encrypted-overlay rules and the fence use
    'xt_u32': 'CONFIG_NETFILTER_XT_MATCH_U32',
    'xt_bpf': 'CONFIG_NETFILTER_XT_MATCH_BPF',
    'xt_policy': 'CONFIG_NETFILTER_XT_MATCH_POLICY',
    'xt_conntrack': 'CONFIG_NETFILTER_XT_MATCH_CONNTRACK',
    'xt_mark': 'CONFIG_NETFILTER_XT_MARK',
    'xt_addrtype': 'CONFIG_NETFILTER_XT_MATCH_ADDRTYPE',
    'nf_tables': 'CONFIG_NF_TABLES',
    'nft_compat': 'CONFIG_NFT_COMPAT',
    'ip_tables': 'CONFIG_IP_NF_IPTABLES',
    'iptable_nat': 'CONFIG_IP_NF_NAT',
    'iptable_filter': 'CONFIG_IP_NF_FILTER',
}

# Where the kernel's build configuration may be found, in order of trust:
# /proc/config.gz describes the running kernel itself (CONFIG_IKCONFIG_PROC);
# /boot/config-RELEASE is what distributions ship next to the image.
PROC_CONFIG = '/proc/config.gz'
PROC_MODULES = '/proc/modules'
MODULES_DIR = '/lib/modules'
BOOT_DIR = '/boot'

_MODULE_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_-]*$')
_CONFIG_SET_RE = re.compile(r'^(CONFIG_[A-Za-z0-9_]+)=(.*)$')
_CONFIG_UNSET_RE = re.compile(r'^# (CONFIG_[A-Za-z0-9_]+) is not set$')


def normalize_module_name(name):
    """The kernel treats '-' and '_' in module names alike; use '_'."""
    return name.strip().replace('-', '_')


def parse_entry(entry):
    """Split one requested entry ("esp4" or "xt_u32|xt_bpf") into names.

    Returns a tuple of normalised module names, in the order given.
    Raises ValueError with a message that names the problem.
    """
    if not isinstance(entry, str):
        raise ValueError('%r is not a string' % (entry,))
    names = []
    for part in entry.split('|'):
        part = part.strip()
        if not part:
            raise ValueError('%r has an empty module name: write "name" or "name1|name2"' % (entry,))
        if not _MODULE_NAME_RE.match(part):
            raise ValueError(
                '%r is not a kernel module name: use letters, digits, "_" and "-" only '
                '(and no leading "-")' % (part,))
        name = normalize_module_name(part)
        if name not in names:
            names.append(name)
    return tuple(names)


def format_entry(names):
    """The canonical spelling of an entry: names joined with '|'."""
    return '|'.join(names)


def parse_proc_modules(text):
    """Names of the loaded modules from the contents of /proc/modules."""
    loaded = set()
    for line in text.splitlines():
        fields = line.split()
        if fields:
            loaded.add(normalize_module_name(fields[0]))
    return frozenset(loaded)


def parse_modules_builtin(text):
    """Names of the built-in modules from the contents of modules.builtin.

    Each line is a path such as ``kernel/net/ipv4/esp4.ko``.
    """
    builtin = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        base = line.rsplit('/', 1)[-1]
        base = base.split('.ko', 1)[0]
        if base:
            builtin.add(normalize_module_name(base))
    return frozenset(builtin)


def parse_kernel_config(text):
    """Kconfig symbols from a kernel config file's contents.

    ``CONFIG_X=y`` gives ``'y'``, ``CONFIG_X=m`` gives ``'m'``, string values
    are returned without their quotes, and ``# CONFIG_X is not set`` gives
    ``'n'``. Symbols the file does not mention are absent from the result.
    """
    config = {}
    for line in text.splitlines():
        line = line.strip()
        match = _CONFIG_SET_RE.match(line)
        if match:
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            config[match.group(1)] = value
            continue
        match = _CONFIG_UNSET_RE.match(line)
        if match:
            config[match.group(1)] = 'n'
    return config


def read_text(path):
    """The text of a file, gunzipped when its name ends in .gz.

    Returns None when the file does not exist or cannot be read, since every
    caller treats "cannot read" as "this source tells nothing".
    """
    try:
        if path.endswith('.gz'):
            with gzip.open(path, 'rb') as handle:
                data = handle.read()
        else:
            with open(path, 'rb') as handle:
                data = handle.read()
    except (IOError, OSError, EOFError):
        return None
    return data.decode('utf-8', 'replace')


def kernel_config_paths(release, proc_config=PROC_CONFIG, boot_dir=BOOT_DIR):
    """The places a kernel's config may be read from, most trusted first."""
    return [proc_config, os.path.join(boot_dir, 'config-%s' % release)]


def modules_builtin_path(release, modules_dir=MODULES_DIR):
    return os.path.join(modules_dir, release, 'modules.builtin')


class ModuleStatus(object):
    """What is known about one module: status and the evidence for it."""

    def __init__(self, name, status, source):
        self.name = name
        self.status = status
        self.source = source

    @property
    def present(self):
        return self.status in PRESENT_STATUSES

    def as_dict(self):
        return {'status': self.status, 'source': self.source}

    def __eq__(self, other):
        return (isinstance(other, ModuleStatus)
                and (self.name, self.status, self.source) == (other.name, other.status, other.source))

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return 'ModuleStatus(%r, %r, %r)' % (self.name, self.status, self.source)


class KernelState(object):
    """A snapshot of the running kernel's module facts.

    loaded          frozenset of loaded module names, or None when /proc/modules
                    could not be read (a kernel without module support has none)
    builtin         frozenset from modules.builtin, or None when not readable
    config          dict from parse_kernel_config(), or None when no config found
    *_source        the path each of the above was read from, for the evidence
    """

    def __init__(self, release, loaded=None, loaded_source=PROC_MODULES,
                 builtin=None, builtin_source=None, config=None, config_source=None):
        self.release = release
        self.loaded = loaded
        self.loaded_source = loaded_source
        self.builtin = builtin
        self.builtin_source = builtin_source
        self.config = config
        self.config_source = config_source

    @classmethod
    def from_system(cls, release=None, proc_modules=PROC_MODULES, modules_dir=MODULES_DIR,
                    proc_config=PROC_CONFIG, boot_dir=BOOT_DIR):
        """Read the running kernel's facts from the usual places."""
        if release is None:
            release = os.uname()[2]
        loaded = None
        text = read_text(proc_modules)
        if text is not None:
            loaded = parse_proc_modules(text)
        builtin = None
        builtin_source = modules_builtin_path(release, modules_dir)
        text = read_text(builtin_source)
        if text is not None:
            builtin = parse_modules_builtin(text)
        config = None
        config_source = None
        for path in kernel_config_paths(release, proc_config, boot_dir):
            text = read_text(path)
            if text is not None:
                config = parse_kernel_config(text)
                config_source = path
                break
        return cls(release, loaded=loaded, loaded_source=proc_modules,
                   builtin=builtin, builtin_source=builtin_source if builtin is not None else None,
                   config=config, config_source=config_source)

    def config_value(self, symbol):
        """'y', 'm', 'n' or a string; None when the config is unknown or silent."""
        if self.config is None:
            return None
        return self.config.get(symbol)

    def modules_supported(self):
        """False when this kernel cannot load modules at all.

        Known from CONFIG_MODULES, or else from /proc/modules, which exists
        on every kernel built with module support.
        """
        value = self.config_value('CONFIG_MODULES')
        if value is not None:
            return value == 'y'
        return self.loaded is not None

    def static_status(self, name):
        """Judge a module from the files alone.

        Returns a ModuleStatus when the files settle it (loaded, built in, or
        missing because the kernel cannot load modules), else None together with
        a hint from the config (for the evidence of a later modprobe result).
        """
        name = normalize_module_name(name)
        if self.loaded is not None and name in self.loaded:
            return ModuleStatus(name, STATUS_LOADED, self.loaded_source), None
        if self.builtin is not None and name in self.builtin:
            return ModuleStatus(name, STATUS_BUILTIN, self.builtin_source), None
        symbol = CONFIG_SYMBOLS.get(name)
        hint = None
        if symbol is not None and self.config is not None:
            value = self.config.get(symbol)
            if value == 'y':
                return ModuleStatus(name, STATUS_BUILTIN, '%s=y in %s' % (symbol, self.config_source)), None
            if value is None:
                hint = '%s is not in %s' % (symbol, self.config_source)
            elif value == 'n':
                hint = '%s is not set in %s' % (symbol, self.config_source)
            else:
                hint = '%s=%s in %s' % (symbol, value, self.config_source)
        if not self.modules_supported():
            reason = 'the kernel cannot load modules (%s)' % (
                'CONFIG_MODULES is not set in %s' % self.config_source
                if self.config is not None else '%s is absent' % self.loaded_source)
            source = '%s; %s' % (hint, reason) if hint else reason
            return ModuleStatus(name, STATUS_MISSING, source), None
        return None, hint


def classify_module(name, kernel, probe):
    """Status of one module.

    probe(name) asks the system whether the module can be loaded without
    loading it (``modprobe --dry-run``) and returns (ok, detail). It is only
    called when the files cannot settle the question.
    """
    status, hint = kernel.static_status(name)
    if status is not None:
        return status
    name = normalize_module_name(name)
    ok, detail = probe(name)
    source = detail if not hint else '%s; %s' % (hint, detail)
    return ModuleStatus(name, STATUS_LOADABLE if ok else STATUS_MISSING, source)


class EntryResult(object):
    """One requested entry: its candidates' statuses and the one chosen."""

    def __init__(self, entry, statuses):
        self.entry = entry
        self.statuses = statuses
        self.chosen = choose(statuses)

    @property
    def satisfied(self):
        return self.chosen is not None


def choose(statuses):
    """Pick the candidate that satisfies an entry.

    One the kernel already has (loaded or built in) wins over one that needs a
    modprobe; among equals the order the user gave decides. None if all missing.
    """
    for status in statuses:
        if status.status in (STATUS_LOADED, STATUS_BUILTIN):
            return status
    for status in statuses:
        if status.status == STATUS_LOADABLE:
            return status
    return None


def resolve_entries(entries, kernel, probe):
    """Classify every module of every entry (each module once).

    entries is a list of tuples from parse_entry(). Returns a list of
    EntryResult in the same order.
    """
    cache = {}
    results = []
    for names in entries:
        statuses = []
        for name in names:
            if name not in cache:
                cache[name] = classify_module(name, kernel, probe)
            statuses.append(cache[name])
        results.append(EntryResult(format_entry(names), statuses))
    return results


PERSIST_HEADER = (
    '# Managed by the ironclad.swarm.kernel_modules Ansible module: edits are overwritten.\n'
    '# Kernel modules loaded at boot by systemd-modules-load (modules-load.d(5)).\n'
)


def render_persist_file(names):
    """Contents of a modules-load.d file listing names, or None for no file."""
    if not names:
        return None
    return PERSIST_HEADER + ''.join('%s\n' % name for name in names)


class KernelModulesManager(object):
    """Classify requested kernel modules through an AnsibleModule, then load and persist them.

    Shared by the kernel_modules and engine_host modules. The module supplies check mode,
    run_command, get_bin_path, warn and fail_json; the kernel's files are read through
    KernelState.from_system() unless a KernelState is given.
    """

    def __init__(self, module, kernel=None):
        self.module = module
        self.check_mode = module.check_mode
        self.kernel = kernel if kernel is not None else KernelState.from_system()
        self.modprobe = module.get_bin_path('modprobe', opt_dirs=['/usr/sbin', '/sbin'])
        self.changed = False
        self.diff = None
        self.loaded_now = set()

    @staticmethod
    def _last_line(*texts):
        for text in texts:
            lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return ''

    def probe(self, name):
        """Ask modprobe whether name can be loaded, without loading it."""
        if self.modprobe is None:
            return False, 'modprobe not found (install kmod)'
        rc, out, err = self.module.run_command([self.modprobe, '--dry-run', '--verbose', name])
        if rc == 0:
            detail = self._last_line(out)
            return True, 'modprobe --dry-run: %s' % detail if detail else 'modprobe --dry-run found it'
        return False, 'modprobe --dry-run: %s' % (self._last_line(err, out) or 'exit code %d' % rc)

    def load(self, status):
        """Load a loadable module; returns its new status."""
        if self.check_mode:
            self.loaded_now.add(status.name)
            return status
        rc, out, err = self.module.run_command([self.modprobe, status.name])
        if rc != 0:
            reason = self._last_line(err, out) or 'exit code %d' % rc
            self.module.warn('modprobe %s failed: %s' % (status.name, reason))
            return ModuleStatus(status.name, STATUS_MISSING, '%s; but modprobe %s failed: %s' % (status.source, status.name, reason))
        self.loaded_now.add(status.name)
        return ModuleStatus(status.name, STATUS_LOADED, 'loaded by modprobe')

    def parse(self, names, option='names'):
        """The entries of names, or fail_json naming option[index] and what is wrong."""
        entries = []
        for index, entry in enumerate(names):
            try:
                entries.append(parse_entry(entry))
            except ValueError as exc:
                self.module.fail_json(msg='%s[%d]: %s' % (option, index, exc))
        if not entries:
            self.module.fail_json(msg='%s is empty: give at least one kernel module name' % option)
        return entries

    def run(self, names, state='present', persist=True, persist_file=None, option='names'):
        """Classify names and, with state=present, load and persist; returns the kernel_modules result.

        self.changed and self.diff (the persist file's) tell what changed.
        """
        results = resolve_entries(self.parse(names, option), self.kernel, self.probe)
        statuses = {}
        for result in results:
            for status in result.statuses:
                statuses[status.name] = status

        if state == 'present':
            for result in results:
                chosen = result.chosen
                if chosen is not None and chosen.status == STATUS_LOADABLE and chosen.name not in self.loaded_now:
                    new = self.load(chosen)
                    statuses[new.name] = new
                    self.changed = True
                    result.statuses = [new if s.name == new.name else s for s in result.statuses]
                    result.chosen = new if new.present else None

        response = {
            'kernel_release': self.kernel.release,
            'modules': dict(
                (name, dict(status.as_dict(), loaded_now=name in self.loaded_now))
                for name, status in statuses.items()),
            'entries': [
                {
                    'entry': result.entry,
                    'satisfied_by': result.chosen.name if result.chosen else None,
                    'status': result.chosen.status if result.chosen else STATUS_MISSING,
                }
                for result in results],
            'missing': [result.entry for result in results if result.chosen is None],
        }

        if state == 'present' and persist:
            persisted = []
            for result in results:
                chosen = result.chosen
                if chosen is not None and chosen.status in (STATUS_LOADED, STATUS_LOADABLE) and chosen.name not in persisted:
                    persisted.append(chosen.name)
            diff = sync_file(self.module, persist_file, render_persist_file(persisted), '0644')
            if diff:
                self.changed = True
                self.diff = diff
            response['persist_file'] = persist_file
            response['persisted'] = persisted

        if state == 'present' and response['missing']:
            self.module.warn('The running kernel (%s) lacks %s' % (
                self.kernel.release, ', '.join(response['missing'])))
        return response


# ---------------------------------------------------------------------------
# xfrm: IPsec policies and states (SAs) as `ip xfrm` shows them.
#
# iproute2 6.1 (Debian 12) accepts `ip -j xfrm ...` but ignores -j and prints
# text, so the text is what is parsed here. Key material (the aead, enc and
# auth lines) is never kept: nothing that leaves this parser can reveal a key.

_XFRM_INT_RE = re.compile(r'^(0x[0-9a-fA-F]+|\d+)')
_XFRM_COUNTERS_RE = re.compile(r'(\d+)\(bytes\),\s*(\d+)\(packets\)')
# The 'lifetime current' block's second line: "add 2026-11-24 14:55:20 use -" (the node's local time).
_XFRM_ADDED_RE = re.compile(r'\badd (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)')
_XFRM_SECRET_KEYS = ('aead', 'enc', 'auth', 'auth-trunc', 'comp')


def _xfrm_int(token):
    """'0x00001234', '0x00001234(4660)' or '4660' -> 4660; None when not a number."""
    match = _XFRM_INT_RE.match(token or '')
    if not match:
        return None
    text = match.group(1)
    return int(text, 16) if text.startswith('0x') else int(text)


def _xfrm_addr(token):
    """An address or prefix from ip xfrm: '10.0.0.1/32' -> '10.0.0.1'; '0.0.0.0/0' stays."""
    if token and '/' in token:
        addr, length = token.split('/', 1)
        if (':' in addr and length == '128') or (':' not in addr and length == '32'):
            return addr
    return token


def _xfrm_pairs(tokens, keys):
    """The values following the given keywords in a token list."""
    found = {}
    for index, token in enumerate(tokens[:-1]):
        if token in keys and token not in found:
            found[token] = tokens[index + 1]
    return found


def _xfrm_blocks(text):
    """Split `ip xfrm` output into blocks: a line starting in column 0 opens one."""
    blocks = []
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        if not line[0].isspace() or not blocks:
            blocks.append([])
        blocks[-1].append(line)
    return blocks


def parse_xfrm_policies(text):
    """`ip xfrm policy` text -> list of dicts.

    Each dict: src, dst (addresses, /32 and /128 dropped), proto, sport, dport
    (int or None), dir ('out', 'in', 'fwd', or 'socket-in' / 'socket-out' for
    per-socket policies), action, priority, mark (str such as '0xd0c4e3/0xffffffff' or None)
    and tmpl, a list of {src, dst, proto, spi, reqid, mode}.
    """
    policies = []
    for block in _xfrm_blocks(text):
        head = block[0].split()
        sel = _xfrm_pairs(head, ('src', 'dst', 'proto', 'sport', 'dport', 'dev'))
        policy = {
            'src': _xfrm_addr(sel.get('src')),
            'dst': _xfrm_addr(sel.get('dst')),
            'proto': sel.get('proto'),
            'sport': _xfrm_int(sel.get('sport')),
            'dport': _xfrm_int(sel.get('dport')),
            'dir': None,
            'action': 'allow',
            'priority': None,
            'mark': None,
            'tmpl': [],
        }
        for line in block[1:]:
            tokens = line.split()
            if not tokens:
                continue
            first = tokens[0]
            if first in ('dir', 'socket'):
                pairs = _xfrm_pairs(tokens, ('dir', 'socket', 'priority', 'action'))
                policy['dir'] = pairs['dir'] if 'dir' in pairs else 'socket-%s' % pairs.get('socket')
                policy['priority'] = _xfrm_int(pairs.get('priority'))
                if 'action' in pairs:
                    policy['action'] = pairs['action'].lower()
            elif first == 'mark':
                policy['mark'] = tokens[1] if len(tokens) > 1 else None
            elif first == 'tmpl':
                pairs = _xfrm_pairs(tokens, ('src', 'dst'))
                policy['tmpl'].append({'src': pairs.get('src'), 'dst': pairs.get('dst'),
                                       'proto': None, 'spi': None, 'reqid': None, 'mode': None})
            elif first == 'proto' and policy['tmpl']:
                pairs = _xfrm_pairs(tokens, ('proto', 'spi', 'reqid', 'mode'))
                policy['tmpl'][-1].update({'proto': pairs.get('proto'), 'spi': _xfrm_int(pairs.get('spi')),
                                           'reqid': _xfrm_int(pairs.get('reqid')), 'mode': pairs.get('mode')})
        policies.append(policy)
    return policies


def parse_xfrm_states(text):
    """`ip -s xfrm state` (or `ip xfrm state`) text -> list of dicts, without keys.

    Each dict: src, dst, proto, spi (int), reqid, mode, mark, algorithm (the name
    of the aead or enc algorithm, such as 'rfc4106(gcm(aes))', never its key),
    bytes and packets (the 'lifetime current' counters; None without -s), added (when the SA was put in the
    kernel, as epoch seconds: iproute2 prints the node's local time, so parse this on the node; None without
    -s). The counters start at 0 when an SA is added, so two nodes' counters are comparable only over the time
    both SAs existed.
    """
    states = []
    for block in _xfrm_blocks(text):
        head = _xfrm_pairs(block[0].split(), ('src', 'dst'))
        state = {'src': head.get('src'), 'dst': head.get('dst'), 'proto': None, 'spi': None, 'reqid': None,
                 'mode': None, 'mark': None, 'algorithm': None, 'bytes': None, 'packets': None, 'added': None}
        counters_next = False
        added_next = False
        for line in block[1:]:
            tokens = line.split()
            if not tokens:
                continue
            first = tokens[0]
            if added_next:
                added_next = False
                match = _XFRM_ADDED_RE.search(line)
                if match:
                    state['added'] = _xfrm_time(match.group(1))
                    continue
            if counters_next:
                counters_next = False
                match = _XFRM_COUNTERS_RE.search(line)
                if match:
                    state['bytes'] = int(match.group(1))
                    state['packets'] = int(match.group(2))
                    added_next = True
                    continue
            if first == 'proto':
                pairs = _xfrm_pairs(tokens, ('proto', 'spi', 'reqid', 'mode'))
                state.update({'proto': pairs.get('proto'), 'spi': _xfrm_int(pairs.get('spi')),
                              'reqid': _xfrm_int(pairs.get('reqid')), 'mode': pairs.get('mode')})
            elif first == 'mark':
                state['mark'] = tokens[1] if len(tokens) > 1 else None
            elif first in _XFRM_SECRET_KEYS:
                # "aead NAME KEY ICV-BITS": keep the name, drop the key.
                if first in ('aead', 'enc') and len(tokens) > 1:
                    state['algorithm'] = tokens[1]
            elif first == 'lifetime' and len(tokens) > 1 and tokens[1].startswith('current'):
                counters_next = True
        states.append(state)
    return states


def _xfrm_time(text):
    """'2026-11-24 14:55:20' in this host's local time -> epoch seconds (int), or None."""
    try:
        return int(time.mktime(time.strptime(text, '%Y-%m-%d %H:%M:%S')))
    except (ValueError, OverflowError):
        return None


def parse_xfrm_stat(text):
    """/proc/net/xfrm_stat -> {counter name: int}, such as {'XfrmInNoStates': 5}."""
    counters = {}
    for line in (text or '').splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


# The usability probe: add an ESP SA in a network namespace made for the
# purpose, then delete the namespace (and with it the SA). Only the kernel's
# answer to a real SA is conclusive: /proc/crypto lists loaded algorithms only,
# and the config does not say whether a module file is really there.
PROBE_SRC = '192.0.2.1'
PROBE_DST = '192.0.2.2'
# 160 bits: a 128-bit AES key and the 32-bit salt rfc4106 needs; a throwaway constant.
PROBE_AEAD = ('aead', 'rfc4106(gcm(aes))', '0x' + '11' * 20, '128')
PROBE_NULL = ('enc', 'cipher_null', '')

XFRM_OK = 'ok'
XFRM_NO_TYPE = 'no-esp'
XFRM_NO_ALGORITHM = 'no-algorithm'
XFRM_ERROR = 'error'


def xfrm_state_add_argv(spi, algorithm):
    """argv (after `ip`) that adds a transport-mode ESP SA between two documentation addresses."""
    return (['xfrm', 'state', 'add', 'src', PROBE_SRC, 'dst', PROBE_DST, 'proto', 'esp',
             'spi', '0x%08x' % spi, 'reqid', '1', 'mode', 'transport'] + list(algorithm))


def classify_state_add_error(rc, message):
    """What the kernel's answer to `ip xfrm state add` means.

    rc 0 -> XFRM_OK. iproute2 reports EPROTONOSUPPORT from the kernel (no ESP type
    registered) as "Requested type not found", and a missing algorithm as
    "Requested AEAD/ENC/AUTH algorithm not found". Anything else is XFRM_ERROR.
    """
    if rc == 0:
        return XFRM_OK
    text = (message or '').lower()
    if 'algorithm not found' in text:
        return XFRM_NO_ALGORITHM
    if 'type not found' in text or 'protocol not supported' in text:
        return XFRM_NO_TYPE
    return XFRM_ERROR


def probe_esp(run, netns_name):
    """Ask the kernel whether ESP, and ESP with AES-GCM, can be used.

    run(argv) runs `ip` with argv and returns (rc, stdout, stderr). The namespace
    netns_name is created and always deleted. Returns a dict:
      esp: True, False or None (unknown)
      aes_gcm: True, False or None
      detail: the kernel's answers in words
      esp_detail, aes_gcm_detail: the answer that settled each (empty when unknown)
    """
    result = {'esp': None, 'aes_gcm': None, 'detail': '', 'esp_detail': '', 'aes_gcm_detail': ''}
    rc, out, err = run(['netns', 'add', netns_name])
    if rc != 0:
        result['detail'] = 'cannot create a network namespace for the probe: %s' % (err or out).strip()
        return result
    try:
        details = []
        rc, out, err = run(['netns', 'exec', netns_name, 'ip'] + xfrm_state_add_argv(0x1c0a, PROBE_AEAD))
        verdict = classify_state_add_error(rc, err or out)
        if verdict == XFRM_OK:
            details.append('an ESP SA with rfc4106(gcm(aes)) was accepted')
            result.update(esp=True, aes_gcm=True, esp_detail=details[-1], aes_gcm_detail=details[-1])
        elif verdict == XFRM_NO_TYPE:
            details.append('ESP SA refused: %s' % (err or out).strip())
            result.update(esp=False, esp_detail=details[-1])
        else:
            details.append('ESP SA with rfc4106(gcm(aes)) refused: %s' % (err or out).strip())
            if verdict == XFRM_NO_ALGORITHM:
                result.update(aes_gcm=False, aes_gcm_detail=details[-1])
            # Does the kernel have ESP at all? Ask again with the null cipher.
            rc, out, err = run(['netns', 'exec', netns_name, 'ip'] + xfrm_state_add_argv(0x1c0b, PROBE_NULL))
            second = classify_state_add_error(rc, err or out)
            if second == XFRM_OK:
                details.append('an ESP SA with cipher_null was accepted')
                result.update(esp=True, esp_detail=details[-1])
            elif second == XFRM_NO_TYPE:
                details.append('ESP SA with cipher_null refused: %s' % (err or out).strip())
                result.update(esp=False, esp_detail=details[-1])
            else:
                details.append('ESP SA with cipher_null refused: %s' % (err or out).strip())
        result['detail'] = '; '.join(details)
    finally:
        run(['netns', 'delete', netns_name])
    return result
