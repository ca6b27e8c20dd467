# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE to the ironclad.swarm collection. Do not import it
# from outside the collection: its functions and classes may change at any time.
#
# The Docker Engine, through the Docker SDK for Python (docker.APIClient, the
# low-level client, which SDK 5.0.3 as packaged by Debian 12 and newer SDKs share).
# Every engine error leaves here as an EngineError whose message says what to do.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import traceback

try:
    import docker
    from docker.errors import APIError, DockerException, NotFound
    HAS_DOCKER_SDK = True
    DOCKER_SDK_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER_SDK = False
    DOCKER_SDK_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):
        pass

    class APIError(DockerException):
        pass

    class NotFound(APIError):
        pass


DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'

# Options every module that talks to the engine shares.
ENGINE_ARGUMENT_SPEC = dict(
    docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST),
    timeout=dict(type='int', default=60),
)


class EngineError(Exception):
    """Something the engine refused or could not do, with a message for the user."""


def explain(error):
    """The engine's own words for an SDK error."""
    explanation = getattr(error, 'explanation', None)
    if explanation:
        if isinstance(explanation, bytes):
            explanation = explanation.decode('utf-8', 'replace')
        return explanation.strip()
    return ('%s' % error).strip()


def connect(module):
    """An Engine for the module's docker_host, or fail_json with a message that says what is wrong."""
    if not HAS_DOCKER_SDK:
        # Imported here: the rest of this file also serves the node agent, which runs without Ansible.
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(
            msg=missing_required_lib('docker (the Docker SDK for Python; Debian package python3-docker)'),
            exception=DOCKER_SDK_IMPORT_ERROR)
    try:
        return Engine(module.params['docker_host'], module.params['timeout'])
    except EngineError as error:
        module.fail_json(msg='%s' % error)


