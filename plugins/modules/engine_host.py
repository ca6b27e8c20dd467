#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: engine_host
short_description: Prepare a Docker host in one call (kernel modules, packages, daemon.json, the API socket, the service)
version_added: 0.1.0
description:
  - Does the remote work of the C(ironclad.swarm.engine) role in one call, so that a run which finds
    everything in place costs one round-trip per host. The steps below run in this order.
  - Loads and persists kernel modules exactly as M(ironclad.swarm.kernel_modules) does (O(kernel_modules)).
  - Asks dpkg which of O(packages) are not installed. It installs nothing; that stays with M(ansible.builtin.apt).
  - Writes O(daemon_json) to O(daemon_json_path) atomically, mode C(0644), owner and group C(root), creating
    its directory with mode C(0755).
  - Writes the C(docker.socket) drop-in O(socket.dropin) the same way, stating the Docker API socket's mode, owner
    and group (C(SocketMode), C(SocketUser), C(SocketGroup)), and runs C(systemctl daemon-reload) when its content
    changed, so that systemd gives them to the socket it creates at its next start (O(socket)).
  - Enables and starts O(service) if systemd knows it, that is once its package is installed.
  - Puts the live socket O(socket.path)'s mode, owner and group back when they differ, since a socket that exists
    keeps what a C(chmod) or C(chgrp) by hand gave it. A socket that does not exist (Docker not installed or not
    running, a dry run on a host without Docker) is left alone and reported with RV(socket.found=false).
  - Reads the Docker Engine's version with C(docker version) while the service is running.
  - The kernel, package, daemon.json and socket steps run only when their option is given, so that the role can leave out
    the parts its tags do not select.
  - Call it before the packages are installed, so that dockerd's first start already reads daemon.json, and
    again after M(ansible.builtin.apt) installed them, to start the service and read the version.
  - It never restarts the service. When RV(daemon_json_changed) and RV(service.was_active) are both true,
    the running daemon still has the old settings, so restart it.
  - It never restarts C(docker.socket) either, although that would apply a new drop-in at once, since C(docker.service)
    requires the socket unit, so systemd would restart the engine with it and every task on the node would stop
    (swarm mode has no live-restore). The drop-in takes effect at the socket's next start (a boot, a reinstall);
    until then this module puts the live socket right itself.
author:
  - ironclad.swarm developers (@ironclad-swarm)
