#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: kernel_modules
short_description: Check, load and persist the kernel modules a secure Docker Swarm needs
version_added: 0.1.0
description:
  - Finds out, for each requested kernel module, whether the running kernel has it
    and how. It is loaded (listed in C(/proc/modules)), built in (listed in
    C(/lib/modules/RELEASE/modules.builtin), or C(=y) in the kernel config read from
    C(/proc/config.gz) or C(/boot/config-RELEASE)), loadable (C(modprobe --dry-run)
    finds it), or missing.
  - With O(state=present) it loads the modules that are loadable but not loaded yet,
    and lists the loadable ones in a C(modules-load.d) file so that they are loaded at boot.
    Built-in modules are never written to that file.
  - A module the kernel lacks is reported in RV(missing) and with a warning; it never
    makes this module fail. Decide in the playbook whether a missing module is fatal.
author:
  - ironclad.swarm developers (@ironclad-swarm)
options:
  names:
    description:
      - The kernel modules to look for.
      - Each entry is a module name (V(esp4)) or alternatives separated by C(|)
        (V(xt_u32|xt_bpf)), which any one of them satisfies. One the
        kernel already has wins over one that needs loading; otherwise the first
        loadable one in the given order is loaded and persisted.
      - C(-) and C(_) in module names are treated alike, as the kernel does.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) loads what is loadable and, with O(persist=true), writes O(persist_file).
      - V(query) only reports; it changes nothing on the host.
    type: str
    choices: [present, query]
    default: present
  persist:
    description:
      - With O(state=present), make O(persist_file) list exactly the chosen modules that are
        loadable modules (not built-ins), so that systemd-modules-load loads them at boot.
        The file is removed when no module needs listing.
      - With V(false) the file is left as it is.
    type: bool
    default: true
  persist_file:
    description:
      - The C(modules-load.d) file this task owns. Give each task with a different
        O(names) list its own file, or they will keep rewriting each other's.
    type: path
    default: /etc/modules-load.d/ironclad-swarm.conf
notes:
  - Reading the kernel config needs C(CONFIG_IKCONFIG_PROC) (C(/proc/config.gz)) or a
    C(/boot/config-RELEASE) file; without either, built-in modules are only recognised through
    C(modules.builtin).
  - Inside a container the kernel is the host's. Loading a module there needs the host's
    C(/lib/modules) and C(CAP_SYS_MODULE), and loads it into the host kernel.
requirements:
  - C(modprobe) (Debian package C(kmod)) to find and load loadable modules.
attributes:
  check_mode:
    support: full
    description: Reports which modules would be loaded and how the persist file would change.
  diff_mode:
    support: full
    description: Shows the change of O(persist_file).
  platform:
    support: full
    platforms: posix
    description: Linux only.
seealso:
  - name: modules-load.d(5)
    description: The format of the persist file.
    link: https://www.freedesktop.org/software/systemd/man/latest/modules-load.d.html
"""

EXAMPLES = r"""
# On its own, outside the engine role (which does the same through engine_host): hosts whose Docker is
# installed by other means, or a check of the kernels before anything is built.
- name: Ask each host's kernel whether it can carry encrypted overlays, changing nothing
  ironclad.swarm.kernel_modules:
    names: [vxlan, xfrm_user, esp4, xt_u32|xt_bpf]
    state: query
  register: kernel_check

- name: List the hosts that could not encrypt overlay traffic
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} lacks {{ kernel_check.missing | join(', ') }}"
  when: kernel_check.missing | length > 0

- name: Load and persist what an encrypted overlay and service VIPs need
  ironclad.swarm.kernel_modules:
    names:
      - vxlan
      - xfrm_user
      - esp4
      - ip_vs
      - ip_vs_rr
      - xt_u32|xt_bpf
  register: kernel

- name: Fail when the kernel cannot do IPsec
  ansible.builtin.fail:
    msg: "This kernel lacks {{ kernel.missing | join(', ') }}"
  when: kernel.missing | length > 0

- name: Only report, change nothing
  ironclad.swarm.kernel_modules:
    names: [esp4, esp6]
    state: query
  register: ipsec_modules
"""

RETURN = r"""
kernel_release:
  description: The running kernel's release (C(uname -r)).
  returned: always
  type: str
  sample: 6.1.0-27-amd64
modules:
  description:
    - Every module named in O(names), by its normalised name, with its status and the
      evidence for it.
    - C(status) is V(loaded), V(builtin), V(loadable) or V(missing); after this run loads a
      module its status is V(loaded) (in check mode it stays V(loadable)).
    - C(source) says how the status was determined, for example the file that lists
      the module or the kernel config line.
    - C(loaded_now) is V(true) when this run loaded the module (in check mode, would load it).
  returned: always
  type: dict
  sample:
    vxlan: {status: builtin, source: CONFIG_VXLAN=y in /proc/config.gz, loaded_now: false}
    esp4: {status: loaded, source: loaded by modprobe, loaded_now: true}
    ip_vs: {status: missing, source: "CONFIG_IP_VS is not set in /proc/config.gz; modprobe: FATAL: Module ip_vs not found", loaded_now: false}
entries:
  description: One item for each entry of O(names), in order.
  returned: always
  type: list
  elements: dict
  contains:
    entry:
      description: The entry in canonical spelling (normalised names joined by C(|)).
      type: str
      sample: xt_u32|xt_bpf
    satisfied_by:
      description: The module that satisfies the entry, or V(null) when none does.
      type: str
      sample: xt_u32
    status:
      description: The status of RV(entries[].satisfied_by), or V(missing).
      type: str
      sample: builtin
missing:
  description: The entries of O(names) (canonical spelling) that no module satisfies.
  returned: always
  type: list
  elements: str
  sample: [esp4, ip_vs, ip_vs_rr]
persist_file:
  description: The persist file managed by this run.
  returned: when O(state=present) and O(persist=true)
  type: str
  sample: /etc/modules-load.d/ironclad-swarm.conf
persisted:
  description: The modules listed in RV(persist_file) after this run (in check mode, that would be).
  returned: when O(state=present) and O(persist=true)
  type: list
  elements: str
  sample: [esp4, ip_vs, ip_vs_rr]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ironclad.swarm.plugins.module_utils.engine.kernel_modules_manager import KernelModulesManager


def run(module):
    """Classify, load and persist as the parameters ask, then exit_json."""
    params = module.params
    manager = KernelModulesManager(module)
    response = manager.run(params['names'], params['state'], params['persist'], params['persist_file'])
    response['changed'] = manager.changed
    if manager.diff is not None and module._diff:
        response['diff'] = manager.diff
    module.exit_json(**response)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type='list', elements='str', required=True),
            state=dict(type='str', choices=['present', 'query'], default='present'),
            persist=dict(type='bool', default=True),
            persist_file=dict(type='path', default='/etc/modules-load.d/ironclad-swarm.conf'),
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == '__main__':
    main()