class Engine:
    """The few engine calls the collection needs, on top of docker.APIClient."""

    def __init__(self, docker_host, timeout, client=None):
        self.docker_host = docker_host
        if client is not None:
            self.api = client
            return
        try:
            self.api = docker.APIClient(base_url=docker_host, version='auto', timeout=timeout)
        except DockerException as error:
            raise EngineError(
                'Cannot reach the Docker Engine at %s: %s. Is dockerd running on this host, and may this '
                'user use its socket (run as root or with become)?' % (docker_host, explain(error)))

    # swarm

    def require_manager(self):
        """The swarm's inspect output; EngineError unless this engine is an active swarm manager."""
        try:
            swarm_info = self.api.info().get('Swarm') or {}
        except (APIError, DockerException) as error:
            raise EngineError('Cannot read the engine info from %s: %s' % (self.docker_host, explain(error)))
        state = swarm_info.get('LocalNodeState')
        if state != 'active':
            raise EngineError(
                'This node is not an active swarm member (LocalNodeState: %s). Run the ironclad.swarm.cluster '
                'role first, and run this module on a swarm manager.' % (state or 'unknown'))
        if not swarm_info.get('ControlAvailable'):
            raise EngineError(
                'This node (%s) is a swarm worker; networks can only be managed on a manager. Run the task on a '
                'host of the managers group (the networks role uses the first host of networks_managers_group).'
                % (swarm_info.get('NodeAddr') or swarm_info.get('NodeID')))
        try:
            swarm = self.api.inspect_swarm()
        except (APIError, DockerException) as error:
            raise EngineError('Cannot inspect the swarm: %s' % explain(error))
        swarm['_node_addr'] = swarm_info.get('NodeAddr')
        return swarm

    def node_hostname(self, node_id):
        try:
            node = self.api.inspect_node(node_id)
        except (APIError, DockerException):
            return node_id
        return ((node.get('Description') or {}).get('Hostname')) or node_id

    # networks

    def networks(self):
        try:
            return self.api.networks()
        except (APIError, DockerException) as error:
            raise EngineError('Cannot list networks: %s' % explain(error))

    def networks_named(self, name):
        """Every network whose name is exactly name (the engine's filter also matches substrings)."""
        try:
            found = self.api.networks(names=[name])
        except (APIError, DockerException) as error:
            raise EngineError('Cannot list networks: %s' % explain(error))
        return [network for network in found if network.get('Name') == name]

    def inspect_network(self, network_id, verbose=False):
        try:
            return self.api.inspect_network(network_id, verbose=verbose)
        except NotFound:
            return None
        except (APIError, DockerException) as error:
            raise EngineError('Cannot inspect network %s: %s' % (network_id, explain(error)))

    def create_network(self, name, arguments):
        try:
            created = self.api.create_network(name, **arguments)
        except (APIError, DockerException) as error:
            raise EngineError("Docker refused to create network '%s': %s" % (name, explain(error)))
        return created.get('Id') or created.get('ID')

    def wait_for_network(self, network_id, ready, wait):
        """Inspect a network until ready(network) holds, for up to wait seconds; the last inspect either way."""
        deadline = time.time() + wait
        while True:
            network = self.inspect_network(network_id)
            if network is None or ready(network) or time.time() >= deadline:
                return network
            time.sleep(0.5)

    def wait_for_name_free(self, name, wait):
        """Wait until no network on this engine has the name; EngineError after wait seconds."""
        deadline = time.time() + wait
        while self.networks_named(name):
            if time.time() >= deadline:
                raise EngineError("A network named '%s' is still listed %d seconds after its removal."
                                  % (name, wait))
            time.sleep(0.5)

    def remove_network(self, network_id, wait=0):
        """Remove a network; while tasks are still shutting down on it, retry for up to wait seconds."""
        deadline = time.time() + wait
        while True:
            try:
                self.api.remove_network(network_id)
                return
            except NotFound:
                return
            except (APIError, DockerException) as error:
                message = explain(error)
                if 'not found' in message:
                    # Already gone from the swarm; a node may still list it until its endpoints go.
                    return
                if 'in use by task' in message and time.time() < deadline:
                    time.sleep(1)
                    continue
                raise EngineError('Docker refused to remove network %s: %s' % (network_id, message))

    # services and tasks

    def services(self):
        try:
            return self.api.services()
        except (APIError, DockerException) as error:
            raise EngineError('Cannot list services: %s' % explain(error))

    def inspect_service(self, service_id):
        try:
            return self.api.inspect_service(service_id)
        except (APIError, DockerException) as error:
            raise EngineError('Cannot inspect service %s: %s' % (service_id, explain(error)))

    def update_service_spec(self, service, spec):
        """Replace a service's spec by spec (every field given, so nothing is merged or defaulted)."""
        template = dict(spec.get('TaskTemplate') or {})
        try:
            self.api.update_service(
                service['ID'], service['Version']['Index'],
                task_template=template,
                name=spec.get('Name'),
                labels=spec.get('Labels') or {},
                mode=spec.get('Mode'),
                update_config=spec.get('UpdateConfig'),
                rollback_config=spec.get('RollbackConfig'),
                networks=template.get('Networks') or [],
                endpoint_spec=spec.get('EndpointSpec'),
            )
        except (APIError, DockerException) as error:
            raise EngineError("Docker refused to update service '%s': %s"
                              % (spec.get('Name') or service['ID'], explain(error)))

    def wait_for_update(self, service_id, previous_status, wait):
        """Wait until a service's update that followed previous_status completed; EngineError if it did not."""
        deadline = time.time() + wait
        while True:
            service = self.inspect_service(service_id)
            status = service.get('UpdateStatus')
            name = (service.get('Spec') or {}).get('Name') or service_id
            if status and status != previous_status:
                state = status.get('State')
                if state == 'completed':
                    return service
                if state in ('paused', 'rollback_started', 'rollback_paused', 'rollback_completed'):
                    raise EngineError("The update of service '%s' did not complete (%s: %s)."
                                      % (name, state, status.get('Message') or ''))
            if time.time() >= deadline:
                raise EngineError("The update of service '%s' did not complete within %d seconds (status: %s)."
                                  % (name, wait, (status or {}).get('State') or 'none'))
            time.sleep(1)

    def attachment_tasks(self):
        """Swarm tasks that attach standalone containers to swarm networks (docker run --network)."""
        try:
            return self.api.tasks(filters={'runtime': 'attachment', 'desired-state': 'running'})
        except (APIError, DockerException) as error:
            raise EngineError('Cannot list network attachment tasks: %s' % explain(error))