options:
  kernel_modules:
    description:
      - The kernel modules to load and persist, as O(ironclad.swarm.kernel_modules#module:names) of
        M(ironclad.swarm.kernel_modules) (V(xt_u32|xt_bpf) means either one).
      - Omitted, the kernel is left alone and the kernel return values are not returned.
    type: list
    elements: str
  kernel_modules_required:
    description:
      - With V(true), a kernel module of O(kernel_modules) that the kernel lacks stops the call after the kernel
        step. Nothing else is asked, written or started, so that the caller can fail with its own message before
        anything changed on the host. The call itself does not fail.
    type: bool
    default: false
  kernel_modules_persist:
    description:
      - List the loadable modules chosen in O(kernel_modules_persist_file), as
        O(ironclad.swarm.kernel_modules#module:persist) of M(ironclad.swarm.kernel_modules).
    type: bool
    default: true
  kernel_modules_persist_file:
    description:
      - The C(modules-load.d) file that lists the modules to load at boot.
    type: path
    default: /etc/modules-load.d/ironclad-swarm.conf
  packages:
    description:
      - Debian package names (no versions or architectures) to ask dpkg about.
      - The ones dpkg does not list as installed are returned in RV(missing_packages).
    type: list
    elements: str
  daemon_json:
    description:
      - The whole content of the Docker daemon's configuration file, rendered by the caller.
      - Omitted, the file is left alone.
    type: str
  daemon_json_path:
    description:
      - Where the Docker daemon reads its configuration.
    type: path
    default: /etc/docker/daemon.json
  socket:
    description:
      - Keep the Docker API socket at this mode, owner and group. The socket is root on the host (whoever can write
        to it can start a privileged container), so the audit wants it at mode V(0660), owner V(root), group
        V(docker) (C(docker_sock_open), C(docker_sock_group); CIS Docker Benchmark 3.15 and 3.16).
      - Omitted, the drop-in and the socket are left alone and RV(socket) is not returned.
    type: dict
    suboptions:
      path:
        description:
          - The live socket, as C(docker.socket) creates it (C(ListenStream)).
        type: path
        default: /run/docker.sock
      mode:
        description:
          - Its permission mode, an octal string of three or four digits. Quote it in YAML, where V(0660) unquoted
            is the number 432; a number is refused.
        type: raw
        default: '0660'
      owner:
        description:
          - Its owner, a user name.
        type: str
        default: root
      group:
        description:
          - Its group, a group name. C(docker) comes with the Docker package.
        type: str
        default: docker
      dropin:
        description:
          - The C(docker.socket) drop-in that states them, written with mode C(0644), owner and group C(root), its
            directory with mode C(0755).
        type: path
        default: /etc/systemd/system/docker.socket.d/ironclad-swarm.conf
  service:
    description:
      - The systemd unit of the Docker daemon.
    type: str
    default: docker.service
  service_state:
    description:
      - V(started) enables and starts O(service) when systemd knows it.
      - V(query) only reports its state.
      - Either way a unit systemd does not know (its package is not installed) is left alone and reported with
        RV(service.found=false).
    type: str
    choices: [started, query]
    default: started
notes:
  - The Docker Engine version is read only while O(service) is running. In check mode a service that would be
    started is not, so no version is read for it.
requirements:
  - C(dpkg-query) (Debian and Ubuntu) for O(packages), C(systemctl) for O(service), C(modprobe) for O(kernel_modules).
attributes:
  check_mode:
    support: full
    description: Changes nothing; reports the modules it would load, the files it would write, the socket whose mode or
      owners it would put back and the service it would enable or start. No C(daemon-reload) is run.
  diff_mode:
    support: full
    description: Shows the changes of O(daemon_json_path), O(socket.dropin), their directories,
      O(kernel_modules_persist_file) and the mode, owner and group of O(socket.path).
  idempotent:
    support: full
    description: A second call with the same options changes nothing.
  platform:
    support: full
    platforms: posix
    description: Linux with systemd and dpkg.
seealso:
  - module: ironclad.swarm.kernel_modules
  - module: ansible.builtin.apt
  - name: Docker daemon configuration file
    description: The keys of daemon.json.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
"""

EXAMPLES = r"""
- name: Kernel modules, the packages dpkg lacks, daemon.json, the API socket and the docker service in one call
  ironclad.swarm.engine_host:
    kernel_modules: [vxlan, xfrm_user, esp4, ip_vs, ip_vs_rr, xt_u32|xt_bpf]
    packages: [docker.io, docker-cli, python3-docker]
    daemon_json: "{{ {'log-driver': 'json-file', 'icc': false} | to_nice_json(indent=2, sort_keys=true) }}\n"
    socket:
      mode: '0660'
      group: docker
  register: engine

- name: Install what is missing
  ansible.builtin.apt:
    name: "{{ engine.missing_packages }}"
  when: engine.missing_packages | length > 0
  register: engine_install

- name: Start the freshly installed engine, check its socket and read its version
  ironclad.swarm.engine_host:
    socket: {}
  register: engine_started
  when: engine_install is changed

- name: Restart docker when its settings changed under a running daemon
  ansible.builtin.systemd_service:
    name: docker
    state: restarted
  when: engine.daemon_json_changed and engine.service.was_active
"""

RETURN = r"""
kernel_release:
  description: The running kernel's release, as M(ironclad.swarm.kernel_modules) returns it.
  returned: when O(kernel_modules) is given
  type: str
  sample: 6.1.0-27-amd64
modules:
  description: Every kernel module looked at, with its status, as M(ironclad.swarm.kernel_modules) returns it.
  returned: when O(kernel_modules) is given
  type: dict
  sample:
    esp4: {status: loaded, source: loaded by modprobe, loaded_now: true}
entries:
  description: One item for each entry of O(kernel_modules), as M(ironclad.swarm.kernel_modules) returns it.
  returned: when O(kernel_modules) is given
  type: list
  elements: dict
  sample:
    - {entry: xt_u32|xt_bpf, satisfied_by: xt_u32, status: loaded}
missing:
  description: The entries of O(kernel_modules) that no module of the running kernel satisfies.
  returned: when O(kernel_modules) is given
  type: list
  elements: str
  sample: [ip_vs, ip_vs_rr]
persist_file:
  description: The persist file managed by this run.
  returned: when O(kernel_modules) is given and O(kernel_modules_persist=true)
  type: str
  sample: /etc/modules-load.d/ironclad-swarm.conf
persisted:
  description: The modules listed in RV(persist_file) after this run (in check mode, that would be).
  returned: when O(kernel_modules) is given and O(kernel_modules_persist=true)
  type: list
  elements: str
  sample: [esp4, ip_vs, ip_vs_rr]
missing_packages:
  description:
    - The packages of O(packages) that dpkg does not list as installed, in the given order.
    - Empty when O(packages) is not given or O(kernel_modules_required=true) stopped the call.
  returned: always
  type: list
  elements: str
  sample: [docker.io, docker-cli]
daemon_json_changed:
  description:
    - Whether O(daemon_json_path) got (in check mode, would get) new content.
    - A change of mode or owner alone does not count, since the daemon reads the same settings.
  returned: always
  type: bool
  sample: false
service:
  description: What systemd said about O(service) and what this run did to it.
  returned: unless O(kernel_modules_required=true) stopped the call
  type: dict
  contains:
    name:
      description: The unit, O(service).
      type: str
      sample: docker.service
    found:
      description: Whether systemd knows the unit (false until its package is installed).
      type: bool
      sample: true
    load_state:
      description: systemd's C(LoadState) of the unit.
      type: str
      sample: loaded
    was_active:
      description: Whether the unit was running (C(ActiveState) active, activating or reloading) before this call.
      type: bool
      sample: true
    was_enabled:
      description: Whether the unit was enabled (or needs no enabling) before this call.
      type: bool
      sample: true
    enabled_now:
      description: Whether this call enabled the unit (in check mode, would enable it).
      type: bool
      sample: false
    started_now:
      description: Whether this call started the unit (in check mode, would start it).
      type: bool
      sample: false
socket:
  description: What this run found and did for the Docker API socket.
  returned: when O(socket) is given and O(kernel_modules_required=true) did not stop the call
  type: dict
  contains:
    path:
      description: The live socket, O(socket.path).
      type: str
      sample: /run/docker.sock
    dropin:
      description: The drop-in, O(socket.dropin).
      type: str
      sample: /etc/systemd/system/docker.socket.d/ironclad-swarm.conf
    dropin_changed:
      description: Whether the drop-in got (in check mode, would get) new content. A mode or owner put right alone
        does not count.
      type: bool
      sample: false
    daemon_reloaded:
      description: Whether this call ran C(systemctl daemon-reload) for the new drop-in (never in check mode).
      type: bool
      sample: false
    found:
      description:
        - Whether the live socket exists. V(false) when Docker is not installed or not running, or in a check
          run before its installation; the socket is then left alone.
        - V(false) too when something other than a socket is at O(socket.path), with a warning.
      type: bool
      sample: true
    mode:
      description: The live socket's mode as found, before any repair.
      type: str
      returned: when RV(socket.found=true)
      sample: '0660'
    owner:
      description: Its owner as found (a uid when the host has no name for it).
      type: str
      returned: when RV(socket.found=true)
      sample: root
    group:
      description: Its group as found (a gid when the host has no name for it).
      type: str
      returned: when RV(socket.found=true)
      sample: docker
    repaired:
      description: Whether this call put (in check mode, would put) the socket's mode, owner or group back.
      type: bool
      sample: false
server_version:
  description: The Docker Engine (server) version, or V(null) when the service is not running or does not answer.
  returned: always
  type: str
  sample: 26.1.5+dfsg1
server_version_error:
  description: Why RV(server_version) is V(null) although the service was found running or started.
  returned: when the service was running but the engine did not answer
  type: str
  sample: "docker version: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ironclad.swarm.plugins.module_utils.engine.host import EngineHost, octal_mode
from ansible_collections.ironclad.swarm.plugins.module_utils.engine.kernel_modules_manager import KernelModulesManager


def run(module):
    """Each step the parameters ask for, in order, then exit_json."""
    params = module.params
    host = EngineHost(module)
    response = {}

    # Checked before anything is done.
    socket = params['socket']
    if socket is not None:
        mode = octal_mode(socket['mode'])
        if mode is None:
            module.fail_json(msg="socket.mode must be a quoted octal mode of three or four digits such as '0660', got %r"
                             % (socket['mode'],))

    if params['kernel_modules'] is not None:
        kernel = KernelModulesManager(module)
        response.update(kernel.run(params['kernel_modules'], 'present', params['kernel_modules_persist'],
                                   params['kernel_modules_persist_file'], option='kernel_modules'))
        host.changed = host.changed or kernel.changed
        if kernel.diff is not None:
            host.diffs.append(kernel.diff)

    if params['kernel_modules_required'] and response.get('missing'):
        response.update(missing_packages=[], daemon_json_changed=False, server_version=None, changed=host.changed)
        if host.diffs and module._diff:
            response['diff'] = host.diffs
        module.exit_json(**response)

    response['missing_packages'] = host.missing_packages(params['packages']) if params['packages'] else []

    response['daemon_json_changed'] = False
    if params['daemon_json'] is not None:
        response['daemon_json_changed'] = host.write_config(params['daemon_json_path'], params['daemon_json'])

    # The drop-in before the service: a socket unit started below already has it.
    if socket is not None:
        dropin_changed = host.socket_dropin(socket['dropin'], mode, socket['owner'], socket['group'])
        response['socket'] = dict(path=socket['path'], dropin=socket['dropin'], dropin_changed=dropin_changed,
                                  daemon_reloaded=dropin_changed and not module.check_mode)

    service = host.service(params['service'], params['service_state'])
    response['service'] = service

    # After the service, which may have just made the socket.
    if socket is not None:
        response['socket'].update(host.live_socket(socket['path'], mode, socket['owner'], socket['group']))

    response['server_version'] = None
    running = service['was_active'] or (service['started_now'] and not module.check_mode)
    if service['found'] and running:
        response['server_version'], error = host.server_version()
        if error is not None:
            response['server_version_error'] = error

    response['changed'] = host.changed
    if host.diffs and module._diff:
        response['diff'] = host.diffs
    module.exit_json(**response)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kernel_modules=dict(type='list', elements='str'),
            kernel_modules_required=dict(type='bool', default=False),
            kernel_modules_persist=dict(type='bool', default=True),
            kernel_modules_persist_file=dict(type='path', default='/etc/modules-load.d/ironclad-swarm.conf'),
            packages=dict(type='list', elements='str'),
            daemon_json=dict(type='str'),
            daemon_json_path=dict(type='path', default='/etc/docker/daemon.json'),
            socket=dict(type='dict', options=dict(
                path=dict(type='path', default='/run/docker.sock'),
                mode=dict(type='raw', default='0660'),
                owner=dict(type='str', default='root'),
                group=dict(type='str', default='docker'),
                dropin=dict(type='path', default='/etc/systemd/system/docker.socket.d/ironclad-swarm.conf'),
            )),
            service=dict(type='str', default='docker.service'),
            service_state=dict(type='str', choices=['started', 'query'], default='started'),
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == '__main__':
    main()
