# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.

"""What the running kernel offers: which kernel modules are loaded, built in, or loadable.

Everything here works on file contents (/proc/modules, modules.builtin, the kernel's config),
paths and a caller-supplied probe (a function that asks modprobe), so that it can be unit tested
with recorded inputs and reused by the IPsec audit (audit/node.py). kernel_modules_manager.py
drives it through an AnsibleModule for the kernel_modules and engine_host modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import os
import re


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
